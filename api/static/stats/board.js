// Colour board: fetches /api/v1/stats/board?unit=… and redraws every 10 s without reloading.
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
    <td>${esc(r.name)}</td>${COLOURS.map(c => cell(r, c)).join("")}
    <td>${r.oldest_red ? `${esc(r.oldest_red.serial ?? "—")} (${esc(r.oldest_red.overdue_hours)} h)` : ""}</td></tr>`).join("");
  return `<h2>${esc(title)}</h2><table><thead><tr><th>单位</th><th>绿</th><th>蓝</th><th>黄</th><th>红</th>
    <th>最早红色案件</th></tr></thead><tbody>${body}</tbody></table>`;
}

function caseTable(cases) {
  const body = cases.map(c => `<tr><td><a href="/portal#${esc(encodeURIComponent(c.serial))}">${esc(c.serial)}</a></td>
    <td class="${esc(c.colour)}">${esc(c.colour)}</td><td>${esc(c.category)}</td><td>${esc(c.due_at)}</td></tr>`).join("");
  return `<h2>在办案件 open cases</h2><table class="cases"><thead><tr><th>流水号</th><th>颜色</th>
    <th>类别</th><th>时限</th></tr></thead><tbody>${body}</tbody></table>`;
}

const TITLES = {streets: "街镇 streets", departments: "条线部门 departments",
                workstations: "工作站 workstations", blocks: "网格 blocks"};

async function draw() {
  const unit = unitFromHash();
  const res = await fetch("/api/v1/stats/board" + (unit ? "?unit=" + encodeURIComponent(unit) : ""));
  const data = await res.json();
  if (!res.ok) { document.getElementById("board").textContent = data.error.message; return; }
  const at = trail.findIndex(t => t.unit === data.unit);
  trail = at >= 0 ? trail.slice(0, at + 1) : [...trail, {unit: data.unit, name: data.name}];
  document.getElementById("crumbs").innerHTML =
    trail.map(t => `<a href="#${esc(encodeURIComponent(t.unit))}">${esc(t.name)}</a>`).join(" › ");
  let html = "";
  for (const [key, rows] of Object.entries(data.sections || {})) html += table(TITLES[key] || key, rows);
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
  const time = s => new Date(s).toLocaleTimeString();
  let text = "颜色按 " + time(data.at) + " 计";
  if (data.pending && data.as_of) text += `，统计截至 ${time(data.as_of)}（另有 ${data.pending} 项变更待计入，约 1–2 秒）`;
  else if (data.pending) text += `（${data.pending} 项变更待计入）`;
  return text + " · 更新于 " + new Date().toLocaleTimeString();
}

async function headline() {
  const h = await (await fetch("/api/v1/stats/headline")).json();
  const rate = h.appeal_closure_rate === null ? "—" : (h.appeal_closure_rate * 100).toFixed(1) + "%";
  document.getElementById("headline").textContent = `${h.from} 至 ${h.to}：发现隐患 ${h.hazards_found}，` +
    `立案处置 ${h.hazards_investigated}，结案 ${h.hazards_closed}；受理市民诉求 ${h.appeals_received}，` +
    `办结 ${h.appeals_closed}（${rate}）；现场处置 ${h.on_the_spot}`;
}

window.addEventListener("hashchange", draw);
headline();
draw();
setInterval(draw, 10000);
