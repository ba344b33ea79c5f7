// interlink dashboard: the few behaviours htmx does not give on its own.
(function () {
  "use strict";
  var MAX_TAIL_ROWS = 300;
  function offline(show) {
    var banner = document.getElementById("offline");
    if (banner) { banner.hidden = !show; }
  }
  // The dashboard's own server gone (not the broker: the page shows that from the server's messages).
  document.addEventListener("htmx:sseError", function () { offline(true); });
  document.addEventListener("htmx:sseOpen", function () { offline(false); });
  // The live tail keeps the newest rows only.
  document.addEventListener("htmx:afterSwap", function (event) {
    var rows = document.getElementById("tail-rows");
    if (rows && event.detail.target === rows) {
      while (rows.children.length > MAX_TAIL_ROWS) { rows.removeChild(rows.lastElementChild); }
    }
  });
})();
