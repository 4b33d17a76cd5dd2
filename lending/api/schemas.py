"""Request and response shapes of the JSON API (field names fixed by DESIGN.md "Web API").

Amounts travel as decimal strings ("12.50") both ways, so no client ever has to trust a binary
float. The API's JSON parser (`lending.api.errors.ExactJSONParser`) reads JSON numbers as exact
decimals, so `12.50` is accepted too, while `1e400`, `NaN` or three decimals are refused with
the field named; both kinds of number are read by the forms' own parser
(`karo.inputs.parse_decimal`). Text follows the forms' rule too (`karo.inputs`): no control
characters (NUL, which PostgreSQL cannot store, among them), no tabs or line breaks but in
the address and reasons; lengths are the page forms' (`lending.limits`). Dates have the forms'
bounds: a birth from 1900, a value date (disbursement, first due, payment, books closing) from
2000 to five years ahead, any other date from 1900.
"""

from __future__ import annotations

import datetime as dt
import re
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from ninja import Field, Schema
from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    Strict,
    WithJsonSchema,
)

from karo.inputs import date_problem, parse_decimal, text_problem
from lending.limits import (
    ADDRESS_MAX_LENGTH,
    REASON_MAX_LENGTH,
    SEARCH_MAX_LENGTH,
)

# Database ids are bigints; anything larger can never match and must not reach the database.
MAX_ID = 2**63 - 1
# In the address or the query string every value is text: "12" is the id 12 there.
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
# In a JSON body a number must be a JSON number: `true` is not 1 and "12" is not 12.
Int = Annotated[int, Strict()]
BodyId = Annotated[Int, Field(ge=1, le=MAX_ID)]

MONEY_PATTERN = r"^[0-9]{1,12}(\.[0-9]{1,2})?$"
RATE_PATTERN = r"^[0-9]{1,3}(\.[0-9]{1,4})?$"
_MONEY_RE = re.compile(MONEY_PATTERN)
_RATE_RE = re.compile(RATE_PATTERN)


def _decimal_parser(regex: re.Pattern[str], places: int, integer_digits: int, example: str) -> Any:
    def parse(value: Any) -> Decimal:
        if isinstance(value, bool | float):
            raise ValueError(f'Send the number as a decimal string, such as "{example}".')
        if isinstance(value, int):
            value = Decimal(value)
        if isinstance(value, Decimal):
            if not value.is_finite():
                raise ValueError("The number is not finite or far too large.")
            value = format(value, "f") if value == value.to_integral_value() else str(value)
        if not isinstance(value, str):
            raise ValueError(f'Send the number as a decimal string, such as "{example}".')
        text = value.strip()
        try:
            number = parse_decimal(text)
        except ValueError:
            number = None
        if number is None or not regex.match(text):
            raise ValueError(
                f"Enter a number zero or above with at most {integer_digits} digits before "
                f'the point and {places} after it, such as "{example}".'
            )
        return number

    return parse


def _fixed(places: int) -> Any:
    def serialise(value: Decimal) -> str:
        return f"{value:.{places}f}"

    return serialise


