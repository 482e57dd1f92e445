/* Overview live updates: server-sent events with changed alerts and county counts. */
(function () {
  "use strict";
  var root = document.getElementById("live-root");
  if (!root || !window.EventSource) { return; }
  var list = document.getElementById("live-list");
  var status = document.getElementById("live-status");
  var MAX_ITEMS = 15;
  var source = new EventSource(root.getAttribute("data-events"));

  function setStatus(on) {
    if (!status) { return; }
    status.textContent = status.getAttribute(on ? "data-on" : "data-off");
    status.classList.toggle("off", !on);
  }

  function span(cls, text) {
    var el = document.createElement("span");
    el.className = cls;
    if (text !== undefined) { el.textContent = text; }
    return el;
  }

  function build(a) {
    var li = document.createElement("li");
    li.className = "alert-item";
    li.id = "live-alert-" + a.id;
    var sev = span("sev-badge sev-" + a.severity);
    var icon = span("", a.icon);
    icon.setAttribute("aria-hidden", "true");
    sev.appendChild(icon);
    sev.appendChild(document.createTextNode(" " + a.severity_label));
    var link = document.createElement("a");
    link.className = "alert-title";
    link.href = a.url;
    link.textContent = a.title;
    var meta = span("meta", a.where + " · ");
    var time = document.createElement("time");
    time.textContent = a.opened;
    meta.appendChild(time);
    [sev, link, span("state-badge state-" + a.state, a.state_label), meta].forEach(function (el, i) {
      if (i) { li.appendChild(document.createTextNode(" ")); }
      li.appendChild(el);
    });
    return li;
  }

  function upsert(a) {
    var fresh = build(a);
    var old = document.getElementById(fresh.id);
    if (old) {
      old.parentNode.replaceChild(fresh, old);
    } else {
      list.insertBefore(fresh, list.firstChild);
    }
    fresh.classList.add("fresh");
  }

  function counts(byCounty) {
    var totals = {};
    document.querySelectorAll("td[data-county][data-sev]").forEach(function (td) {
      var c = byCounty[td.getAttribute("data-county")] || {};
      var sev = td.getAttribute("data-sev");
      var n = c[sev] || 0;
      td.textContent = String(n);
      totals[sev] = (totals[sev] || 0) + n;
    });
    document.querySelectorAll("[data-total-sev]").forEach(function (el) {
      el.textContent = String(totals[el.getAttribute("data-total-sev")] || 0);
    });
  }

  source.addEventListener("open", function () { setStatus(true); });
  source.addEventListener("error", function () { setStatus(false); });
  source.addEventListener("alerts", function (e) {
    if (!list) { return; }
    JSON.parse(e.data).reverse().forEach(upsert);
    while (list.children.length > MAX_ITEMS) { list.removeChild(list.lastChild); }
    var empty = document.getElementById("live-empty");
    if (empty && list.children.length) { empty.hidden = true; }
  });
  source.addEventListener("summary", function (e) { counts(JSON.parse(e.data)); });
  source.addEventListener("signed-out", function () { source.close(); window.location.reload(); });
  window.addEventListener("pagehide", function () { source.close(); });
}());
