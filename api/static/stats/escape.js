// Text from the server (unit, category and team names, serials, codes) goes into markup only
// through esc(): shown as text, never parsed as HTML, inside elements and quoted attributes.
"use strict";
function esc(v) {
  return String(v ?? "").replace(/[&<>"']/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"})[c]);
}
