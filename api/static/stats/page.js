// Shared by the public pages: their words (from the server's catalog, in the negotiated
// language, as JSON in the page: one catalog, no strings here) and safe text into markup.
"use strict";
const T = JSON.parse(document.getElementById("words").textContent);
const LANG = document.documentElement.lang === "en" ? "en" : "zh";
const LOCALE = LANG === "en" ? "en-GB" : "zh-CN";
// Canvas text (ECharts) names the font itself: the page's stack, with the app's CJK font.
const FONT = '-apple-system, "Segoe UI", "PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC", GridlinkCJK, sans-serif';

// Text from the server (unit, category and team names, serials, codes) goes into markup only
// through esc(): shown as text, never parsed as HTML, inside elements and quoted attributes.
function esc(v) {
  return String(v ?? "").replace(/[&<>"']/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"})[c]);
}

// "{name}" placeholders of a catalog text filled in (values as given: escape for markup).
function fmt(text, vars) {
  return String(text).replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
}

// A unit's name with its code as secondary text (the code only where it differs).
function named(name, code) {
  return `<span class="name">${esc(name || code)}</span>` +
    (code && name && name !== code ? ` <small class="code">${esc(code)}</small>` : "");
}

// The language switch returns to this very view: the filters the page put in the address and
// its hash (the board's unit, the portal's serial), without the address's own language choice.
document.getElementById("lang-switch")?.addEventListener("click", e => {
  const q = new URLSearchParams(location.search);
  q.delete("lang");
  q.delete("locale");
  const next = location.pathname + (q.toString() ? "?" + q : "") + location.hash;
  const link = new URL(e.currentTarget.href, location.origin);
  link.searchParams.set("next", next);
  e.currentTarget.href = link.pathname + link.search;
});
