"""Paying ahead: the product's prepayment order (DESIGN.md, "Repayments").

The domain review's case: 12,000.00 at 36 % a year, 12 monthly installments, declining
balance, equal installments, interest per period (the 365-day year only prices the days of the
current period in a payoff quote). The schedule starts

    1: 845.55 principal + 360.00 interest (12,000.00 x 3 %)
    2: 870.92 principal + 334.63 interest (11,154.45 x 3 %)
    3: 897.04 principal + 308.51 interest (10,283.53 x 3 %)

3,000.00 paid five days after the disbursement, when nothing is due yet:

- `in_order` pays installment 1 (1,205.55), installment 2 (1,205.55), then 588.90 of
  installment 3 (its 308.51 interest first): 1,003.14 of interest (360.00 + 334.63 + 308.51)
  and only 1,996.86 of principal. Settling that day then cost 12,000.00 - 1,996.86 = 10,003.14
  (the five days' interest, 59.18, counted as paid by installment 1's 360.00).
- `principal_first` pays 3,000.00 of principal; settling costs 9,000.00 + the five days'
  interest, 12,000.00 x 36 % x 5 / 365 = 59.18: 9,059.18.

10,003.14 - 9,059.18 = 943.96 = 1,003.14 of interest bought ahead - 59.18 earned by then.
"""

from __future__ import annotations

import importlib
from datetime import date, timedelta
from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import migrations
from django.db.models import Sum
from django.utils import timezone

from ledger.models import JournalLine
from lending.allocation import (
    IN_ORDER,
    PRINCIPAL_FIRST,
    InstallmentDue,
    ScheduledInstallment,
    allocate,
    payoff,
)
from lending.models import (
    AuditLog,
    Installment,
    Loan,
    LoanProduct,
    LoanTransaction,
    ProductAccount,
)
from lending.replay import Kind
from lending.schedule import LoanTerms, build_schedule
from lending.services.repayments import (
    loan_settle,
    payoff_quote,
    repayment_record,
    repayment_reverse,
)
from lending.services.transactions import replay_differences
from tests.api.conftest import ApiClient, token_for
from tests.factories import ActiveLoanFactory, LoanFactory, LoanProductFactory

D = Decimal


def row(n: int, interest: str, principal: str, *, fees: str = "0") -> InstallmentDue:
    return InstallmentDue(
        id=n,
        number=n,
        due_date=date(2026, n, 10),
        fees=D(fees),
        interest=D(interest),
        principal=D(principal),
    )


ROWS = [row(1, "50.00", "300.00"), row(2, "40.00", "310.00"), row(3, "30.00", "320.00")]


def parts(lines: list) -> list[tuple[int, Decimal, Decimal]]:  # type: ignore[type-arg]
    return [(x.installment_id, x.interest, x.principal) for x in lines]


# --- the rule, without a database -------------------------------------------------------


def test_in_order_pays_installments_not_yet_due_interest_first() -> None:
    lines = allocate(ROWS, D("400.00"), on=date(2026, 1, 1), order=IN_ORDER)
    assert parts(lines) == [(1, D("50.00"), D("300.00")), (2, D("40.00"), D("10.00"))]


def test_principal_first_pays_the_principal_of_every_installment_not_yet_due_first() -> None:
    lines = allocate(ROWS, D("400.00"), on=date(2026, 1, 1), order=PRINCIPAL_FIRST)
    assert parts(lines) == [(1, D("0.00"), D("300.00")), (2, D("0.00"), D("100.00"))]


def test_principal_first_pays_interest_ahead_only_once_all_principal_is_paid() -> None:
    lines = allocate(ROWS, D("1000.00"), on=date(2026, 1, 1), order=PRINCIPAL_FIRST)
    assert parts(lines) == [
        (1, D("50.00"), D("300.00")),
        (2, D("20.00"), D("310.00")),
        (3, D("0.00"), D("320.00")),
    ]


def test_principal_first_pays_what_is_due_on_the_value_date_in_the_usual_order() -> None:
    rows = [row(1, "50.00", "300.00", fees="5.00"), *ROWS[1:]]
    # Installment 1 falls due on the payment's date: it is due, so fees, interest, principal.
    lines = allocate(rows, D("400.00"), on=date(2026, 1, 10), order=PRINCIPAL_FIRST)
    assert [(x.installment_id, x.fees, x.interest, x.principal) for x in lines] == [
        (1, D("5.00"), D("50.00"), D("300.00")),
        (2, D("0.00"), D("0.00"), D("45.00")),
    ]


