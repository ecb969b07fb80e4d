/* The console's only script, and it is optional: every page works without it. While a form's request is out (a slow
   network, the casework API thinking), it says so in the page's live region (in the form's own words, its
   data-progress) and marks the form busy; a POST form also refuses a second submit, so a double click never sends
   the same claim, reveal or decision twice. A filter form (GET) may be sent again: repeating it changes nothing. */
(function () {
  "use strict";
  var progress = document.getElementById("progress");
  var WAITING = "Working: waiting for the casework service\u2026";

  function busy(form, submitter) {
    form.setAttribute("aria-busy", "true");
    if (submitter) {
      // aria-disabled, not disabled: a disabled button loses focus, and a keyboard user would be thrown to the top.
      submitter.setAttribute("aria-disabled", "true");
    }
    if (progress) {
      progress.textContent = form.getAttribute("data-progress") || WAITING;
    }
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement)) {
      return;
    }
    var post = (form.getAttribute("method") || "").toLowerCase() === "post";
    if (post && form.dataset.sent === "yes") {
      event.preventDefault();
      return;
    }
    if (post) {
      form.dataset.sent = "yes";
    }
    busy(form, event.submitter || form.querySelector("[type=submit]"));
  });

  // Coming back through the browser's history restores the page as it was: let its forms be sent again.
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form[aria-busy]").forEach(function (form) {
      delete form.dataset.sent;
      form.removeAttribute("aria-busy");
      form.querySelectorAll("[aria-disabled]").forEach(function (button) {
        button.removeAttribute("aria-disabled");
      });
    });
    if (progress) {
      progress.textContent = "";
    }
  });
})();
