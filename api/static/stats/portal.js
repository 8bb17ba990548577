// Public portal: serial lookup with the timeline, rating with the bot's code, performance table.
// Words come from the page (T, page.js), names from the API in the page's language.
"use strict";
const pct = v => v === null || v === undefined ? "—" : (v * 100).toFixed(1) + "%";
const status = s => T["status." + s] || s;
let current = null;

async function lookup(serial) {
  const msg = document.getElementById("message");
  const res = await fetch("/api/v1/portal/cases/" + encodeURIComponent(serial) + "?lang=" + LANG);
  const data = await res.json();
  if (!res.ok) {
    msg.textContent = res.status === 404 ? T["page.not_found"] : data.error.message;
    document.getElementById("case").hidden = true;
    return;
  }
  msg.textContent = "";
  show(data);
}

function show(c) {
  current = c;
  document.getElementById("case").hidden = false;
  document.getElementById("serial").textContent = c.serial;
  document.getElementById("status").textContent = status(c.status);
  document.getElementById("colour").textContent = T["colour." + c.colour] || c.colour;
  document.getElementById("category").textContent = (c.category_name && (c.category_name[LANG] || c.category_name.zh)) || c.category;
  document.getElementById("unit").textContent = c.handling_unit ? c.handling_unit.name : "—";
  document.getElementById("rating").textContent = c.rating ? T["score." + c.rating.score] || c.rating.label : "—";
  document.getElementById("timeline").innerHTML = c.timeline.map(t =>
    `<li><time>${esc(new Date(t.at).toLocaleString(LOCALE))}</time> ${esc(T["action." + t.action] || t.action)}
     → ${esc(status(t.status))}</li>`).join("");
  document.getElementById("photos").innerHTML = c.photos.map(p =>
    `<img src="/api/v1/media/${esc(encodeURIComponent(p))}?size=thumb" alt="${esc(T.photo)}" height="120">`).join("");
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
  const res = await fetch(`/api/v1/portal/cases/${encodeURIComponent(current.serial)}/rating?lang=${LANG}`, {
    method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({code: f.get("code"), score: Number(f.get("score"))})});
  const data = await res.json();
  if (!res.ok) { document.getElementById("message").textContent = data.error.message; return; }
  document.getElementById("message").textContent = T.thanks;
  show(data);
});

async function performance() {
  const data = await (await fetch("/api/v1/portal/performance?lang=" + LANG)).json();
  const cols = ["received", "closed", "closure_rate", "on_time_rate", "avg_rating"];
  const table = (title, rows) => `<h3>${esc(title)}</h3><table><thead><tr><th>${esc(T["page.unit"])}</th>${
    cols.map(c => `<th>${esc(T["col." + c])}</th>`).join("")}</tr></thead><tbody>${rows.map(r =>
    `<tr><td>${named(r.name, r.unit)}</td><td>${esc(r.received)}</td><td>${esc(r.closed)}</td><td>${esc(pct(r.closure_rate))}</td>
     <td>${esc(pct(r.on_time_rate))}</td><td>${esc(r.avg_rating ?? "—")}</td></tr>`).join("")}</tbody></table>`;
  document.getElementById("performance").innerHTML = `<p>${esc(fmt(T["page.range"], {from: data.from, to: data.to}))}</p>` +
    table(T.departments, data.departments) + table(T.streets, data.streets);
}

if (location.hash.length > 1) lookup(decodeURIComponent(location.hash.slice(1)));
performance();