def test_allocation_without_a_date_is_in_order() -> None:
    assert allocate(ROWS, D("400.00"), order=PRINCIPAL_FIRST) == allocate(ROWS, D("400.00"))


def test_an_unknown_order_is_refused() -> None:
    with pytest.raises(ValueError):
        allocate(ROWS, D("10.00"), on=date(2026, 1, 1), order="interest_first")


# --- the review's case, on stored loans -------------------------------------------------


def review_loan(order: str) -> Loan:
    """The review's loan, disbursed five days ago under a product paying ahead by `order`."""
    product = LoanProductFactory(name=f"Prepay {order}", prepayment_order=order)
    return ActiveLoanFactory(
        product=product,
        principal=D("12000.00"),
        annual_interest_rate=D("36"),
        installments=12,
        disbursed_days_ago=5,
    )


def paid(loan: Loan) -> tuple[Decimal, Decimal]:
    rows = Installment.objects.filter(loan=loan)
    return (
        sum((i.interest_paid for i in rows), D(0)),
        sum((i.principal_paid for i in rows), D(0)),
    )


@pytest.mark.django_db
def test_the_reviews_case_in_order_buys_1003_14_of_future_interest(accountant: User) -> None:
    loan = review_loan(IN_ORDER)
    assert loan.prepayment_order == IN_ORDER
    today = timezone.localdate()
    repayment_record(loan=loan, user=accountant, amount=D("3000.00"), paid_on=today, method="cash")
    assert paid(loan) == (D("1003.14"), D("1996.86"))
    assert replay_differences(Loan.objects.get(pk=loan.pk)) == []


@pytest.mark.django_db
def test_the_reviews_case_principal_first_buys_none_and_settling_costs_9059_18(
    accountant: User,
) -> None:
    loan = review_loan(PRINCIPAL_FIRST)
    assert loan.prepayment_order == PRINCIPAL_FIRST
    today = timezone.localdate()
    repayment_record(loan=loan, user=accountant, amount=D("3000.00"), paid_on=today, method="cash")
    assert paid(loan) == (D("0.00"), D("3000.00"))
    loan = Loan.objects.get(pk=loan.pk)
    assert replay_differences(loan) == []
    quote = payoff_quote(loan=loan, on=today)
    assert quote.accrued_interest == D("59.18")  # 12,000.00 x 36 % x 5 / 365
    assert quote.total == D("9059.18")


@pytest.mark.django_db
def test_a_backdated_payment_replays_principal_first(accountant: User) -> None:
    loan = review_loan(PRINCIPAL_FIRST)
    today = timezone.localdate()
    repayment_record(loan=loan, user=accountant, amount=D("500.00"), paid_on=today, method="cash")
    repayment_record(
        loan=loan,
        user=accountant,
        amount=D("1000.00"),
        paid_on=today - timedelta(days=2),
        method="cash",
    )
    assert paid(loan) == (D("0.00"), D("1500.00"))
    assert replay_differences(Loan.objects.get(pk=loan.pk)) == []


# --- the option is frozen at approval ---------------------------------------------------


@pytest.mark.django_db
def test_new_products_pay_principal_first_and_loans_keep_their_order(db: None) -> None:
    assert LoanProduct().prepayment_order == PRINCIPAL_FIRST
    loan = review_loan(PRINCIPAL_FIRST)
    LoanProduct.objects.filter(pk=loan.product_id).update(prepayment_order=IN_ORDER)
    assert Loan.objects.get(pk=loan.pk).prepayment_order == PRINCIPAL_FIRST


@pytest.mark.django_db
def test_a_loan_without_a_product_pays_ahead_in_order(db: None) -> None:
    loan = ActiveLoanFactory()
    assert loan.product is None and loan.prepayment_order == IN_ORDER


# --- where it shows ----------------------------------------------------------------------


