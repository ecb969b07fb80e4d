/* Progressive enhancement for the report form. Everything here is optional: the pages work without it, and the
   server checks everything again. Served from this origin because the Content-Security-Policy allows no inline
   script. Written as plain ES5 in one function so that an old browser that cannot run it simply skips it. */
(function () {
  "use strict";

  // The error summary: focus it (autofocus already does where supported) and make its links focus the field they
  // name, scrolled so that the field's label or legend is visible too (GOV.UK's error summary behaviour).
  var summary = document.querySelector(".error-summary");
  if (summary) {
    if (document.activeElement !== summary) {
      summary.focus();
    }
    summary.addEventListener("click", function (event) {
      var link = event.target.closest ? event.target.closest("a[href^='#']") : null;
      if (!link) {
        return;
      }
      var control = document.getElementById(link.getAttribute("href").slice(1));
      if (!control) {
        return;
      }
      event.preventDefault();
      var fieldset = control.closest("fieldset");
      var caption = fieldset ? fieldset.querySelector("legend") : document.querySelector("label[for='" + control.id + "']");
      (caption || control).scrollIntoView();
      control.focus({ preventScroll: true });
    });
  }

  var form = document.querySelector("form[data-report-form]");
  if (!form) {
    return;
  }

  // Time zone: <input type="datetime-local"> sends a wall-clock time with no zone. Without script the page asks for
  // UTC; with it, people give their own local time and the browser's offset for that date (daylight saving
  // included) goes with it, in minutes east of UTC.
  var when = form.querySelector("#when");
  var offset = form.querySelector("input[name='tz_offset']");
  var whenHint = document.getElementById("when-hint");

  function offsetAt(value) {
    var date = value ? new Date(value) : new Date();
    return isNaN(date.getTime()) ? null : -date.getTimezoneOffset();
  }

  function utcLabel(minutes) {
    var sign = minutes < 0 ? "-" : "+";
    var abs = Math.abs(minutes);
    var hours = String(Math.floor(abs / 60));
    var mins = String(abs % 60);
    return "UTC" + sign + (hours.length < 2 ? "0" : "") + hours + ":" + (mins.length < 2 ? "0" : "") + mins;
  }

  if (when && offset && whenHint) {
    var now = offsetAt("");
    if (now !== null) {
      whenHint.textContent =
        "Give the date and time in your local time (" + utcLabel(now) + "). Leave it empty if you are not sure.";
    }
    form.addEventListener("submit", function () {
      var minutes = when.value ? offsetAt(when.value) : null;
      offset.value = minutes === null ? "" : String(minutes);
    });
  }

  // Character count for the explanation, as GOV.UK's: the visible count follows every key press; screen readers
  // hear it once typing pauses, not on every character.
  var explanation = form.querySelector("#explanation");
  var count = document.getElementById("explanation-count");
  if (explanation && count) {
    var max = Number(count.getAttribute("data-max"));
    var live = document.createElement("p");
    live.className = "visually-hidden";
    live.setAttribute("aria-live", "polite");
    count.parentNode.insertBefore(live, count.nextSibling);
    var timer = null;
    var update = function () {
      var left = max - explanation.value.trim().length;
      count.textContent =
        left >= 0
          ? "You have " + left + (left === 1 ? " character" : " characters") + " remaining"
          : "You have " + -left + (left === -1 ? " character" : " characters") + " too many";
      count.className = "hint character-count" + (left < 0 ? " character-count--over" : "");
    };
    explanation.addEventListener("input", function () {
      update();
      if (timer !== null) {
        clearTimeout(timer);
      }
      timer = setTimeout(function () {
        live.textContent = count.textContent;
      }, 1000);
    });
    update();
  }
})();
