/* Printing from the browser (every page, receipts, statements, letters). No inline script or
   style anywhere (strict CSP): the rules below go in through the CSS object model. */
(function () {
  "use strict";

  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

  function sheetNamed(part) {
    return Array.prototype.find.call(document.styleSheets, function (sheet) {
      return sheet.href && sheet.href.indexOf(part) !== -1;
    });
  }

  function twoDigits(n) { return (n < 10 ? "0" : "") + n; }

  function now() {
    var d = new Date();
    return twoDigits(d.getDate()) + " " + MONTHS[d.getMonth()] + " " + d.getFullYear() + " " +
      twoDigits(d.getHours()) + ":" + twoDigits(d.getMinutes());
  }

  function replaceRule(sheet, previous, text) {
    if (previous !== null) { sheet.deleteRule(previous); }
    return sheet.insertRule(text, sheet.cssRules.length);
  }

  // Every printed page carries the institution's name (top left) and when it was printed (top
  // right), in the page's margin. The name comes from <body data-print-institution>.
  var marks = null;
  function pageMarks() {
    var name = document.body && document.body.dataset.printInstitution;
    var sheet = sheetNamed("css/document") || sheetNamed("css/app");
    if (!name || !sheet) { return; }
    marks = replaceRule(sheet, marks,
      "@page { @top-left { content: " + JSON.stringify(name) + "; }" +
      " @top-right { content: " + JSON.stringify("Printed " + now()) + "; } }");
  }

  // An 80 mm thermal receipt prints as long as it is, not on a 297 mm page: the roll's page
  // gets the receipt's height (on screen the receipt is laid out as on the roll, its padding
  // being the page's margins), plus 2 mm for rounding.
  var roll = null;
  function fitRoll() {
    var receipt = document.querySelector(".paper-thermal .receipt");
    var sheet = sheetNamed("css/receipt");
    if (!receipt || !sheet) { return; }
    var mm = Math.ceil(receipt.getBoundingClientRect().height * 25.4 / 96) + 2;
    roll = replaceRule(sheet, roll, "@page thermal { size: 80mm " + mm + "mm; }");
    document.documentElement.dataset.rollLength = String(mm);
  }

  function prepare() { pageMarks(); fitRoll(); }
  document.addEventListener("DOMContentLoaded", prepare);
  window.addEventListener("beforeprint", prepare);
})();