@pytest.mark.django_db
def test_the_api_gives_the_order_and_the_loan_page_what_was_paid_ahead(
    accountant: User, admin_client: Any
) -> None:
    loan = review_loan(PRINCIPAL_FIRST)
    pending = LoanFactory(product=loan.product)
    repayment_record(
        loan=loan,
        user=accountant,
        amount=D("3000.00"),
        paid_on=timezone.localdate(),
        method="cash",
    )
    api = ApiClient(token_for(accountant))
    assert api.get(f"/api/loans/{loan.pk}").json()["prepayment_order"] == PRINCIPAL_FIRST
    # Not frozen yet: an application shows its product's order.
    assert pending.prepayment_order == IN_ORDER
    assert api.get(f"/api/loans/{pending.pk}").json()["prepayment_order"] == PRINCIPAL_FIRST
    listed = api.get("/api/loans", {"q": loan.number}).json()["items"]
    assert [item["prepayment_order"] for item in listed] == [PRINCIPAL_FIRST]

    page = admin_client.get(f"/loans/{loan.pk}/").content.decode()
    assert "principal first" in page
    assert "Paid ahead, on installments not yet due: USD 3,000.00" in page


# --- the payoff credits interest paid ahead -----------------------------------------------


def interest_income() -> Decimal:
    account = ProductAccount.objects.get(product=None, role="interest_income").account_id
    sums = JournalLine.objects.filter(account_id=account).aggregate(d=Sum("debit"), c=Sum("credit"))
    return (sums["c"] or D("0")) - (sums["d"] or D("0"))


def test_the_payoff_credits_interest_paid_on_installments_due_later() -> None:
    """Pure: the review's in-order state five days in. Installment 1 keeps the 59.18 earned
    by then, 300.82 of its interest and all of 2's and 3's are credited: 943.96."""
    terms = LoanTerms(
        principal=D("12000.00"),
        annual_interest_rate=D("36"),
        installments=12,
        disbursement_date=date(2026, 3, 1),
    )
    left = D("3000.00")
    rows = []
    for n, inst in enumerate(build_schedule(terms).installments, start=1):
        interest = min(left, inst.interest)
        principal = min(left - interest, inst.principal)
        left -= interest + principal
        due = InstallmentDue(
            id=n,
            number=n,
            due_date=inst.due_date,
            interest=inst.interest - interest,
            principal=inst.principal - principal,
        )
        rows.append(ScheduledInstallment(due=due, principal=inst.principal, interest=inst.interest))
    quote = payoff(
        schedule=rows,
        on=date(2026, 3, 6),
        disbursement_date=date(2026, 3, 1),
        annual_rate=D("36"),
        days_in_year=365,
    )
    assert quote.credits == {1: D("300.82"), 2: D("334.63"), 3: D("308.51")}
    assert quote.interest_credited == D("943.96")
    assert quote.accrued_interest == D("0.00")  # installment 1 paid the 59.18 already
    assert quote.principal_not_due == D("10003.14")
    assert quote.total == D("9059.18")
    # Waived: every installment's interest but the 59.18 earned, paid or not.
    assert quote.waivers[1] == D("300.82") and quote.waivers[2] == D("334.63")
    owed = sum((r.due.total for r in rows), D(0))
    assert quote.total == owed - quote.interest_waived


@pytest.mark.django_db
def test_settling_an_in_order_loan_credits_the_interest_paid_ahead(
    accountant: User, admin_user: User, admin_client: Any
) -> None:
    loan = review_loan(IN_ORDER)
    today = timezone.localdate()
    repayment_record(loan=loan, user=accountant, amount=D("3000.00"), paid_on=today, method="cash")
    assert interest_income() == D("1003.14")
    quote = payoff_quote(loan=loan, on=today)
    assert (quote.interest_credited, quote.total) == (D("943.96"), D("9059.18"))

    settlement = loan_settle(loan=loan, user=accountant, on=today, method="cash")
    loan = Loan.objects.get(pk=loan.pk)
    assert settlement.amount == D("9059.18")
    assert loan.status == Loan.Status.CLOSED and loan.outstanding == 0
    assert loan.total_paid == D("12059.18")  # 3,000.00 + 9,059.18: 12,000.00 + 59.18 interest
    assert paid(loan) == (D("59.18"), D("12000.00"))
    credit = LoanTransaction.objects.get(loan=loan, kind=Kind.CREDIT)
    assert credit.repayment_id == settlement.pk and credit.amount == D("943.96")
    assert (credit.interest, credit.principal, credit.overpaid) == (
        D("-943.96"),
        D("943.96"),
        D("0.00"),
    )
    # The credit leaves interest income: the institution keeps the 59.18 earned.
    assert interest_income() == D("59.18")
    assert replay_differences(loan) == []
    call_command("check_money", stdout=StringIO())
    entry = AuditLog.objects.filter(action=AuditLog.Action.LOAN_SETTLED).latest("id")
    assert entry.details["interest_credited"] == "943.96"
    loan_page = admin_client.get(f"/loans/{loan.pk}/").content.decode()
    assert "interest paid ahead, credited at settlement" in loan_page

    # Reversing the settlement takes the credit back with it.
    repayment_reverse(repayment=settlement, user=admin_user, reason="Cheque bounced")
    loan = Loan.objects.get(pk=loan.pk)
    assert loan.status == Loan.Status.ACTIVE
    assert paid(loan) == (D("1003.14"), D("1996.86"))
    assert interest_income() == D("1003.14")
    assert replay_differences(loan) == []
    call_command("check_money", stdout=StringIO())


