"""Fees per product (DESIGN.md, "Charges, penalties and delinquency"): the pure computation
(`lending.charges`), the product's fees frozen on the loan at approval, the installments,
the disbursement and the general ledger.

Most loans here are weekly and interest-free (tests/reporting/helpers.weekly_loan): a
1200.00 / 12 loan's installment k asks for 100.00 principal and falls due 7·k days after the
disbursement, so every fee below is worked out by hand in its comment."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db.models import Sum

from ledger.models import JournalLine
from lending.charges import (
    Calculation,
    ChargeError,
    ChargeTerm,
    ChargeTime,
    check_term,
    loan_fees,
)
from lending.models import (
    AuditLog,
    Installment,
    Loan,
    LoanProduct,
    LoanTransaction,
    ProductAccount,
    ProductCharge,
)
from lending.schedule import LoanTerms, build_schedule
from lending.services.loans import loan_approve
from lending.services.repayments import repayment_reverse
from lending.services.transactions import replay_differences
from tests.factories import AdminFactory, LoanFactory, LoanProductFactory
from tests.reporting.helpers import D, days_ago, pay, reload, weekly_loan

START = date(2026, 1, 5)


def fee(
    time: str,
    calculation: str,
    amount: str,
    *,
    deducted: bool = False,
    on_date: date | None = None,
    name: str = "Fee",
) -> ChargeTerm:
    return ChargeTerm(
        name, ChargeTime(time), Calculation(calculation), D(amount), deducted, on_date
    )


def weekly_schedule(principal: str = "1200.00", n: int = 12, rate: str = "0") -> Any:
    return build_schedule(
        LoanTerms(
            principal=D(principal),
            annual_interest_rate=D(rate),
            installments=n,
            disbursement_date=START,
            frequency="weekly",  # type: ignore[arg-type]
        )
    ).installments


# --- the pure computation ------------------------------------------------------------------


def test_worked_example_every_kind_of_fee_on_an_interest_free_loan() -> None:
    schedule = weekly_schedule()  # 12 x 100.00, due 12 Jan, 19 Jan, … 30 Mar 2026
    fees = loan_fees(
        [
            fee("disbursement", "percent", "2", deducted=True),  # 2 % of 1200.00 = 24.00
            fee("disbursement", "flat", "10.00"),  # on installment 1
            fee("installment", "percent", "1.5"),  # 1.5 % of 100.00 = 1.50 on each
            # 14 Jan falls in installment 2's period (13 Jan to 19 Jan): 5.00 on it.
            fee("specified_date", "flat", "5.00", on_date=date(2026, 1, 14)),
        ],
        principal=D("1200.00"),
        disbursement_date=START,
        schedule=schedule,
    )
    assert fees.deducted == D("24.00")
    per = fees.by_installment()
    assert per[1] == D("11.50")  # 10.00 + 1.50
    assert per[2] == D("6.50")  # 1.50 + 5.00
    assert all(per[k] == D("1.50") for k in range(3, 13))
    assert fees.scheduled == D("33.00")  # 10.00 + 12 x 1.50 + 5.00
    assert fees.total == D("57.00")  # and the 24.00 deducted


def test_worked_example_installment_fee_on_fineract_rs01() -> None:
    # Fineract RS01 (DESIGN.md "Schedule"): 5000 at 12 % flat, 18 monthly, multiple 1:
    # installments 1-17 are 328.00, installment 18 is 324.00. 1 % of each: 3.28 x 17 and 3.24.
    schedule = build_schedule(
        LoanTerms(
            principal=D("5000"),
            annual_interest_rate=D("12"),
            installments=18,
            disbursement_date=START,
            interest_method="flat",  # type: ignore[arg-type]
            installment_multiple=D("1"),
        )
    ).installments
    fees = loan_fees(
        [
            fee("installment", "percent", "1"),
            fee("disbursement", "percent", "2.5"),  # 2.5 % of 5000 = 125.00, on installment 1
        ],
        principal=D("5000"),
        disbursement_date=START,
        schedule=schedule,
    )
    per = fees.by_installment()
    assert per[1] == D("128.28")  # 3.28 + 125.00
    assert [per[k] for k in range(2, 18)] == [D("3.28")] * 16
    assert per[18] == D("3.24")
    assert fees.scheduled == D("184.00")  # 17 x 3.28 + 3.24 = 59.00, + 125.00
    assert fees.deducted == D("0.00")


def test_a_percent_fee_rounds_half_to_even() -> None:
    # 1 % of 100.50 = 1.005 -> 1.00 ; 1 % of 101.50 = 1.015 -> 1.02 (half to even).
    for principal, expected in (("100.50", "1.00"), ("101.50", "1.02")):
        fees = loan_fees(
            [fee("disbursement", "percent", "1", deducted=True)],
            principal=D(principal),
            disbursement_date=START,
            schedule=weekly_schedule(principal, n=1),
        )
        assert fees.deducted == D(expected)


@pytest.mark.parametrize(
    ("term", "field"),
    [
        (fee("installment", "flat", "-1.00"), "amount"),
        (fee("installment", "flat", "0"), "amount"),
        (fee("disbursement", "percent", "100.01"), "amount"),
        (fee("specified_date", "flat", "5.00"), "on_date"),  # no date
        (fee("installment", "flat", "5.00", deducted=True), "deducted"),
        (fee("installment", "flat", "5.00", on_date=START), "on_date"),
        (fee("installment", "flat", "1.005"), "amount"),  # not in cents
    ],
)
def test_a_charge_that_breaks_its_own_rules_is_refused(term: ChargeTerm, field: str) -> None:
    with pytest.raises(ChargeError) as caught:
        check_term(term)
    assert caught.value.field == field


@pytest.mark.parametrize("on", [START, date(2026, 3, 31), date(2025, 12, 31)])
def test_a_date_fee_outside_the_loan_term_is_refused(on: date) -> None:
    # The term runs after 5 Jan 2026 (the disbursement) up to 30 Mar 2026 (the last due date).
    with pytest.raises(ChargeError, match="outside this loan's term") as caught:
        loan_fees(
            [fee("specified_date", "flat", "5.00", on_date=on)],
            principal=D("1200.00"),
            disbursement_date=START,
            schedule=weekly_schedule(),
        )
    assert caught.value.field == "on_date"


def test_the_last_due_date_is_inside_the_term() -> None:
    fees = loan_fees(
        [fee("specified_date", "flat", "5.00", on_date=date(2026, 3, 30))],
        principal=D("1200.00"),
        disbursement_date=START,
        schedule=weekly_schedule(),
    )
    assert fees.by_installment() == {12: D("5.00")}


def test_deducted_fees_must_leave_something_to_pay_out() -> None:
    with pytest.raises(ChargeError, match="nothing of the principal"):
        loan_fees(
            [fee("disbursement", "percent", "100", deducted=True)],
            principal=D("1200.00"),
            disbursement_date=START,
            schedule=weekly_schedule(),
        )


def test_a_term_survives_its_json_copy() -> None:
    term = fee("specified_date", "percent", "0.75", on_date=START, name="Insurance")
    assert ChargeTerm.from_json(term.as_json()) == term


# --- the product, the loan and the ledger --------------------------------------------------


def product_with_fees(**kwargs: Any) -> LoanProduct:
    product = LoanProductFactory(**kwargs)
    ProductCharge.objects.create(
        product=product, name="Processing", time="disbursement", calculation="percent",
        amount=D("2"), deducted=True,
    )  # fmt: skip
    ProductCharge.objects.create(
        product=product, name="Service", time="installment", calculation="percent",
        amount=D("1.5"),
    )  # fmt: skip
    ProductCharge.objects.create(
        product=product, name="Application", time="disbursement", calculation="flat",
        amount=D("10.00"),
    )  # fmt: skip
    return product


def role_balance(role: str) -> Decimal:
    """Debits - credits of the default account playing `role`."""
    account = ProductAccount.objects.get(product=None, role=role).account_id
    sums = JournalLine.objects.filter(account_id=account).aggregate(d=Sum("debit"), c=Sum("credit"))
    return (sums["d"] or D("0")) - (sums["c"] or D("0"))


@pytest.mark.django_db
def test_approval_charges_the_fees_and_deducts_the_disbursement_fee() -> None:
    loan = reload(weekly_loan(product=product_with_fees()))
    rows = list(Installment.objects.filter(loan=loan).order_by("number"))
    # Installment 1: 10.00 application + 1.50 service; the others 1.50 (1.5 % of 100.00).
    assert [r.fees for r in rows] == [D("11.50")] + [D("1.50")] * 11
    assert loan.total_repayable == D("1228.00")  # 1200.00 + 10.00 + 12 x 1.50
    assert loan.outstanding == D("1228.00")
    assert loan.fees_deducted == D("24.00")  # 2 % of 1200.00
    assert loan.amount_paid_out == D("1176.00")
    disbursement, charge = LoanTransaction.objects.filter(loan=loan).order_by("id")
    assert (disbursement.kind, disbursement.amount, disbursement.principal, disbursement.fees) == (
        "disbursement", D("1200.00"), D("1200.00"), D("24.00"),
    )  # fmt: skip
    assert (charge.kind, charge.amount, charge.fees) == ("charge", D("28.00"), D("28.00"))
    assert charge.value_date == loan.disbursement_date and not charge.end_of_day
    # Cash basis: the portfolio holds the principal, 1176.00 left the bank, 24.00 is income;
    # the scheduled fees are income when paid, so the charge books nothing.
    assert role_balance("loan_portfolio") == D("1200.00")
    assert role_balance("fund_bank_transfer") == D("-1176.00")
    assert role_balance("fee_income") == D("-24.00")
    assert role_balance("fee_receivable") == D("0")
    assert replay_differences(reload(loan)) == []
    approved = AuditLog.objects.filter(action=AuditLog.Action.LOAN_APPROVED).first()
    assert approved is not None
    assert [c["name"] for c in approved.details["after"]["charges"]] == [
        "Processing", "Service", "Application",
    ]  # fmt: skip
    call_command("check_money")


@pytest.mark.django_db
def test_accrual_basis_books_the_scheduled_fees_as_receivable() -> None:
    # In order: the payment below, before installment 1 falls due, pays its fees first.
    loan = weekly_loan(
        product=product_with_fees(accounting_basis="accrual", prepayment_order="in_order")
    )
    assert role_balance("fee_receivable") == D("28.00")  # 10.00 + 12 x 1.50
    assert role_balance("fee_income") == D("-52.00")  # 28.00 + the 24.00 deducted
    pay(loan, "111.50", on=days_ago(0))  # installment 1: 11.50 fees + 100.00 principal
    assert role_balance("fee_receivable") == D("16.50")  # 28.00 - 11.50
    call_command("check_money")


@pytest.mark.django_db
def test_payments_pay_fees_before_principal_and_replay_agrees() -> None:
    loan = weekly_loan(product=product_with_fees(), disbursed_days_ago=14)
    # Installments 1 (111.50) and 2 (101.50) are due. 120.00 pays #1 whole and, of #2, its
    # 1.50 fee first and then 7.00 principal (120.00 - 111.50 = 8.50; penalties → fees →
    # interest → principal).
    first = pay(loan, "120.00")
    rows = list(Installment.objects.filter(loan=loan).order_by("number"))
    assert (rows[0].fees_paid, rows[0].principal_paid, rows[0].status) == (
        D("11.50"), D("100.00"), "paid",
    )  # fmt: skip
    assert (rows[1].fees_paid, rows[1].principal_paid) == (D("1.50"), D("7.00"))
    assert role_balance("fee_income") == D("-37.00")  # 24.00 deducted + 11.50 + 1.50
    # A backdated payment and a reversal replay the loan: stored state == fresh replay.
    pay(loan, "50.00", on=days_ago(10))
    assert replay_differences(reload(loan)) == []
    repayment_reverse(repayment=first, user=AdminFactory(), reason="Posted twice")
    assert replay_differences(reload(loan)) == []
    assert reload(loan).outstanding == D("1178.00")  # 1228.00 - 50.00
    call_command("check_money")


@pytest.mark.django_db
def test_editing_the_products_fees_changes_only_loans_approved_afterwards() -> None:
    product = product_with_fees()
    running = weekly_loan(product=product)
    ProductCharge.objects.filter(product=product, name="Service").update(amount=D("5"))
    ProductCharge.objects.filter(product=product, name="Processing").delete()
    later = reload(weekly_loan(product=product))
    running = reload(running)
    assert running.fees_deducted == D("24.00") and running.total_repayable == D("1228.00")
    assert [c["amount"] for c in running.charges] == ["2", "1.5", "10"]
    # The later loan: 5 % of 100.00 = 5.00 a week, 10.00 on #1, nothing deducted.
    assert later.fees_deducted == D("0.00")
    assert later.total_repayable == D("1270.00")  # 1200.00 + 12 x 5.00 + 10.00


@pytest.mark.django_db
def test_a_date_fee_outside_the_term_refuses_the_approval_and_writes_nothing() -> None:
    product = LoanProductFactory()
    loan = LoanFactory(
        principal=D("1200.00"), installments=12, frequency="weekly", product=product,
        annual_interest_rate=D("0"),
    )  # fmt: skip
    # Added to the product after the application: approval copies it, and refuses.
    ProductCharge.objects.create(
        product=product, name="Visit", time="specified_date", calculation="flat",
        amount=D("5.00"), on_date=days_ago(0) + timedelta(days=400),
    )  # fmt: skip
    with pytest.raises(ValidationError) as caught:
        loan_approve(loan=loan, user=AdminFactory(), disbursement_date=days_ago(0))
    assert "outside this loan's term" in str(caught.value.message_dict["disbursement_date"])
    assert reload(loan).status == Loan.Status.PENDING
    assert not Installment.objects.filter(loan=loan).exists()
    assert not LoanTransaction.objects.filter(loan=loan).exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"calculation": "flat", "amount": D("-5")}, "amount"),
        ({"calculation": "percent", "amount": D("101")}, "amount"),
        ({"time": "specified_date", "calculation": "flat", "amount": D("5")}, "on_date"),
    ],
)
def test_a_bad_product_fee_is_a_field_error(values: dict[str, Any], field: str) -> None:
    charge = ProductCharge(product=LoanProductFactory(), name="Bad", **values)
    with pytest.raises(ValidationError) as caught:
        charge.full_clean()
    assert field in caught.value.message_dict


# --- the product admin ---------------------------------------------------------------------


def _admin_form(admin_client: Any, product: LoanProduct) -> tuple[str, dict[str, Any], str]:
    from django.urls import reverse

    url = reverse("admin:lending_loanproduct_change", args=[product.pk])
    page = admin_client.get(url)
    form = page.context["adminform"].form
    data = {k: (v.pk if hasattr(v, "pk") else v) for k, v in form.initial.items() if v is not None}
    fees = ""
    for inline in page.context["inline_admin_formsets"]:
        prefix = inline.formset.prefix
        data.update({
            f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0",
            f"{prefix}-MIN_NUM_FORMS": "0", f"{prefix}-MAX_NUM_FORMS": "1000",
        })  # fmt: skip
        if inline.formset.model is ProductCharge:
            fees = prefix
    return url, data, fees


@pytest.mark.django_db
def test_an_admin_adds_a_fee_on_the_product_page_and_it_is_audited(admin_client: Any) -> None:
    product = LoanProductFactory()
    url, data, p = _admin_form(admin_client, product)
    data.update({
        f"{p}-TOTAL_FORMS": "1", f"{p}-0-name": "Processing", f"{p}-0-time": "disbursement",
        f"{p}-0-calculation": "percent", f"{p}-0-amount": "2", f"{p}-0-deducted": "on",
    })  # fmt: skip
    response = admin_client.post(url, data)
    assert response.status_code == 302
    charge = ProductCharge.objects.get(product=product)
    assert (charge.name, charge.amount, charge.deducted) == ("Processing", D("2"), True)
    changed = AuditLog.objects.filter(action=AuditLog.Action.PRODUCT_CHANGED).get()
    assert changed.details["fees"] == {
        "before": [],
        "after": [charge.term().as_json()],
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"calculation": "flat", "amount": "-5"}, "amount"),
        ({"calculation": "percent", "amount": "150"}, "amount"),
        (
            {"time": "installment", "calculation": "flat", "amount": "5", "deducted": "on"},
            "deducted",
        ),
    ],
)
def test_a_bad_fee_on_the_product_page_is_a_field_error_and_saves_nothing(
    admin_client: Any, values: dict[str, str], field: str
) -> None:
    product = LoanProductFactory()
    url, data, p = _admin_form(admin_client, product)
    data.update({f"{p}-TOTAL_FORMS": "1", f"{p}-0-name": "Bad", f"{p}-0-time": "disbursement"})
    data.update({f"{p}-0-{k}": v for k, v in values.items()})
    response = admin_client.post(url, data)
    assert response.status_code == 200
    formset = next(
        i.formset for i in response.context["inline_admin_formsets"] if i.formset.prefix == p
    )
    assert field in formset.forms[0].errors
    assert not ProductCharge.objects.exists()
    assert not AuditLog.objects.filter(action=AuditLog.Action.PRODUCT_CHANGED).exists()


# --- where fees are shown ------------------------------------------------------------------


@pytest.mark.django_db
def test_the_loan_page_statement_and_receipt_show_the_fees(accountant_client: Any) -> None:
    from django.urls import reverse

    loan = weekly_loan(product=product_with_fees())
    repayment = pay(loan, "111.50")  # installment 1: 11.50 fees + 100.00 principal
    html = accountant_client.get(reverse("loan_detail", args=[loan.pk])).content.decode()
    assert "Processing: 2 % of the principal, deducted from the amount paid out" in html
    assert "Service: 1.5 % of the installment&#x27;s principal + interest, on every" in html
    assert "1,176.00 paid out" in html and "24.00 of fees deducted" in html
    assert "11.50" in html  # installment 1's Fees column
    statement = accountant_client.get(reverse("loan_statement", args=[loan.pk]))
    text = statement.content.decode()
    assert "paid out 1,176.00, fees deducted 24.00" in text
    assert "Fees" in text and "28.00" in text  # the scheduled fees, charged at approval
    receipt = accountant_client.get(reverse("receipt_detail", args=[repayment.receipt.number]))
    assert receipt.status_code == 200
    assert "11.50" in receipt.content.decode()  # the fees this payment paid


@pytest.mark.django_db
def test_the_calculator_with_a_product_shows_its_fees(officer_client: Any) -> None:
    from django.urls import reverse

    product = product_with_fees()
    response = officer_client.get(
        reverse("calculator"),
        {
            "principal": "1200.00", "annual_interest_rate": "0", "installments": "12",
            "frequency": "weekly", "disbursement_date": "05/01/2026", "product": product.pk,
        },
    )  # fmt: skip
    schedule = response.context["schedule"]
    assert schedule.fees_deducted == D("24.00") and schedule.paid_out == D("1176.00")
    assert schedule.total_fees == D("28.00") and schedule.total == D("1228.00")
    html = response.content.decode()
    assert "Paid out" in html and "1,176.00" in html
    without = officer_client.get(
        reverse("calculator"),
        {
            "principal": "1200.00", "annual_interest_rate": "0", "installments": "12",
            "frequency": "weekly", "disbursement_date": "05/01/2026",
        },
    )  # fmt: skip
    assert without.context["schedule"].total_fees == D("0.00")


@pytest.mark.django_db
def test_an_application_whose_product_fee_falls_outside_its_term_is_refused() -> None:
    product = LoanProductFactory()
    ProductCharge.objects.create(
        product=product, name="Visit", time="specified_date", calculation="flat",
        amount=D("5.00"), on_date=days_ago(0) + timedelta(days=400),
    )  # fmt: skip
    # 12 weekly installments end 84 days after today: the fee's date, 400 days on, is outside.
    with pytest.raises(ValidationError) as caught:
        LoanFactory(
            principal=D("1200.00"), installments=12, frequency="weekly", product=product,
            annual_interest_rate=D("0"),
        )  # fmt: skip
    assert "outside this loan's term" in str(caught.value)
    assert not Loan.objects.exists()


# --- early settlement: the fees of installments not yet due are waived -------------------


def installment_fee_loan(*, disbursed_days_ago: int = 14, **product: Any) -> Loan:
    """1200.00 / 12 weekly, interest-free, with a 1 % installment fee: each installment asks
    100.00 principal + 1.00 fee (1 % of 100.00), 1212.00 in all."""
    charged = LoanProductFactory(**product)
    ProductCharge.objects.create(
        product=charged, name="Service", time="installment", calculation="percent",
        amount=D("1"),
    )  # fmt: skip
    return weekly_loan(product=charged, disbursed_days_ago=disbursed_days_ago)


@pytest.mark.django_db
def test_settling_after_installment_2_waives_the_fees_not_yet_due() -> None:
    from lending.services.repayments import loan_settle, payoff_quote

    loan = installment_fee_loan()  # installment 2 falls due today
    assert reload(loan).total_repayable == D("1212.00")
    pay(loan, "202.00")  # installments 1 and 2: 2 x (1.00 fee + 100.00)
    quote = payoff_quote(loan=reload(loan), on=days_ago(0))
    # 1000.00 of principal is left; the fees of installments 3..12 (10 x 1.00) are not owed.
    assert (quote.principal_not_due, quote.penalties_and_fees, quote.past_due) == (
        D("1000.00"), D("0.00"), D("0.00"),
    )  # fmt: skip
    assert (quote.fees_waived, quote.total, quote.outstanding) == (
        D("10.00"), D("1000.00"), D("1010.00"),
    )  # fmt: skip
    settlement = loan_settle(loan=loan, user=AdminFactory(), on=days_ago(0), method="cash")
    assert settlement.amount == D("1000.00") and settlement.is_settlement
    loan = reload(loan)
    assert loan.status == Loan.Status.CLOSED and loan.outstanding == D("0.00")
    assert loan.total_repayable == D("1202.00")  # 1212.00 less the 10.00 forgiven
    waiver = LoanTransaction.objects.get(loan=loan, kind="waiver")
    assert (waiver.amount, waiver.fees, waiver.interest) == (D("10.00"), D("10.00"), D("0.00"))
    assert waiver.repayment_id == settlement.pk
    rows = list(Installment.objects.filter(loan=loan).order_by("number"))
    assert [r.fees for r in rows] == [D("1.00")] * 2 + [D("0.00")] * 10
    assert all(r.status == "paid" for r in rows)
    assert role_balance("fee_income") == D("-2.00")  # cash basis: the two fees paid
    settled = AuditLog.objects.filter(action=AuditLog.Action.LOAN_SETTLED).get()
    assert settled.details["fees_waived"] == "10.00"
    from lending.selectors.documents import loan_statement

    lines = loan_statement(loan.pk, days_ago(0)).lines
    waived = next(line for line in lines if line.description == "Waived on settlement")
    assert (waived.paid, waived.detail) == (
        D("10.00"), "interest not yet earned and fees of installments not yet due: fees 10.00",
    )  # fmt: skip
    assert lines[-1].balance == D("0.00")
    assert replay_differences(loan) == []
    call_command("check_money")
    # Reversing the settlement gives the fees back with the rest.
    repayment_reverse(repayment=settlement, user=AdminFactory(), reason="Cheque bounced")
    loan = reload(loan)
    assert (loan.status, loan.outstanding, loan.total_repayable) == (
        Loan.Status.ACTIVE, D("1010.00"), D("1212.00"),
    )  # fmt: skip
    assert [r.fees for r in Installment.objects.filter(loan=loan).order_by("number")] == [
        D("1.00")
    ] * 12
    reversed_entry = AuditLog.objects.filter(action=AuditLog.Action.REPAYMENT_REVERSED).get()
    assert reversed_entry.details["fees_restored"] == "10.00"
    assert replay_differences(loan) == []
    call_command("check_money")


@pytest.mark.django_db
def test_settling_owes_the_fees_of_installments_already_due_accrual_basis() -> None:
    from lending.services.repayments import loan_settle, payoff_quote

    loan = installment_fee_loan(accounting_basis="accrual")  # nothing paid, 2 installments due
    assert role_balance("fee_receivable") == D("12.00")
    quote = payoff_quote(loan=reload(loan), on=days_ago(0))
    # Due: 2 x 100.00 principal and their 2 x 1.00 fees; not due: 1000.00, its fees waived.
    assert (quote.past_due, quote.penalties_and_fees, quote.principal_not_due) == (
        D("200.00"), D("2.00"), D("1000.00"),
    )  # fmt: skip
    assert (quote.fees_waived, quote.total) == (D("10.00"), D("1202.00"))
    loan_settle(loan=loan, user=AdminFactory(), on=days_ago(0), method="cash")
    # The waiver takes the 10.00 back from fee income against its receivable.
    assert role_balance("fee_receivable") == D("0.00")
    assert role_balance("fee_income") == D("-2.00")
    assert reload(loan).status == Loan.Status.CLOSED
    assert replay_differences(reload(loan)) == []
    call_command("check_money")


@pytest.mark.django_db
def test_the_settlement_page_letter_and_api_show_the_fees_waived(admin_client: Any) -> None:
    from tests.api.conftest import ApiClient, token_for

    loan = installment_fee_loan()
    pay(loan, "202.00")
    on = days_ago(0).isoformat()
    page = admin_client.get(f"/loans/{loan.pk}/payoff/", {"on": on}).content.decode()
    assert "USD 10.00</span> of installment fees not yet due" in page
    assert "USD 1,000.00" in page
    letter = admin_client.get(f"/loans/{loan.pk}/payoff/letter/", {"on": on}).content.decode()
    assert "USD 10.00 of installment fees scheduled after it" in letter
    api = ApiClient(token_for(AdminFactory()))
    body = api.get(f"/api/loans/{loan.pk}/payoff", {"on": on}).json()
    assert (body["amount"], body["fees_waived"], body["penalties_and_fees"]) == (
        "1000.00", "10.00", "0.00",
    )  # fmt: skip


@pytest.mark.django_db
def test_an_admins_fee_waiver_reads_as_a_waiver_on_the_statement_not_a_settlement() -> None:
    from lending.selectors.documents import loan_statement
    from lending.services.waivers import loan_waive

    loan = installment_fee_loan()
    loan_waive(loan=loan, user=AdminFactory(), reason="Goodwill", fees=D("3.00"))
    lines = loan_statement(loan.pk, days_ago(0)).lines
    assert [(line.description, line.detail) for line in lines if "aived" in line.description] == [
        ("Waived", "fees 3.00")
    ]
