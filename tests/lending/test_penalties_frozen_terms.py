"""Frozen terms, repeating late penalties on the unpaid principal + interest, and the arrears
tolerance, through the services and the daily close (DESIGN.md, "Charges, penalties and
delinquency", "Repayments"). The loans are weekly and interest-free (tests/reporting/helpers):
installment k of a 1200.00 / 12 loan asks for 100.00 and falls due 7·k days after the
disbursement, so every figure below is worked out by hand in its comment."""

from __future__ import annotations

from typing import Any

import pytest

from lending.models import (
    FROZEN_TERMS,
    AuditLog,
    Installment,
    Loan,
    LoanProduct,
    LoanTransaction,
)
from lending.services.close_day import day_close
from lending.services.loans import loan_approve
from lending.services.transactions import plan_replay, replay_differences
from tests.factories import AdminFactory, LoanFactory, LoanProductFactory
from tests.reporting.helpers import D, days_ago, pay, reload, today, weekly_loan

pytestmark = pytest.mark.django_db


def rows(loan: Loan) -> list[Installment]:
    return list(Installment.objects.filter(loan=loan).order_by("number"))


def state(loan: Loan) -> tuple[Any, ...]:
    fresh = reload(loan)
    return (
        fresh.total_repayable,
        fresh.outstanding,
        fresh.days_past_due,
        fresh.incremental_from,
        [(i.penalties, i.penalty_applied_on, i.penalties_charged) for i in rows(loan)],
    )


# --- frozen terms ----------------------------------------------------------------------------


def test_a_loan_keeps_its_products_terms_as_approved() -> None:
    product = LoanProductFactory(
        penalty_type="percent",
        penalty_rate=D("2"),
        penalty_grace_days=3,
        penalty_repeat_days=7,
        penalty_max_times=4,
        arrears_tolerance=D("0.50"),
        close_tolerance=D("1.00"),
        due_date_rule="previous",
    )
    loan = reload(weekly_loan(product=product))
    assert {name: getattr(loan, name) for name in FROZEN_TERMS} == {
        "penalty_type": "percent",
        "penalty_amount": D("0.00"),
        "penalty_rate": D("2.0000"),
        "penalty_grace_days": 3,
        "penalty_repeat_days": 7,
        "penalty_max_times": 4,
        "arrears_tolerance": D("0.50"),
        "close_tolerance": D("1.00"),
        "prepayment_order": "principal_first",
        "due_date_rule": "previous",
    }
    approved = AuditLog.objects.filter(action=AuditLog.Action.LOAN_APPROVED).first()
    assert approved is not None
    assert approved.details["after"]["frozen_terms"]["penalty_repeat_days"] == 7


def test_raising_a_products_penalty_after_disbursement_leaves_running_loans_alone() -> None:
    # The domain review's case. #1..#3 of the running loan fell due 21, 14 and 7 days ago.
    product = LoanProductFactory(penalty_type="flat", penalty_amount=D("10.00"))
    running = weekly_loan(disbursed_days_ago=28, product=product)
    product.penalty_amount = D("50.00")
    product.save()
    later = weekly_loan(disbursed_days_ago=28, product=product)  # approved after the edit
    day_close(on=today())
    assert [i.penalties for i in rows(running)[:4]] == [D("10.00")] * 3 + [D("0.00")]
    assert [i.penalties for i in rows(later)[:4]] == [D("50.00")] * 3 + [D("0.00")]
    # A replay (reversal, backdated payment) decides by the same frozen rule.
    assert replay_differences(reload(running)) == []
    plan = plan_replay(loan=reload(running))
    assert not plan.penalties_added and not plan.penalties_taken_back


def test_switching_a_products_penalty_off_does_not_stop_it_on_running_loans() -> None:
    product = LoanProductFactory(penalty_type="flat", penalty_amount=D("10.00"))
    loan = weekly_loan(disbursed_days_ago=8, product=product)  # #1 due a day ago
    product.penalty_type = LoanProduct.PenaltyType.NONE
    product.save()
    day_close(on=today())
    assert rows(loan)[0].penalties == D("10.00")


# --- repeating penalties ---------------------------------------------------------------------


def repeating(**extra: Any) -> LoanProduct:
    """2 % of the unpaid principal + interest, the day after the due date, then every 7 days,
    3 times at most."""
    terms = {
        "penalty_type": "percent",
        "penalty_rate": D("2"),
        "penalty_grace_days": 0,
        "penalty_repeat_days": 7,
        "penalty_max_times": 3,
        **extra,
    }
    return LoanProductFactory(**terms)


