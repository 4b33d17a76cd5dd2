"""The dashboard in a real browser: both Chart.js charts are drawn (a Chart instance on each
canvas, and pixels painted), with the KPI figures of a hand-worked portfolio."""

from __future__ import annotations

from typing import Any

import pytest

from tests.reporting.fixtures import build_portfolio

pytestmark = pytest.mark.browser


@pytest.fixture(autouse=True)
def _roles(transactional_db: Any) -> None:
    """transactional_db empties every table after each test, the role groups of the data
    migration included; put them back before page_as signs a user in."""
    from accounts.roles import sync_roles

    sync_roles()


CANVAS_PAINTED = """(id) => {
  const canvas = document.getElementById(id);
  if (!canvas || !window.Chart || !window.Chart.getChart(canvas)) { return 0; }
  const { width, height } = canvas;
  const pixels = canvas.getContext("2d").getImageData(0, 0, width, height).data;
  let painted = 0;
  for (let i = 3; i < pixels.length; i += 4) { if (pixels[i] > 0) { painted += 1; } }
  return painted;
}"""


def kpi(page: Any, name: str) -> str:
    return " ".join(page.locator(f"#kpi-{name} .value").inner_text().split())


@pytest.mark.parametrize("role", ["admin", "officer", "accountant"])
def test_dashboard_draws_both_charts_and_shows_the_kpis(page_as: Any, role: str) -> None:
    portfolio = build_portfolio()
    page = page_as(role)
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto("/")
    page.wait_for_function(
        "() => window.karoCharts && window.karoCharts.status && window.karoCharts.daily"
    )

    for canvas in ("chart-status", "chart-daily"):
        assert page.evaluate(CANVAS_PAINTED, canvas) > 500, f"{canvas} was not drawn"
    status = page.evaluate("() => window.karoCharts.status.data.datasets[0].data")
    assert sorted(status) == [1, 1, 1, 1, 1, 2]  # two active, one of each other status
    bars = page.evaluate("() => window.karoCharts.daily.data.datasets[0].data")
    assert len(bars) == 7 and bars[-1] == 300 and bars[-3] == 500

    assert kpi(page, "borrowers") == "7"
    assert kpi(page, "loans") == "7"
    assert kpi(page, "active-principal") == "USD 1,800.00"
    assert kpi(page, "outstanding") == "USD 1,500.00"
    assert kpi(page, "par30") == "60.00 %"
    assert "USD 900.00" in page.locator("#kpi-par30").inner_text()

    link = page.locator(f"a:text-is('{portfolio.loans['A'].number}')").first
    assert link.get_attribute("href") == f"/loans/{portfolio.loans['A'].pk}/"
    assert errors == []


def test_empty_dashboard_has_no_doughnut_but_draws_the_bar_chart(page_as: Any) -> None:
    page = page_as("officer")
    page.goto("/")
    page.wait_for_function("() => window.karoCharts && window.karoCharts.daily")
    assert page.locator("#chart-status").count() == 0
    assert "No loans yet." in page.content()
    assert page.evaluate(CANVAS_PAINTED, "chart-daily") > 0
    assert kpi(page, "par30") == "0.00 %"


def test_chart_amounts_have_thousands_separators_and_cents(page_as: Any) -> None:
    build_portfolio()
    page = page_as("accountant")
    page.goto("/")
    page.wait_for_function("() => window.karoCharts && window.karoCharts.daily")
    label = page.evaluate(
        "() => window.karoCharts.daily.options.plugins.tooltip.callbacks.label({dataIndex: 6})"
    )
    assert label.startswith(" USD 300.00 (")
    tick = "(v) => window.karoCharts.daily.options.scales.y.ticks.callback(v)"
    assert page.evaluate(tick, 1234567) == "1,234,567.00"
    assert page.evaluate(tick, 250.5) == "250.50"
    money = "(v) => window.karoMoneyText(v)"
    assert page.evaluate(money, "1234567.5") == "1,234,567.50"
    assert page.evaluate(money, "999") == "999.00"
    assert page.evaluate(money, "1000.00") == "1,000.00"
    assert page.evaluate(money, "0") == "0.00"
    assert page.evaluate(money, "-12345.67") == "-12,345.67"


def test_par_by_product_fits_its_card_at_1366_wide(page_as: Any) -> None:
    """QA: the table was 924 px in a 571 px card, its PAR30 columns off-screen."""
    from tests.factories import LoanProductFactory
    from tests.reporting.helpers import weekly_loan

    for name in ("Business Growth", "Salary Advance", "Group Micro"):
        weekly_loan(principal="85303.04", n=6, disbursed_days_ago=45,
                    product=LoanProductFactory(name=name))  # fmt: skip
    weekly_loan(principal="5000.00", n=6, disbursed_days_ago=45)  # custom terms
    page = page_as("admin")
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto("/")
    table, wrap = page.evaluate(
        "() => { const t = document.getElementById('par-by-product');"
        " return [t.scrollWidth, t.closest('.table-wrap').clientWidth]; }"
    )
    assert table <= wrap, (table, wrap)
    headers = page.locator("#par-by-product thead th").all_inner_texts()
    assert [h.upper() for h in headers][-2:] == ["PAR30", "PAR30 %"]
