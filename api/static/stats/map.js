// Map: the street's block polygons drawn as SVG (no tiles), shaded by open or red cases,
// open cases as dots; clicking a block lists its cases from the board API. Words: T (page.js).
"use strict";
const svg = document.getElementById("map");
const form = document.getElementById("controls");
const NS = "http://www.w3.org/2000/svg";
const DOT = {red: "#c0392b", yellow: "#f1c40f", blue: "#2e86c1"};
let data = null;

function rings(geom) {
  return geom.type === "Polygon" ? [geom.coordinates] : geom.coordinates;
}

function draw() {
  const shade = form.elements.shade.value;
  svg.innerHTML = "";
  const feats = data.blocks.features;
  let [x0, y0, x1, y1] = [Infinity, Infinity, -Infinity, -Infinity];
  for (const f of feats) for (const poly of rings(f.geometry)) for (const [x, y] of poly[0]) {
    x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
  }
  // Flip latitude so north is up; viewBox in degrees keeps the shapes exact.
  svg.setAttribute("viewBox", `${x0} ${-y1} ${x1 - x0} ${y1 - y0}`);
  const max = Math.max(1, ...feats.map(f => f.properties[shade]));
  for (const f of feats) {
    const d = rings(f.geometry).map(poly => poly.map(ring =>
      "M" + ring.map(([x, y]) => `${x},${-y}`).join("L") + "Z").join("")).join("");
    const path = document.createElementNS(NS, "path");
    const n = f.properties[shade];
    path.setAttribute("d", d);
    path.setAttribute("fill", n ? `rgba(192,57,43,${0.15 + 0.85 * n / max})` : "#eef3ee");
    path.dataset.code = f.properties.code;
    path.classList.add("block");
    const title = document.createElementNS(NS, "title");
    title.textContent = fmt(T.block_tip, {name: f.properties.name, open: f.properties.open, red: f.properties.red});
    path.appendChild(title);
    path.addEventListener("click", () => showBlock(f.properties.code, f.properties.name));
    svg.appendChild(path);
  }
  const r = (x1 - x0) / 250;
  for (const p of data.cases.features) {
    const c = document.createElementNS(NS, "circle");
    c.setAttribute("cx", p.geometry.coordinates[0]);
    c.setAttribute("cy", -p.geometry.coordinates[1]);
    c.setAttribute("r", r);
    c.setAttribute("fill", DOT[p.properties.colour] || "#333");
    svg.appendChild(c);
  }
  svg.dataset.blocks = String(feats.length);
}

async function showBlock(code, name) {
  const q = new URLSearchParams({unit: code, lang: LANG});
  const body = await (await fetch("/api/v1/stats/board?" + q)).json();
  const rows = (body.cases || []).map(c => `<tr><td><a href="/portal#${esc(encodeURIComponent(c.serial))}">${esc(c.serial)}</a></td>
    <td class="${esc(c.colour)}">${esc(T["colour." + c.colour] || c.colour)}</td><td>${esc(c.category_name || c.category)}</td>
    <td>${esc(new Date(c.due_at).toLocaleString(LOCALE))}</td></tr>`).join("");
  document.getElementById("block").innerHTML = `<h2>${named(name, code)}</h2><table class="cases"><thead><tr>
    <th>${esc(T["page.serial"])}</th><th>${esc(T["page.colour"])}</th><th>${esc(T["page.category"])}</th>
    <th>${esc(T["page.due"])}</th></tr></thead><tbody>${rows}</tbody></table>`;
}

async function load(street) {
  const q = new URLSearchParams({lang: LANG});
  if (street) q.set("street", street);
  const res = await fetch("/api/v1/stats/map?" + q);
  data = await res.json();
  const sel = form.elements.street;
  if (!sel.options.length) sel.innerHTML = data.streets.map(s => `<option value="${esc(s.code)}">${esc(s.name)}</option>`).join("");
  sel.value = data.street;
  draw();
}

form.elements.street.addEventListener("change", e => load(e.target.value));
form.elements.shade.addEventListener("change", draw);
load("");
setInterval(() => load(form.elements.street.value), 30000);