def test_a_repeating_penalty_is_charged_on_each_of_its_days_up_to_its_cap() -> None:
    # Penalties began with a close 40 days ago. Disbursed 36 days ago, #1 (100.00) fell due 29
    # days ago: its penalty days are 28, 21 and 14 days ago (not 7: three at most), each
    # 2 % x 100.00 = 2.00. #2 (due 22 days ago): 21, 14 and 7 days ago. #3 (due 15 days
    # ago): 14 and 7 days ago and today. #4 (due 8 days ago): 7 days ago and today. #5 (due
    # yesterday): today. 12 penalties of 2.00.
    day_close(on=days_ago(40))
    loan = weekly_loan(disbursed_days_ago=36, product=repeating())
    result = day_close(on=today())
    assert (result.penalties_applied, result.penalty_total) == (12, D("24.00"))
    schedule = rows(loan)
    assert [i.penalties for i in schedule[:6]] == [D("6.00")] * 3 + [
        D("4.00"),
        D("2.00"),
        D("0.00"),
    ]
    assert [i.penalties_charged for i in schedule[:6]] == [3, 3, 3, 2, 1, 0]
    assert [i.penalty_applied_on for i in schedule[:3]] == [days_ago(14), days_ago(7), today()]
    fresh = reload(loan)
    assert fresh.total_repayable == D("1224.00") == fresh.outstanding
    assert fresh.days_past_due == 29
    assert replay_differences(fresh) == []
    # A second run for the same day changes nothing.
    before = state(loan)
    again = day_close(on=today())
    assert state(loan) == before
    assert (again.penalties_applied, again.days_past_due_updated) == (0, 0)


def test_a_repeated_penalty_is_counted_on_what_is_still_unpaid() -> None:
    # #1 (100.00) fell due 15 days ago: penalty days 14 and 7 days ago, and today. Closed each
    # day in turn. 60.00 paid 10 days ago pays the 2.00 penalty first, then 58.00 principal:
    # 42.00 is unpaid, so the next penalties are 2 % x 42.00 = 0.84.
    day_close(on=days_ago(30))
    loan = weekly_loan(disbursed_days_ago=22, product=repeating())
    day_close(on=days_ago(14))
    assert rows(loan)[0].penalties == D("2.00")
    pay(loan, "60.00", on=days_ago(10))
    day_close(on=days_ago(7))
    day_close(on=today())
    first = rows(loan)[0]
    assert first.penalties == D("3.68")  # 2.00 + 0.84 + 0.84
    assert first.principal_paid == D("58.00") and first.penalties_charged == 3
    assert replay_differences(reload(loan)) == []


def test_a_close_that_skipped_days_catches_up_on_each_penalty_day() -> None:
    # The same loan closed 30 days ago and then not until today: the close charges each
    # penalty day it passed, on the balance then (nothing was paid): 3 x 2.00.
    day_close(on=days_ago(30))
    loan = weekly_loan(disbursed_days_ago=22, product=repeating())
    day_close(on=today())
    first = rows(loan)[0]
    assert (first.penalties, first.penalties_charged) == (D("6.00"), 3)
    days = (
        LoanTransaction.objects.filter(loan=loan, kind="charge", allocations__installment=first)
        .order_by("value_date")
        .values_list("value_date", flat=True)
    )
    assert list(days) == [days_ago(14), days_ago(7), today()]


# --- arrears tolerance -----------------------------------------------------------------------


def short_by_a_cent(tolerance: str) -> Loan:
    """The domain review's case: 20 % penalty; 2570.76 / 12 monthly, interest-free = 214.23 an
    installment; #1 fell due 9 days ago (#2 is due about three weeks from now) and was paid
    214.22 on its due date."""
    product = LoanProductFactory(
        penalty_type="percent", penalty_rate=D("20"), arrears_tolerance=D(tolerance)
    )
    application = LoanFactory(
        principal=D("2570.76"),
        installments=12,
        frequency="monthly",
        annual_interest_rate=D("0"),
        product=product,
    )
    # As if the application had waited: the first due date is in the past by now.
    Loan.objects.filter(pk=application.pk).update(first_due_date=days_ago(9))
    loan = loan_approve(
        loan=reload(application), user=AdminFactory(), disbursement_date=days_ago(16)
    )
    assert rows(loan)[0].principal == D("214.23")
    pay(loan, "214.22", on=days_ago(9))
    day_close(on=today())
    return reload(loan)


def test_a_cent_short_within_the_tolerance_is_neither_late_nor_penalised() -> None:
    loan = short_by_a_cent("0.05")
    assert loan.days_past_due == 0
    assert rows(loan)[0].penalties == D("0.00")
    assert loan.outstanding == D("2356.54")  # 2570.76 - 214.22


def test_a_cent_short_without_tolerance_is_late_but_its_penalty_is_of_the_unpaid_cent() -> None:
    # 9 days past due, but 20 % of the unpaid 0.01 rounds to 0.00 (it used to be 20 % of
    # the scheduled 214.23 = 42.85).
    loan = short_by_a_cent("0.00")
    assert loan.days_past_due == 9
    assert rows(loan)[0].penalties == D("0.00")


def test_a_payment_recomputes_days_past_due_with_the_tolerance() -> None:
    product = LoanProductFactory(arrears_tolerance=D("1.00"))
    loan = weekly_loan(disbursed_days_ago=10, product=product)  # #1 due 3 days ago, #2 in 4
    pay(loan, "99.00")
    assert reload(loan).days_past_due == 0  # 1.00 left: within the tolerance
    loan = weekly_loan(disbursed_days_ago=10, product=LoanProductFactory())
    pay(loan, "99.00")
    assert reload(loan).days_past_due == 3


