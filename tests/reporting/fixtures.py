"""A small portfolio with a loan in every state, and its figures worked out by hand."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from lending.models import Loan, Repayment
from lending.services.loans import loan_reject, loan_withdraw, loan_write_off
from tests.factories import ActiveLoanFactory, AdminFactory, LoanFactory, OfficerFactory
from tests.reporting.helpers import D, days_ago, pay, reload, reverse, today, weekly_loan


@dataclass
class Portfolio:
    loans: dict[str, Loan] = field(default_factory=dict)
    payments: list[tuple[date, Decimal, str]] = field(default_factory=list)  # kept ones only

    def collected_since(self, start: date) -> Decimal:
        return sum((amount for day, amount, _ in self.payments if day >= start), D("0.00"))

    def collected_on(self, day: date) -> Decimal:
        return sum((amount for d, amount, _ in self.payments if d == day), D("0.00"))


def build_portfolio() -> Portfolio:
    """Seven loans, one borrower each:

    - pending 1000, rejected 2000, withdrawn 3000 (no schedule, no money);
    - A, active: 1200 in 12 weekly installments of 100, disbursed 70 days ago (#1 due 63 days
      ago ... #10 due today); 300 paid today, so #4 (due 42 days ago) is the oldest unpaid:
      42 days past due, in PAR30; outstanding 900, overdue #4-#9 = 600, #10 due today;
    - B, active: 600 in 6 weekly installments, disbursed 7 days ago: #1 (100) due today;
      a 40 paid yesterday was reversed: outstanding 600, not past due;
    - C, closed: 500 in 5 weekly installments, disbursed 35 days ago, paid in full 2 days ago
      by bank transfer;
    - D, written off: 400 in 4 weekly installments, disbursed 14 days ago.

    Dashboard: 7 borrowers, 7 loans (1 per status but 2 active), active principal 1800,
    outstanding 1500, PAR30 900 = 60.00 %, due today 2 installments = 200, one overdue loan (A).
    """
    officer, approver = OfficerFactory(), AdminFactory()
    p = Portfolio()
    p.loans["pending"] = LoanFactory(principal=D("1000.00"), submitted_by=officer)
    rejected = LoanFactory(principal=D("2000.00"), submitted_by=officer)
    p.loans["rejected"] = loan_reject(loan=rejected, user=approver, reason="Income too low")
    withdrawn = LoanFactory(principal=D("3000.00"), submitted_by=officer)
    p.loans["withdrawn"] = loan_withdraw(loan=withdrawn, user=officer)

    a = weekly_loan(disbursed_days_ago=70, submitted_by=officer, approved_by=approver)
    pay(a, "300.00", on=today())
    p.payments.append((today(), D("300.00"), Repayment.Method.CASH))
    p.loans["A"] = a

    b = weekly_loan(principal="600.00", n=6, disbursed_days_ago=7, approved_by=approver)
    mistake = pay(b, "40.00", on=days_ago(1), method=Repayment.Method.MOBILE_MONEY)
    reverse(mistake)
    p.loans["B"] = b

    c = weekly_loan(principal="500.00", n=5, disbursed_days_ago=35, approved_by=approver)
    pay(c, "500.00", on=days_ago(2), method=Repayment.Method.BANK_TRANSFER)
    p.payments.append((days_ago(2), D("500.00"), Repayment.Method.BANK_TRANSFER))
    p.loans["C"] = c

    d = weekly_loan(principal="400.00", n=4, disbursed_days_ago=14, approved_by=approver)
    p.loans["D"] = loan_write_off(loan=d, user=approver, reason="Borrower cannot be found")

    for key, loan in p.loans.items():
        p.loans[key] = Loan.objects.get(pk=loan.pk)
    return p


def review_loan() -> Loan:
    """The domain review's loan: 10,000 at 36 % a year in 24 monthly installments, declining
    balance, equal installments: 3 % a month, EMI = 10000 x 0.03 / (1 - 1.03^-24) = 590.47;
    24 x 590.47 = 14,171.28, and the last installment's rounding adjustment makes the total
    repayable 14,171.42 = 10,000 principal + 4,171.42 interest over two years.

    Disbursed 100 days ago: #1 is due 69-72 days ago, #2 38-42 days ago, #3 8-11 days ago (a
    month is 28-31 days), #4 later. 590.47 paid today settles #1 (interest 300.00, principal
    290.47), so the oldest installment unpaid is #2, 38-42 days past due: in PAR30."""
    loan = ActiveLoanFactory(
        principal=D("10000.00"),
        annual_interest_rate=D("36"),
        installments=24,
        frequency="monthly",
        interest_method="declining",
        amortization="equal_installments",
        disbursed_days_ago=100,
    )
    assert loan.total_repayable == D("14171.42")
    pay(loan, "590.47")
    return reload(loan)
