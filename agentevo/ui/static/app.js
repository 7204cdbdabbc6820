// agentevo workbench: the only script. Loaded from 'self' (the CSP allows nothing else); it never turns
// text into markup: tooltips are set with textContent, live updates fetch pages our own server rendered.
(function () {
  "use strict";

  // Learning-curve points: hover or focus shows the point's figures; a click follows its link (the run).
  function bindChart(root) {
    var wrap = root.querySelector(".chart-wrap");
    if (!wrap) return;
    var tip = wrap.querySelector("#tip");
    if (!tip) {
      tip = document.createElement("div");
      tip.id = "tip";
      wrap.appendChild(tip);
    }
    wrap.querySelectorAll(".pt").forEach(function (pt) {
      function show() {
        tip.textContent = pt.getAttribute("data-tip") || "";
        var box = wrap.getBoundingClientRect();
        var p = pt.getBoundingClientRect();
        tip.style.left = Math.min(p.left - box.left + 14, box.width - 220) + "px";
        tip.style.top = (p.top - box.top + 14) + "px";
        tip.classList.add("on");
      }
      function hide() { tip.classList.remove("on"); }
      pt.addEventListener("mouseenter", show);
      pt.addEventListener("focus", show);
      pt.addEventListener("mouseleave", hide);
      pt.addEventListener("blur", hide);
    });
  }

  // A running evolution: the server sends an event whenever state.json changes; the live part of the page
  // is then fetched again (as HTML our server rendered and escaped) and swapped in.
  function bindLive() {
    var live = document.querySelector("[data-events]");
    if (!live || !window.EventSource) return;
    var status = document.getElementById("live-status");
    var source = new EventSource(live.getAttribute("data-events"));
    source.addEventListener("state", function () {
      fetch(live.getAttribute("data-fragment"), { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) {
          var doc = new DOMParser().parseFromString(html, "text/html");
          var fresh = doc.querySelector("[data-live]");
          var old = live.querySelector("[data-live]");
          if (fresh && old) {
            old.replaceWith(document.importNode(fresh, true));
            bindChart(live);
          }
          if (status) status.textContent = "live · updated " + new Date().toLocaleTimeString();
        })
        .catch(function () {});
    });
    source.addEventListener("done", function () {
      source.close();
      if (status) { status.textContent = "finished"; status.classList.add("off"); }
    });
  }

  // Arrow keys step through an episode.
  function bindSteps() {
    document.addEventListener("keydown", function (e) {
      if (e.target && /INPUT|TEXTAREA|SELECT/.test(e.target.tagName)) return;
      var link = null;
      if (e.key === "ArrowLeft") link = document.getElementById("prev-step");
      if (e.key === "ArrowRight") link = document.getElementById("next-step");
      if (link) window.location.href = link.href;
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    bindChart(document);
    bindLive();
    bindSteps();
  });
})();
