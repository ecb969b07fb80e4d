/* The console's only script, and it is optional: every page works without it. While a form's request is out (a slow
   network, the casework API thinking), it says so in the page's live region and stops a second click sending the
   same claim or decision twice. */
(function () {
  "use strict";
  var progress = document.getElementById("progress");
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.getAttribute("method") !== "post") {
      return;
    }
    if (form.dataset.sent === "yes") {
      event.preventDefault();
      return;
    }
    form.dataset.sent = "yes";
    form.setAttribute("aria-busy", "true");
    if (progress) {
      progress.textContent = "Working: waiting for the casework service\u2026";
    }
  });
  // Coming back through the browser's history restores the page as it was: let its forms be sent again.
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form[data-sent]").forEach(function (form) {
      delete form.dataset.sent;
      form.removeAttribute("aria-busy");
    });
    if (progress) {
      progress.textContent = "";
    }
  });
})();
