// Three-level assessment: ranked tables for a month, quarter or year; CSV/XLSX in the page's
// language; every indicator's formula and the weights in force, from the server. The language
// is the one the server negotiated (<html lang>, LANG in page.js), the same as the desk's and Open311's.
"use strict";
const WORDS = T;  // the page's words, from the server's catalog (page.js)
const form = document.getElementById("controls");
// Columns of the page (the export has every indicator); `received` stays third (tests count it).
const COLS = ["rank", "name", "received", "handled", "overdue_open", "handling_rate", "on_time_handling_rate",
  "closed", "closure_rate", "on_time_rate", "rework_rate", "extension_rate", "satisfaction_rate",
  "avg_rating", "patrol_share", "score", "grade"];
// Rows of these tables open the next level down (department → teams, street → workstations,
// workstation → coordinators); teams and coordinators are the bottom.
const DRILL = new Set(["departments", "streets", "workstations"]);
// The period starts as the address says, else the server's current month (its clock and time
// zone, not the browser's); the form then shows the period answered.
const params = new URLSearchParams(location.search);
let asked = params.get("period") || params.get("month") || params.get("quarter") || params.get("year") || "";
if (params.get("unit")) form.elements.unit.value = params.get("unit");

function showKind() {
  const kind = form.elements.kind.value;
  form.elements.month.hidden = kind !== "month";
  form.elements.quarter.hidden = kind !== "quarter";
  form.elements.year.hidden = kind === "month";
}
form.elements.kind.addEventListener("change", showKind);
showKind();

function query() {
  const f = form.elements, q = new URLSearchParams({lang: LANG});
  const kind = f.kind.value;
  const period = asked || (kind === "month" ? f.month.value : kind === "quarter"
    ? (f.year.value && `${f.year.value}-Q${f.quarter.value}`) : String(f.year.value));
  if (period) q.set("period", period);
  if (f.unit.value) q.set("unit", f.unit.value.trim());
  return q;
}

function showPeriod(data) {
  const f = form.elements;
  f.kind.value = data.period_kind;
  f.month.value = data.months[0];
  f.year.value = data.months[0].slice(0, 4);
  f.quarter.value = String(Math.floor((Number(data.months[0].slice(5, 7)) - 1) / 3) + 1);
  showKind();
}

function value(def, v) {
  if (v === null || v === undefined) return "—";
  return def && def.kind === "rate" ? (v * 100).toFixed(1) + "%" : v;
}

async function draw() {
  const q = query();
  document.getElementById("csv").href = "/api/v1/stats/assessment.csv?" + q;
  document.getElementById("xlsx").href = "/api/v1/stats/assessment.xlsx?" + q;
  const res = await fetch("/api/v1/stats/assessment?" + q);
  const data = await res.json();
  const error = document.getElementById("error");
  if (!res.ok) { error.textContent = (data.error.title ? data.error.title + ": " : "") + data.error.message; return; }
  error.textContent = "";
  asked = "";
  showPeriod(data);
  const defs = Object.fromEntries(data.definitions.map(d => [d.key, d]));
  const head = COLS.map(k => k === "rank" || k === "name" ? `<th>${esc(WORDS[k])}</th>`
    : `<th title="${esc(defs[k].formula)}">${esc(defs[k].name)}</th>`).join("");
  document.getElementById("tables").innerHTML = `<p>${named(data.name, data.unit)} · ${esc(data.period)}</p>` +
    Object.entries(data.tables).map(([name, rows]) => {
      const weights = Object.entries(data.weights[name] || {}).map(([k, w]) =>
        `${esc(defs[k].name)}${defs[k].inverse ? " (1 − x)" : ""} ${Math.round(w * 100)}%`).join(" · ");
      return `<h2>${esc(WORDS["table." + name] || name)}${DRILL.has(name) ? ` <small>${esc(WORDS.drill)}</small>` : ""}</h2>
      <p class="weights">${esc(WORDS.weights)}: ${weights}</p>
      <table data-table="${esc(name)}"><thead><tr>${head}</tr></thead><tbody>${rows.map(r =>
      `<tr class="${DRILL.has(name) ? "unit" : ""}${r.no_data ? " nodata" : ""}"${DRILL.has(name) ? ` data-unit="${esc(r.unit)}"` : ""}>${COLS.map(k =>
        k === "name" ? `<td>${named(r.name, r.unit)}</td>`
          : `<td>${esc(k === "grade" && r.no_data ? WORDS.no_data : value(defs[k], r[k]))}</td>`).join("")}</tr>`).join("")}</tbody></table>`;
    }).join("");
  document.querySelector("#definitions tbody").innerHTML = data.definitions.map(d =>
    `<tr><td>${esc(d.name)}</td><td>${esc(d.formula)}</td></tr>`).join("");
  document.querySelectorAll("#tables tr.unit").forEach(tr => tr.addEventListener("click", () => {
    form.elements.unit.value = tr.dataset.unit;
    draw();
  }));
}

form.addEventListener("submit", e => { e.preventDefault(); asked = ""; draw(); });
draw();
