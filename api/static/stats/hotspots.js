// Hotspot bar chart (ECharts, bundled under /static/echarts so the page works offline).
"use strict";
const FONT = '"Noto Sans CJK SC", "Microsoft YaHei", GridlinkCJK, sans-serif';
const chart = echarts.init(document.getElementById("chart"));
const form = document.getElementById("filters");

function query() {
  const params = new URLSearchParams();
  for (const [k, v] of new FormData(form)) if (v) params.set(k, v);
  return params.toString();
}

async function draw() {
  const q = query();
  document.getElementById("png").href = "/api/v1/stats/hotspots.png?" + q;
  const res = await fetch("/api/v1/stats/hotspots?" + q);
  const data = await res.json();
  const msg = document.getElementById("message");
  if (!res.ok) { msg.textContent = data.error.message; chart.clear(); return; }
  msg.textContent = `${data.from} 至 ${data.to} · ${data.rows.length} 项`;
  const rows = data.rows.slice().reverse();
  chart.setOption({
    textStyle: {fontFamily: FONT},
    grid: {left: 160, right: 40, top: 20, bottom: 30},
    tooltip: {trigger: "axis"},
    xAxis: {type: "value"},
    yAxis: {type: "category", data: rows.map(r => r.name)},
    series: [{type: "bar", name: "案件数", data: rows.map(r => r.value), itemStyle: {color: "#c0392b"},
              label: {show: true, position: "right"}}],
  }, true);
  document.getElementById("chart").dataset.bars = String(rows.length);
}

form.addEventListener("submit", e => { e.preventDefault(); history.replaceState(null, "", "?" + query()); draw(); });
for (const [k, v] of new URLSearchParams(location.search)) if (form.elements[k]) form.elements[k].value = v;
// Canvas text needs the font loaded first (it is served by the app, for machines without CJK fonts).
document.fonts.load('12px GridlinkCJK', "投诉").catch(() => null).finally(draw);
