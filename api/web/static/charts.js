/* Draws the page's charts (specs in #chart-data) with uPlot. Times are shown in China
   Standard Time; series differ by colour and dash pattern, thresholds and bands are labelled
   on the chart and listed in text under it. */
(function () {
  "use strict";
  var dataEl = document.getElementById("chart-data");
  if (!dataEl || !window.uPlot) { return; }
  var specs = JSON.parse(dataEl.textContent);
  var COLORS = ["#1f5f8b", "#b5452a", "#2e7d32", "#7b3fa0", "#a66f00", "#00796b", "#5d4037", "#455a64"];
  var DASHES = [[], [8, 4], [2, 3], [12, 4, 2, 4], [4, 4], [1, 5], [16, 4], [6, 2, 2, 2]];
  var BARS = [["rgba(31,95,139,0.45)", "#1f5f8b"], ["rgba(46,160,67,0.55)", "#1e6b34"]];
  var BAND_FILL = ["rgba(46,125,50,0.08)", "rgba(255,193,7,0.18)", "rgba(245,124,0,0.2)", "rgba(198,40,40,0.2)"];
  var CST = 8 * 3600;
  var charts = [];

  function pad(n) { return n < 10 ? "0" + n : String(n); }
  function cst(ts) { return new Date((ts + CST) * 1000); }
  function day(d) { return (d.getUTCMonth() + 1) + "/" + d.getUTCDate(); }
  function hm(d) { return pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()); }
  function month(d) { return d.getUTCFullYear() + "-" + pad(d.getUTCMonth() + 1); }
  function full(ts, xfmt) {
    var d = cst(ts);
    return xfmt === "month" ? month(d) + "-" + pad(d.getUTCDate()) :
      d.getUTCFullYear() + "-" + pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate()) + " " + hm(d);
  }
  function num(v) {
    if (v == null) { return "—"; }
    var a = Math.abs(v);
    return v.toFixed(a >= 100 ? 0 : a >= 10 ? 1 : a >= 1 ? 2 : 3);
  }

  function xValues(xfmt) {
    return function (u, splits, axisIdx, space, incr) {
      return splits.map(function (ts) {
        var d = cst(ts);
        if (xfmt === "month") { return incr >= 28 * 86400 ? month(d) : month(d) + "-" + pad(d.getUTCDate()); }
        if (incr >= 86400) { return day(d); }
        return (d.getUTCHours() === 0 && d.getUTCMinutes() === 0) ? day(d) : hm(d);
      });
    };
  }

  function yRange(spec, scale) {
    var extra = [];
    spec.lines.forEach(function (l) { if ((l.axis ? "y2" : "y") === scale) { extra.push(l.value); } });
    if (scale === "y") {
      spec.bands.forEach(function (b) { if (b.lo != null) { extra.push(b.lo); } });
      extra = extra.slice(0, 2);
    }
    var bars = spec.series.some(function (s) { return s.kind === "bar" && (s.axis ? "y2" : "y") === scale; });
    return function (u, min, max) {
      if (min == null || max == null) { min = 0; max = 1; }
      extra.forEach(function (v) { min = Math.min(min, v); max = Math.max(max, v); });
      if (bars) { min = Math.min(0, min); }
      var padv = (max - min) * 0.08 || Math.abs(max) * 0.1 || 1;
      return [bars && min >= 0 ? 0 : min - padv, max + padv];
    };
  }

  function drawBands(spec) {
    return function (u) {
      if (!spec.bands.length) { return; }
      var ctx = u.ctx, box = u.bbox, dpr = window.devicePixelRatio || 1;
      ctx.save();
      ctx.font = (11 * dpr) + "px sans-serif";
      ctx.textAlign = "right";
      spec.bands.forEach(function (b) {
        var top = b.hi == null ? box.top : u.valToPos(b.hi, "y", true);
        var bottom = b.lo == null ? box.top + box.height : u.valToPos(b.lo, "y", true);
        top = Math.max(box.top, top);
        bottom = Math.min(box.top + box.height, bottom);
        if (bottom <= top) { return; }
        ctx.fillStyle = BAND_FILL[b.level % BAND_FILL.length];
        ctx.fillRect(box.left, top, box.width, bottom - top);
        if (bottom - top > 14 * dpr) {
          ctx.fillStyle = "#333";
          ctx.fillText(b.label, box.left + box.width - 4 * dpr, top + 12 * dpr);
        }
      });
      ctx.restore();
    };
  }

  function drawLines(spec) {
    return function (u) {
      if (!spec.lines.length) { return; }
      var ctx = u.ctx, box = u.bbox, dpr = window.devicePixelRatio || 1;
      ctx.save();
      ctx.strokeStyle = "#8b1a1a";
      ctx.fillStyle = "#8b1a1a";
      ctx.lineWidth = 1.5 * dpr;
      ctx.setLineDash([6 * dpr, 4 * dpr]);
      ctx.font = (11 * dpr) + "px sans-serif";
      spec.lines.forEach(function (l) {
        var y = u.valToPos(l.value, l.axis ? "y2" : "y", true);
        if (y < box.top || y > box.top + box.height) { return; }
        ctx.beginPath();
        ctx.moveTo(box.left, y);
        ctx.lineTo(box.left + box.width, y);
        ctx.stroke();
      });
      ctx.setLineDash([]);
      ctx.textAlign = "right";
      ctx.textBaseline = "bottom";
      spec.lines.forEach(function (l) {
        var y = u.valToPos(l.value, l.axis ? "y2" : "y", true);
        if (y < box.top || y > box.top + box.height) { return; }
        var text = l.label + " " + num(l.value);
        var w = ctx.measureText(text).width, h = 14 * dpr;
        var x = box.left + box.width - 4 * dpr;
        var top = y - h - 2 * dpr < box.top ? y + 2 * dpr : y - h - 2 * dpr;
        ctx.fillStyle = "rgba(255,255,255,0.85)";
        ctx.fillRect(x - w - 4 * dpr, top, w + 8 * dpr, h);
        ctx.fillStyle = "#8b1a1a";
        ctx.fillText(text, x, top + h - 2 * dpr);
      });
      ctx.restore();
    };
  }

  function build(spec, el) {
    var series = [{ label: spec.xlabel, value: function (u, v) { return v == null ? "—" : full(v, spec.xfmt); } }];
    var data = [spec.x];
    var line = 0, barN = 0;
    spec.series.forEach(function (s) {
      var o = { label: s.label, scale: s.axis ? "y2" : "y", spanGaps: s.kind !== "bar",
                value: function (u, v) { return num(v); } };
      if (s.kind === "bar") {
        var c = BARS[barN % BARS.length];
        barN += 1;
        o.fill = c[0];
        o.stroke = c[1];
        o.width = 0;
        o.paths = uPlot.paths.bars({ size: [0.8, 60], align: 1 });
        o.points = { show: false };
      } else if (s.kind === "point") {
        o.stroke = "#111";
        o.paths = function () { return null; };
        o.points = { show: true, size: 10, fill: "#111", stroke: "#111" };
      } else if (s.kind === "point2") {
        o.stroke = "#a66f00";
        o.paths = function () { return null; };
        o.points = { show: true, size: 9, width: 2, fill: "#fff", stroke: "#a66f00" };
      } else if (s.kind === "path") {
        o.stroke = "#666";
        o.width = 1.5;
        o.dash = [10, 6];
        o.points = { show: true, size: 7, fill: "#fff" };
      } else {
        o.stroke = COLORS[line % COLORS.length];
        o.dash = DASHES[line % DASHES.length];
        o.width = 2;
        o.points = { show: spec.x.length < 40 };
        line += 1;
      }
      series.push(o);
      data.push(s.values);
    });
    var hasY2 = spec.series.some(function (s) { return s.axis; });
    var axes = [
      { values: xValues(spec.xfmt), space: 60 },
      { scale: "y", label: spec.unit, labelSize: 18, size: 52 }
    ];
    if (hasY2) { axes.push({ scale: "y2", side: 1, label: spec.unit2, labelSize: 18, size: 46, grid: { show: false } }); }
    var scales = { x: { time: true }, y: { range: yRange(spec, "y") } };
    if (hasY2) { scales.y2 = { range: yRange(spec, "y2") }; }
    var opts = {
      width: Math.max(280, el.clientWidth), height: 240, series: series, axes: axes, scales: scales,
      tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1000), "Asia/Shanghai"); },
      cursor: { points: { size: 7 } },
      hooks: { drawClear: [drawBands(spec)], draw: [drawLines(spec)] }
    };
    return new uPlot(opts, data, el);
  }

  specs.forEach(function (spec) {
    var el = document.querySelector('[data-chart="' + spec.id + '"]');
    if (el) { charts.push([build(spec, el), el]); }
  });

  var pending = null;
  window.addEventListener("resize", function () {
    if (pending) { window.clearTimeout(pending); }
    pending = window.setTimeout(function () {
      charts.forEach(function (c) { c[0].setSize({ width: Math.max(280, c[1].clientWidth), height: 240 }); });
    }, 150);
  });
  document.documentElement.setAttribute("data-charts", String(charts.length));
}());
