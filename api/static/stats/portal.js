// Public portal: serial lookup with the timeline, rating with the bot's code, performance table.
"use strict";
const ACTIONS = {report: "受理", close_on_spot: "现场处置", dispatch: "派遣", redispatch: "重新派遣",
  accept: "签收", return: "回退", request_extension: "申请延期", decide_extension: "延期审批",
  feedback: "处置反馈", close: "核查结案", reopen: "返工督办", rate: "评价", merge: "合并",
  absorb: "合并", supervise: "督办"};
const STATUS = {reported: "已受理", dispatched: "已派遣", in_progress: "处置中",
  awaiting_verification: "待核查", returned: "已回退", closed: "已结案", merged: "已合并"};
const COLOUR = {green: "绿", blue: "蓝", yellow: "黄", red: "红"};
const pct = v => v === null || v === undefined ? "—" : (v * 100).toFixed(1) + "%";
let current = null;

async function lookup(serial) {
  const msg = document.getElementById("message");
  const res = await fetch("/api/v1/portal/cases/" + encodeURIComponent(serial));
  const data = await res.json();
  if (!res.ok) { msg.textContent = data.error.message; document.getElementById("case").hidden = true; return; }
  msg.textContent = "";
  show(data);
}

function show(c) {
  current = c;
  document.getElementById("case").hidden = false;
  document.getElementById("serial").textContent = c.serial;
  document.getElementById("status").textContent = STATUS[c.status] || c.status;
  document.getElementById("colour").textContent = COLOUR[c.colour] || c.colour;
  document.getElementById("category").textContent = (c.category_name && c.category_name.zh) || c.category;
  document.getElementById("unit").textContent = c.handling_unit ? c.handling_unit.name : "—";
  document.getElementById("rating").textContent = c.rating ? c.rating.label : "—";
  document.getElementById("timeline").innerHTML = c.timeline.map(t =>
    `<li><time>${esc(new Date(t.at).toLocaleString("zh-CN"))}</time> ${esc(ACTIONS[t.action] || t.action)}
     → ${esc(STATUS[t.status] || t.status)}</li>`).join("");
  document.getElementById("photos").innerHTML = c.photos.map(p =>
    `<img src="/api/v1/media/${esc(encodeURIComponent(p))}?size=thumb" alt="photo" height="120">`).join("");
  document.getElementById("rate").hidden = !(c.status === "closed" && !c.rated);
}

document.getElementById("lookup").addEventListener("submit", e => {
  e.preventDefault();
  const serial = new FormData(e.target).get("serial").trim();
  location.hash = serial;
});
window.addEventListener("hashchange", () => lookup(decodeURIComponent(location.hash.slice(1))));
document.getElementById("rate").addEventListener("submit", async e => {
  e.preventDefault();
  const f = new FormData(e.target);
  const res = await fetch(`/api/v1/portal/cases/${encodeURIComponent(current.serial)}/rating`, {
    method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({code: f.get("code"), score: Number(f.get("score"))})});
  const data = await res.json();
  if (!res.ok) { document.getElementById("message").textContent = data.error.message; return; }
  document.getElementById("message").textContent = "感谢您的评价 thank you";
  show(data);
});

async function performance() {
  const data = await (await fetch("/api/v1/portal/performance")).json();
  const table = (title, rows) => `<h3>${esc(title)}</h3><table><thead><tr><th>单位</th><th>受理</th>
    <th>结案</th><th>结案率</th><th>按期结案率</th><th>平均满意度</th></tr></thead><tbody>${rows.map(r =>
    `<tr><td>${esc(r.name)}</td><td>${esc(r.received)}</td><td>${esc(r.closed)}</td><td>${esc(pct(r.closure_rate))}</td>
     <td>${esc(pct(r.on_time_rate))}</td><td>${esc(r.avg_rating ?? "—")}</td></tr>`).join("")}</tbody></table>`;
  document.getElementById("performance").innerHTML =
    `<p>${esc(data.from)} 至 ${esc(data.to)}</p>` + table("条线部门", data.departments) + table("街镇", data.streets);
}

if (location.hash.length > 1) lookup(decodeURIComponent(location.hash.slice(1)));
performance();
