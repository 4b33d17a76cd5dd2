// A file above the upload limit is refused by the server before it is stored; saying so as
// soon as it is chosen saves the officer the wait of sending it.
(function () {
  "use strict";
  document.querySelectorAll("input[type=file][data-max-bytes]").forEach(function (input) {
    var limit = parseInt(input.getAttribute("data-max-bytes"), 10);
    var note = document.getElementById("file-too-large");
    var button = input.form && input.form.querySelector("button[type=submit]");
    input.addEventListener("change", function () {
      var file = input.files && input.files[0];
      var tooLarge = Boolean(file && file.size > limit);
      if (note) {
        note.textContent = tooLarge
          ? "This file is " + (file.size / 1048576).toFixed(1) + " MB; a document may be at most " +
            Math.floor(limit / 1048576) + " MB. Scan it at a lower resolution or split it."
          : "";
        note.classList.toggle("hidden", !tooLarge);
      }
      if (button) { button.disabled = tooLarge; }
    });
  });
})();