MoneyIn = Annotated[
    Decimal,
    BeforeValidator(_decimal_parser(_MONEY_RE, 2, 12, "12.50")),
    WithJsonSchema({"type": "string", "pattern": MONEY_PATTERN, "examples": ["1250.00"]}),
]
RateIn = Annotated[
    Decimal,
    BeforeValidator(_decimal_parser(_RATE_RE, 4, 3, "12.5")),
    WithJsonSchema({"type": "string", "pattern": RATE_PATTERN, "examples": ["12"]}),
]
Money = Annotated[
    Decimal,
    PlainSerializer(_fixed(2), return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^-?[0-9]+\.[0-9]{2}$", "examples": ["1250.00"]}),
]
Rate = Annotated[
    Decimal,
    PlainSerializer(_fixed(4), return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^[0-9]+\.[0-9]{4}$", "examples": ["12.0000"]}),
]


def _one_line(value: str) -> str:
    problem = text_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _lines(value: str) -> str:
    problem = text_problem(value, multiline=True)
    if problem:
        raise ValueError(problem)
    return value


def _any_date(value: date) -> date:
    problem = date_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _value_date(value: date) -> date:
    problem = date_problem(value, value_date=True)
    if problem:
        raise ValueError(problem)
    return value


# One line of text; `LongText` may have tabs and line breaks (an address, a reason).
Text = Annotated[str, AfterValidator(_one_line)]
LongText = Annotated[str, AfterValidator(_lines)]
# Any date a client sends is at least 1900-01-01; a value date is the stricter range.
AnyDate = Annotated[date, AfterValidator(_any_date)]
ValueDate = Annotated[date, AfterValidator(_value_date)]

Frequency = Literal["monthly", "biweekly", "weekly"]
InterestMethod = Literal["declining", "flat"]
Amortization = Literal["equal_installments", "equal_principal"]
InstallmentRounding = Literal["nearest", "up"]
InterestPeriod = Literal["per_period", "daily"]
PrepaymentOrderName = Literal["principal_first", "in_order"]
DaysInYear = Literal[360, 365]
LoanStatusName = Literal[
    "pending", "approved", "active", "rejected", "withdrawn", "closed", "written_off"
]
Method = Literal["cash", "bank_transfer", "mobile_money", "cheque"]


# --- inputs -------------------------------------------------------------------------------


class StrictIn(Schema):
    """The base of every JSON body (and of the query strings that list their names): an
    unknown or misspelt field is a 422 naming it, never silently ignored, so `"frequncy":
    "weekly"` cannot create a monthly loan. Its integer fields are `Int`/`BodyId`, which take
    only JSON integers. `tests/api/test_strict.py` checks every operation's body uses it."""

    model_config = ConfigDict(extra="forbid")


# --- errors ---------------------------------------------------------------------------------


class Error(Schema):
    detail: str


class FieldError(Schema):
    field: str | None = Field(description="The input to blame; null when the whole request is.")
    message: str


class ValidationErrors(Schema):
    detail: list[FieldError]


def errors(*codes: int) -> dict[int, type[Schema]]:
    """The documented error answers of an operation: 400 a body that is not JSON, 401 no or
    bad token, 403 role, 404 unknown id, 409 state conflict, 422 invalid input (with fields),
    429 locked out."""
    return {code: ValidationErrors if code == 422 else Error for code in codes}


# --- paging ---------------------------------------------------------------------------------


class PageParams(Schema):
    page: int = Field(1, ge=1, le=100_000)
    page_size: int = Field(25, ge=1, le=100)


class Page(Schema):
    count: int = Field(description="How many items the whole list has.")
    page: int
    page_size: int
    next: str | None = Field(description="The address of the next page; null on the last.")
    previous: str | None = Field(description="The address of the previous page; null on the first.")


# --- auth -----------------------------------------------------------------------------------


class TokenIn(StrictIn):
    username: Annotated[Text, Field(min_length=1, max_length=150)]
    password: Annotated[LongText, Field(min_length=1, max_length=1024)]


class RefreshIn(StrictIn):
    refresh: Annotated[LongText, Field(min_length=1, max_length=4096)]


class TokenOut(Schema):
    access: str
    refresh: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105  (the OAuth 2 name, not a secret)
    expires_in: int = Field(description="Seconds the access token stays valid.")


# --- borrowers ------------------------------------------------------------------------------


class BorrowerIn(StrictIn):
    full_name: Annotated[Text, Field(min_length=1, max_length=200)]
    national_id: Annotated[Text, Field(min_length=1, max_length=40)]
    date_of_birth: AnyDate  # and from 1900 and an adult's: the service's `check_adult`
    phone: Annotated[Text, Field(min_length=1, max_length=30)]
    email: Annotated[Text, Field(max_length=254)] = ""
    address: Annotated[LongText, Field(max_length=ADDRESS_MAX_LENGTH)] = ""
    employer: Annotated[Text, Field(max_length=200)] = ""
    monthly_income: MoneyIn = Decimal("0.00")
    reminders_opt_out: bool = Field(
        False, description="The borrower asked for no SMS or e-mail payment reminders."
    )
    office_id: BodyId | None = Field(
        None, description="One of your offices (default: your own office)."
    )


class BorrowerPatch(StrictIn):
    """The fields to change; those left out keep their value. A field sent as null is a 422
    naming it (nothing here can be emptied by null: send "" for the optional texts)."""

    # Each type takes no null, and a left-out field is never validated: its default None
    # means "keep" (`model_dump(exclude_unset=True)` leaves it out).
    full_name: Annotated[Text, Field(min_length=1, max_length=200)] = None  # type: ignore[assignment]
    national_id: Annotated[Text, Field(min_length=1, max_length=40)] = None  # type: ignore[assignment]
    date_of_birth: AnyDate = None  # type: ignore[assignment]
    phone: Annotated[Text, Field(min_length=1, max_length=30)] = None  # type: ignore[assignment]
    email: Annotated[Text, Field(max_length=254)] = None  # type: ignore[assignment]
    address: Annotated[LongText, Field(max_length=ADDRESS_MAX_LENGTH)] = None  # type: ignore[assignment]
    employer: Annotated[Text, Field(max_length=200)] = None  # type: ignore[assignment]
    monthly_income: MoneyIn = None  # type: ignore[assignment]
    reminders_opt_out: Annotated[
        bool, Field(description="True: no SMS or e-mail payment reminders from now on.")
    ] = None  # type: ignore[assignment]


class BorrowerOut(Schema):
    id: int
    number: str
    full_name: str
    national_id: str
    date_of_birth: date
    phone: str
    email: str
    address: str
    employer: str
    monthly_income: Money
    reminders_opt_out: bool
    officer_id: int | None = Field(description="Id of the loan officer who looks after them.")
    office_id: int = Field(description="The office the borrower and their loans belong to.")
    created_at: datetime


class TransferIn(StrictIn):
    office_id: BodyId = Field(description="One of your offices, other than the borrower's.")
    reason: Annotated[LongText, Field(min_length=1, max_length=REASON_MAX_LENGTH)]


class BorrowerFilters(PageParams):
    q: Annotated[Text, Field(max_length=SEARCH_MAX_LENGTH)] = Field(
        "", description="Part of the name, borrower number, national ID or phone."
    )
    sort: Literal["name", "-name", "number", "-number", "created", "-created"] = "name"


class BorrowerPage(Page):
    items: list[BorrowerOut]


# --- loan terms and loans -------------------------------------------------------------------


class TermsIn(StrictIn):
    """Loan terms. Omitted options come from the product when one is given, else from the
    defaults of DESIGN.md (monthly, declining, equal installments, 0.01, nearest, per period,
    365 days)."""

    product_id: BodyId | None = None
    principal: MoneyIn
    annual_interest_rate: RateIn | None = Field(
        None, description="Percent a year; defaults to the product's rate."
    )
    installments: Int = Field(ge=1, le=480)
    frequency: Frequency | None = None
    interest_method: InterestMethod | None = None
    amortization: Amortization | None = None
    grace_periods: Int | None = Field(None, ge=0, le=479)
    first_due_date: ValueDate | None = None
    installment_multiple: MoneyIn | None = None
    installment_rounding: InstallmentRounding | None = None
    interest_period: InterestPeriod | None = None
    days_in_year: DaysInYear | None = None


class LoanIn(TermsIn):
    borrower_id: BodyId
    purpose: Annotated[Text, Field(max_length=200)] = ""


class SeedLoanIn(LoanIn):
    """`POST /create-loans`: the body of `POST /loans`, where the seed application's names
    may stand for three of its fields: `loan_amount` for `principal`, `interest_rate` for
    `annual_interest_rate` and `repayment_period` (months, so a monthly loan) for
    `installments`. Give one name of each pair, not both. With neither rate, the rate is the
    product's when `product_id` is given, else 2 (the seed's default)."""

    principal: MoneyIn | None = None  # type: ignore[assignment]
    installments: Int | None = Field(None, ge=1, le=480)  # type: ignore[assignment]
    loan_amount: MoneyIn | None = Field(None, description="The seed's name for `principal`.")
    interest_rate: RateIn | None = Field(
        None, description="The seed's name for `annual_interest_rate` (percent a year)."
    )
    repayment_period: Int | None = Field(
        None, ge=1, le=480, description="The seed's name for `installments`: months."
    )


class PreviewIn(TermsIn):
    disbursement_date: ValueDate | None = Field(None, description="Defaults to today.")


class ChargeTermOut(Schema):
    """A fee as the loan keeps it (its product's, frozen at approval)."""

    name: str
    time: Literal["disbursement", "installment", "specified_date"] = Field(
        description="When it is charged: at disbursement, on every installment, on a date."
    )
    calculation: Literal["flat", "percent"]
    amount: str = Field(
        description="Money when flat; when percent, of the principal (disbursement, specified "
        "date) or of the installment's principal + interest (installment)."
    )
    deducted: bool = Field(description="Taken from the money handed over at disbursement.")
    on_date: date | None = Field(description="A specified-date fee's date.")


class LoanOut(Schema):
    id: int
    number: str
    borrower_id: int
    borrower_name: str
    product_id: int | None
    status: LoanStatusName
    principal: Money
    annual_interest_rate: Rate
    installments: int
    frequency: Frequency
    interest_method: InterestMethod
    amortization: Amortization
    grace_periods: int
    first_due_date: date | None = Field(
        description="As given in the terms; once approved, the first installment's due date."
    )
    installment_multiple: Money
    installment_rounding: InstallmentRounding
    interest_period: InterestPeriod
    days_in_year: int
    purpose: str
    disbursement_date: date | None
    approved_amount: Money | None = Field(
        description="The most that may be disbursed, set at approval (null before)."
    )
    approved_on: date | None = Field(description="The day the loan was approved.")
    expected_disbursement_date: date | None = Field(
        description="When the product disburses separately: the day the approver expects "
        "the money to be handed over."
    )
    disbursement_reference: str
    total_repayable: Money
    total_paid: Money
    total_waived: Money
    outstanding: Money
    days_past_due: int
    prepayment_order: PrepaymentOrderName = Field(
        description="How money paid ahead (on installments not yet due) is split: "
        "`principal_first` pays their principal before any of their interest, `in_order` "
        "interest first as for a due installment. Copied from the product at approval (a "
        "pending application shows its product's); loans without a product are `in_order`."
    )
    projected: bool = Field(
        description="True for a pending application: `total_repayable` and `outstanding` "
        "are what its terms would give if it were disbursed today (nothing is owed yet)."
    )
    submitted_by: str = Field(description="Username of the officer who submitted it.")
    officer_id: int | None = Field(
        description="Id of the loan officer whose portfolio it is in (who submitted it, "
        "unless an Admin reassigned its borrower)."
    )
    submitted_at: datetime
    decided_at: datetime | None
    status_reason: str
    charge_terms: list[ChargeTermOut] = Field(
        description="The fees the loan was approved with (empty until it is approved)."
    )
    fees_deducted: Money = Field(
        description="Fees deducted from the money handed over: the borrower received "
        "principal - fees_deducted."
    )


class BalanceOut(Schema):
    """What a loan (or the active portfolio) owes as of today, by component."""

    principal: Money = Field(description="Principal lent less principal repaid.")
    interest: Money = Field(description="Interest of installments due up to today, unpaid.")
    fees: Money = Field(description="Fees of installments due up to today, unpaid.")
    penalties: Money = Field(description="Penalties charged and unpaid.")
    total: Money = Field(description="principal + interest + fees + penalties.")
    not_yet_due: Money = Field(
        description="Interest and fees of later installments: not owed yet, not in the total."
    )


class LoanDetailOut(LoanOut):
    balance: BalanceOut | None = Field(
        description="Owed today by component (active loans; null otherwise)."
    )


class LoanFilters(PageParams):
    q: Annotated[Text, Field(max_length=SEARCH_MAX_LENGTH)] = Field(
        "", description="Part of the loan number, or of the borrower's name or number."
    )
    status: LoanStatusName | None = None
    borrower_id: Id | None = None
    product_id: Id | None = None
    officer: Annotated[Text, Field(max_length=150)] | None = Field(
        None, description="Username of the loan officer the loan is assigned to."
    )


class LoanPage(Page):
    items: list[LoanOut]


class ReassignIn(StrictIn):
    officer_id: BodyId = Field(description="The loan officer to give the borrowers to.")
    borrower_ids: list[BodyId] = Field(
        description="The borrowers to move; their open loans (pending, active, written off) "
        "move with them.",
        min_length=1,
        max_length=5000,
    )


class ReassignOut(Schema):
    officer_id: int
    borrowers: int = Field(description="Borrowers moved (those already with the officer stay).")
    loans: int = Field(description="Open loans moved with them.")


class ApproveIn(StrictIn):
    """Every field is optional: send `{}` (or no body at all) to approve as applied for (and,
    when the product disburses on approval, to disburse today)."""

    disbursement_date: ValueDate | None = Field(
        None, description="Product disbursing on approval: defaults to today."
    )
    approved_amount: MoneyIn | None = Field(
        None,
        description="Product disbursing separately: at most the principal applied for "
        "(the default).",
    )
    expected_disbursement_date: ValueDate | None = Field(
        None,
        description="Product disbursing separately: from today (the default) to a year ahead.",
    )


class DisburseIn(StrictIn):
    """Hand an approved loan's money over."""

    method: Method = Field(description="How the money was handed over.")
    amount: MoneyIn | None = Field(None, description="At most the approved amount (the default).")
    disbursement_date: ValueDate | None = Field(
        None, description="On or after the approval date, not in the future; defaults to today."
    )
    reference: Annotated[Text, Field(max_length=100)] = ""


class RejectIn(StrictIn):
    reason: Annotated[LongText, Field(max_length=REASON_MAX_LENGTH)]


class ReasonIn(StrictIn):
    """Why: kept with the loan and in the audit log."""

    reason: Annotated[LongText, Field(max_length=REASON_MAX_LENGTH)]


# --- schedule -------------------------------------------------------------------------------


class InstallmentOut(Schema):
    number: int
    due_date: date
    principal: Money
    interest: Money
    fees: Money
    penalties: Money
    total: Money
    waived: Money
    paid: Money
    status: Literal["due", "partial", "paid", "overdue"]


class ScheduleTotals(Schema):
    principal: Money
    interest: Money
    fees: Money
    penalties: Money
    total: Money


class ScheduleOut(Schema):
    installments: list[InstallmentOut]
    totals: ScheduleTotals
    fees_deducted: Money = Field(
        description="Fees deducted from the money handed over at disbursement (not in the "
        "installments): the borrower receives the principal less this."
    )
    projected: bool = Field(
        False,
        description="True for an application not yet approved: the schedule it would have if "
        "disbursed today (nothing is stored until approval).",
    )


# --- repayments -----------------------------------------------------------------------------


class RepaymentIn(StrictIn):
    amount: MoneyIn
    paid_on: ValueDate | None = Field(None, description="Defaults to today.")
    method: Method = "cash"
    reference: Annotated[Text, Field(max_length=100)] = ""


class SettleIn(StrictIn):
    on: ValueDate | None = Field(None, description="The settlement date; defaults to today.")
    method: Method = "cash"
    reference: Annotated[Text, Field(max_length=100)] = ""
    expected_amount: MoneyIn | None = Field(
        None,
        description="The payoff amount the client quoted (`GET /api/loans/{id}/payoff`): if "
        "the loan's payoff differs now (a payment or a penalty came in), nothing is recorded "
        "(422 on this field).",
    )


class AllocationOut(Schema):
    installment: int = Field(description="Installment number.")
    principal: Money
    interest: Money
    fees: Money
    penalties: Money
    total: Money


class RepaymentOut(Schema):
    id: int
    loan_id: int
    amount: Money
    paid_on: date
    method: Method
    reference: str
    receipt_number: str | None
    allocations: list[AllocationOut]
    outstanding: Money = Field(description="The loan's outstanding right after this payment.")
    recorded_by: str
    recorded_at: datetime
    reversed: bool


class RepaymentPage(Page):
    items: list[RepaymentOut]


# --- status and reports ---------------------------------------------------------------------


class PayoffFilters(Schema):
    on: ValueDate | None = Field(
        None, description="The settlement date (defaults to today; a future date may be quoted)."
    )


class PayoffOut(Schema):
    """What settling an active loan on `on` costs (DESIGN.md "Repayments", early settlement):
    `amount == past_due + principal_not_due + accrued_interest + penalties_and_fees -
    interest_credited`."""

    loan_id: int
    on: date
    amount: Money = Field(description="The payoff amount: what settling on `on` takes.")
    past_due: Money = Field(description="Principal and interest due on or before `on`, unpaid.")
    principal_not_due: Money = Field(description="Principal of the installments due later.")
    accrued_interest: Money = Field(
        description="Interest of the current period, day by day up to `on`, not yet paid."
    )
    penalties_and_fees: Money = Field(
        description="Unpaid penalties and fees, less the installment fees settling forgives."
    )
    interest_credited: Money = Field(
        description="Interest already paid on installments due after `on`, beyond what was "
        "earned by then: credited (it pays the rest), never kept."
    )
    interest_waived: Money = Field(
        description="Scheduled interest settling forgives (including the part credited)."
    )
    fees_waived: Money = Field(
        description="Unpaid installment fees of the installments due after `on`: forgiven, as "
        "their interest."
    )
    outstanding: Money = Field(description="What the schedule asks in all, as of today.")


class StatusOut(Schema):
    status: Literal["ahead", "on_track", "behind"] | None = Field(
        description="Against plan; null for a loan that is not active (the figures still are)."
    )
    as_of: date
    expected_paid: Money = Field(description="What the installments due up to today ask for.")
    paid: Money
    outstanding: Money
    overdue_amount: Money
    next_due_date: date | None
    next_due_amount: Money = Field(description="Still unpaid of the next installment due.")
    days_past_due: int
    balance: BalanceOut = Field(description="Owed today by component.")


class DailyAmount(Schema):
    date: dt.date
    amount: Money


class ProductParOut(Schema):
    product_id: int | None = Field(description="null: loans on custom terms (no product).")
    product: str
    active_loans: int
    principal_outstanding: Money
    outstanding: Money
    par30: Money
    par30_percent: Annotated[
        Decimal,
        PlainSerializer(_fixed(2), return_type=str),
        WithJsonSchema({"type": "string", "pattern": r"^[0-9]+\.[0-9]{2}$", "examples": ["4.25"]}),
    ]


class SummaryOut(Schema):
    as_of: date
    currency: str
    total_borrowers: int
    total_loans: int
    active_principal: Money
    outstanding: Money = Field(
        description="Owed today on active loans: principal outstanding + interest, fees and "
        "penalties due (interest not yet due excluded); split in outstanding_by_component."
    )
    collected_this_month: Money
    par30: Money = Field(
        description="Principal outstanding of active loans more than 30 days past due."
    )
    par30_percent: Annotated[
        Decimal,
        PlainSerializer(_fixed(2), return_type=str),
        WithJsonSchema({"type": "string", "pattern": r"^[0-9]+\.[0-9]{2}$", "examples": ["4.25"]}),
    ] = Field(description="PAR30 as a percent of the principal outstanding of active loans.")
    outstanding_by_component: BalanceOut
    par_by_product: list[ProductParOut]
    loans_by_status: dict[str, int]
    repayments_last_7_days: list[DailyAmount]


# --- loan transactions and reversals ---------------------------------------------------------


class TransactionOut(Schema):
    id: int
    type: str = Field(
        description="disbursement, repayment, recovery, charge, waiver, write_off, accrual or "
        "interest_credit (an early settlement gives back interest paid ahead: negative "
        "interest, the same amount of principal).",
    )
    value_date: date
    booked_at: datetime
    amount: Money
    principal: Money
    interest: Money
    fees: Money
    penalties: Money
    overpaid: Money
    outstanding_after: Money
    reversed: bool


class ReverseIn(StrictIn):
    reason: Annotated[LongText, Field(max_length=REASON_MAX_LENGTH)]


class SplitOut(Schema):
    principal: Money
    interest: Money
    fees: Money
    penalties: Money
    overpaid: Money
    outstanding_after: Money


class ChangeOut(Schema):
    """A later transaction whose split the reversal changes (re-split by the replay)."""

    transaction_id: int
    kind: str
    value_date: date
    before: SplitOut
    after: SplitOut


class LoanFiguresOut(Schema):
    status: LoanStatusName
    total_repayable: Money
    total_paid: Money
    outstanding: Money
    overpaid: Money
    days_past_due: int


class PenaltyAddedOut(Schema):
    installment_id: int
    value_date: date
    amount: Money


class PenaltyTakenBackOut(Schema):
    transaction_id: int
    value_date: date
    amount: Money


class ReversalPlanOut(Schema):
    """What the reversal would change; nothing is stored (`?dry_run=true`)."""

    changes: list[ChangeOut]
    loan_before: LoanFiguresOut
    loan_after: LoanFiguresOut
    penalties_added: list[PenaltyAddedOut]
    penalties_taken_back: list[PenaltyTakenBackOut]


class ReversedRepaymentOut(RepaymentOut):
    changes: list[ChangeOut] = Field(
        description="The later transactions the reversal re-split, before and after."
    )


# --- general ledger -------------------------------------------------------------------------

AccountType = Literal["asset", "liability", "equity", "income", "expense"]


class GLAccountOut(Schema):
    id: int
    code: str
    name: str
    type: AccountType
    parent_id: int | None
    is_active: bool


class TrialBalanceIn(StrictIn):
    as_of: AnyDate | None = Field(None, description="Defaults to today.")
    office_id: Id | None = Field(
        None, description="One of your offices and those under it (default: all of yours)."
    )


class TrialBalanceRow(Schema):
    code: str
    name: str
    type: AccountType
    debit: Money = Field(description="The account's debit balance (zero if it is in credit).")
    credit: Money = Field(description="The account's credit balance (zero if it is in debit).")


class TrialBalanceOut(Schema):
    as_of: date
    accounts: list[TrialBalanceRow]
    total_debit: Money
    total_credit: Money


class EntryFilters(StrictIn, PageParams):
    account: Annotated[Text, Field(max_length=20)] | None = Field(
        None, description="Only entries with a line on the account of this code."
    )
    date_from: AnyDate | None = Field(None, alias="from", description="Value date on or after.")
    date_to: AnyDate | None = Field(None, alias="to", description="Value date on or before.")
    loan_id: Id | None = None


class JournalLineOut(Schema):
    account: str = Field(description="The account's code.")
    debit: Money
    credit: Money


class JournalEntryOut(Schema):
    id: int
    value_date: date
    booked_at: datetime
    memo: str
    source: str
    transaction_id: int | None
    loan_id: int | None
    lines: list[JournalLineOut]


class JournalEntryPage(Page):
    items: list[JournalEntryOut]


class BooksCloseIn(StrictIn):
    through: ValueDate


class BooksClosedOut(Schema):
    through: date
    closed_at: datetime
    closed_by: str | None


# --- waivers and recoveries -------------------------------------------------------------------


class WaiveIn(StrictIn):
    """What to waive of each component (each up to what is left unpaid of it; at least one
    above zero) and why."""

    penalties: MoneyIn = Decimal("0.00")
    fees: MoneyIn = Decimal("0.00")
    interest: MoneyIn = Decimal("0.00")
    reason: Annotated[LongText, Field(max_length=REASON_MAX_LENGTH)]


class WaiverLineOut(Schema):
    installment: int = Field(description="Installment number.")
    penalties: Money
    fees: Money
    interest: Money


class WaiverOut(Schema):
    """What the waiver did (or, with `dry_run=true`, would do: nothing is stored)."""

    dry_run: bool
    transaction_id: int | None = Field(description="The waiver transaction (null in a dry run).")
    total: Money
    penalties: Money
    fees: Money
    interest: Money
    lines: list[WaiverLineOut]
    loan_before: LoanFiguresOut
    loan_after: LoanFiguresOut
    changes: list[ChangeOut]
