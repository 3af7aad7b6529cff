// leadhook console: local times, auto-refresh while visible, the CSRF header for htmx,
// and uPlot charts from <script type="application/json"> data. No inline script (CSP).
(function () {
  "use strict";

  var pad = function (n) { return String(n).padStart(2, "0"); };

  function zoneName(date) {
    try {
      var parts = new Intl.DateTimeFormat(undefined, { timeZoneName: "short" }).formatToParts(date);
      var zone = parts.find(function (p) { return p.type === "timeZoneName"; });
      return zone ? " " + zone.value : "";
    } catch (e) {
      return "";
    }
  }

  // <time datetime="ISO" title="... UTC">: the text in the viewer's zone, UTC on hover.
  function localiseTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      if (el.dataset.local) { return; }
      var date = new Date(el.getAttribute("datetime"));
      if (isNaN(date.getTime())) { return; }
      el.textContent = date.getFullYear() + "-" + pad(date.getMonth() + 1) + "-" +
        pad(date.getDate()) + " " + pad(date.getHours()) + ":" + pad(date.getMinutes()) +
        ":" + pad(date.getSeconds()) + zoneName(date);
      el.dataset.local = "1";
    });
  }

  var palette = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2",
    "#ca8a04", "#db2777", "#64748b"];

  function drawChart(el) {
    if (typeof uPlot === "undefined") { return; }
    var source = document.getElementById(el.dataset.chart);
    if (!source) { return; }
    var data = JSON.parse(source.textContent);
    var metric = el.dataset.metric;
    var columns = data[metric];
    if (!data.x.length || !columns.length) { return; }
    var money = metric === "cost";
    var series = [{}].concat(data.names.map(function (name, i) {
      return {
        label: name,
        stroke: palette[i % palette.length],
        width: 2,
        value: function (u, v) {
          if (v == null) { return "–"; }
          return money ? "$" + v.toFixed(6) : String(v);
        }
      };
    }));
    var axisValues = function (u, ticks) {
      return ticks.map(function (v) { return money ? "$" + v.toPrecision(3) : String(v); });
    };
    var opts = {
      width: Math.max(320, el.clientWidth),
      height: 240,
      series: series,
      axes: [{}, { values: axisValues, size: 80 }],
      scales: { x: { time: true } }
    };
    if (data.bucket === "day") {
      // Day buckets are UTC days: label them as such, one tick per day at most.
      opts.tzDate = function (ts) { return uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"); };
      opts.axes[0] = { space: 60, incrs: [86400, 2 * 86400, 7 * 86400, 30 * 86400],
        values: "{YYYY}-{MM}-{DD}" };
      series[0] = { value: "{YYYY}-{MM}-{DD} UTC" };
    }
    el.textContent = "";
    var chart = new uPlot(opts, [data.x].concat(columns), el);
    window.addEventListener("resize", function () {
      chart.setSize({ width: Math.max(320, el.clientWidth), height: 240 });
    });
  }

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  document.addEventListener("htmx:configRequest", function (event) {
    event.detail.headers["X-CSRF-Token"] = csrfToken();
  });

  function onLoad(root) {
    localiseTimes(root);
    root.querySelectorAll("[data-chart]").forEach(drawChart);
  }

  if (window.htmx) {
    htmx.onLoad(onLoad);
  } else {
    document.addEventListener("DOMContentLoaded", function () { onLoad(document); });
  }

  // Panels marked hx-trigger="console:refresh from:body" refresh every 10 s while visible.
  setInterval(function () {
    if (!document.hidden && window.htmx && document.querySelector("[data-refresh]")) {
      htmx.trigger(document.body, "console:refresh");
    }
  }, 10000);
})();