def test_the_migration_gives_existing_loans_their_products_current_terms() -> None:
    """Lending 0010's data step, run on today's models: loans approved before frozen terms
    existed take their product's terms as they are; an installment already penalised counts
    its one penalty."""
    from importlib import import_module

    from django.apps import apps

    migration = import_module("lending.migrations.0010_frozen_terms_repeating_penalties")
    product = LoanProductFactory(
        penalty_type="flat", penalty_amount=D("10.00"), arrears_tolerance=D("0.25")
    )
    loan = weekly_loan(disbursed_days_ago=8, product=product)  # #1 due a day ago
    day_close(on=today())
    # As the rows stood before the migration: no copy, no count.
    Loan.objects.filter(pk=loan.pk).update(
        penalty_type="none", penalty_amount=D("0"), arrears_tolerance=D("0")
    )
    Installment.objects.filter(loan=loan).update(penalties_charged=0)
    migration.freeze_current_terms(apps, None)
    fresh = reload(loan)
    assert (fresh.penalty_type, fresh.penalty_amount, fresh.arrears_tolerance) == (
        "flat",
        D("10.00"),
        D("0.25"),
    )
    assert [i.penalties_charged for i in rows(loan)[:2]] == [1, 0]
    assert replay_differences(fresh) == []


def test_status_dashboard_and_aging_read_days_past_due_beyond_the_tolerance() -> None:
    from lending.selectors.status import compute_loan_statuses

    within = short_by_a_cent("0.05")
    beyond = short_by_a_cent("0.00")
    statuses = compute_loan_statuses([within.pk, beyond.pk], today=today())
    assert statuses[within.pk].days_past_due == 0
    assert statuses[beyond.pk].days_past_due == 9


def test_an_admin_sets_a_repeating_penalty_and_tolerances_on_a_product(
    admin_client: Any,
) -> None:
    from django.urls import reverse

    product = LoanProductFactory(penalty_type="flat", penalty_amount=D("10.00"))
    running = weekly_loan(product=product)
    url = reverse("admin:lending_loanproduct_change", args=[product.pk])
    page = admin_client.get(url)
    html = page.content.decode()
    for name in ("penalty_repeat_days", "penalty_max_times", "arrears_tolerance"):
        assert f'name="{name}"' in html
    assert "approved afterwards" in html
    form = page.context["adminform"].form
    data = {k: (v.pk if hasattr(v, "pk") else v) for k, v in form.initial.items() if v is not None}
    prefixes = [inline.formset.prefix for inline in page.context["inline_admin_formsets"]]
    data.update({
        "penalty_type": "percent", "penalty_rate": "5", "penalty_repeat_days": "7",
        "penalty_max_times": "3", "arrears_tolerance": "0.50",
    })  # fmt: skip
    for prefix in prefixes:  # the fees and the ledger accounts
        data.update({
            f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0",
            f"{prefix}-MIN_NUM_FORMS": "0", f"{prefix}-MAX_NUM_FORMS": "1000",
        })  # fmt: skip
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    product.refresh_from_db()
    assert (product.penalty_repeat_days, product.penalty_max_times) == (7, 3)
    changed = AuditLog.objects.filter(action=AuditLog.Action.PRODUCT_CHANGED).first()
    assert changed is not None and "penalty_repeat_days" in str(changed.details)
    fresh = reload(running)
    assert (fresh.penalty_type, fresh.penalty_amount, fresh.penalty_repeat_days) == (
        "flat",
        D("10.00"),
        0,
    )
    # A repeat interval without a cap of at least one is refused with the field named.
    data["penalty_max_times"] = "0"
    refused = admin_client.post(url, data)
    assert refused.status_code == 200
    assert "penalty_max_times" in refused.context["adminform"].form.errors


@pytest.mark.parametrize(
    ("terms", "words"),
    [
        ({}, "none"),
        (
            {"penalty_type": "flat", "penalty_amount": D("10.00")},
            "USD 10.00 from the day after the due date, once",
        ),
        (
            {
                "penalty_type": "percent",
                "penalty_rate": D("2.5"),
                "penalty_grace_days": 3,
                "penalty_repeat_days": 7,
                "penalty_max_times": 4,
            },
            "2.5 % of the unpaid principal + interest after 3 days of grace, again every 7 days, "
            "4 times at most",
        ),
    ],
)
def test_the_loan_page_states_the_loans_own_penalty_rule(terms: dict[str, Any], words: str) -> None:
    from django.test import override_settings
    from django.urls import reverse

    from tests.conftest import login
    from tests.factories import OfficerFactory

    product = LoanProductFactory(**terms, arrears_tolerance=D("0.50"))
    loan = weekly_loan(product=product)
    with override_settings(KARO_CURRENCY="USD"):
        assert reload(loan).penalty_terms == words
        page = login(OfficerFactory()).get(reverse("loan_detail", args=[loan.pk]))
    html = page.content.decode()
    assert "Late penalty" in html and "not late while owing at most" in html
