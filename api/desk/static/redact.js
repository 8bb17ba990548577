// gridlink desk: the redaction picker. Drag on the photo to draw rectangles to blur; they are
// written to the boxes field as "x,y,w,h; …" in fractions of the picture (the field can also
// be typed). Keys (outside text fields): U undo the last rectangle, C clear, W the whole
// picture, S save.
(function () {
  "use strict";

  function $(sel, root) { return (root || document).querySelector(sel); }
  function clamp(v) { return Math.min(1, Math.max(0, v)); }

  function picker() {
    var wrap = $("#redact-picker");
    if (!wrap) return;
    var img = $("#redact-image", wrap);
    var field = document.getElementById(wrap.dataset.boxesField);
    var form = wrap.closest("form");
    var boxes = [];
    var start = null, live = null;

    function parse() {
      boxes = [];
      (field.value || "").split(";").forEach(function (part) {
        var v = part.split(",").map(parseFloat);
        if (v.length === 4 && v.every(function (n) { return !isNaN(n); })) boxes.push(v);
      });
    }

    function write() {
      field.value = boxes.map(function (b) {
        return b.map(function (n) { return n.toFixed(4); }).join(",");
      }).join("; ");
    }

    function place(el, b) {
      el.style.left = (b[0] * 100) + "%";
      el.style.top = (b[1] * 100) + "%";
      el.style.width = (b[2] * 100) + "%";
      el.style.height = (b[3] * 100) + "%";
    }

    function draw() {
      var old = wrap.querySelectorAll(".redact-box");
      for (var i = 0; i < old.length; i++) old[i].remove();
      boxes.forEach(function (b) {
        var el = document.createElement("div");
        el.className = "redact-box";
        place(el, b);
        wrap.appendChild(el);
      });
    }

    function at(evt) {
      var r = img.getBoundingClientRect();
      return { x: clamp((evt.clientX - r.left) / r.width), y: clamp((evt.clientY - r.top) / r.height) };
    }

    function rect(a, b) {
      return [Math.min(a.x, b.x), Math.min(a.y, b.y), Math.abs(a.x - b.x), Math.abs(a.y - b.y)];
    }

    wrap.addEventListener("pointerdown", function (evt) {
      evt.preventDefault();
      start = at(evt);
      live = document.createElement("div");
      live.className = "redact-box";
      place(live, [start.x, start.y, 0, 0]);
      wrap.appendChild(live);
      if (wrap.setPointerCapture) wrap.setPointerCapture(evt.pointerId);
    });
    wrap.addEventListener("pointermove", function (evt) {
      if (!start) return;
      place(live, rect(start, at(evt)));
    });
    wrap.addEventListener("pointerup", function (evt) {
      if (!start) return;
      var b = rect(start, at(evt));
      start = null;
      if (live) { live.remove(); live = null; }
      if (b[2] > 0.005 && b[3] > 0.005) { boxes.push(b); write(); }
      draw();
    });
    field.addEventListener("change", function () { parse(); draw(); });

    $("#redact-undo").addEventListener("click", function () { boxes.pop(); write(); draw(); });
    $("#redact-clear").addEventListener("click", function () { boxes = []; write(); draw(); });
    // the whole picture: a photo that should not be public at all (its copy is a blur)
    $("#redact-whole").addEventListener("click", function () { boxes = [[0, 0, 1, 1]]; write(); draw(); });
    document.addEventListener("keydown", function (evt) {
      var tag = (evt.target && evt.target.tagName) || "";
      if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || evt.ctrlKey || evt.metaKey || evt.altKey) return;
      var key = evt.key.toLowerCase();
      if (key === "u") { boxes.pop(); write(); draw(); }
      else if (key === "c") { boxes = []; write(); draw(); }
      else if (key === "w") { boxes = [[0, 0, 1, 1]]; write(); draw(); }
      else if (key === "s" && boxes.length) { evt.preventDefault(); form.requestSubmit ? form.requestSubmit() : form.submit(); }
    });

    parse();
    draw();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", picker);
  else picker();
})();
