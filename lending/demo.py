"""Demo portfolio for `manage.py seed_demo`: products, borrowers and loans in every state.

Everything goes through the services (`borrower_create`, `loan_submit`, `loan_approve`,
`loan_reject`, `loan_withdraw`, `loan_write_off`), so the demo obeys the same rules as the
pages: numbers, four-eyes approval, audit entries, stored schedules. A fixed random seed makes
it the same every time. It does nothing when any borrower exists, so running it twice adds
nothing.

Applications are submitted today (the services stamp the time, and the audit log agrees);
approvals choose disbursement dates spread over the past ten months, so schedules have
installments due, overdue and ahead. Repayments are left to `seed_repayments`, the hook the
repayments feature fills in.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from ledger.models import Account
from lending.models import Borrower, Loan, LoanProduct
from lending.schedule import Frequency, add_periods
from lending.services.books import journal_entry_record
from lending.services.borrowers import borrower_create
from lending.services.loans import (
    loan_approve,
    loan_reject,
    loan_submit,
    loan_withdraw,
    loan_write_off,
)

SEED = 20260131
D = Decimal

PRODUCTS: list[dict[str, Any]] = [
    {
        "name": "Business Growth",
        "min_principal": D("1000.00"),
        "max_principal": D("50000.00"),
        "min_interest_rate": D("10"),
        "max_interest_rate": D("30"),
        "min_installments": 6,
        "max_installments": 36,
        "default_interest_rate": D("18"),
        "frequency": "monthly",
        "interest_method": "declining",
        "amortization": "equal_installments",
        "penalty_type": LoanProduct.PenaltyType.FLAT,
        "penalty_amount": D("25.00"),
        "penalty_grace_days": 5,
        "reminder_days_before": "3, 0",
        "reminder_days_after": "1, 7",
    },
    {
        "name": "Salary Advance",
        "min_principal": D("200.00"),
        "max_principal": D("5000.00"),
        "min_interest_rate": D("5"),
        "max_interest_rate": D("24"),
        "min_installments": 1,
        "max_installments": 12,
        "default_interest_rate": D("12"),
        "frequency": "monthly",
        "interest_method": "flat",
        "amortization": "equal_installments",
        "installment_multiple": D("1.00"),
        "installment_rounding": "up",
    },
    {
        "name": "Group Micro",
        "min_principal": D("100.00"),
        "max_principal": D("3000.00"),
        "min_interest_rate": D("10"),
        "max_interest_rate": D("40"),
        "min_installments": 8,
        "max_installments": 52,
        "default_interest_rate": D("24"),
        "frequency": "weekly",
        "interest_method": "declining",
        "amortization": "equal_principal",
        "penalty_type": LoanProduct.PenaltyType.PERCENT,
        "penalty_rate": D("2"),
        "penalty_grace_days": 3,
        "reminder_days_before": "1",
        "reminder_days_after": "1, 7",
        "reminder_by_email": False,
    },
]

FIRST_NAMES = [
    "Ama", "Kofi", "Abena", "Yaw", "Esi", "Kwame", "Amina", "Musa", "Fatima", "Ibrahim",
    "Grace", "Peter", "Ruth", "Daniel", "Esther", "Samuel", "Wanjiru", "Otieno", "Achieng",
    "Chipo", "Tendai", "Thandiwe", "Sipho", "Lerato",
]  # fmt: skip
LAST_NAMES = [
    "Mensah", "Owusu", "Boateng", "Asante", "Banda", "Phiri", "Mwale", "Tembo", "Zulu",
    "Dlamini", "Okafor", "Adeyemi", "Mutua", "Kariuki", "Odhiambo", "Moyo", "Ncube", "Chanda",
]  # fmt: skip
EMPLOYERS = ["Self-employed", "Market stall", "County office", "District school", "Clinic", ""]
PURPOSES = {
    "Business Growth": ["Shop stock", "Delivery motorbike", "Sewing machines", "Farm inputs"],
    "Salary Advance": ["School fees", "Medical bill", "Rent deposit"],
    "Group Micro": ["Vegetable trading", "Poultry", "Tailoring group"],
    "": ["Home improvement", "Solar kit"],
}
# (state, weight): most demo loans are running; a few of every other state.
STATES = [
    ("active", 62),
    ("pending", 12),
    ("rejected", 8),
    ("withdrawn", 6),
    ("written_off", 5),
    ("custom", 7),  # active, on custom terms (no product)
]
REJECT_REASONS = [
    "Income does not cover the installment.",
    "Incomplete documents: no proof of address.",
    "Existing arrears with another lender.",
]


def _demo_user(username: str) -> User:
    try:
        return User.objects.get(username=username)
    except User.DoesNotExist:
        raise ImproperlyConfigured(
            f"The demo user {username!r} is missing: run `manage.py seed_demo` (it creates "
            "the users first)."
        ) from None


def _products() -> list[LoanProduct]:
    products = []
    for spec in PRODUCTS:
        product, _ = LoanProduct.objects.get_or_create(name=spec["name"], defaults=spec)
        products.append(product)
    return products


def _borrower_fields(rng: random.Random, n: int, today: date) -> dict[str, Any]:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    age_days = rng.randint(20 * 365, 65 * 365)
    return {
        "full_name": f"{first} {last}",
        "national_id": f"DM{n:04d}{rng.randint(100, 999)}",
        "date_of_birth": today - timedelta(days=age_days),
        "phone": f"+254 7{rng.randint(10, 99)} {rng.randint(100, 999)} {rng.randint(100, 999)}",
        "email": f"{first}.{last}{n}@example.org".lower() if rng.random() < 0.6 else "",
        "address": f"{rng.randint(1, 200)} {rng.choice(['Market', 'Station', 'Church'])} Road",
        "employer": rng.choice(EMPLOYERS),
        "monthly_income": D(rng.randrange(300, 6000, 50)).quantize(D("0.01")),
        "notes": "",
    }


def _terms(rng: random.Random, product: LoanProduct | None) -> dict[str, Any]:
    """Terms inside the product's limits, starting from its defaults."""
    if product is None:
        return {
            "principal": D(rng.randrange(500, 8000, 100)).quantize(D("0.01")),
            "annual_interest_rate": D(rng.choice([0, 9, 15, 21])),
            "installments": rng.choice([6, 10, 12, 18]),
            "frequency": rng.choice(["monthly", "biweekly"]),
            "interest_method": "declining",
            "amortization": "equal_installments",
            "grace_periods": rng.choice([0, 0, 1]),
            "installment_multiple": D("0.01"),
            "installment_rounding": "nearest",
            "interest_period": rng.choice(["per_period", "daily"]),
            "days_in_year": 365,
        }
    step = D("100") if product.max_principal >= 1000 else D("10")
    low, high = int(product.min_principal / step), int(product.max_principal / step)
    return {
        "principal": (D(rng.randint(low, max(low, high // 2))) * step).quantize(D("0.01")),
        "annual_interest_rate": product.default_interest_rate,
        "installments": rng.randint(
            product.min_installments, min(product.max_installments, product.min_installments + 18)
        ),
        "frequency": product.frequency,
        "interest_method": product.interest_method,
        "amortization": product.amortization,
        "grace_periods": 0,
        "installment_multiple": product.installment_multiple,
        "installment_rounding": product.installment_rounding,
        "interest_period": product.interest_period,
        "days_in_year": product.days_in_year,
    }


OPENING_CAPITAL = Decimal("1000000.00")


def _month_end(today: date) -> date:
    """A 31st, four to ten months ago: a loan disbursed then shows month-end due dates
    (31 Jan, 28/29 Feb, 31 Mar ...) instead of drifting to the 28th."""
    first_of_month = today.replace(day=1)
    for months_back in range(4, 11):
        end = add_periods(first_of_month, Frequency.MONTHLY, 1 - months_back) - timedelta(days=1)
        if end.day == 31:
            return end
    return first_of_month - timedelta(days=1)  # unreachable: every 7 months hold a 31st


def _opening_capital(admin: Any, on: date) -> None:
    """The institution's capital paid into its bank account before its first loan, so the
    demo's trial balance reads like a lender's (the bank lends from it)."""
    accounts = dict(Account.objects.filter(code__in=["1020", "3010"]).values_list("code", "pk"))
    journal_entry_record(
        value_date=on,
        memo="Opening capital paid in",
        lines=[
            (accounts["1020"], OPENING_CAPITAL, Decimal("0.00")),
            (accounts["3010"], Decimal("0.00"), OPENING_CAPITAL),
        ],
        user=admin,
    )


def seed_portfolio(*, borrowers: int, loans: int, stdout: Any) -> None:
    if Borrower.objects.exists():
        stdout.write("Demo data: borrowers already exist, nothing added.")
        return
    rng = random.Random(SEED)
    today = timezone.localdate()
    officer, officer2, admin = (_demo_user(name) for name in ("officer", "officer2", "admin"))
    products = _products()
    stdout.write(f"Demo data: {len(products)} loan products.")
    _opening_capital(admin, today - timedelta(days=400))

    people = []
    for n in range(1, max(borrowers, 1) + 1):
        registrar = officer if n % 3 else officer2
        people.append(borrower_create(user=registrar, **_borrower_fields(rng, n, today)))
    stdout.write(f"Demo data: {len(people)} borrowers.")

    made: dict[str, list[Loan]] = {state: [] for state, _ in STATES}
    month_end_shown = False
    kinds, weights = zip(*STATES, strict=True)
    for i in range(loans):
        state = rng.choices(kinds, weights)[0]
        borrower = people[i % len(people)] if i < len(people) else rng.choice(people)
        product = None if state == "custom" else rng.choice(products)
        # Four eyes: whoever submits, someone else decides.
        submitter, approver = (
            (officer, rng.choice([officer2, admin]))
            if i % 4
            else (
                officer2,
                rng.choice([officer, admin]),
            )
        )
        loan = loan_submit(
            user=submitter,
            borrower=borrower,
            product=product,
            purpose=rng.choice(PURPOSES[product.name if product else ""]),
            **_terms(rng, product),
        )
        if state == "pending":
            pass
        elif state == "rejected":
            loan = loan_reject(loan=loan, user=approver, reason=rng.choice(REJECT_REASONS))
        elif state == "withdrawn":
            loan = loan_withdraw(
                loan=loan, user=submitter, reason="The borrower no longer needs the loan."
            )
        else:
            earliest = 200 if state == "written_off" else 0
            disbursed = today - timedelta(days=rng.randint(earliest, 300))
            if not month_end_shown and state == "active" and loan.frequency == "monthly":
                # Due dates stay at month end: 31 Jan, 28/29 Feb, 31 Mar ...
                disbursed, month_end_shown = _month_end(today), True
            loan = loan_approve(loan=loan, user=approver, disbursement_date=disbursed)
            if state == "written_off":
                loan = loan_write_off(
                    loan=loan,
                    user=admin,
                    reason="Borrower relocated; no payments for more than 180 days.",
                )
        made[state].append(loan)
    summary = ", ".join(f"{len(v)} {k.replace('_', ' ')}" for k, v in made.items() if v)
    stdout.write(f"Demo data: {loans} loans ({summary}).")
    seed_repayments(loans=[*made["active"], *made["custom"]], stdout=stdout)


def seed_repayments(*, loans: list[Loan], stdout: Any) -> None:
    """Hook for the repayments feature: record the demo's payments on these active loans
    (on time, late and ahead, a settlement, a reversal) through `repayment_record`.
    Until that feature fills it in, it records nothing.

    Every payment goes through the repayment services, dated on or after disbursement and
    never after today: most borrowers pay their installments on or a little after the due
    date, some fall behind or pay part, some pay ahead, a few repay in full (closed); one
    loan is settled early and one mistaken payment is reversed."""
    try:
        from lending.services.repayments import (
            loan_settle,
            repayment_record,
            repayment_reverse,
        )
    except ImportError:
        return
    if not loans:
        return
    from django.core.exceptions import ValidationError

    rng = random.Random(SEED + 4)
    today = timezone.localdate()
    cashier = User.objects.filter(username="accountant").first() or _demo_user("admin")
    methods, method_weights = ["cash", "mobile_money", "bank_transfer", "cheque"], [5, 4, 2, 1]
    behaviours = [
        ("on_time", 40),
        ("late", 25),
        ("behind", 12),
        ("ahead", 10),
        ("repaid", 8),
        ("silent", 5),
    ]
    names, weights = zip(*behaviours, strict=True)
    recorded: list[Any] = []
    repaid = 0

    def pay(loan: Loan, amount: Decimal, paid_on: date, ref: str = "") -> Decimal:
        """Record one payment (capped at what is owed); returns what the loan owes after."""
        amount = min(amount, loan.outstanding).quantize(D("0.01"))
        if amount <= 0:
            return loan.outstanding
        method = rng.choices(methods, method_weights)[0]
        reference = ref or (
            f"MP{rng.randint(10**7, 10**8 - 1)}" if method == "mobile_money" else ""
        )
        try:
            repayment = repayment_record(
                loan=loan,
                user=cashier,
                amount=amount,
                paid_on=paid_on,
                method=method,
                reference=reference,
            )
        except ValidationError:
            return loan.outstanding
        recorded.append(repayment)
        loan.refresh_from_db()
        return loan.outstanding

    for loan in loans:
        assert loan.disbursement_date is not None
        behaviour = rng.choices(names, weights)[0]
        due = [i for i in loan.schedule.order_by("number") if i.due_date <= today]
        if behaviour == "silent":
            continue
        if behaviour == "behind":
            due = due[: max(0, len(due) - rng.randint(1, 3))]
        for inst in due:
            paid_on = inst.due_date
            amount = inst.total
            if behaviour in ("late", "behind"):
                paid_on = min(inst.due_date + timedelta(days=rng.randint(1, 20)), today)
                if rng.random() < 0.3:
                    amount = (inst.total * D("0.6")).quantize(D("0.01"))  # a part payment
            if pay(loan, amount, paid_on) == 0:
                break
        # Extra and final payments fall on the last few days, so the dashboard's 7-day chart
        # shows a working week rather than one spike today.
        recent = max(loan.disbursement_date, today - timedelta(days=rng.randint(0, 6)))
        if behaviour == "ahead" and loan.outstanding > 0:
            pay(loan, (loan.outstanding * D("0.15")).quantize(D("0.01")), recent)
        if behaviour == "repaid" and loan.outstanding > 0:
            pay(loan, loan.outstanding, recent, ref="Final payment")
        if loan.outstanding == 0:
            repaid += 1

    # One mistaken posting, reversed: a cheque that bounced.
    still_open = set(
        Loan.objects.filter(
            pk__in=[loan.pk for loan in loans], status=Loan.Status.ACTIVE
        ).values_list("pk", flat=True)
    )
    cheque = next((r for r in reversed(recorded) if r.loan_id in still_open), None)
    if cheque is not None:
        repayment_reverse(
            repayment=cheque, user=cashier, reason="Cheque returned unpaid by the bank."
        )
    # One early settlement, on the active loan with the most left to pay.
    open_loans = [loan for loan in loans if Loan.objects.get(pk=loan.pk).outstanding > 0]
    settled = 0
    if open_loans:
        biggest = max(open_loans, key=lambda loan: Loan.objects.get(pk=loan.pk).outstanding)
        try:
            loan_settle(
                loan=Loan.objects.get(pk=biggest.pk),
                user=cashier,
                on=today,
                method="bank_transfer",
                reference="Early settlement",
            )
            settled = 1
        except ValidationError:
            settled = 0
    stdout.write(
        f"Demo data: {len(recorded) + settled} repayments ({repaid} loans repaid in full, "
        f"{settled} settled early, {1 if cheque else 0} reversed)."
    )