@pytest.mark.django_db
def test_settling_a_principal_first_loan_has_nothing_to_credit(accountant: User) -> None:
    loan = review_loan(PRINCIPAL_FIRST)
    today = timezone.localdate()
    repayment_record(loan=loan, user=accountant, amount=D("3000.00"), paid_on=today, method="cash")
    settlement = loan_settle(loan=loan, user=accountant, on=today, method="cash")
    assert settlement.amount == D("9059.18")  # what the in-order borrower pays now too
    assert not LoanTransaction.objects.filter(loan=loan, kind=Kind.CREDIT).exists()
    assert paid(loan) == (D("59.18"), D("12000.00"))
    assert replay_differences(Loan.objects.get(pk=loan.pk)) == []


@pytest.mark.django_db
def test_the_settlement_page_shows_the_credit(accountant: User, admin_client: Any) -> None:
    loan = review_loan(IN_ORDER)
    today = timezone.localdate()
    repayment_record(loan=loan, user=accountant, amount=D("3000.00"), paid_on=today, method="cash")
    page = admin_client.get(f"/loans/{loan.pk}/payoff/", {"on": today.isoformat()})
    html = page.content.decode()
    assert "Less interest already paid on installments due after that date" in html
    assert "USD 943.96" in html and "USD 9,059.18" in html
    loan_page = admin_client.get(f"/loans/{loan.pk}/").content.decode()
    assert "USD 1,003.14 interest" in loan_page and "credited back" in loan_page


@pytest.mark.django_db
def test_the_api_payoff_quote_gives_the_credit(accountant: User) -> None:
    loan = review_loan(IN_ORDER)
    today = timezone.localdate()
    repayment_record(loan=loan, user=accountant, amount=D("3000.00"), paid_on=today, method="cash")
    api = ApiClient(token_for(accountant))
    body = api.get(f"/api/loans/{loan.pk}/payoff", {"on": today.isoformat()}).json()
    assert body["amount"] == "9059.18"
    assert body["interest_credited"] == "943.96"
    assert (body["principal_not_due"], body["accrued_interest"]) == ("10003.14", "0.00")
    assert body["on"] == today.isoformat()
    too_early = api.get(f"/api/loans/{loan.pk}/payoff", {"on": "2000-01-01"})
    assert too_early.status_code == 422
    closed = review_loan(PRINCIPAL_FIRST)
    loan_settle(loan=closed, user=accountant, on=today, method="cash")
    assert api.get(f"/api/loans/{closed.pk}/payoff").status_code == 409


@pytest.mark.django_db
def test_reversing_a_payment_before_the_settlement_replays_the_credit(
    accountant: User, admin_user: User
) -> None:
    loan = review_loan(IN_ORDER)
    today = timezone.localdate()
    first = repayment_record(
        loan=loan,
        user=accountant,
        amount=D("1500.00"),
        paid_on=today - timedelta(days=4),
        method="cash",
    )
    repayment_record(loan=loan, user=accountant, amount=D("1500.00"), paid_on=today, method="cash")
    loan_settle(loan=loan, user=accountant, on=today, method="cash")
    assert interest_income() == D("59.18")
    # The first payment bounces. Replayed, the second (1,500.00) pays installment 1 whole
    # (360.00 interest) and 294.45 of installment 2's interest: the credit, worked out again
    # from that state, is 360.00 - 59.18 + 294.45 = 595.27 (it was 943.96).
    repayment_reverse(repayment=first, user=admin_user, reason="Bounced")
    loan = Loan.objects.get(pk=loan.pk)
    assert loan.status == Loan.Status.ACTIVE and loan.outstanding == D("1500.00")
    credit = LoanTransaction.objects.get(loan=loan, kind=Kind.CREDIT)
    assert (credit.amount, credit.interest) == (D("943.96"), D("-595.27"))
    assert credit.split_changed_at is not None
    assert interest_income() == D("59.18")
    rows = list(Installment.objects.filter(loan=loan).order_by("number"))
    assert [i.interest_paid for i in rows[:3]] == [D("59.18"), D("0.00"), D("0.00")]
    assert replay_differences(loan) == []
    call_command("check_money", stdout=StringIO())


