"""A loan's history read through the API costs the same whatever its length: the loan, its
schedule, a page of its repayments and a page of its transactions each run the same number
of queries for a loan with 300 repayments as for one with none, and the lists come a page at a
time with links to the next (bench/bench.py measures the time of the same reads)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext

from lending.models import Loan, Repayment
from lending.services.repayments import repayment_record, repayment_reverse
from tests.api.conftest import ApiClient
from tests.factories import ActiveLoanFactory

pytestmark = pytest.mark.django_db

HISTORY = 300


def paid_loan(cashier: User, payments: int) -> Loan:
    """12,000 over 12 months disbursed 400 days ago, with `payments` daily payments of 10.00
    (in date order, so each posting is incremental)."""
    loan = ActiveLoanFactory(principal=Decimal("12000.00"), installments=12, disbursed_days_ago=400)
    assert loan.disbursement_date is not None
    for day in range(1, payments + 1):
        repayment_record(
            loan=loan,
            user=cashier,
            amount=Decimal("10.00"),
            paid_on=loan.disbursement_date + timedelta(days=day),
            method="cash",
            reference=f"day {day}",
        )
    return loan


def reads(loan_id: int) -> list[str]:
    return [
        f"/api/loans/{loan_id}",
        f"/api/loans/{loan_id}/schedule",
        f"/api/loans/{loan_id}/repayments",
        f"/api/loans/{loan_id}/repayments?page=2&page_size=100",
        f"/api/loans/{loan_id}/transactions",
    ]


def queries_of(api: ApiClient, path: str) -> tuple[int, Any]:
    with CaptureQueriesContext(connection) as ctx:
        response = api.get(path)
    assert response.status_code == 200, (path, response.content)
    return len(ctx.captured_queries), response.json()


def test_every_history_read_runs_the_same_queries_for_300_repayments_as_for_none(
    admin_user: User,
    admin_api: ApiClient,
    django_assert_num_queries: Callable[..., Any],
) -> None:
    empty = paid_loan(admin_user, 0)
    full = paid_loan(admin_user, HISTORY)
    for empty_path, full_path in zip(reads(empty.pk), reads(full.pk), strict=True):
        admin_api.get(empty_path)  # warm what is cached per worker (permissions, status)
        admin_api.get(full_path)
        count, _ = queries_of(admin_api, empty_path)
        with django_assert_num_queries(count):
            admin_api.get(full_path)
        assert count <= 6, (empty_path, count)


def test_repayments_come_a_page_at_a_time_with_links(
    admin_user: User, admin_api: ApiClient
) -> None:
    loan = paid_loan(admin_user, 30)
    first = admin_api.get(f"/api/loans/{loan.pk}/repayments").json()
    assert (first["count"], first["page"], first["page_size"]) == (30, 1, 25)
    assert len(first["items"]) == 25
    assert first["previous"] is None
    assert first["next"] == f"http://testserver/api/loans/{loan.pk}/repayments?page=2"
    assert first["items"][0]["reference"] == "day 30"  # newest first
    assert first["items"][0]["allocations"]  # each with its split, from the one extra query
    second = admin_api.get(first["next"].removeprefix("http://testserver")).json()
    assert len(second["items"]) == 5
    assert second["next"] is None
    assert second["previous"] == f"http://testserver/api/loans/{loan.pk}/repayments?page=1"
    seen = {r["id"] for r in first["items"]} | {r["id"] for r in second["items"]}
    assert seen == set(Repayment.objects.filter(loan=loan).values_list("pk", flat=True))


def test_a_page_keeps_the_filters_in_its_links(admin_user: User, admin_api: ApiClient) -> None:
    loan = paid_loan(admin_user, 5)
    body = admin_api.get(f"/api/loans/{loan.pk}/repayments", {"page_size": 2}).json()
    assert body["next"].endswith(f"/api/loans/{loan.pk}/repayments?page_size=2&page=2")


def test_a_reversed_repayment_reads_reversed_with_the_split_it_had(
    admin_user: User, admin_api: ApiClient
) -> None:
    loan = paid_loan(admin_user, 2)
    latest = Repayment.objects.filter(loan=loan).order_by("-paid_on").first()
    assert latest is not None
    repayment_reverse(repayment=latest, user=admin_user, reason="Bounced")
    item = admin_api.get(f"/api/loans/{loan.pk}/repayments").json()["items"][0]
    assert item["id"] == latest.pk
    assert item["reversed"] is True
    assert sum(Decimal(a["total"]) for a in item["allocations"]) == Decimal("10.00")


def test_transactions_come_a_page_at_a_time_with_link_headers(
    admin_user: User, admin_api: ApiClient
) -> None:
    loan = paid_loan(admin_user, 30)  # the disbursement and 30 repayments
    first = admin_api.get(f"/api/loans/{loan.pk}/transactions")
    assert first["X-Total-Count"] == "31"
    rows = first.json()
    assert len(rows) == 25
    assert rows[0]["type"] == "disbursement"  # value-date order
    assert first["Link"] == (
        f'<http://testserver/api/loans/{loan.pk}/transactions?page=2>; rel="next"'
    )
    last = admin_api.get(f"/api/loans/{loan.pk}/transactions", {"page": 2})
    assert len(last.json()) == 6
    assert last["Link"] == (
        f'<http://testserver/api/loans/{loan.pk}/transactions?page=1>; rel="prev"'
    )


def test_transactions_refuse_an_unknown_query_parameter(admin_api: ApiClient) -> None:
    loan = ActiveLoanFactory()
    response = admin_api.get(f"/api/loans/{loan.pk}/transactions", {"pag": 2})
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "pag"


def test_an_empty_page_of_a_loan_that_exists_is_200_and_of_one_that_does_not_404(
    admin_api: ApiClient,
) -> None:
    loan = ActiveLoanFactory()
    assert admin_api.get(f"/api/loans/{loan.pk}/repayments").json()["items"] == []
    far = admin_api.get(f"/api/loans/{loan.pk}/transactions", {"page": 50})
    assert far.status_code == 200
    assert far.json() == []
    assert admin_api.get(f"/api/loans/{loan.pk + 1000}/repayments").status_code == 404
    assert admin_api.get(f"/api/loans/{loan.pk + 1000}/transactions").status_code == 404


def test_pages_written_out_directly_match_their_schema_and_the_single_answers(
    admin_user: User, admin_api: ApiClient
) -> None:
    """The two history lists write their rows out without ninja's pass over every field; they
    must read exactly like the answers ninja writes (the payment's own 201, the schema)."""
    from pydantic import TypeAdapter

    from lending.api.schemas import RepaymentPage, TransactionOut

    loan = paid_loan(admin_user, 3)
    posted = admin_api.post(f"/api/loans/{loan.pk}/repayments", {"amount": "12.5"})
    assert posted.status_code == 201
    page = admin_api.get(f"/api/loans/{loan.pk}/repayments").json()
    RepaymentPage.model_validate(page)
    assert page["items"][0] == posted.json()
    rows = admin_api.get(f"/api/loans/{loan.pk}/transactions").json()
    TypeAdapter(list[TransactionOut]).validate_python(rows)
    assert rows[-1]["amount"] == "12.50"
    assert rows[-1]["booked_at"].endswith("Z")  # written like every other answer's times
