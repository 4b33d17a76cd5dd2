"""Which accounts a loan transaction debits and credits (DESIGN.md, "General ledger").

Plain Python: a transaction's kind, split and method in, (account role, amount) pairs out, a
positive amount a debit and a negative one a credit. `lending.services.books` maps the roles
to the product's accounts and posts the entry; the data migration that opened the books used
the same rules.

Cash basis: income is booked when it is paid. Accrual basis: the daily close books interest
receivable → interest income as it is earned and a charge books its receivable → income, so
a repayment clears receivables instead of crediting income, and a waiver takes the income
back.
"""

from __future__ import annotations

from decimal import Decimal

from lending.replay import Kind, Parts

ZERO = Decimal("0.00")
CASH, ACCRUAL = "cash", "accrual"

FUND_ROLE = {
    "cash": "fund_cash",
    "bank_transfer": "fund_bank_transfer",
    "mobile_money": "fund_mobile_money",
    "cheque": "fund_cheque",
}
INCOME = {"interest": "interest_income", "fees": "fee_income", "penalties": "penalty_income"}
RECEIVABLE = {
    "interest": "interest_receivable",
    "fees": "fee_receivable",
    "penalties": "penalty_receivable",
}
Pairs = list[tuple[str, Decimal]]
# The institution's default account for each role (codes of `ledger.chart.CHART`); a product
# may map its own (`lending.models.ProductAccount`).
DEFAULT_ACCOUNT_CODES = {
    "fund_cash": "1010",
    "fund_bank_transfer": "1020",
    "fund_mobile_money": "1030",
    "fund_cheque": "1040",
    "loan_portfolio": "1100",
    "interest_receivable": "1110",
    "fee_receivable": "1120",
    "penalty_receivable": "1130",
    "overpayment": "2010",
    "interest_income": "4010",
    "fee_income": "4020",
    "penalty_income": "4030",
    "recoveries_income": "4040",
    "losses_written_off": "5010",
}


def fund_role(method: str) -> str:
    return FUND_ROLE.get(method, "fund_cash")


def postings(
    kind: str,
    split: Parts,
    *,
    amount: Decimal,
    overpaid: Decimal,
    method: str,
    basis: str,
    interest_recognised: Decimal | None = None,
) -> Pairs:
    """The entry of one transaction as (role, signed amount) pairs; [] when it books nothing.

    `interest_recognised` is, for an accrual-basis write-off, the interest accrued and not
    paid (what the interest receivable holds): interest not yet earned was never income, so
    writing it off loses nothing."""
    accrual = basis == ACCRUAL
    if kind == Kind.DISBURSEMENT:
        # A fee deducted from the money handed over is income at once, on either basis.
        return [
            ("loan_portfolio", amount),
            (fund_role(method), -(amount - split.fees)),
            ("fee_income", -split.fees),
        ]
    if kind == Kind.REPAYMENT:
        side = RECEIVABLE if accrual else INCOME
        return [
            (fund_role(method), amount),
            ("loan_portfolio", -split.principal),
            *((side[c], -getattr(split, c)) for c in ("interest", "fees", "penalties")),
            ("overpayment", -overpaid),
        ]
    if kind == Kind.CREDIT:
        # Interest paid ahead, given back at an early settlement: it leaves interest income
        # (the receivable on accrual basis) and pays what the loan owes, as a payment with
        # no money in; its split's interest is negative, its total zero (less any overpaid).
        side = RECEIVABLE if accrual else INCOME
        return [
            ("loan_portfolio", -split.principal),
            *((side[c], -getattr(split, c)) for c in ("interest", "fees", "penalties")),
            ("overpayment", -overpaid),
        ]
    if kind == Kind.RECOVERY:
        return [(fund_role(method), amount), ("recoveries_income", -amount)]
    if kind == Kind.WRITE_OFF:
        pairs: Pairs = [
            ("losses_written_off", split.principal),
            ("loan_portfolio", -split.principal),
        ]
        if accrual:  # what was recognised and never paid is lost too
            lost = {
                "interest": split.interest if interest_recognised is None else interest_recognised,
                "fees": split.fees,
                "penalties": split.penalties,
            }
            for c, value in lost.items():
                pairs += [("losses_written_off", value), (RECEIVABLE[c], -value)]
        return pairs
    if not accrual:
        return []  # charges, waivers and accruals move no money under cash basis
    if kind == Kind.CHARGE:
        return [
            pair
            for c in ("fees", "penalties")
            for pair in ((RECEIVABLE[c], getattr(split, c)), (INCOME[c], -getattr(split, c)))
        ]
    if kind == Kind.WAIVER:
        # Waived interest was never accrued as income beyond what the daily accrual trues up;
        # a waived charge was booked as income when charged, so it is taken back.
        return [
            pair
            for c in ("fees", "penalties")
            for pair in ((INCOME[c], getattr(split, c)), (RECEIVABLE[c], -getattr(split, c)))
        ]
    if kind == Kind.ACCRUAL:
        return [("interest_receivable", amount), ("interest_income", -amount)]
    raise ValueError(f"No journal rule for {kind!r}")