@pytest.mark.django_db
def test_an_accrual_basis_credit_takes_the_interest_back_from_the_receivable(
    accountant: User,
) -> None:
    product = LoanProductFactory(
        name="Prepay accrual", prepayment_order=IN_ORDER, accounting_basis="accrual"
    )
    loan = ActiveLoanFactory(
        product=product,
        principal=D("12000.00"),
        annual_interest_rate=D("36"),
        installments=12,
        disbursed_days_ago=5,
    )
    today = timezone.localdate()
    repayment_record(loan=loan, user=accountant, amount=D("3000.00"), paid_on=today, method="cash")
    settlement = loan_settle(loan=loan, user=accountant, on=today, method="cash")
    assert settlement.amount == D("9059.18")
    assert interest_income() == D("59.18")  # the closing accrual: exactly the interest kept
    assert replay_differences(Loan.objects.get(pk=loan.pk)) == []
    call_command("check_money", stdout=StringIO())


@pytest.mark.django_db
def test_the_api_settles_with_the_credit_once_per_key(accountant: User) -> None:
    loan = review_loan(IN_ORDER)
    today = timezone.localdate()
    repayment_record(loan=loan, user=accountant, amount=D("3000.00"), paid_on=today, method="cash")
    api = ApiClient(token_for(accountant))
    moved = api.post(f"/api/loans/{loan.pk}/settle", {"expected_amount": "9000.00"})
    assert moved.status_code == 422 and "expected_amount" in moved.content.decode()
    assert Loan.objects.get(pk=loan.pk).status == Loan.Status.ACTIVE
    body = {"expected_amount": "9059.18", "method": "bank_transfer", "reference": "TT-1"}
    first = api.post(f"/api/loans/{loan.pk}/settle", body, **{"Idempotency-Key": "settle-1"})
    again = api.post(f"/api/loans/{loan.pk}/settle", body, **{"Idempotency-Key": "settle-1"})
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    assert first.json()["amount"] == "9059.18"
    assert Loan.objects.get(pk=loan.pk).status == Loan.Status.CLOSED
    assert LoanTransaction.objects.filter(loan=loan, kind=Kind.CREDIT).count() == 1
    assert api.post(f"/api/loans/{loan.pk}/settle", {}).status_code == 409


def test_the_migration_keeps_existing_products_and_loans_in_order() -> None:
    """Rows that exist when the field is added get `in_order` (what their borrowers agreed
    to); only products created afterwards default to principal first."""
    migration = importlib.import_module("lending.migrations.0018_prepayment_order").Migration
    added = {
        (op.model_name, op.name): op.field.default
        for op in migration.operations
        if isinstance(op, migrations.AddField)
    }
    assert added == {
        ("loanproduct", "prepayment_order"): IN_ORDER,
        ("loan", "prepayment_order"): IN_ORDER,
    }
    [altered] = [op for op in migration.operations if isinstance(op, migrations.AlterField)]
    assert (altered.name, altered.field.default) == ("prepayment_order", PRINCIPAL_FIRST)


@pytest.mark.django_db
def test_settling_is_refused_when_the_credit_is_more_than_what_is_owed(accountant: User) -> None:
    """Eleven of twelve installments paid in order five days in: the interest they bought
    ahead (less the 59.18 earned) is more than installment 12 owes."""
    loan = review_loan(IN_ORDER)
    today = timezone.localdate()
    rows = list(Installment.objects.filter(loan=loan).order_by("number"))
    eleven = sum((i.total for i in rows[:11]), D(0))
    repayment_record(loan=loan, user=accountant, amount=eleven, paid_on=today, method="cash")
    quote = payoff_quote(loan=loan, on=today)
    assert quote.total < 0 < quote.interest_credited
    with pytest.raises(ValidationError) as refused:
        loan_settle(loan=loan, user=accountant, on=today, method="cash")
    assert "settling would refund" in str(refused.value)
    assert Loan.objects.get(pk=loan.pk).status == Loan.Status.ACTIVE
    assert not LoanTransaction.objects.filter(loan=loan, kind=Kind.CREDIT).exists()
