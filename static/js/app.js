/* Small progressive enhancements; every page works without them. No inline scripts (CSP). */
(function () {
  "use strict";

  // A field's value as the question names it: a date field's "2026-11-30" as "30 Nov 2026"
  // (the day the server will read), anything else as typed.
  // As the server writes dates ("j M Y"); not toLocaleDateString, whose en-GB September is "Sept".
  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  function typedValue(field) {
    var value = (field.value || "").trim();
    var iso = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
    if (!iso) { return value; }
    var month = MONTHS[+iso[2] - 1];
    return month ? +iso[3] + " " + month + " " + iso[1] : value;
  }

  // <form data-confirm="Sure?">: ask before submitting a destructive action. "{name}" in the
  // question is replaced by what is typed in the form's field `name` at submit time
  // ("Close the books through {through}?").
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question) {
      question = question.replace(/\{([\w-]+)\}/g, function (whole, name) {
        var field = form.elements && form.elements.namedItem(name);
        return field && "value" in field ? typedValue(field) : whole;
      });
    }
    // A form with a required field left empty goes to the server without the question: its
    // answer is the field's error, and the question comes when there is something to confirm.
    if (question && form.checkValidity() && !window.confirm(question)) {
      event.preventDefault();
      return;
    }
    // Disable submit buttons once a form is on its way, against double clicks. The server's
    // idempotency key is the real guard; this only spares the extra request.
    if (form.hasAttribute && form.hasAttribute("data-once")) {
      if (form.dataset.submitted === "1") { event.preventDefault(); return; }
      form.dataset.submitted = "1";
      window.setTimeout(function () {
        form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
      }, 0);
    }
  });

  // A form's one-time key (<input name="idempotency_key">) outlives the Back button. The key a
  // form is sent with is kept in that page's own history entry; when Back shows that page
  // again, fetched anew from the server (a new key in it), the form gets the sent key back, so
  // sending it again shows what that submit recorded instead of recording it twice (other
  // details are refused). A form opened anew is another history entry and keeps its own key.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var key = form.querySelector && form.querySelector("input[name=idempotency_key]");
    if (!key || event.defaultPrevented) { return; }
    var state = Object.assign({}, window.history.state);
    state.sentKeys = Object.assign({}, state.sentKeys);
    state.sentKeys[form.action] = key.value;
    window.history.replaceState(state, "");
  });
  document.addEventListener("DOMContentLoaded", function () {
    var sent = (window.history.state || {}).sentKeys || {};
    document.querySelectorAll("form input[name=idempotency_key]").forEach(function (input) {
      if (sent[input.form.action]) { input.value = sent[input.form.action]; }
    });
  });
  // Back may instead restore the page as it was left (the back/forward cache), key included:
  // its buttons, disabled against a double click, work again.
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) { return; }
    document.querySelectorAll("form[data-once]").forEach(function (form) {
      delete form.dataset.submitted;
      form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = false; });
    });
  });

  // <button data-print>: print the page.
  document.addEventListener("click", function (event) {
    var el = event.target.closest && event.target.closest("[data-print]");
    if (el) { event.preventDefault(); window.print(); }
  });
  // <body data-autoprint>: a page answering a Print button (the print is already recorded)
  // opens the print dialog once it has loaded.
  window.addEventListener("load", function () {
    if (document.body && document.body.hasAttribute("data-autoprint")) { window.print(); }
  });
})();

// A form posted after the session ended was not recorded; once signed in again, its page gets
// the values typed back (accounts.middleware.SignedOutMiddleware), with a note to check them.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var data = document.getElementById("restored-form");
    if (!data) { return; }
    var kept = JSON.parse(data.textContent);
    var form = Array.prototype.find.call(document.querySelectorAll("form[method=post]"), function (f) {
      return new URL(f.action, window.location.href).pathname === kept.action;
    });
    if (!form) { return; }
    Object.keys(kept.fields).forEach(function (name) {
      var values = kept.fields[name];
      form.querySelectorAll("[name='" + CSS.escape(name) + "']").forEach(function (field, i) {
        if (field.type === "hidden" || field.type === "file") { return; }
        if (field.type === "checkbox" || field.type === "radio") {
          field.checked = values.indexOf(field.value) !== -1;
        } else if (field.tagName === "SELECT" && field.multiple) {
          Array.prototype.forEach.call(field.options, function (o) { o.selected = values.indexOf(o.value) !== -1; });
        } else if (values[i] !== undefined) {
          field.value = values[i];
        }
      });
    });
    var note = document.createElement("div");
    note.className = "alert warning";
    note.setAttribute("role", "alert");
    note.id = "restored-note";
    note.textContent = "Your session ended before this form was sent, so nothing was recorded. " +
      "The form has what you typed: check it, then send it again.";
    form.insertBefore(note, form.firstChild);
  });
})();
