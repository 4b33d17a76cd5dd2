/* Small progressive enhancements; every page works without them. No inline scripts (CSP). */
(function () {
  "use strict";

  // <form data-confirm="Sure?">: ask before submitting a destructive action.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
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

  // A form's one-time key (<input name="idempotency_key">) outlives the Back button: a form
  // shown again by going back gets the key it was submitted with, so sending it again shows
  // what that submit recorded instead of recording it twice (different details are refused).
  var SUBMITTED_KEYS = "karo:submitted-keys";
  function submittedKeys() {
    try { return JSON.parse(window.sessionStorage.getItem(SUBMITTED_KEYS) || "{}"); }
    catch (e) { return {}; }
  }
  document.addEventListener("submit", function (event) {
    var key = event.target.querySelector && event.target.querySelector("input[name=idempotency_key]");
    if (!key || event.defaultPrevented) { return; }
    var keys = submittedKeys();
    keys[event.target.action] = key.value;
    try { window.sessionStorage.setItem(SUBMITTED_KEYS, JSON.stringify(keys)); } catch (e) { /* private mode */ }
  });
  document.addEventListener("DOMContentLoaded", function () {
    var navigation = window.performance && performance.getEntriesByType &&
      performance.getEntriesByType("navigation")[0];
    if (!navigation || navigation.type !== "back_forward") { return; }
    var keys = submittedKeys();
    document.querySelectorAll("form input[name=idempotency_key]").forEach(function (input) {
      if (keys[input.form.action]) { input.value = keys[input.form.action]; }
    });
  });

  // <button data-print>: print the page.
  document.addEventListener("click", function (event) {
    var el = event.target.closest && event.target.closest("[data-print]");
    if (el) { event.preventDefault(); window.print(); }
  });
})();
