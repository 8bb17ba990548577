// Trend lines (ECharts, bundled under /static/echarts): multi-select filters by name, the
// previous period and the same period last year dashed beside the total. Words: T (page.js).
"use strict";
const chart = echarts.init(document.getElementById("chart"));
const form = document.getElementById("filters");
const MULTI = ["street", "station", "block", "category", "channel", "department"];
const LISTS = {street: "streets", station: "stations", block: "blocks", category: "categories",
               channel: "channels", department: "departments"};
const params0 = new URLSearchParams(location.search);
// The server negotiated the language (lang/locale parameter, cookie, then Accept-Language)
// into <html lang> and the words (T, page.js); the API answers in the same language.
const lang = LANG;
const W = T;

function fill(name, items, keep) {
  const sel = form.elements[name];
  sel.innerHTML = items.map(o => `<option value="${esc(o.code)}"${keep.has(o.code) ? " selected" : ""}>${esc(o.name)}</option>`).join("");
}

function chosen(name) {
  return Array.from(form.elements[name].selectedOptions).map(o => o.value);
}

async function loadOptions(keep) {
  // Workstations and blocks of the chosen street (one street at a time: a district has ~1,500 blocks).
  const street = chosen("street").length === 1 ? chosen("street")[0] : (keep.street || [])[0];
  const q = new URLSearchParams({lang});
  if (street) q.set("street", street);
  const res = await fetch("/api/v1/stats/trends/options?" + q);
  const data = await res.json();
  for (const name of MULTI) {
    fill(name, data[LISTS[name]] || [], new Set(keep[name] || chosen(name)));
  }
}

function query() {
  const params = new URLSearchParams({lang});
  for (const name of ["grain", "by", "from", "to"]) if (form.elements[name].value) params.set(name, form.elements[name].value);
  for (const name of MULTI) { const v = chosen(name); if (v.length) params.set(name, v.join(",")); }
  return params.toString();
}

async function draw() {
  const q = query();
  document.getElementById("png").href = "/api/v1/stats/trends.png?" + q;
  const res = await fetch("/api/v1/stats/trends?" + q);
  const data = await res.json();
  const msg = document.getElementById("message");
  if (!res.ok) { msg.textContent = data.error.message; chart.clear(); return; }
  msg.textContent = `${data.from} – ${data.to} · ${data.sum} ${W.cases}`;
  const names = MULTI.flatMap(n => Array.from(form.elements[n].selectedOptions).map(o => `${W[n]}: ${o.textContent}`));
  document.getElementById("chosen").innerHTML = `${esc(W.filters)}: ` + (names.length ? names.map(n => `<span class="chip">${esc(n)}</span>`).join(" ") : esc(T["page.all"]));
  const series = data.series.map(s => ({type: data.series.length > 1 ? "line" : "bar", name: s.name, data: s.data}));
  for (const [key, c] of Object.entries(data.compare)) {
    series.push({type: "line", name: W[key], data: c.total, lineStyle: {type: "dashed"}, itemStyle: {color: key === "previous" ? "#999" : "#ccc"}});
  }
  chart.setOption({
    textStyle: {fontFamily: FONT},
    animation: false,  // drawn once per query: shown at once (and photographed as shown)
    tooltip: {trigger: "axis"},
    legend: {type: "scroll", bottom: 0},
    grid: {left: 50, right: 20, top: 20, bottom: 60},
    xAxis: {type: "category", data: data.buckets},
    yAxis: {type: "value", minInterval: 1},
    series,
  }, true);
  const el = document.getElementById("chart");
  el.dataset.series = String(data.series.length);
  el.dataset.names = JSON.stringify(data.series.map(s => s.name));
  el.dataset.sum = String(data.sum);
  const rows = [[W.period, data.sum], ...Object.entries(data.compare).map(([k, c]) => [W[k], c.sum])];
  document.getElementById("compare").innerHTML = rows.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join("");
}

form.elements.street.addEventListener("change", () => loadOptions({}));
form.addEventListener("submit", e => { e.preventDefault(); history.replaceState(null, "", "?" + query()); draw(); });
const keep = {};
for (const [k, v] of params0) {
  if (MULTI.includes(k)) keep[k] = v.split(",");
  else if (form.elements[k]) form.elements[k].value = v;
}
loadOptions(keep).then(() => document.fonts.load("12px GridlinkCJK", "趋势").catch(() => null)).finally(draw);
