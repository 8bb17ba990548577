// Three-level assessment: ranked tables per month, CSV/XLSX export, definitions from the server.
"use strict";
const form = document.getElementById("controls");
const COLS = [["rank", "排名"], ["name", "单位"], ["received", "受理数"], ["closed", "结案数"],
  ["overdue_open", "超期未处置"], ["closure_rate", "结案率"], ["on_time_rate", "按期结案率"],
  ["overdue", "超期数"], ["returns", "回退数"], ["rework_rate", "返工率"], ["extension_rate", "延期率"],
  ["avg_rating", "平均满意度"], ["patrol_share", "巡查发现占比"], ["score", "综合得分"], ["grade", "等级"]];
const RATES = new Set(["closure_rate", "on_time_rate", "rework_rate", "extension_rate", "patrol_share"]);
const fmt = (k, v) => v === null || v === undefined ? "—" : RATES.has(k) ? (v * 100).toFixed(1) + "%" : v;
const TITLES = {departments: "条线部门 → 点击查看班组", streets: "街镇 → 点击查看工作站",
                workstations: "工作站 → 点击查看巡管员", teams: "处置班组 teams", coordinators: "巡管员 coordinators"};
// Rows of these tables open the next level down (department → teams, street → workstations,
// workstation → coordinators); teams and coordinators are the bottom.
const DRILL = new Set(["departments", "streets", "workstations"]);

async function draw() {
  const q = new URLSearchParams();
  for (const [k, v] of new FormData(form)) if (v) q.set(k, v);
  document.getElementById("csv").href = "/api/v1/stats/assessment.csv?" + q;
  document.getElementById("xlsx").href = "/api/v1/stats/assessment.xlsx?" + q;
  const res = await fetch("/api/v1/stats/assessment?" + q);
  const data = await res.json();
  if (!res.ok) { document.getElementById("tables").textContent = data.error.message; return; }
  document.getElementById("definitions").textContent = data.definitions;
  document.getElementById("tables").innerHTML = `<p>${esc(data.name)} · ${esc(data.month)}</p>` +
    Object.entries(data.tables).map(([name, rows]) => `<h2>${esc(TITLES[name] || name)}</h2><table data-table="${esc(name)}">
      <thead><tr>${COLS.map(c => `<th>${c[1]}</th>`).join("")}</tr></thead><tbody>${rows.map(r =>
      `<tr${DRILL.has(name) ? ` class="unit" data-unit="${esc(r.unit)}"` : ""}>${COLS.map(([k]) =>
        `<td>${esc(fmt(k, r[k]))}</td>`).join("")}</tr>`).join("")}</tbody></table>`).join("");
  document.querySelectorAll("#tables tr.unit").forEach(tr => tr.addEventListener("click", () => {
    form.elements.unit.value = tr.dataset.unit;
    draw();
  }));
}

form.addEventListener("submit", e => { e.preventDefault(); draw(); });
draw();
