// Live parts of console pages. An element with data-live-src is refreshed from that URL (a
// server-rendered fragment of the same page) about once a second, until the fragment it
// receives marks the run as finished with a data-final element. No other script runs.
(function () {
  "use strict";
  function refresh(el) {
    var src = el.getAttribute("data-live-src");
    if (!src) { return; }
    fetch(src, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) {
        if (!response.ok) { throw new Error("status " + response.status); }
        return response.text();
      })
      .then(function (html) {
        el.innerHTML = html;
        if (el.querySelector("[data-final]")) {
          el.removeAttribute("data-live-src");
          el.setAttribute("data-live-done", "");
        } else {
          setTimeout(function () { refresh(el); }, 1000);
        }
      })
      .catch(function () { setTimeout(function () { refresh(el); }, 3000); });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-live-src]").forEach(function (el) {
      if (!el.querySelector("[data-final]")) {
        setTimeout(function () { refresh(el); }, 1000);
      }
    });
  });
})();
