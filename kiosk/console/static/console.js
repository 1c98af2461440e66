// bibkiosk staff console: live updates over Server-Sent Events.  No build step;
// the pages work without it (reload), this only keeps them current.
(function () {
  "use strict";
  if (!window.EventSource) return;
  var source = new EventSource("/events");
  window.bibkioskEvents = source;
  window.addEventListener("pagehide", function () { source.close(); });
  var pending = {};

  function refresh(el, url) {
    // Re-render a server-side fragment; coalesced, at most one request per fragment at a time.
    if (pending[url]) return;
    pending[url] = true;
    setTimeout(function () {
      fetch(url, {credentials: "same-origin"}).then(function (r) { return r.ok ? r.text() : null; }).then(function (html) {
        pending[url] = false;
        if (html === null) return;
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.querySelector("#" + el.id);
        el.innerHTML = fresh ? fresh.innerHTML : doc.body.innerHTML;
      }).catch(function () { pending[url] = false; });
    }, 150);
  }

  function cell(text, cls) {
    var td = document.createElement("td");
    if (cls) {
      var span = document.createElement("span");
      span.className = "badge " + cls;
      span.textContent = text;
      td.appendChild(span);
    } else {
      td.textContent = text;
    }
    return td;
  }

  function hhmmss(iso) {
    var d = new Date(iso);
    if (isNaN(d)) return iso || "";
    return d.toTimeString().slice(0, 8);
  }

  source.addEventListener("event", function (msg) {
    var ev = JSON.parse(msg.data);
    var table = document.getElementById("live-entries");
    if (table && table.dataset.site === ev.site && (ev.type === "entry" || ev.type === "exit")) {
      if (table.querySelector('[data-event="' + ev.id + '"]')) return;
      var tr = document.createElement("tr");
      tr.dataset.event = ev.id;
      tr.className = "fresh";
      tr.appendChild(cell(hhmmss(ev.at)));
      tr.appendChild(cell(ev.device));
      if (ev.type === "exit") tr.appendChild(cell(table.dataset.exit));
      else tr.appendChild(cell(table.dataset[ev.result] || ev.result, ev.result === "granted" ? "b-ok" : "b-bad"));
      tr.appendChild(cell((ev.rules || []).join(", ")));
      var code = document.createElement("td");
      var c = document.createElement("code");
      c.textContent = ev.card_ref || "";
      code.appendChild(c);
      tr.appendChild(code);
      var body = table.tBodies[0];
      body.insertBefore(tr, body.firstChild);
      while (body.rows.length > 50) body.deleteRow(body.rows.length - 1);
      var live = document.getElementById("live-status");
      if (live) live.textContent = table.dataset.announce + " " + ev.device + ": " + (table.dataset[ev.result] || ev.type);
      var occ = document.getElementById("occupancy");
      if (occ) refresh(occ.closest("section"), "/site/" + encodeURIComponent(ev.site) + "?occ=1");
    }
  });

  source.addEventListener("alarms", function (msg) {
    var data = JSON.parse(msg.data);
    var alarms = document.getElementById("alarms");
    if (alarms && alarms.dataset.site === data.site) refresh(alarms, "/site/" + encodeURIComponent(data.site) + "?part=alarms");
    var sites = document.getElementById("sites");
    if (sites) refresh(sites, "/?part=1");
  });

  source.addEventListener("device", function (msg) {
    var data = JSON.parse(msg.data);
    var sites = document.getElementById("sites");
    if (sites) refresh(sites, "/?part=1");
    var devices = document.getElementById("devices-card");
    if (devices && devices.dataset.site === data.site) {
      refresh(devices, "/site/" + encodeURIComponent(data.site));
      var occ = document.getElementById("occ-card");
      if (occ) refresh(occ, "/site/" + encodeURIComponent(data.site) + "?occ=1");
    }
  });
})();
