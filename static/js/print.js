/* Printed documents (receipts, statements, letters): what their pages need before printing.
   No inline script or style anywhere (strict CSP): rules go in through the CSS object model. */
(function () {
  "use strict";

  function sheetNamed(part) {
    return Array.prototype.find.call(document.styleSheets, function (sheet) {
      return sheet.href && sheet.href.indexOf(part) !== -1;
    });
  }

  // An 80 mm thermal receipt prints as long as it is, not on a 297 mm page: the roll's page
  // gets the receipt's height (on screen the receipt is laid out as on the roll, its padding
  // being the page's margins), plus 2 mm for rounding.
  var rollRule = null;
  function fitRoll() {
    var receipt = document.querySelector(".paper-thermal .receipt");
    var sheet = sheetNamed("receipt");
    if (!receipt || !sheet) { return; }
    var mm = Math.ceil(receipt.getBoundingClientRect().height * 25.4 / 96) + 2;
    if (rollRule !== null) { sheet.deleteRule(rollRule); }
    rollRule = sheet.insertRule("@page thermal { size: 80mm " + mm + "mm; }", sheet.cssRules.length);
    document.documentElement.dataset.rollLength = String(mm);
  }
  document.addEventListener("DOMContentLoaded", fitRoll);
  window.addEventListener("beforeprint", fitRoll);
})();
