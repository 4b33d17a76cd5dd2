/* Dashboard charts (Chart.js), drawn from the JSON the server puts in #dashboard-data.
   Amounts arrive as decimal strings: they become numbers only to size the bars, and tooltips
   show the server's string with thousands separators and two decimals (grouped as text), so
   no float arithmetic ever touches the money shown. Axis ticks are numbers Chart.js chose:
   they are shown the same way, as the pages write amounts (1,234,567.50). */
(function () {
  "use strict";

  // "1234567.5" -> "1,234,567.50": the server's decimal string, grouped and padded as text.
  function moneyText(value) {
    var text = String(value).trim();
    var negative = text.charAt(0) === "-";
    if (negative) { text = text.slice(1); }
    var parts = text.split(".");
    var whole = parts[0].replace(/^0+(?=\d)/, "") || "0";
    var cents = ((parts[1] || "") + "00").slice(0, 2);
    return (negative ? "-" : "") + whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",") + "." + cents;
  }

  var MONEY_TICK = new Intl.NumberFormat("en-GB", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  var COUNT = new Intl.NumberFormat("en-GB", { maximumFractionDigits: 0 });

  var STATUS_COLOURS = {
    pending: "#d79b00",
    approved: "#6941c6",
    active: "#1d5fbf",
    closed: "#1e7a46",
    rejected: "#b42318",
    written_off: "#6b1a12",
    withdrawn: "#9aa4b2"
  };

  function draw() {
    var source = document.getElementById("dashboard-data");
    if (!source || typeof window.Chart === "undefined") { return; }
    var data = JSON.parse(source.textContent);
    var currency = data.currency;
    window.Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    window.Chart.defaults.color = "#5b6675";
    var charts = {};

    var statusCanvas = document.getElementById("chart-status");
    if (statusCanvas) {
      var s = data.loans_by_status;
      // Statuses with no loans stay out of the legend; the order is the life cycle's.
      var keys = [], labels = [], counts = [], colours = [];
      s.keys.forEach(function (key, i) {
        if (s.counts[i] > 0) {
          keys.push(key); labels.push(s.labels[i]); counts.push(s.counts[i]);
          colours.push(STATUS_COLOURS[key] || "#5b6675");
        }
      });
      charts.status = new window.Chart(statusCanvas, {
        type: "doughnut",
        data: { labels: labels, datasets: [{ data: counts, backgroundColor: colours, borderWidth: 2, borderColor: "#ffffff" }] },
        options: {
          responsive: true,
          maintainAspectRatio: false,
          animation: false,
          cutout: "55%",
          plugins: {
            legend: { position: "right" },
            tooltip: { callbacks: { label: function (ctx) { return " " + ctx.label + ": " + COUNT.format(ctx.parsed); } } }
          }
        }
      });
    }

    var dailyCanvas = document.getElementById("chart-daily");
    if (dailyCanvas) {
      var d = data.repayments_last_7_days;
      charts.daily = new window.Chart(dailyCanvas, {
        type: "bar",
        data: {
          labels: d.labels,
          datasets: [{
            label: "Collected (" + currency + ")",
            data: d.amounts.map(Number),
            backgroundColor: "#1d5fbf",
            borderRadius: 4,
            maxBarThickness: 48
          }]
        },
        options: {
          responsive: true,
          maintainAspectRatio: false,
          animation: false,
          scales: {
            y: {
              beginAtZero: true,
              ticks: { callback: function (value) { return MONEY_TICK.format(value); } },
              title: { display: true, text: currency }
            }
          },
          plugins: {
            legend: { display: false },
            tooltip: {
              callbacks: {
                label: function (ctx) {
                  var n = d.counts[ctx.dataIndex];
                  return " " + currency + " " + moneyText(d.amounts[ctx.dataIndex]) + " (" + COUNT.format(n) + (n === 1 ? " payment)" : " payments)");
                }
              }
            }
          }
        }
      });
    }
    window.karoCharts = charts;
    window.karoMoneyText = moneyText;
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
