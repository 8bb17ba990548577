// gridlink desk: the intake map (click → lon/lat → live placement → duplicate suggestions).
// Plain JavaScript, no libraries, no network beyond this server.
(function () {
  "use strict";

  function $(sel, root) { return (root || document).querySelector(sel); }

  function lonLatAt(svg, evt) {
    var pt = svg.createSVGPoint();
    pt.x = evt.clientX; pt.y = evt.clientY;
    var p = pt.matrixTransform(svg.getScreenCTM().inverse());
    var d = svg.dataset;
    return { lon: parseFloat(d.minLon) + p.x / parseFloat(d.kx),
             lat: parseFloat(d.maxLat) - p.y / parseFloat(d.ky) };
  }

  function xyOf(svg, lon, lat) {
    var d = svg.dataset;
    return { x: (lon - parseFloat(d.minLon)) * parseFloat(d.kx),
             y: (parseFloat(d.maxLat) - lat) * parseFloat(d.ky) };
  }

  function setPin(svg, lon, lat) {
    var marks = $(".marks", svg);
    var pin = $(".pin", marks);
    if (!pin) {
      pin = document.createElementNS("http://www.w3.org/2000/svg", "circle");
      pin.setAttribute("class", "pin");
      marks.appendChild(pin);
    }
    var xy = xyOf(svg, lon, lat);
    var vb = svg.viewBox.baseVal;
    pin.setAttribute("cx", xy.x.toFixed(1));
    pin.setAttribute("cy", xy.y.toFixed(1));
    pin.setAttribute("r", Math.max(vb.width / 200, 1).toFixed(2));
  }

  function highlight(svg, code) {
    var old = svg.querySelectorAll("path.hit");
    for (var i = 0; i < old.length; i++) old[i].classList.remove("hit");
    if (code) {
      var el = svg.querySelector('path[data-code="' + code + '"]');
      if (el) el.classList.add("hit");
    }
  }

  function zoom(svg, factor, cx, cy) {
    var vb = svg.viewBox.baseVal;
    if (cx === undefined) { cx = vb.x + vb.width / 2; cy = vb.y + vb.height / 2; }
    var w = vb.width * factor, h = vb.height * factor;
    svg.setAttribute("viewBox", [cx - (cx - vb.x) * factor, cy - (cy - vb.y) * factor, w, h].join(" "));
  }

  function intake() {
    var form = $("#intake-form");
    if (!form) return;
    var svg = $("#district-map");
    var lon = $("#lon"), lat = $("#lat"), out = $("#placement");
    var dupBox = $("#duplicates"), dupList = $("#duplicate-list"), none = $("#no-duplicates");
    var seq = 0;

    function duplicates() {
      var category = $("#category").value;
      if (!lon.value || !lat.value || !category) return;
      var my = ++seq;
      var q = "lon=" + encodeURIComponent(lon.value) + "&lat=" + encodeURIComponent(lat.value) +
              "&category=" + encodeURIComponent(category);
      fetch("/desk/duplicates.json?" + q, { credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (data) {
          if (my !== seq) return;
          dupList.textContent = "";
          var list = data.duplicates || [];
          list.forEach(function (d) {
            var li = document.createElement("li");
            var a = document.createElement("a");
            a.href = "/desk/cases/" + d.case_id; a.textContent = d.serial; a.target = "_blank";
            li.appendChild(a);
            li.appendChild(document.createTextNode(" · " + d.distance_m + " m · " + d.state + " — " + d.description + " "));
            var b = document.createElement("button");
            b.type = "submit"; b.name = "merge_into"; b.value = d.case_id; b.className = "merge";
            b.textContent = d.merge_label;
            li.appendChild(b);
            dupList.appendChild(li);
          });
          none.hidden = list.length > 0;
          dupBox.hidden = false;
        });
    }

    function place() {
      if (!lon.value || !lat.value) return;
      var q = "lon=" + encodeURIComponent(lon.value) + "&lat=" + encodeURIComponent(lat.value);
      if (svg) setPin(svg, parseFloat(lon.value), parseFloat(lat.value));
      fetch("/desk/place.json?" + q, { credentials: "same-origin" })
        .then(function (r) { return r.json().then(function (b) { return { ok: r.ok, body: b }; }); })
        .then(function (res) {
          if (res.ok) {
            out.textContent = res.body.label;
            out.className = "ok";
            if (svg) highlight(svg, res.body.placement.community_block);
          } else {
            out.textContent = res.body.error && res.body.error.code === "outside_district"
              ? out.dataset.outside : (res.body.error ? res.body.error.message : "?");
            out.className = "error";
            if (svg) highlight(svg, null);
          }
          duplicates();
        });
    }

    if (svg) {
      svg.addEventListener("click", function (evt) {
        var p = lonLatAt(svg, evt);
        lon.value = p.lon.toFixed(6);
        lat.value = p.lat.toFixed(6);
        place();
      });
      svg.addEventListener("wheel", function (evt) {
        evt.preventDefault();
        var pt = svg.createSVGPoint(); pt.x = evt.clientX; pt.y = evt.clientY;
        var p = pt.matrixTransform(svg.getScreenCTM().inverse());
        zoom(svg, evt.deltaY < 0 ? 0.8 : 1.25, p.x, p.y);
      }, { passive: false });
      document.querySelectorAll("[data-zoom]").forEach(function (b) {
        b.addEventListener("click", function () {
          var how = b.dataset.zoom;
          if (how === "reset") svg.setAttribute("viewBox", svg.dataset.full);
          else zoom(svg, how === "in" ? 0.6 : 1 / 0.6);
        });
      });
    }
    $("#locate").addEventListener("click", place);
    $("#category").addEventListener("change", duplicates);
    [lon, lat].forEach(function (el) {
      el.addEventListener("keydown", function (evt) {
        if (evt.key === "Enter") { evt.preventDefault(); place(); }
      });
    });
    if (lon.value && lat.value) place();
  }

  // Keyboard: g then a letter jumps between pages (besides the accesskeys).
  var pending = false;
  document.addEventListener("keydown", function (evt) {
    var tag = (evt.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "textarea" || tag === "select" || evt.ctrlKey || evt.metaKey || evt.altKey) return;
    if (evt.key === "g") { pending = true; return; }
    if (pending) {
      pending = false;
      var to = { i: "/desk/intake", n: "/desk/queues/new", r: "/desk/queues/returned",
                 e: "/desk/queues/extensions", v: "/desk/queues/verification",
                 d: "/desk/queues/red", o: "/desk/queues/suspended", u: "/desk/unit",
                 m: "/desk/moderation" }[evt.key];
      if (to) window.location.href = to;
    }
  });

  // The case page's re-place form (issue 22): a click on the case's map fills its lon/lat
  // and shows where that is; the center then saves it with the form's button.
  function replaceForm() {
    var form = document.querySelector("form.act-replace");
    var svg = $("#case-map");
    if (!form || !svg) return;
    var lon = form.querySelector("[name=lon]"), lat = form.querySelector("[name=lat]");
    var out = document.createElement("p");
    out.id = "replace-placement"; out.setAttribute("role", "status");
    form.appendChild(out);
    svg.addEventListener("click", function (evt) {
      var p = lonLatAt(svg, evt);
      lon.value = p.lon.toFixed(6);
      lat.value = p.lat.toFixed(6);
      setPin(svg, p.lon, p.lat);
      fetch("/desk/place.json?lon=" + encodeURIComponent(lon.value) + "&lat=" + encodeURIComponent(lat.value),
            { credentials: "same-origin" })
        .then(function (r) { return r.json().then(function (b) { return { ok: r.ok, body: b }; }); })
        .then(function (res) {
          out.textContent = res.ok ? res.body.label : (res.body.error ? res.body.error.message : "?");
          out.className = res.ok ? "ok" : "error";
          if (res.ok) highlight(svg, res.body.placement.community_block);
        });
    });
  }

  document.addEventListener("DOMContentLoaded", intake);
  document.addEventListener("DOMContentLoaded", replaceForm);
})();
