// Colour board: fetches /api/v1/stats/board?unit=… and redraws every 10 s without reloading.
// Words come from the page (T, page.js); names from the API in the page's language.
"use strict";
const COLOURS = ["green", "blue", "yellow", "red"];
let trail = [];  // [{unit, name}] from the district down

function unitFromHash() { return decodeURIComponent(location.hash.slice(1)) || ""; }

function cell(row, colour) {
  const n = row[colour];
  return `<td class="${n ? colour : "zero"}">${esc(n)}</td>`;
}

function table(title, rows) {
  const body = rows.map(r => `<tr class="unit" data-unit="${esc(r.unit)}">
    <td>${named(r.name, r.unit)}</td>${COLOURS.map(c => cell(r, c)).join("")}
    <td>${r.oldest_red ? `${esc(r.oldest_red.serial ?? "—")} (${esc(fmt(T["hours"], {h: r.oldest_red.overdue_hours}))})` : ""}</td></tr>`).join("");
  return `<h2>${esc(title)} <small>${esc(T.drill)}</small></h2><table class="board"><thead><tr><th>${esc(T["page.unit"])}</th>${
    COLOURS.map(c => `<th>${esc(T["col." + c])}</th>`).join("")}<th>${esc(T["col.oldest_red"])}</th></tr></thead><tbody>${body}</tbody></table>`;
}

function caseTable(cases) {
  const body = cases.map(c => `<tr><td><a href="/portal#${esc(encodeURIComponent(c.serial))}">${esc(c.serial)}</a></td>
    <td class="${esc(c.colour)}">${esc(T["col." + c.colour] || c.colour)}</td><td>${esc(c.category_name || c.category)}</td>
    <td>${c.block ? named(c.block_name, c.block) : ""}</td><td>${esc(new Date(c.due_at).toLocaleString(LOCALE))}</td></tr>`).join("");
  return `<h2>${esc(T.cases)}</h2><table class="cases"><thead><tr><th>${esc(T["page.serial"])}</th><th>${esc(T["page.colour"])}</th>
    <th>${esc(T["page.category"])}</th><th>${esc(T["page.block"])}</th><th>${esc(T["page.due"])}</th></tr></thead><tbody>${body}</tbody></table>`;
}

async function draw() {
  const unit = unitFromHash();
  const q = new URLSearchParams({lang: LANG});
  if (unit) q.set("unit", unit);
  const res = await fetch("/api/v1/stats/board?" + q);
  const data = await res.json();
  if (!res.ok) { document.getElementById("board").textContent = data.error.message; return; }
  const at = trail.findIndex(t => t.unit === data.unit);
  trail = at >= 0 ? trail.slice(0, at + 1) : [...trail, {unit: data.unit, name: data.name}];
  document.getElementById("crumbs").innerHTML =
    trail.map(t => `<a href="#${esc(encodeURIComponent(t.unit))}">${esc(t.name)}</a>`).join(" › ");
  let html = "";
  for (const [key, rows] of Object.entries(data.sections || {})) html += table(T["section." + key] || key, rows);
  if (data.cases) html += caseTable(data.cases);
  const el = document.getElementById("board");
  el.innerHTML = html;
  el.dataset.unit = data.unit;
  el.querySelectorAll("tr.unit").forEach(tr =>
    tr.addEventListener("click", () => { location.hash = tr.dataset.unit; }));
  document.getElementById("updated").textContent = freshness(data);
}

// The colours are counted for `at`; transitions logged after `as_of` (`pending` of them) are
// not counted yet — the server's folder moves them in within a second or two.
function freshness(data) {
  const time = s => new Date(s).toLocaleTimeString(LOCALE);
  let text = fmt(T.fresh, {at: time(data.at)});
  if (data.pending && data.as_of) text += fmt(T.pending_as_of, {as_of: time(data.as_of), n: data.pending});
  else if (data.pending) text += fmt(T.pending, {n: data.pending});
  return text + fmt(T.updated, {at: new Date().toLocaleTimeString(LOCALE)});
}

async function headline() {
  const h = await (await fetch("/api/v1/stats/headline")).json();
  const rate = h.appeal_closure_rate === null ? "—" : (h.appeal_closure_rate * 100).toFixed(1) + "%";
  document.getElementById("headline").textContent = fmt(T.headline, {
    from: h.from, to: h.to, found: h.hazards_found, investigated: h.hazards_investigated,
    closed: h.hazards_closed, appeals: h.appeals_received, appeals_closed: h.appeals_closed, rate,
    on_spot: h.on_the_spot});
}

window.addEventListener("hashchange", draw);
headline();
draw();
setInterval(draw, 10000);
