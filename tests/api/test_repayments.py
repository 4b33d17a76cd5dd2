"""Repayments through the API: posting, allocation in the answer, validation of each field,
state conflicts, the listing, and the Idempotency-Key header (sequential retries here; the
racing retries on PostgreSQL at the end)."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from lending.models import Loan, Receipt, Repayment
from tests.api.conftest import ApiClient, token_for
from tests.factories import AccountantFactory, ActiveLoanFactory, LoanFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def loan(db: Any) -> Loan:
    """5000 at 12 % over 18 months, declining with equal principal, disbursed 45 days ago:
    installment 1 (277.78 + 50.00) is overdue."""
    return ActiveLoanFactory(
        principal=Decimal("5000.00"),
        annual_interest_rate=Decimal("12"),
        installments=18,
        amortization="equal_principal",
        disbursed_days_ago=45,
    )


def pay(client: ApiClient, loan: Loan, key: str | None = None, **body: Any) -> Any:
    headers = {"Idempotency-Key": key} if key is not None else {}
    return client.post(f"/api/loans/{loan.pk}/repayments", body, **headers)


def test_record_a_repayment(accountant_api: ApiClient, loan: Loan) -> None:
    today = timezone.localdate()
    response = pay(accountant_api, loan, amount="400.00", method="mobile_money", reference="MM-77")
    assert response.status_code == 201, response.json()
    out = response.json()
    repayment = Repayment.objects.get(pk=out["id"])
    assert out["amount"] == "400.00"
    assert out["paid_on"] == today.isoformat()
    assert out["method"] == "mobile_money"
    assert out["reference"] == "MM-77"
    assert out["receipt_number"] == repayment.receipt.number
    assert out["allocations"] == [
        {
            "installment": 1,
            "principal": "277.78",
            "interest": "50.00",
            "fees": "0.00",
            "penalties": "0.00",
            "total": "327.78",
        },
        {
            "installment": 2,
            "principal": "25.00",
            "interest": "47.22",
            "fees": "0.00",
            "penalties": "0.00",
            "total": "72.22",
        },
    ]
    loan.refresh_from_db()
    assert out["outstanding"] == str(loan.outstanding) == "5075.00"
    assert out["recorded_by"] == "accountant_a"
    assert out["reversed"] is False


def test_paid_on_and_method_default(accountant_api: ApiClient, loan: Loan) -> None:
    out = pay(accountant_api, loan, amount="10").json()
    assert out["method"] == "cash"
    assert out["paid_on"] == timezone.localdate().isoformat()


def test_status_cache_is_dropped_by_a_payment(accountant_api: ApiClient, loan: Loan) -> None:
    assert accountant_api.get(f"/api/loans/{loan.pk}/status").json()["status"] == "behind"
    pay(accountant_api, loan, amount="327.78")
    status = accountant_api.get(f"/api/loans/{loan.pk}/status").json()
    assert status["paid"] == "327.78"
    assert status["status"] == "on_track"


INVALID = [
    ("amount", None),
    ("amount", "0"),
    ("amount", "-10"),
    ("amount", "10.001"),
    ("amount", "ten"),
    ("amount", "1e2"),
    ("amount", "99999999.00"),  # more than the outstanding
    ("paid_on", "tomorrow"),
    ("paid_on", "FUTURE"),
    ("paid_on", "BEFORE_DISBURSEMENT"),
    ("method", "gold"),
    ("reference", "r" * 101),
    ("reference", "bad\x00ref"),
]


@pytest.mark.parametrize(("field", "value"), INVALID)
def test_invalid_fields_are_422_and_write_nothing(
    accountant_api: ApiClient, loan: Loan, field: str, value: Any
) -> None:
    body: dict[str, Any] = {"amount": "100.00"}
    if value == "FUTURE":
        value = (timezone.localdate() + timedelta(days=1)).isoformat()
    elif value == "BEFORE_DISBURSEMENT":
        value = (timezone.localdate() - timedelta(days=46)).isoformat()
    if value is None:
        body.pop(field)
    else:
        body[field] = value
    response = pay(accountant_api, loan, **body)
    assert response.status_code == 422, response.json()
    assert field in [e["field"] for e in response.json()["detail"]]
    assert not Repayment.objects.exists()
    assert not Receipt.objects.exists()


@pytest.mark.parametrize("key", ["", "has space", "k" * 65, "ключ"])
def test_bad_idempotency_keys_are_422(accountant_api: ApiClient, loan: Loan, key: str) -> None:
    response = pay(accountant_api, loan, key=key, amount="10.00")
    assert response.status_code == 422
    error = response.json()["detail"][0]
    assert error["field"] == "Idempotency-Key"
    assert "64 printable ASCII characters" in error["message"]
    assert not Repayment.objects.exists()


def test_paying_a_pending_loan_is_409(accountant_api: ApiClient) -> None:
    pending = LoanFactory()
    response = pay(accountant_api, pending, amount="10.00")
    assert response.status_code == 409


def test_paying_the_rest_closes_the_loan_and_then_409(
    accountant_api: ApiClient, loan: Loan
) -> None:
    response = pay(accountant_api, loan, amount=str(loan.outstanding))
    assert response.status_code == 201
    assert response.json()["outstanding"] == "0.00"
    loan.refresh_from_db()
    assert loan.status == Loan.Status.CLOSED
    again = pay(accountant_api, loan, amount="1.00")
    assert again.status_code == 409
    assert "closed" in again.json()["detail"]
    assert accountant_api.get(f"/api/loans/{loan.pk}").json()["status"] == "closed"


def test_list_repayments(admin_api: ApiClient, accountant_api: ApiClient, loan: Loan) -> None:
    first = pay(accountant_api, loan, amount="100.00").json()
    second = pay(accountant_api, loan, amount="50.00").json()
    listing = admin_api.get(f"/api/loans/{loan.pk}/repayments")
    assert listing.status_code == 200
    body = listing.json()
    assert body["count"] == 2
    assert {item["id"] for item in body["items"]} == {first["id"], second["id"]}
    assert next(i for i in body["items"] if i["id"] == first["id"]) == first


def test_repayment_list_runs_a_fixed_number_of_queries(
    accountant_api: ApiClient, loan: Loan, django_assert_max_num_queries: Any
) -> None:
    pay(accountant_api, loan, amount="10.00")
    with django_assert_max_num_queries(7) as few:
        accountant_api.get(f"/api/loans/{loan.pk}/repayments")
    baseline = len(few.captured_queries)
    for _ in range(8):
        pay(accountant_api, loan, amount="100.00")
    with django_assert_max_num_queries(baseline):
        assert accountant_api.get(f"/api/loans/{loan.pk}/repayments").json()["count"] == 9


# --- idempotency ---------------------------------------------------------------------------


def test_retry_with_the_same_key_and_body_records_once(
    accountant_api: ApiClient, loan: Loan
) -> None:
    first = pay(accountant_api, loan, key="pay-0001", amount="100.00", reference="A1")
    retry = pay(accountant_api, loan, key="pay-0001", amount="100.00", reference="A1")
    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    assert Repayment.objects.count() == 1
    loan.refresh_from_db()
    assert loan.total_paid == Decimal("100.00")


def test_the_same_amount_written_two_ways_is_the_same_body(
    accountant_api: ApiClient, loan: Loan
) -> None:
    first = pay(accountant_api, loan, key="k-2", amount="100.5")
    retry = pay(accountant_api, loan, key="k-2", amount="100.50")
    assert retry.status_code == 201
    assert retry.json() == first.json()
    assert Repayment.objects.count() == 1


def test_same_key_with_another_body_is_409(accountant_api: ApiClient, loan: Loan) -> None:
    pay(accountant_api, loan, key="pay-0002", amount="100.00")
    response = pay(accountant_api, loan, key="pay-0002", amount="150.00")
    assert response.status_code == 409
    assert "Idempotency-Key" in response.json()["detail"]
    assert Repayment.objects.count() == 1


def test_same_key_on_another_loan_is_409(accountant_api: ApiClient, loan: Loan) -> None:
    other = ActiveLoanFactory()
    pay(accountant_api, loan, key="pay-0003", amount="10.00")
    assert pay(accountant_api, other, key="pay-0003", amount="10.00").status_code == 409


def test_keys_belong_to_their_user(accountant_api: ApiClient, loan: Loan) -> None:
    """Another client using the same key records its own payment (it cannot read or block
    someone else's)."""
    other = ApiClient(token_for(AccountantFactory()))
    mine = pay(accountant_api, loan, key="shared", amount="10.00").json()
    theirs = pay(other, loan, key="shared", amount="10.00").json()
    assert mine["id"] != theirs["id"]
    assert Repayment.objects.count() == 2


def test_retry_after_the_loan_closed_still_returns_the_first_answer(
    accountant_api: ApiClient, loan: Loan
) -> None:
    first = pay(accountant_api, loan, key="close-it", amount=str(loan.outstanding))
    retry = pay(accountant_api, loan, key="close-it", amount=str(loan.outstanding))
    assert retry.status_code == 201
    assert retry.json() == first.json()


def test_without_a_key_each_post_is_a_payment(accountant_api: ApiClient, loan: Loan) -> None:
    pay(accountant_api, loan, amount="10.00")
    pay(accountant_api, loan, amount="10.00")
    assert Repayment.objects.count() == 2


def _race(
    clients: list[ApiClient], loan_id: int, bodies: list[tuple[str, dict[str, Any]]]
) -> list[Any]:
    """Post each (key, body) from its own thread (own database connection), all at once."""
    barrier = threading.Barrier(len(bodies))
    results: list[Any] = [None] * len(bodies)

    def post(i: int) -> None:
        key, body = bodies[i]
        try:
            barrier.wait()
            results[i] = clients[i].post(
                f"/api/loans/{loan_id}/repayments", body, **{"Idempotency-Key": key}
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=post, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_retries_record_one_repayment() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: concurrent requests need row locks SQLite does not have")
    user = AccountantFactory(username="cashier")
    loan = ActiveLoanFactory(disbursed_days_ago=45)
    token = token_for(user)
    n = 6
    results = _race(
        [ApiClient(token) for _ in range(n)], loan.pk, [("race-1", {"amount": "120.00"})] * n
    )
    assert [r.status_code for r in results] == [201] * n
    assert len({r.content for r in results}) == 1  # the very same answer each time
    assert Repayment.objects.filter(loan=loan).count() == 1
    loan.refresh_from_db()
    assert loan.total_paid == Decimal("120.00")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_payments_with_different_keys_lose_no_update() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: concurrent requests need row locks SQLite does not have")
    user = AccountantFactory(username="cashier")
    loan = ActiveLoanFactory(disbursed_days_ago=45)
    token = token_for(user)
    n = 5
    results = _race(
        [ApiClient(token) for _ in range(n)],
        loan.pk,
        [(f"key-{i}", {"amount": "10.00"}) for i in range(n)],
    )
    assert [r.status_code for r in results] == [201] * n
    loan.refresh_from_db()
    assert loan.total_paid == Decimal("50.00")
    assert loan.outstanding == loan.total_repayable - Decimal("50.00")
    receipts = sorted(Receipt.objects.values_list("number", flat=True))
    assert len(set(receipts)) == n
