// pushgate console: progressive enhancement only; every page works without it.
"use strict";
document.addEventListener("click", function (e) {
  var b = e.target.closest("button[data-copy]");
  if (!b) return;
  var el = document.getElementById(b.getAttribute("data-copy"));
  if (el && navigator.clipboard) {
    navigator.clipboard.writeText(el.textContent).then(function () { b.textContent = "Copied"; });
  }
});
// Forms asking for confirmation (revoke, delete, remove).
document.addEventListener("submit", function (e) {
  var f = e.target;
  var q = f.getAttribute && f.getAttribute("data-confirm");
  if (q && !window.confirm(q)) e.preventDefault();
});
// The calls list follows settling deliveries over Server-Sent Events: each event carries
// one row's HTML (rendered and escaped by the server), replacing the row or adding it on top.
document.addEventListener("DOMContentLoaded", function () {
  var list = document.getElementById("calls");
  if (!list || !window.EventSource) return;
  var es = new EventSource(list.getAttribute("data-events"));
  es.addEventListener("row", function (ev) {
    var msg = JSON.parse(ev.data);
    var t = document.createElement("template");
    t.innerHTML = msg.html.trim();
    var row = t.content.firstElementChild;
    var old = document.getElementById(msg.id);
    if (old) old.replaceWith(row); else list.prepend(row);
  });
});
