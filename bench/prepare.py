"""Create the loans the page benchmark needs, through the services, and pick posting targets.

Prints JSON: the ids of a 12-installment loan with no repayments, the same loan shape with
700 repayments and with 300 (for the API read of a loan's history), a 480-installment loan,
a hot loan for concurrent posting, active loans to post across, and a borrower search term.
The benchmark's borrower is registered in the branch of the user the pages are measured as
(bench/post.py BRANCH_USER), and the search term is a surname of that branch.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from datetime import date, timedelta
from decimal import Decimal

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.offices import user_office_id  # noqa: E402
from bench.post import BRANCH_USER  # noqa: E402
from lending.models import Borrower, Loan, LoanProduct  # noqa: E402
from lending.services.borrowers import borrower_create  # noqa: E402
from lending.services.loans import loan_approve, loan_submit  # noqa: E402
from lending.services.repayments import repayment_record  # noqa: E402


def _loan(borrower: Borrower, officer: User, officer2: User, disbursed: date, **terms) -> Loan:
    loan = loan_submit(user=officer, borrower=borrower, purpose="Benchmark", **terms)
    return loan_approve(loan=loan, user=officer2, disbursement_date=disbursed)


def main() -> None:
    officer = User.objects.get(username="officer")
    officer2 = User.objects.get(username="officer2")
    cashier = User.objects.get(username="accountant")
    branch = user_office_id(User.objects.get(username=BRANCH_USER[0]))
    today = timezone.localdate()
    borrower = borrower_create(
        user=officer,
        office_id=branch,
        full_name="Benchmark Borrower",
        national_id=f"BENCH{int(time.time())}",
        date_of_birth=date(1980, 5, 17),
        phone="+255700000001",
    )
    monthly = {"annual_interest_rate": Decimal("12"), "frequency": "monthly"}
    two_years_ago = today - timedelta(days=730)
    loan12 = _loan(
        borrower, officer, officer2, two_years_ago,
        principal=Decimal("12000.00"), installments=12, **monthly,
    )  # fmt: skip
    loan700 = _loan(
        borrower, officer, officer2, two_years_ago,
        principal=Decimal("12000.00"), installments=12, **monthly,
    )  # fmt: skip
    loan300 = _loan(
        borrower, officer, officer2, two_years_ago,
        principal=Decimal("12000.00"), installments=12, **monthly,
    )  # fmt: skip
    # Custom terms stop at 30 years: the 40-year loan needs a product that allows it.
    long_term, _ = LoanProduct.objects.get_or_create(
        name="Benchmark 40-year loan",
        defaults={"max_principal": Decimal("1000000.00"), "max_installments": 480},
    )
    loan480 = _loan(
        borrower, officer, officer2, today - timedelta(days=365),
        principal=Decimal("250000.00"), installments=480, product=long_term, **monthly,
    )  # fmt: skip
    hot = _loan(
        borrower, officer, officer2, today - timedelta(days=20),
        principal=Decimal("500000.00"), installments=60, **monthly,
    )  # fmt: skip
    started = time.monotonic()
    for k in range(700):
        repayment_record(
            loan=loan700,
            user=cashier,
            amount=Decimal("10.00"),
            paid_on=two_years_ago + timedelta(days=k % 700 + 1),
            method="cash",
            reference=f"prep-{k}",
        )
    seconds = time.monotonic() - started
    for k in range(300):
        repayment_record(
            loan=loan300,
            user=cashier,
            amount=Decimal("10.00"),
            paid_on=two_years_ago + timedelta(days=k + 1),
            method="cash",
            reference=f"prep300-{k}",
        )
    active = list(
        Loan.objects.filter(status=Loan.Status.ACTIVE, outstanding__gte=Decimal("200"))
        .exclude(pk__in=[loan12.pk, loan700.pk, loan300.pk, loan480.pk, hot.pk])
        .values_list("pk", flat=True)
    )
    many = random.Random(7).sample(active, min(2000, len(active)))
    surname = (
        Borrower.objects.filter(office_id=branch)
        .exclude(pk=borrower.pk)
        .values_list("full_name", flat=True)
        .first()
        or "Mensah"
    ).split()[-1]
    json.dump(
        {
            "loan12": loan12.pk,
            "loan700": loan700.pk,
            "loan300": loan300.pk,
            "loan480": loan480.pk,
            "hot": hot.pk,
            "many": many,
            "search": surname,
            "prep_700_service_postings_per_s": round(700 / seconds, 1),
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
