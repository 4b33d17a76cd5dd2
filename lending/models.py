"""Lending state: borrowers, products, loans, their schedules, repayments, receipts, audit.

Models hold state and single-object rules only. Every write that changes money or a status goes
through a service in `lending.services`, which validates, locks, saves with `update_fields` and
records its audit entry in the same transaction.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.head_office import HEAD_OFFICE_ID
from lending.charges import (
    Calculation,
    ChargeError,
    ChargeTerm,
    ChargeTime,
    check_term,
    terms_from_json,
)
from lending.replay import Kind, Parts, parts_of
from lending.schedule import (
    Amortization,
    DueDateRule,
    Frequency,
    InstallmentRounding,
    InterestMethod,
)

ZERO = Decimal("0.00")


def money_field(verbose_name: str | None = None, **kwargs: Any) -> models.DecimalField:
    """Every amount: 12 digits before the point, cents after (DESIGN.md "Money")."""
    return models.DecimalField(verbose_name, max_digits=14, decimal_places=2, **kwargs)


def rate_field(verbose_name: str | None = None, **kwargs: Any) -> models.DecimalField:
    """Rates in percent a year, to four decimals."""
    return models.DecimalField(verbose_name, max_digits=7, decimal_places=4, **kwargs)


def _percent(rate: Decimal) -> str:
    """ "18" rather than "18.0000": a rate as an admin typed it."""
    return format(rate.normalize(), "f")


def _choices(enum: type[StrEnum]) -> list[tuple[str, str]]:
    return [(member.value, member.value.replace("_", " ").capitalize()) for member in enum]


FREQUENCY_CHOICES = _choices(Frequency)
INTEREST_METHOD_CHOICES = _choices(InterestMethod)
AMORTIZATION_CHOICES = _choices(Amortization)
INSTALLMENT_ROUNDING_CHOICES = _choices(InstallmentRounding)
DUE_DATE_RULE_CHOICES = [
    (DueDateRule.NEXT.value, "Next working day"),
    (DueDateRule.PREVIOUS.value, "Previous working day"),
    (DueDateRule.KEEP.value, "Keep the date"),
]
INTEREST_PERIOD_CHOICES = [("per_period", "Per period"), ("daily", "Daily (actual days)")]
DAYS_IN_YEAR_CHOICES = [(360, "360"), (365, "365")]


class NumberSequence(models.Model):
    """A named counter whose row is locked while a number is taken (see `services.numbers`).

    Receipt numbers must be gapless per year, which a database sequence cannot promise (a
    rolled-back transaction burns its value). Taking the next value under `select_for_update`
    inside the posting transaction means a rollback also rolls the counter back.
    """

    key = models.CharField(max_length=40, unique=True)
    last_value = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.key}={self.last_value}"


class Borrower(models.Model):
    """A client of the institution. The national ID is stored normalised (upper case, no
    spaces or dashes) so the unique constraint catches the same ID typed two ways."""

    number = models.CharField(max_length=20, unique=True, editable=False)
    full_name = models.CharField(max_length=200)
    national_id = models.CharField("national ID", max_length=40, unique=True)
    date_of_birth = models.DateField()
    phone = models.CharField(max_length=30)
    email = models.EmailField(blank=True)
    address = models.TextField(blank=True)
    employer = models.CharField(max_length=200, blank=True)
    monthly_income = money_field(validators=[MinValueValidator(ZERO)], default=ZERO)
    notes = models.TextField(blank=True)
    # The borrower asked for no payment reminders (collecting.reminders sends them none).
    reminders_opt_out = models.BooleanField(
        "no payment reminders",
        default=False,
        help_text="Tick when the borrower asked not to receive SMS or e-mail reminders.",
    )
    # The office the record belongs to (DESIGN.md "Offices"): scoping reads it. Moved
    # only by `borrower_transfer`, which moves its loans with it.
    office = models.ForeignKey(
        "accounts.Office",
        on_delete=models.PROTECT,
        default=HEAD_OFFICE_ID,
        db_default=HEAD_OFFICE_ID,
        related_name="+",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True
    )
    # The loan officer who looks after the borrower (who registered them, until an Admin
    # reassigns: `lending.services.officers.officers_reassign`).
    officer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="borrowers_assigned",
        null=True,
        blank=True,
        editable=False,
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["full_name", "id"]
        indexes = [
            models.Index(fields=["phone"]),
            models.Index(fields=["created_at"]),
        ]
        permissions = [("transfer_borrower", "Can move a borrower to another office")]

    def __str__(self) -> str:
        return f"{self.full_name} ({self.number})"

    @staticmethod
    def normalise_national_id(value: str) -> str:
        return "".join(ch for ch in value.upper() if ch.isalnum())


class AccountingBasis(models.TextChoices):
    """When income is recognised (DESIGN.md, "General ledger"): `cash` when it is paid,
    `accrual` day by day as it is earned (the daily close books it)."""

    CASH = "cash", "Cash"
    ACCRUAL = "accrual", "Accrual"


class PrepaymentOrder(models.TextChoices):
    """How money paid ahead (on installments not yet due) is split (DESIGN.md, "Repayments")."""

    PRINCIPAL_FIRST = "principal_first", "Principal first (interest not yet earned is never bought)"
    IN_ORDER = "in_order", "In order (interest, then principal, of each installment)"


class PenaltyType(models.TextChoices):
    NONE = "none", "No penalty"
    FLAT = "flat", "Flat amount"
    PERCENT = "percent", "Percent of the overdue installment's unpaid principal + interest"


# The product terms a loan keeps a copy of at approval (DESIGN.md, "Charges, penalties and
# delinquency"): editing the product later changes only loans approved afterwards. Rates,
# installments and rounding are the loan's own from its application; the accounting basis is
# copied too (`Loan.accounting_basis`).
FROZEN_TERMS = (
    "penalty_type",
    "penalty_amount",
    "penalty_rate",
    "penalty_grace_days",
    "penalty_repeat_days",
    "penalty_max_times",
    "arrears_tolerance",
    "close_tolerance",
    "prepayment_order",
    "due_date_rule",
)


MAX_REMINDER_DAYS = 5  # offsets per list: a borrower is reminded a few times, not spammed


def reminder_days(value: str) -> list[int]:
    """The days of a product's reminder list ("3, 0" -> [0, 3]); empty text is no reminder.
    Raises ValueError on anything but whole numbers separated by commas."""
    parts = [part.strip() for part in value.replace(";", ",").split(",")]
    return sorted({int(part) for part in parts if part})


def _reminder_days_validator(lowest: int) -> Any:
    def validate(value: str) -> None:
        try:
            days = reminder_days(value)
        except ValueError:
            raise ValidationError(
                "Write whole numbers of days separated by commas, for example 1, 7."
            ) from None
        if any(day < lowest or day > 365 for day in days):
            raise ValidationError(f"Each number of days must be from {lowest} to 365.")
        if len(days) > MAX_REMINDER_DAYS:
            raise ValidationError(f"At most {MAX_REMINDER_DAYS} reminders.")

    return validate


def validate_days_before(value: str) -> None:
    _reminder_days_validator(0)(value)


def validate_days_after(value: str) -> None:
    _reminder_days_validator(1)(value)


class LoanProduct(models.Model):
    """A lending product: limits an application must fit, defaults it starts from, and the
    late-penalty rule and tolerances its loans copy at approval (`FROZEN_TERMS`)."""

    PenaltyType = PenaltyType

    name = models.CharField(max_length=100, unique=True)
    is_active = models.BooleanField("active", default=True)
    min_principal = money_field(default=Decimal("100.00"), validators=[MinValueValidator(ZERO)])
    max_principal = money_field(default=Decimal("100000.00"))
    min_interest_rate = rate_field(default=Decimal("0"), validators=[MinValueValidator(0)])
    max_interest_rate = rate_field(default=Decimal("60"))
    min_installments = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(480)]
    )
    max_installments = models.PositiveSmallIntegerField(
        default=60, validators=[MinValueValidator(1), MaxValueValidator(480)]
    )
    default_interest_rate = rate_field(default=Decimal("12"))
    frequency = models.CharField(max_length=12, choices=FREQUENCY_CHOICES, default="monthly")
    interest_method = models.CharField(
        max_length=12, choices=INTEREST_METHOD_CHOICES, default="declining"
    )
    amortization = models.CharField(
        max_length=20, choices=AMORTIZATION_CHOICES, default="equal_installments"
    )
    grace_periods = models.PositiveSmallIntegerField("principal grace periods", default=0)
    installment_multiple = money_field(
        default=Decimal("0.01"), validators=[MinValueValidator(Decimal("0.01"))]
    )
    installment_rounding = models.CharField(
        max_length=10, choices=INSTALLMENT_ROUNDING_CHOICES, default="nearest"
    )
    interest_period = models.CharField(
        max_length=12, choices=INTEREST_PERIOD_CHOICES, default="per_period"
    )
    days_in_year = models.PositiveSmallIntegerField(choices=DAYS_IN_YEAR_CHOICES, default=365)
    penalty_type = models.CharField(
        max_length=10, choices=PenaltyType.choices, default=PenaltyType.NONE
    )
    penalty_amount = money_field("flat penalty", default=ZERO, validators=[MinValueValidator(ZERO)])
    penalty_rate = rate_field(
        "penalty percent", default=Decimal("0"), validators=[MinValueValidator(0)]
    )
    penalty_grace_days = models.PositiveSmallIntegerField(default=0)
    penalty_repeat_days = models.PositiveSmallIntegerField(
        "repeat the penalty every (days)",
        default=0,
        validators=[MaxValueValidator(3650)],
        help_text="0 charges it once per late installment.",
    )
    penalty_max_times = models.PositiveSmallIntegerField(
        "at most (times per installment)",
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(1000)],
    )
    arrears_tolerance = money_field(
        default=ZERO,
        validators=[MinValueValidator(ZERO)],
        help_text="An installment owing at most this much is not late: no days past due, "
        "no penalty.",
    )
    close_tolerance = money_field(
        default=ZERO,
        validators=[MinValueValidator(ZERO)],
        help_text="A payment that leaves at most this much waives the rest and closes the loan.",
    )
    accounting_basis = models.CharField(
        max_length=8, choices=AccountingBasis.choices, default=AccountingBasis.CASH
    )
    disburse_on_approval = models.BooleanField(
        default=True,
        help_text="On: approving a loan disburses it at once. Off: approval and disbursement "
        "are two steps; an accountant or administrator disburses the approved loan.",
    )
    prepayment_order = models.CharField(
        max_length=16,
        choices=PrepaymentOrder.choices,
        default=PrepaymentOrder.PRINCIPAL_FIRST,
        help_text="Money paid ahead, on installments not yet due: principal first (the "
        "borrower never pays interest not yet earned) or in order (interest first).",
    )
    due_date_rule = models.CharField(
        "a due date on a day off moves to",
        max_length=8,
        choices=DUE_DATE_RULE_CHOICES,
        default=DueDateRule.NEXT.value,
        help_text="Days off are the weekdays and holidays of the Working days page.",
    )
    # Payment reminders (collecting.reminders): read on the day they are sent, not frozen.
    reminder_days_before = models.CharField(
        "remind before a due date (days)",
        max_length=40,
        blank=True,
        default="",
        validators=[validate_days_before],
        help_text="Days before each due date, separated by commas: 3 is three days before, "
        "0 the due date itself. Empty: no reminder before.",
    )
    reminder_days_after = models.CharField(
        "remind after a missed due date (days)",
        max_length=40,
        blank=True,
        default="",
        validators=[validate_days_after],
        help_text="Days after a due date still unpaid, separated by commas, for example 1, 7. "
        "Empty: no reminder after.",
    )
    reminder_by_sms = models.BooleanField("remind by SMS", default=True)
    reminder_by_email = models.BooleanField(
        "remind by e-mail", default=True, help_text="To borrowers who gave an e-mail address."
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.min_principal > self.max_principal:
            errors["max_principal"] = "The maximum principal is below the minimum."
        if self.min_interest_rate > self.max_interest_rate:
            errors["max_interest_rate"] = "The maximum rate is below the minimum."
        if self.min_installments > self.max_installments:
            errors["max_installments"] = "The maximum number of installments is below the minimum."
        if self.min_interest_rate <= self.max_interest_rate and not (
            self.min_interest_rate <= self.default_interest_rate <= self.max_interest_rate
        ):
            # Every new application starts from the default rate: outside the limits, each one
            # would open already refused.
            errors["default_interest_rate"] = (
                f"The default rate, {_percent(self.default_interest_rate)} %, must be within "
                f"this product's rates: {_percent(self.min_interest_rate)} % to "
                f"{_percent(self.max_interest_rate)} %."
            )
        if self.grace_periods >= self.max_installments:
            errors["grace_periods"] = "Grace periods must be fewer than the installments."
        if self.penalty_type == self.PenaltyType.FLAT and self.penalty_amount <= 0:
            errors["penalty_amount"] = "A flat penalty needs an amount above zero."
        if self.penalty_type == self.PenaltyType.PERCENT and self.penalty_rate <= 0:
            errors["penalty_rate"] = "A percent penalty needs a rate above zero."
        if errors:
            raise ValidationError(errors)


class ProductCharge(models.Model):
    """A fee a product's loans charge (DESIGN.md, "Charges, penalties and delinquency"); a loan
    copies its product's charges at approval (`Loan.charges`), so editing one changes only
    loans approved afterwards. `lending.charges` computes what each installment owes."""

    Time = ChargeTime
    Calculation = Calculation

    product = models.ForeignKey(LoanProduct, on_delete=models.CASCADE, related_name="charges")
    name = models.CharField(max_length=100)
    time = models.CharField(
        "charged",
        max_length=16,
        choices=[
            (ChargeTime.DISBURSEMENT.value, "At disbursement"),
            (ChargeTime.INSTALLMENT.value, "On every installment"),
            (ChargeTime.SPECIFIED_DATE.value, "On a specified date"),
        ],
        default=ChargeTime.DISBURSEMENT,
    )
    calculation = models.CharField(
        max_length=8,
        choices=[
            (Calculation.FLAT.value, "Flat amount"),
            (Calculation.PERCENT.value, "Percent"),
        ],
        default=Calculation.FLAT,
        help_text="A percent is of the principal (at disbursement, on a date) or of the "
        "installment's principal + interest (on every installment).",
    )
    amount = models.DecimalField(
        "amount or percent",
        max_digits=14,
        decimal_places=4,
        validators=[MinValueValidator(Decimal("0.0001"))],
    )
    deducted = models.BooleanField(
        "deduct from the amount paid out",
        default=False,
        help_text="At disbursement only: the borrower receives the principal less this fee. "
        "Unticked, the fee is added to the first installment.",
    )
    on_date = models.DateField(
        "date", null=True, blank=True, help_text="On a specified date only: the day it is due."
    )

    class Meta:
        ordering = ["product", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="charge_amount_positive"),
            models.CheckConstraint(
                condition=~Q(calculation="percent") | Q(amount__lte=100),
                name="charge_percent_at_most_100",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def term(self) -> ChargeTerm:
        return ChargeTerm(
            name=self.name,
            time=ChargeTime(self.time),
            calculation=Calculation(self.calculation),
            amount=Decimal(self.amount) if self.amount is not None else ZERO,
            deducted=self.deducted,
            on_date=self.on_date,
        )

    def clean(self) -> None:
        if self.amount is None:
            return
        try:
            check_term(self.term())
        except ChargeError as exc:
            raise ValidationError({exc.field: exc.message}) from None


class Loan(models.Model):
    """A loan from application to closure.

    `status` is changed only by the transition services in `lending.services.loans`. The money
    totals are kept on the row (maintained by the services) so lists and the dashboard read
    them without summing installments:
    `outstanding == total_repayable - total_waived - total_paid`, never negative.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"  # not disbursed yet (DESIGN.md, "Loan life cycle")
        ACTIVE = "active", "Active"
        REJECTED = "rejected", "Rejected"
        WITHDRAWN = "withdrawn", "Withdrawn"
        CLOSED = "closed", "Closed"
        WRITTEN_OFF = "written_off", "Written off"

    number = models.CharField(max_length=20, unique=True, editable=False)
    borrower = models.ForeignKey(Borrower, on_delete=models.PROTECT, related_name="loans")
    # The office the record belongs to (DESIGN.md "Offices"): the borrower's, always
    # (a transfer moves both).
    office = models.ForeignKey(
        "accounts.Office",
        on_delete=models.PROTECT,
        default=HEAD_OFFICE_ID,
        db_default=HEAD_OFFICE_ID,
        related_name="+",
    )
    product = models.ForeignKey(
        LoanProduct, on_delete=models.PROTECT, related_name="loans", null=True, blank=True
    )
    status = models.CharField(
        max_length=12, choices=Status.choices, default=Status.PENDING, editable=False
    )

    principal = money_field()
    annual_interest_rate = rate_field()
    installments = models.PositiveSmallIntegerField(
        "number of installments", validators=[MinValueValidator(1), MaxValueValidator(480)]
    )
    frequency = models.CharField(max_length=12, choices=FREQUENCY_CHOICES, default="monthly")
    interest_method = models.CharField(
        max_length=12, choices=INTEREST_METHOD_CHOICES, default="declining"
    )
    amortization = models.CharField(
        max_length=20, choices=AMORTIZATION_CHOICES, default="equal_installments"
    )
    grace_periods = models.PositiveSmallIntegerField("principal grace periods", default=0)
    first_due_date = models.DateField(null=True, blank=True)
    installment_multiple = money_field(default=Decimal("0.01"))
    installment_rounding = models.CharField(
        max_length=10, choices=INSTALLMENT_ROUNDING_CHOICES, default="nearest"
    )
    interest_period = models.CharField(
        max_length=12, choices=INTEREST_PERIOD_CHOICES, default="per_period"
    )
    days_in_year = models.PositiveSmallIntegerField(choices=DAYS_IN_YEAR_CHOICES, default=365)
    purpose = models.CharField(max_length=200, blank=True)

    disbursement_date = models.DateField(null=True, blank=True)
    # Set at approval: the most that may be disbursed, the day of the decision (no
    # disbursement is dated before it) and, for a product that disburses separately, the day
    # the approver expects the money to be handed over.
    approved_amount = money_field(null=True, blank=True)
    approved_on = models.DateField(null=True, blank=True)
    expected_disbursement_date = models.DateField(null=True, blank=True)
    disbursement_reference = models.CharField(max_length=100, blank=True)
    total_repayable = money_field(default=ZERO)
    total_paid = money_field(default=ZERO)
    total_waived = money_field(default=ZERO)
    outstanding = money_field(default=ZERO)
    days_past_due = models.PositiveIntegerField(default=0)
    # Money received above what the loan owed (after a replay took back a penalty, say): a
    # credit the institution owes the borrower, booked to the overpayment liability.
    overpaid = money_field(default=ZERO)
    # A posting dated on or after this day is applied to the stored state in order; an
    # earlier one replays the loan (see `lending.replay.incremental_from`).
    incremental_from = models.DateField(null=True, blank=True, editable=False)
    # Copied from the product at approval: how this loan's income is booked.
    accounting_basis = models.CharField(
        max_length=8, choices=AccountingBasis.choices, default=AccountingBasis.CASH
    )
    # Accrual basis: the interest recognised so far (the sum of the loan's accruals).
    interest_accrued = money_field(default=ZERO)
    # The product's penalty rule and tolerances as they were at approval (`FROZEN_TERMS`).
    penalty_type = models.CharField(
        max_length=10, choices=PenaltyType.choices, default=PenaltyType.NONE, editable=False
    )
    penalty_amount = money_field("flat penalty", default=ZERO, editable=False)
    penalty_rate = rate_field("penalty percent", default=Decimal("0"), editable=False)
    penalty_grace_days = models.PositiveSmallIntegerField(default=0, editable=False)
    penalty_repeat_days = models.PositiveSmallIntegerField(default=0, editable=False)
    penalty_max_times = models.PositiveSmallIntegerField(default=1, editable=False)
    arrears_tolerance = money_field(default=ZERO, editable=False)
    close_tolerance = money_field(default=ZERO, editable=False)
    # Loans without a product, and those approved before the option, pay ahead in order.
    prepayment_order = models.CharField(
        max_length=16,
        choices=PrepaymentOrder.choices,
        default=PrepaymentOrder.IN_ORDER,
        editable=False,
    )
    # Loans approved before working days existed keep their dates (`keep`).
    due_date_rule = models.CharField(
        max_length=8, choices=DUE_DATE_RULE_CHOICES, default=DueDateRule.KEEP.value, editable=False
    )
    # The product's fees as they were at approval (`ChargeTerm.as_json()` of each), and what
    # of them was deducted from the money handed over.
    charges = models.JSONField(default=list, blank=True, editable=False)
    fees_deducted = money_field(default=ZERO, editable=False)

    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="submitted_loans"
    )
    submitted_at = models.DateTimeField(default=timezone.now)
    # The loan officer whose portfolio the loan is in (who submitted it, until an Admin
    # reassigns it with its borrower).
    officer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="loans_assigned",
        null=True,
        blank=True,
        editable=False,
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="decided_loans",
        null=True,
        blank=True,
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    status_reason = models.TextField(blank=True)
    closed_on = models.DateField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-submitted_at", "-id"]
        permissions = [
            ("approve_loan", "Can approve or reject loan applications"),
            ("disburse_loan", "Can disburse approved loans"),
            ("undo_loan_decision", "Can undo a loan's approval or disbursement"),
            ("write_off_loan", "Can write off loans"),
            ("reassign_officer", "Can reassign loan officers"),
            ("waive_loan", "Can waive charges and interest"),
            ("view_portfolio_reports", "Can view portfolio reports"),
            ("view_financial_reports", "Can view financial reports"),
        ]
        indexes = [
            models.Index(fields=["status", "-submitted_at"]),
            # The unfiltered loan list is in this order: read it from an index, not a sort.
            models.Index(fields=["-submitted_at", "-id"], name="loan_submitted_desc_idx"),
            models.Index(fields=["disbursement_date"]),
            # My portfolio: an officer's loans of one status, the latest first.
            models.Index(fields=["officer", "status", "-days_past_due"], name="loan_officer_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(principal__gt=0), name="loan_principal_positive"),
            models.CheckConstraint(condition=Q(outstanding__gte=0), name="loan_outstanding_gte_0"),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def total_due(self) -> Decimal:
        return self.total_repayable - self.total_waived

    @property
    def penalty_terms(self) -> str:
        """The loan's frozen late-penalty rule in words, as the loan page shows it."""
        if self.penalty_type == PenaltyType.FLAT and self.penalty_amount > 0:
            what = f"{settings.KARO_CURRENCY} {self.penalty_amount:,.2f}"
        elif self.penalty_type == PenaltyType.PERCENT and self.penalty_rate > 0:
            what = f"{self.penalty_rate.normalize():f} % of the unpaid principal + interest"
        else:
            return "none"
        grace = self.penalty_grace_days
        when = (
            f"after {grace} day{'s' if grace != 1 else ''} of grace"
            if grace
            else "from the day after the due date"
        )
        if self.penalty_repeat_days:
            times = self.penalty_max_times
            plural = "s" if times != 1 else ""
            again = f", again every {self.penalty_repeat_days} days, {times} time{plural} at most"
        else:
            again = ", once"
        return f"{what} {when}{again}"

    @property
    def charge_terms(self) -> list[ChargeTerm]:
        """The loan's frozen fees."""
        return terms_from_json(self.charges)

    @property
    def fee_terms(self) -> list[str]:
        """The loan's fees in words, as the loan page shows them."""
        return [term.describe(settings.KARO_CURRENCY) for term in self.charge_terms]

    @property
    def amount_paid_out(self) -> Decimal:
        return self.principal - self.fees_deducted


class InstallmentLabel(models.TextChoices):
    """An installment's state as staff read it on a given day (`Installment.label_on`); the
    value is also the badge's CSS class."""

    PAID = "paid", "Paid"
    PARTIAL = "partial", "Partially paid"
    OVERDUE = "overdue", "Overdue"
    DUE_TODAY = "due_today", "Due today"
    UPCOMING = "upcoming", "Upcoming"


class Installment(models.Model):
    """One row of a loan's repayment schedule, with what has been paid against each part.

    `status` (due / partial / paid) is stored; `overdue` is derived from the due date.
    """

    class Status(models.TextChoices):
        DUE = "due", "Due"
        PARTIAL = "partial", "Partially paid"
        PAID = "paid", "Paid"

    loan = models.ForeignKey(Loan, on_delete=models.CASCADE, related_name="schedule")
    number = models.PositiveSmallIntegerField()
    due_date = models.DateField()
    principal = money_field()
    interest = money_field()
    fees = money_field(default=ZERO)
    penalties = money_field(default=ZERO)
    interest_waived = money_field(default=ZERO)
    principal_paid = money_field(default=ZERO)
    interest_paid = money_field(default=ZERO)
    fees_paid = money_field(default=ZERO)
    penalties_paid = money_field(default=ZERO)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.DUE)
    paid_on = models.DateField(null=True, blank=True)
    # The day of its latest late penalty, and how many it has had (a penalty may repeat).
    penalty_applied_on = models.DateField(null=True, blank=True)
    penalties_charged = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["loan", "number"]
        constraints = [
            models.UniqueConstraint(fields=["loan", "number"], name="installment_unique_number"),
        ]
        indexes = [models.Index(fields=["due_date", "status"])]

    def __str__(self) -> str:
        return f"{self.loan_id} #{self.number}"

    @property
    def total(self) -> Decimal:
        return self.principal + self.interest + self.fees + self.penalties

    @property
    def paid(self) -> Decimal:
        return self.principal_paid + self.interest_paid + self.fees_paid + self.penalties_paid

    @property
    def remaining(self) -> Decimal:
        return self.total - self.interest_waived - self.paid

    def is_overdue(self, today: Any) -> bool:
        return self.status != self.Status.PAID and self.due_date < today

    def label_on(self, today: date) -> InstallmentLabel:
        """What staff call this installment on `today` (the institution's date): the stored
        status says only how much is paid, so an unpaid installment a year away would read
        "Due". Paid; else Overdue once its due date has passed (a part payment does not stop
        the rest being late); else Partially paid; else Due today or Upcoming. The API keeps
        the stored status."""
        if self.status == self.Status.PAID:
            return InstallmentLabel.PAID
        if self.due_date < today:
            return InstallmentLabel.OVERDUE
        if self.status == self.Status.PARTIAL:
            return InstallmentLabel.PARTIAL
        return InstallmentLabel.DUE_TODAY if self.due_date == today else InstallmentLabel.UPCOMING


class Repayment(models.Model):
    """Money received against a loan. Never edited or deleted: a mistake is reversed."""

    class Method(models.TextChoices):
        CASH = "cash", "Cash"
        BANK_TRANSFER = "bank_transfer", "Bank transfer"
        MOBILE_MONEY = "mobile_money", "Mobile money"
        CHEQUE = "cheque", "Cheque"

    loan = models.ForeignKey(Loan, on_delete=models.PROTECT, related_name="repayments")
    amount = money_field()
    paid_on = models.DateField()
    method = models.CharField(max_length=16, choices=Method.choices)
    reference = models.CharField(max_length=100, blank=True)
    is_settlement = models.BooleanField(default=False)
    # Money received on a written-off loan: booked to recoveries income, not to the loan.
    is_recovery = models.BooleanField(default=False)
    outstanding_after = money_field(default=ZERO)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="recorded_repayments"
    )
    recorded_at = models.DateTimeField(default=timezone.now)
    # One key per payment form (or API Idempotency-Key): a second submit finds this row.
    idempotency_key = models.CharField(max_length=100, unique=True, null=True, blank=True)
    request_fingerprint = models.CharField(max_length=64, blank=True)
    reversed_at = models.DateTimeField(null=True, blank=True)
    reversed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="reversed_repayments",
        null=True,
        blank=True,
    )
    reversal_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-recorded_at", "-id"]
        permissions = [("reverse_repayment", "Can reverse repayments")]
        indexes = [
            models.Index(fields=["paid_on"]),
            models.Index(fields=["loan", "paid_on"]),
            # A loan's history reads its latest payments and its latest reversals, not them all.
            models.Index(fields=["loan", "recorded_at"], name="repayment_loan_recorded"),
            models.Index(
                fields=["loan", "reversed_at"],
                condition=Q(reversed_at__isnull=False),
                name="repayment_loan_reversed",
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="repayment_amount_positive"),
        ]

    def __str__(self) -> str:
        money = f"{settings.KARO_CURRENCY} {self.amount:,}"
        loan = self.loan.number if self.loan_id else "no loan yet"
        return f"{money} paid {self.paid_on:%d %b %Y} on {loan}"

    @property
    def is_reversed(self) -> bool:
        return self.reversed_at is not None

    @property
    def allocations(self) -> models.QuerySet[Allocation]:
        """How this payment is spread over the installments now (after any replay)."""
        return Allocation.objects.filter(
            transaction__repayment=self,
            transaction__kind=Kind.REPAYMENT,
            superseded_at=None,
        ).order_by("installment__number")


