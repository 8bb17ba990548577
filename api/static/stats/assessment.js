// Three-level assessment: ranked tables for a month, quarter or year; CSV/XLSX in the page's
// language; every indicator's formula and the weights in force, from the server. The language
// is the one the server negotiated (<html lang>), the same as the desk's and Open311's.
"use strict";
const LANG = document.documentElement.lang === "en" ? "en" : "zh";
const WORDS = {
  zh: {title: "三级考核", nav_board: "看板", nav_hotspots: "投诉热点", nav_map: "地图", nav_trends: "趋势",
       nav_assessment: "考核", nav_portal: "公开", period: "期间", month: "月度", quarter: "季度", year: "年度",
       unit: "单位", unit_hint: "区 / 部门 / 街镇 / 工作站代码", compute: "计算", definitions: "指标定义",
       indicator: "指标", formula: "计算公式", rank: "排名", name: "单位", weights: "权重",
       no_data: "无数据", drill: "点击查看下一级",
       no_data_note: "本期没有案件的单位为“无数据”：不计分、不评级、不排名，列在有数据的单位之后。",
       tables: {departments: "条线部门", streets: "街镇", workstations: "工作站", teams: "处置班组",
                coordinators: "巡管员"}},
  en: {title: "Three-level assessment", nav_board: "Board", nav_hotspots: "Hotspots", nav_map: "Map",
       nav_trends: "Trends", nav_assessment: "Assessment", nav_portal: "Portal", period: "Period",
       month: "Month", quarter: "Quarter", year: "Year", unit: "Unit",
       unit_hint: "district / department / street / workstation code", compute: "Show",
       definitions: "Indicators and formulas", indicator: "Indicator", formula: "Formula", rank: "Rank",
       name: "Unit", weights: "Weights", no_data: "no data", drill: "click a row for the level below",
       no_data_note: "A unit without cases in the period has no data: no score, grade or rank, listed after the units with data.",
       tables: {departments: "Line departments", streets: "Streets", workstations: "Workstations",
                teams: "Teams", coordinators: "Coordinators"}},
}[LANG];
document.querySelectorAll("[data-t]").forEach(el => { if (typeof WORDS[el.dataset.t] === "string") el.textContent = WORDS[el.dataset.t]; });
document.title = WORDS.title;
const form = document.getElementById("controls");
form.elements.unit.placeholder = WORDS.unit_hint;
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

function fmt(def, v) {
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
  document.getElementById("tables").innerHTML = `<p>${esc(data.name)} · ${esc(data.period)}</p>` +
    Object.entries(data.tables).map(([name, rows]) => {
      const weights = Object.entries(data.weights[name] || {}).map(([k, w]) =>
        `${esc(defs[k].name)}${defs[k].inverse ? " (1 − x)" : ""} ${Math.round(w * 100)}%`).join(" · ");
      return `<h2>${esc(WORDS.tables[name] || name)}${DRILL.has(name) ? ` <small>${esc(WORDS.drill)}</small>` : ""}</h2>
      <p class="weights">${esc(WORDS.weights)}: ${weights}</p>
      <table data-table="${esc(name)}"><thead><tr>${head}</tr></thead><tbody>${rows.map(r =>
      `<tr class="${DRILL.has(name) ? "unit" : ""}${r.no_data ? " nodata" : ""}"${DRILL.has(name) ? ` data-unit="${esc(r.unit)}"` : ""}>${COLS.map(k =>
        `<td>${esc(k === "grade" && r.no_data ? WORDS.no_data : fmt(defs[k], r[k]))}</td>`).join("")}</tr>`).join("")}</tbody></table>`;
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
