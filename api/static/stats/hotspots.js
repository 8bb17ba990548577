// Hotspot bar chart (ECharts, bundled under /static/echarts so the page works offline).
// Filters by name (the codes stay in the option values); words from the page (T, page.js).
"use strict";
const chart = echarts.init(document.getElementById("chart"));
const form = document.getElementById("filters");
const LISTS = {category: "categories", channel: "channels", street: "streets"};

function query() {
  const params = new URLSearchParams({lang: LANG});
  for (const [k, v] of new FormData(form)) if (v) params.set(k, v);
  return params;
}

async function loadOptions() {
  const res = await fetch("/api/v1/stats/trends/options?" + new URLSearchParams({lang: LANG}));
  if (!res.ok) return;
  const data = await res.json();
  for (const [name, list] of Object.entries(LISTS)) {
    form.elements[name].insertAdjacentHTML("beforeend", (data[list] || []).map(o =>
      `<option value="${esc(o.code)}">${esc(o.name)}</option>`).join(""));
  }
}

async function draw() {
  const q = query();
  const shown = new URLSearchParams(q);
  shown.delete("lang");
  document.getElementById("png").href = "/api/v1/stats/hotspots.png?" + q;
  const res = await fetch("/api/v1/stats/hotspots?" + q);
  const data = await res.json();
  const msg = document.getElementById("message");
  if (!res.ok) { msg.textContent = data.error.message; chart.clear(); return; }
  msg.textContent = fmt(T.count, {from: data.from, to: data.to, n: data.rows.length});
  const rows = data.rows.slice().reverse();
  chart.setOption({
    textStyle: {fontFamily: FONT},
    animation: false,  // drawn once per query: shown at once (and photographed as shown)
    grid: {left: 160, right: 40, top: 20, bottom: 30},
    tooltip: {trigger: "axis"},
    xAxis: {type: "value"},
    yAxis: {type: "category", data: rows.map(r => r.name)},
    series: [{type: "bar", name: T.series, data: rows.map(r => r.value), itemStyle: {color: "#c0392b"},
              label: {show: true, position: "right"}}],
  }, true);
  document.getElementById("chart").dataset.bars = String(rows.length);
}

form.addEventListener("submit", e => {
  e.preventDefault();
  const q = query();
  q.delete("lang");  // the address keeps the filters; the language is the page's
  history.replaceState(null, "", "?" + q);
  draw();
});
// Canvas text needs the font loaded first (it is served by the app, for machines without CJK fonts).
loadOptions().then(() => {
  for (const [k, v] of new URLSearchParams(location.search)) if (form.elements[k]) form.elements[k].value = v;
  return document.fonts.load("12px GridlinkCJK", "投诉").catch(() => null);
}).finally(draw);