class LoanTransaction(models.Model):
    """A money event on a loan (DESIGN.md, "Loan ledger"). Never edited or deleted, except
    its split: the split (and `outstanding_after`) is what the replay of the loan gives it,
    stored so pages read it without replaying, and rewritten when a reversal or a backdated
    posting changes it (`split_changed_at` says when; the audit entry of that action has the
    old and new split). A mistake is corrected by reversing it."""

    Kind = Kind

    loan = models.ForeignKey(Loan, on_delete=models.PROTECT, related_name="transactions")
    # The office the record belongs to (DESIGN.md "Offices"): the loan's when it was
    # booked; a transfer of the borrower leaves it (where the money moved stays history).
    office = models.ForeignKey(
        "accounts.Office",
        on_delete=models.PROTECT,
        default=HEAD_OFFICE_ID,
        db_default=HEAD_OFFICE_ID,
        related_name="+",
    )
    kind = models.CharField(max_length=16, choices=_choices(Kind))
    value_date = models.DateField()
    booked_at = models.DateTimeField(default=timezone.now)
    booked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    amount = money_field()
    principal = money_field(default=ZERO)
    interest = money_field(default=ZERO)
    fees = money_field(default=ZERO)
    penalties = money_field(default=ZERO)
    overpaid = money_field(default=ZERO)
    outstanding_after = money_field(default=ZERO)
    # Booked by the daily close for the end of its day (penalties, accruals): it counts after
    # every payment of that day.
    end_of_day = models.BooleanField(default=False)
    method = models.CharField(max_length=16, blank=True)  # money in or out: how it moved
    # The payment document (receipt) a repayment, and a settlement's waiver, come from.
    repayment = models.ForeignKey(
        "Repayment", on_delete=models.PROTECT, null=True, blank=True, related_name="transactions"
    )
    split_changed_at = models.DateTimeField(null=True, blank=True)
    split_change_reason = models.CharField(max_length=300, blank=True)
    reversed_at = models.DateTimeField(null=True, blank=True)
    reversed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reversal_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["value_date", "end_of_day", "id"]
        indexes = [models.Index(fields=["loan", "value_date"])]
        constraints = [
            # An accrual may be negative: it takes back interest recognised that will not be
            # earned (waived when a loan is settled early).
            models.CheckConstraint(
                condition=Q(amount__gt=0) | (Q(kind="accrual") & ~Q(amount=0)),
                name="loan_txn_amount_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount} on {self.value_date:%d %b %Y}"

    @property
    def is_reversed(self) -> bool:
        return self.reversed_at is not None

    @property
    def is_penalty(self) -> bool:
        """A late penalty the daily close charged: the replay decides it again."""
        return self.kind == Kind.CHARGE and self.end_of_day and self.penalties > 0

    @property
    def split(self) -> Parts:
        return parts_of(self)


class Allocation(models.Model):
    """What one transaction did to one installment, by component: paid (repayment), charged
    (charge), waived (waiver) or written off (write-off).

    Never deleted: when a replay re-splits a transaction its rows are marked superseded and
    the new split is added, so the rows `as_booked` are still what its receipt printed."""

    transaction = models.ForeignKey(
        LoanTransaction, on_delete=models.PROTECT, related_name="allocations"
    )
    installment = models.ForeignKey(
        Installment, on_delete=models.PROTECT, related_name="allocations"
    )
    principal = money_field(default=ZERO)
    interest = money_field(default=ZERO)
    fees = money_field(default=ZERO)
    penalties = money_field(default=ZERO)
    as_booked = models.BooleanField(default=True)
    superseded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["transaction", "installment__number"]

    def __str__(self) -> str:
        return f"{self.total} of {self.transaction_id} on installment {self.installment_id}"

    @property
    def total(self) -> Decimal:
        return self.principal + self.interest + self.fees + self.penalties


class ProductAccount(models.Model):
    """Which ledger account a product books each kind of money to. Rows without a product are
    the institution's defaults (seeded from the chart); a product's own row overrides one."""

    class Role(models.TextChoices):
        FUND_CASH = "fund_cash", "Fund source: cash"
        FUND_BANK_TRANSFER = "fund_bank_transfer", "Fund source: bank transfer"
        FUND_MOBILE_MONEY = "fund_mobile_money", "Fund source: mobile money"
        FUND_CHEQUE = "fund_cheque", "Fund source: cheque"
        LOAN_PORTFOLIO = "loan_portfolio", "Loan portfolio"
        INTEREST_RECEIVABLE = "interest_receivable", "Interest receivable"
        FEE_RECEIVABLE = "fee_receivable", "Fee receivable"
        PENALTY_RECEIVABLE = "penalty_receivable", "Penalty receivable"
        OVERPAYMENT = "overpayment", "Overpayments (liability)"
        INTEREST_INCOME = "interest_income", "Interest income"
        FEE_INCOME = "fee_income", "Fee income"
        PENALTY_INCOME = "penalty_income", "Penalty income"
        RECOVERIES_INCOME = "recoveries_income", "Recoveries income"
        LOSSES_WRITTEN_OFF = "losses_written_off", "Losses written off"

    product = models.ForeignKey(
        LoanProduct, on_delete=models.CASCADE, null=True, blank=True, related_name="accounts"
    )
    role = models.CharField(max_length=24, choices=Role.choices)
    account = models.ForeignKey("ledger.Account", on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["product", "role"]
        constraints = [
            models.UniqueConstraint(fields=["product", "role"], name="product_account_role"),
            models.UniqueConstraint(
                fields=["role"], condition=Q(product=None), name="default_account_role"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.product or 'Default'}: {self.get_role_display()}"

    def clean(self) -> None:
        from ledger.services import check_accounts_take_entries

        if self.account_id:
            check_accounts_take_entries([self.account_id], field="account")


class DayClose(models.Model):
    """A day the daily close has finished; the latest is how far late penalties have been
    charged (a replay charges none for a later day)."""

    on = models.DateField(unique=True)
    finished_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-on"]

    def __str__(self) -> str:
        return f"Day closed {self.on:%d %b %Y}"


class Receipt(models.Model):
    """The printed proof of a repayment; numbered gaplessly per year, void once reversed."""

    repayment = models.OneToOneField(Repayment, on_delete=models.PROTECT, related_name="receipt")
    number = models.CharField(max_length=20, unique=True)
    issued_at = models.DateTimeField(default=timezone.now)
    voided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-issued_at", "-id"]

    def __str__(self) -> str:
        return self.number

    @property
    def is_void(self) -> bool:
        return self.voided_at is not None


class AuditLogQuerySet(models.QuerySet["AuditLog"]):
    def update(self, **kwargs: Any) -> int:
        raise PermissionError("Audit log rows are append-only.")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise PermissionError("Audit log rows are append-only.")


class AuditLog(models.Model):
    """Append-only record of who did what, chained by HMAC-SHA256 so a changed row is detectable.

    Rows are written only by `lending.audit.audit_record`, inside the transaction of the change
    they describe. The ORM refuses update and delete; on PostgreSQL triggers refuse UPDATE,
    DELETE and TRUNCATE too. Each row's hash is an HMAC of `canonical()` under KARO_AUDIT_KEY
    (rows older than the chain-start checkpoint: plain SHA-256), so without the key nobody, not
    even the database's owner, can recompute the chain; `AuditCheckpoint` pins its length.
    """

    class Action(models.TextChoices):
        LOGIN = "login", "Login"
        LOGIN_FAILED = "login_failed", "Login failed"
        LOGOUT = "logout", "Logout"
        USER_CREATED = "user_created", "User created"
        USER_CHANGED = "user_changed", "User changed"
        ROLES_CHANGED = "roles_changed", "Roles changed"
        BORROWER_CREATED = "borrower_created", "Borrower created"
        BORROWER_UPDATED = "borrower_updated", "Borrower updated"
        LOAN_SUBMITTED = "loan_submitted", "Loan submitted"
        LOAN_APPROVED = "loan_approved", "Loan approved"
        LOAN_REJECTED = "loan_rejected", "Loan rejected"
        LOAN_DISBURSED = "loan_disbursed", "Loan disbursed"
        LOAN_APPROVAL_UNDONE = "loan_approval_undone", "Loan approval undone"
        LOAN_DISBURSEMENT_UNDONE = "loan_disbursement_undone", "Loan disbursement undone"
        LOAN_WITHDRAWN = "loan_withdrawn", "Loan withdrawn"
        LOAN_WRITTEN_OFF = "loan_written_off", "Loan written off"
        LOAN_CLOSED = "loan_closed", "Loan closed"
        LOAN_REOPENED = "loan_reopened", "Loan re-opened"
        REPAYMENT_RECORDED = "repayment_recorded", "Repayment recorded"
        REPAYMENT_REVERSED = "repayment_reversed", "Repayment reversed"
        LOAN_SETTLED = "loan_settled", "Loan settled early"
        PRODUCT_CREATED = "product_created", "Product created"
        PRODUCT_CHANGED = "product_changed", "Product changed"
        SETTINGS_CHANGED = "settings_changed", "Settings changed"
        RECEIPT_PRINTED = "receipt_printed", "Receipt printed"
        DOCUMENT_PRINTED = "document_printed", "Document printed"
        REPORT_EXPORTED = "report_exported", "Report exported"
        DAY_CLOSED = "day_closed", "Day closed"
        PENALTIES_APPLIED = "penalties_applied", "Late penalties applied"
        BACKDATED_POSTING = "backdated_posting", "Backdated posting replayed"
        BOOKS_CLOSED = "books_closed", "Books closed"
        JOURNAL_ENTRY = "journal_entry", "Manual journal entry"
        COLLECTION_SHEET_POSTED = "collection_sheet_posted", "Collection sheet posted"
        PAYMENTS_IMPORTED = "payments_imported", "Payment file imported"
        REMINDERS_SENT = "reminders_sent", "Payment reminders sent"
        DOCUMENT_UPLOADED = "document_uploaded", "Document uploaded"
        DOCUMENT_DOWNLOADED = "document_downloaded", "Document downloaded"
        DOCUMENT_DELETED = "document_deleted", "Document deleted"
        GUARANTOR_ADDED = "guarantor_added", "Guarantor added"
        GUARANTOR_REMOVED = "guarantor_removed", "Guarantor removed"
        COLLATERAL_ADDED = "collateral_added", "Collateral added"
        COLLATERAL_REMOVED = "collateral_removed", "Collateral removed"
        OFFICERS_REASSIGNED = "officers_reassigned", "Loan officers reassigned"
        BORROWER_TRANSFERRED = "borrower_transferred", "Borrower moved to another office"
        OFFICE_SAVED = "office_saved", "Office saved"
        USER_OFFICE_CHANGED = "user_office_changed", "User's office changed"
        CALENDAR_CHANGED = "calendar_changed", "Working days changed"
        LOANS_RESCHEDULED = "loans_rescheduled", "Loans rescheduled"
        CHARGES_WAIVED = "charges_waived", "Charges or interest waived"
        RECOVERY_RECORDED = "recovery_recorded", "Recovery recorded"

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_constraint=False,
    )
    username = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=32, choices=Action.choices, db_index=True)
    object_type = models.CharField(max_length=50, blank=True)
    object_id = models.CharField(max_length=50, blank=True)
    object_repr = models.CharField(max_length=200, blank=True)
    details = models.JSONField(default=dict, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    prev_hash = models.CharField(max_length=64, editable=False)
    hash = models.CharField(max_length=64, editable=False, unique=True)

    objects = AuditLogQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["object_type", "object_id"])]

    def __str__(self) -> str:
        who = self.username or "system"
        return f"{self.created_at:%d %b %Y %H:%M} · {self.get_action_display()} · {who}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise PermissionError("Audit log rows are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise PermissionError("Audit log rows are append-only.")

    def canonical(self) -> str:
        """The exact text the hash covers; any change to a stored field changes it."""
        payload = {
            "prev": self.prev_hash,
            "at": self.created_at.isoformat(),
            "user": self.user_id,
            "username": self.username,
            "action": self.action,
            "object": [self.object_type, self.object_id, self.object_repr],
            "details": self.details,
            "ip": self.ip_address,
        }
        return json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)


class AuditCheckpointQuerySet(models.QuerySet["AuditCheckpoint"]):
    def update(self, **kwargs: Any) -> int:
        raise PermissionError("Audit checkpoints are append-only.")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise PermissionError("Audit checkpoints are append-only.")


class AuditCheckpoint(models.Model):
    """A signed statement "the audit log held `row_count` rows, ending with row `head_id` whose
    hash is `head_hash`", written by every daily close and on demand.

    The signature is an HMAC under KARO_AUDIT_KEY over every field and the previous checkpoint's
    signature, so checkpoints form their own chain: `verify_audit_log` detects rows deleted
    from before the latest checkpoint (the newest ones included) and a deleted checkpoint.
    The first checkpoint (kind `chain_start`, written by migration 0009) marks where the keyed
    chain begins: rows up to its head were written with plain SHA-256 before the key existed.
    Written only by `lending.audit.audit_checkpoint`; append-only like the log.
    """

    class Kind(models.TextChoices):
        CHAIN_START = "chain_start", "Keyed chain starts"
        DAY_CLOSE = "day_close", "Daily close"
        MANUAL = "manual", "On demand"

    sequence = models.PositiveIntegerField(unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    username = models.CharField(max_length=150, blank=True)
    note = models.CharField(max_length=200, blank=True)
    row_count = models.PositiveBigIntegerField()
    head_id = models.PositiveBigIntegerField()
    head_hash = models.CharField(max_length=64)
    prev_signature = models.CharField(max_length=64)
    signature = models.CharField(max_length=64, unique=True)

    objects = AuditCheckpointQuerySet.as_manager()

    class Meta:
        ordering = ["-sequence"]

    def __str__(self) -> str:
        return (
            f"Checkpoint {self.sequence} · {self.row_count} rows · {self.created_at:%d %b %Y %H:%M}"
        )

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise PermissionError("Audit checkpoints are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise PermissionError("Audit checkpoints are append-only.")

    def canonical(self) -> str:
        """The exact text the signature covers."""
        payload = {
            "sequence": self.sequence,
            "at": self.created_at.isoformat(),
            "kind": self.kind,
            "username": self.username,
            "note": self.note,
            "rows": self.row_count,
            "head_id": self.head_id,
            "head_hash": self.head_hash,
            "prev": self.prev_signature,
        }
        return json.dumps(payload, sort_keys=True, separators=(",", ":"))


# Working days and holidays live in their own module; imported here so Django finds them.
from lending.models_calendar import Holiday as Holiday  # noqa: E402
from lending.models_calendar import NonWorkingWeekday as NonWorkingWeekday  # noqa: E402
