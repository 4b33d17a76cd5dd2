"""The ledger endpoints: a loan's transactions, reversing a repayment (and its dry run), the
chart of accounts, the trial balance, the journal and closing the books."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from ledger.models import BooksClosing, JournalEntry, JournalLine
from lending.models import AuditLog, Loan, LoanTransaction, Repayment
from lending.services.books import books_close
from lending.services.repayments import repayment_record
from tests.api.conftest import ApiClient
from tests.factories import ActiveLoanFactory

pytestmark = pytest.mark.django_db


def _today() -> date:
    return timezone.localdate()


def _pay(loan: Loan, user: User, amount: str, days_ago: int) -> Repayment:
    return repayment_record(
        loan=loan,
        user=user,
        amount=Decimal(amount),
        paid_on=_today() - timedelta(days=days_ago),
        method="cash",
    )


@pytest.fixture
def paid_loan(admin_user: User) -> tuple[Loan, Repayment, Repayment]:
    """5000 at 12% over 12 months, disbursed 40 days ago; 100 paid 20 days ago (50 interest,
    50 principal) and 500 five days ago (46.06 interest, 453.94 principal)."""
    loan = ActiveLoanFactory(disbursed_days_ago=40)
    first = _pay(loan, admin_user, "100.00", 20)
    second = _pay(loan, admin_user, "500.00", 5)
    return loan, first, second


def _footprint() -> tuple[int, int, int, int, int]:
    return (
        LoanTransaction.objects.count(),
        LoanTransaction.objects.exclude(reversed_at=None).count(),
        JournalEntry.objects.count(),
        JournalLine.objects.count(),
        AuditLog.objects.count(),
    )


def _fields(response: Any) -> set[str | None]:
    return {error["field"] for error in response.json()["detail"]}


# --- GET /api/loans/{id}/transactions -------------------------------------------------------


def test_transactions_in_value_date_order_with_their_splits(
    paid_loan: tuple[Loan, Repayment, Repayment], officer_api: ApiClient
) -> None:
    loan, _first, _second = paid_loan
    response = officer_api.get(f"/api/loans/{loan.pk}/transactions")
    assert response.status_code == 200, response.content
    rows = response.json()
    assert [(r["type"], r["value_date"], r["amount"]) for r in rows] == [
        ("disbursement", str(_today() - timedelta(days=40)), "5000.00"),
        ("repayment", str(_today() - timedelta(days=20)), "100.00"),
        ("repayment", str(_today() - timedelta(days=5)), "500.00"),
    ]
    assert set(rows[0]) >= {
        "id",
        "type",
        "value_date",
        "booked_at",
        "amount",
        "principal",
        "interest",
        "fees",
        "penalties",
        "reversed",
    }
    for row in rows[1:]:
        parts = sum(Decimal(row[k]) for k in ("principal", "interest", "fees", "penalties"))
        assert parts == Decimal(row["amount"])
        assert row["reversed"] is False
    assert (rows[1]["principal"], rows[1]["interest"]) == ("50.00", "50.00")
    assert (rows[2]["principal"], rows[2]["interest"]) == ("453.94", "46.06")


def test_backdated_payment_is_listed_by_value_date_not_booking(
    paid_loan: tuple[Loan, Repayment, Repayment], admin_user: User, admin_api: ApiClient
) -> None:
    loan, _first, _second = paid_loan
    _pay(loan, admin_user, "10.00", 30)  # booked last, dated before both payments
    dates = [r["value_date"] for r in admin_api.get(f"/api/loans/{loan.pk}/transactions").json()]
    assert dates == sorted(dates)
    assert dates[1] == str(_today() - timedelta(days=30))


def test_transactions_of_unknown_loan_is_404(admin_api: ApiClient) -> None:
    response = admin_api.get("/api/loans/999999/transactions")
    assert response.status_code == 404
    assert response.json()["detail"]


def test_transactions_list_queries_do_not_grow_with_the_loan(
    paid_loan: tuple[Loan, Repayment, Repayment],
    admin_user: User,
    admin_api: ApiClient,
    django_assert_max_num_queries: Any,
) -> None:
    loan, _first, _second = paid_loan
    for days_ago in (4, 3, 2, 1):
        _pay(loan, admin_user, "20.00", days_ago)
    with django_assert_max_num_queries(8):
        assert len(admin_api.get(f"/api/loans/{loan.pk}/transactions").json()) == 7


# --- POST /api/repayments/{id}/reverse ------------------------------------------------------


def test_dry_run_answers_the_plan_and_stores_nothing(
    paid_loan: tuple[Loan, Repayment, Repayment], accountant_api: ApiClient
) -> None:
    _loan, first, second = paid_loan
    before = _footprint()
    response = accountant_api.post(
        f"/api/repayments/{first.pk}/reverse?dry_run=true", {"reason": "bounced cheque"}
    )
    assert response.status_code == 200, response.content
    plan = response.json()
    assert _footprint() == before
    first.refresh_from_db()
    assert not first.is_reversed
    # Without the first payment's 50 of interest, the second pays it: 50 more interest,
    # 50 less principal, and the loan owes the 100 again.
    (change,) = plan["changes"]
    second_txn = LoanTransaction.objects.get(repayment=second)
    assert change["transaction_id"] == second_txn.pk
    assert change["before"]["principal"] == "453.94"
    assert change["before"]["interest"] == "46.06"
    assert change["after"]["principal"] == "403.94"
    assert change["after"]["interest"] == "96.06"
    assert plan["loan_before"]["outstanding"] == "4730.93"
    assert plan["loan_after"]["outstanding"] == "4830.93"
    assert plan["loan_before"]["total_paid"] == "600.00"
    assert plan["loan_after"]["total_paid"] == "500.00"
    assert plan["penalties_added"] == [] and plan["penalties_taken_back"] == []


def test_reverse_marks_the_repayment_reversed_and_lists_the_same_changes(
    paid_loan: tuple[Loan, Repayment, Repayment], admin_api: ApiClient
) -> None:
    loan, first, _second = paid_loan
    url = f"/api/repayments/{first.pk}/reverse"
    preview = admin_api.post(f"{url}?dry_run=true", {"reason": "bounced"}).json()
    response = admin_api.post(url, {"reason": "bounced"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["id"] == first.pk
    assert body["reversed"] is True
    assert body["amount"] == "100.00"
    assert body["changes"] == preview["changes"]
    loan.refresh_from_db()
    assert loan.outstanding == Decimal("4830.93")
    first.refresh_from_db()
    assert first.reversal_reason == "bounced"
    rows = admin_api.get(f"/api/loans/{loan.pk}/transactions").json()
    assert [r["reversed"] for r in rows] == [False, True, False]
    assert (rows[2]["principal"], rows[2]["interest"]) == ("403.94", "96.06")


def test_reversing_a_reversed_repayment_is_409(
    paid_loan: tuple[Loan, Repayment, Repayment], admin_api: ApiClient
) -> None:
    _loan, first, _second = paid_loan
    url = f"/api/repayments/{first.pk}/reverse"
    assert admin_api.post(url, {"reason": "x"}).status_code == 200
    before = _footprint()
    for path in (url, f"{url}?dry_run=true"):
        response = admin_api.post(path, {"reason": "again"})
        assert response.status_code == 409
        assert "already reversed" in response.json()["detail"]
    assert _footprint() == before


def test_reverse_needs_a_reason(
    paid_loan: tuple[Loan, Repayment, Repayment], admin_api: ApiClient
) -> None:
    _loan, first, _second = paid_loan
    before = _footprint()
    url = f"/api/repayments/{first.pk}/reverse"
    missing = admin_api.post(url, {})
    assert missing.status_code == 422
    assert _fields(missing) == {"reason"}
    blank = admin_api.post(url, {"reason": "   "})
    assert blank.status_code == 422
    assert _fields(blank) == {"reason"}
    assert _footprint() == before


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("", {"reason": "x", "amount": "1.00"}, "amount"),
        ("", {"reasn": "x"}, "reasn"),
        ("", {"reason": 12}, "reason"),
        ("?dry_run=maybe", {"reason": "x"}, "dry_run"),
        ("?dryrun=true", {"reason": "x"}, "dryrun"),
    ],
)
def test_reverse_refuses_unknown_or_bad_input(
    paid_loan: tuple[Loan, Repayment, Repayment],
    admin_api: ApiClient,
    path: str,
    body: dict[str, Any],
    field: str,
) -> None:
    _loan, first, _second = paid_loan
    before = _footprint()
    response = admin_api.post(f"/api/repayments/{first.pk}/reverse{path}", body)
    assert response.status_code == 422, response.content
    assert field in _fields(response)
    assert _footprint() == before


def test_reverse_of_unknown_repayment_is_404(admin_api: ApiClient) -> None:
    response = admin_api.post("/api/repayments/999999/reverse", {"reason": "x"})
    assert response.status_code == 404
    assert response.json()["detail"]


def test_officer_cannot_reverse_even_a_dry_run(
    paid_loan: tuple[Loan, Repayment, Repayment], officer_api: ApiClient
) -> None:
    _loan, first, _second = paid_loan
    before = _footprint()
    for query in ("", "?dry_run=true"):
        response = officer_api.post(f"/api/repayments/{first.pk}/reverse{query}", {"reason": "x"})
        assert response.status_code == 403
        assert response.json()["detail"]
    assert _footprint() == before


def test_reversing_a_repayment_in_closed_books_is_409(
    paid_loan: tuple[Loan, Repayment, Repayment], admin_user: User, admin_api: ApiClient
) -> None:
    _loan, first, _second = paid_loan
    books_close(through=_today() - timedelta(days=1), user=admin_user)
    before = _footprint()
    for query in ("", "?dry_run=true"):
        response = admin_api.post(f"/api/repayments/{first.pk}/reverse{query}", {"reason": "x"})
        assert response.status_code == 409, response.content
        assert "closed through" in response.json()["detail"]
    assert _footprint() == before


# --- GET /api/gl/accounts -------------------------------------------------------------------


def test_chart_of_accounts(accountant_api: ApiClient) -> None:
    response = accountant_api.get("/api/gl/accounts")
    assert response.status_code == 200
    accounts = response.json()
    codes = [a["code"] for a in accounts]
    assert codes == sorted(codes)
    cash = next(a for a in accounts if a["code"] == "1010")
    assert set(cash) >= {"id", "code", "name", "type"}
    assert cash["type"] == "asset"
    assert {a["type"] for a in accounts} <= {"asset", "liability", "equity", "income", "expense"}


# --- GET /api/gl/trial-balance --------------------------------------------------------------


def _tb(api: ApiClient, **params: str) -> dict[str, Any]:
    response = api.get("/api/gl/trial-balance", params)
    assert response.status_code == 200, response.content
    return response.json()


def test_trial_balance_balances_and_shows_the_payments(
    paid_loan: tuple[Loan, Repayment, Repayment], accountant_api: ApiClient
) -> None:
    tb = _tb(accountant_api)
    assert tb["as_of"] == str(_today())
    rows = {row["code"]: (row["debit"], row["credit"]) for row in tb["accounts"]}
    # 5000 lent from the bank; 600 received in cash: 503.94 principal, 96.06 interest.
    assert rows["1020"] == ("0.00", "5000.00")
    assert rows["1010"] == ("600.00", "0.00")
    assert rows["1100"] == ("4496.06", "0.00")
    assert rows["4010"] == ("0.00", "96.06")
    assert tb["total_debit"] == tb["total_credit"] == "5096.06"
    assert sum(Decimal(r["debit"]) for r in tb["accounts"]) == Decimal(tb["total_debit"])
    assert sum(Decimal(r["credit"]) for r in tb["accounts"]) == Decimal(tb["total_credit"])


def test_trial_balance_as_of_a_past_date(
    paid_loan: tuple[Loan, Repayment, Repayment], accountant_api: ApiClient
) -> None:
    as_of = _today() - timedelta(days=10)  # after the first payment, before the second
    tb = _tb(accountant_api, as_of=as_of.isoformat())
    assert tb["as_of"] == str(as_of)
    rows = {row["code"]: (row["debit"], row["credit"]) for row in tb["accounts"]}
    assert rows["1010"] == ("100.00", "0.00")
    assert rows["1100"] == ("4950.00", "0.00")
    assert tb["total_debit"] == tb["total_credit"] == "5050.00"
    before_loan = _tb(accountant_api, as_of=(_today() - timedelta(days=41)).isoformat())
    assert before_loan["accounts"] == []
    assert before_loan["total_debit"] == before_loan["total_credit"] == "0.00"


def test_trial_balance_after_a_reversal_still_balances(
    paid_loan: tuple[Loan, Repayment, Repayment], accountant_api: ApiClient
) -> None:
    _loan, first, _second = paid_loan
    response = accountant_api.post(f"/api/repayments/{first.pk}/reverse", {"reason": "x"})
    assert response.status_code == 200
    tb = _tb(accountant_api)
    rows = {row["code"]: (row["debit"], row["credit"]) for row in tb["accounts"]}
    assert rows["1010"] == ("500.00", "0.00")
    assert rows["1100"] == ("4596.06", "0.00")
    assert rows["4010"] == ("0.00", "96.06")
    assert tb["total_debit"] == tb["total_credit"] == "5096.06"


def test_trial_balance_reads_closed_days_the_same(
    paid_loan: tuple[Loan, Repayment, Repayment], admin_user: User, accountant_api: ApiClient
) -> None:
    before = _tb(accountant_api)
    books_close(through=_today() - timedelta(days=10), user=admin_user)
    assert _tb(accountant_api) == before


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"as_of": "2026-02-30"}, "as_of"),
        ({"as_of": "soon"}, "as_of"),
        ({"asof": "2026-01-01"}, "asof"),
    ],
)
def test_trial_balance_refuses_bad_input(
    accountant_api: ApiClient, params: dict[str, str], field: str
) -> None:
    response = accountant_api.get("/api/gl/trial-balance", params)
    assert response.status_code == 422
    assert field in _fields(response)


# --- GET /api/gl/entries --------------------------------------------------------------------


def test_entries_with_balanced_lines(
    paid_loan: tuple[Loan, Repayment, Repayment], accountant_api: ApiClient
) -> None:
    loan, first, _second = paid_loan
    response = accountant_api.get("/api/gl/entries")
    assert response.status_code == 200, response.content
    page = response.json()
    assert page["count"] == 3
    assert (page["page"], page["page_size"]) == (1, 25)
    dates = [entry["value_date"] for entry in page["items"]]
    assert dates == sorted(dates)
    for entry in page["items"]:
        assert set(entry) >= {
            "id",
            "value_date",
            "memo",
            "source",
            "transaction_id",
            "loan_id",
            "lines",
        }
        assert entry["loan_id"] == loan.pk
        assert sum(Decimal(line["debit"]) for line in entry["lines"]) == sum(
            Decimal(line["credit"]) for line in entry["lines"]
        )
    payment = page["items"][1]
    assert payment["transaction_id"] == LoanTransaction.objects.get(repayment=first).pk
    assert payment["source"] == "loan_transaction"
    assert {(line["account"], line["debit"], line["credit"]) for line in payment["lines"]} == {
        ("1010", "100.00", "0.00"),
        ("1100", "0.00", "50.00"),
        ("4010", "0.00", "50.00"),
    }


def test_entries_filtered_by_account_and_dates(
    paid_loan: tuple[Loan, Repayment, Repayment], accountant_api: ApiClient
) -> None:
    cash = accountant_api.get("/api/gl/entries", {"account": "1010"}).json()
    assert cash["count"] == 2
    assert all(any(line["account"] == "1010" for line in e["lines"]) for e in cash["items"])
    bank = accountant_api.get("/api/gl/entries", {"account": "1020"}).json()
    assert [e["memo"].split()[0] for e in bank["items"]] == ["Disbursement"]
    window = {
        "from": (_today() - timedelta(days=25)).isoformat(),
        "to": (_today() - timedelta(days=10)).isoformat(),
    }
    ranged = accountant_api.get("/api/gl/entries", window).json()
    assert [e["value_date"] for e in ranged["items"]] == [str(_today() - timedelta(days=20))]
    since = accountant_api.get("/api/gl/entries", {"from": window["to"]}).json()
    assert since["count"] == 1


def test_entries_are_paged(
    paid_loan: tuple[Loan, Repayment, Repayment], accountant_api: ApiClient
) -> None:
    first = accountant_api.get("/api/gl/entries", {"page_size": "2"}).json()
    second = accountant_api.get("/api/gl/entries", {"page_size": "2", "page": "2"}).json()
    assert first["count"] == second["count"] == 3
    assert len(first["items"]) == 2 and len(second["items"]) == 1
    ids = [e["id"] for e in first["items"] + second["items"]]
    assert len(set(ids)) == 3


def test_entries_show_the_reversal_and_the_replay(
    paid_loan: tuple[Loan, Repayment, Repayment], admin_api: ApiClient
) -> None:
    _loan, first, _second = paid_loan
    assert admin_api.post(f"/api/repayments/{first.pk}/reverse", {"reason": "x"}).status_code == 200
    items = admin_api.get("/api/gl/entries").json()["items"]
    sources = sorted(e["source"] for e in items)
    assert sources == ["loan_transaction"] * 3 + ["replay", "reversal"]
    reversal = next(e for e in items if e["source"] == "reversal")
    assert {(line["account"], line["debit"], line["credit"]) for line in reversal["lines"]} == {
        ("1010", "0.00", "100.00"),
        ("1100", "50.00", "0.00"),
        ("4010", "50.00", "0.00"),
    }


def test_entries_queries_do_not_grow_with_the_page(
    paid_loan: tuple[Loan, Repayment, Repayment],
    admin_user: User,
    accountant_api: ApiClient,
    django_assert_max_num_queries: Any,
) -> None:
    loan, _first, _second = paid_loan
    for days_ago in (4, 3, 2, 1):
        _pay(loan, admin_user, "20.00", days_ago)
    with django_assert_max_num_queries(10):
        assert len(accountant_api.get("/api/gl/entries").json()["items"]) == 7


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"account": "9999"}, "account"),
        ({"from": "2026-13-01"}, "from"),
        ({"from": "2026-02-01", "to": "2026-01-01"}, "from"),
        ({"acount": "1010"}, "acount"),
        ({"page": "0"}, "page"),
        ({"page_size": "1000"}, "page_size"),
    ],
)
def test_entries_refuse_bad_input(
    accountant_api: ApiClient, params: dict[str, str], field: str
) -> None:
    response = accountant_api.get("/api/gl/entries", params)
    assert response.status_code == 422, response.content
    assert field in _fields(response)


@pytest.mark.parametrize("path", ["/api/gl/accounts", "/api/gl/trial-balance", "/api/gl/entries"])
def test_officer_cannot_read_the_ledger(officer_api: ApiClient, path: str) -> None:
    response = officer_api.get(path)
    assert response.status_code == 403
    assert response.json()["detail"]


# --- POST /api/books/close and the 409 it causes --------------------------------------------


def test_admin_closes_the_books(admin_api: ApiClient, admin_user: User) -> None:
    through = _today() - timedelta(days=3)
    response = admin_api.post("/api/books/close", {"through": through.isoformat()})
    assert response.status_code == 200, response.content
    assert response.json()["through"] == str(through)
    assert response.json()["closed_by"] == admin_user.username
    assert BooksClosing.objects.get().through == through
    assert AuditLog.objects.filter(action=AuditLog.Action.BOOKS_CLOSED).count() == 1


@pytest.mark.parametrize("days_ago", [0, -1])
def test_books_cannot_be_closed_through_today_or_later(admin_api: ApiClient, days_ago: int) -> None:
    through = _today() - timedelta(days=days_ago)
    response = admin_api.post("/api/books/close", {"through": through.isoformat()})
    assert response.status_code == 422
    assert _fields(response) == {"through"}
    assert not BooksClosing.objects.exists()


def test_books_cannot_be_closed_through_a_closed_date_again(admin_api: ApiClient) -> None:
    later = (_today() - timedelta(days=2)).isoformat()
    earlier = (_today() - timedelta(days=5)).isoformat()
    assert admin_api.post("/api/books/close", {"through": later}).status_code == 200
    for through in (later, earlier):
        response = admin_api.post("/api/books/close", {"through": through})
        assert response.status_code == 422
        assert _fields(response) == {"through"}
        assert "already closed" in response.json()["detail"][0]["message"]
    assert BooksClosing.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "through"),
        ({"through": "yesterday"}, "through"),
        ({"through": "2026-01-01", "force": True}, "force"),
    ],
)
def test_books_close_refuses_bad_input(
    admin_api: ApiClient, body: dict[str, Any], field: str
) -> None:
    response = admin_api.post("/api/books/close", body)
    assert response.status_code == 422
    assert field in _fields(response)
    assert not BooksClosing.objects.exists()


def test_only_admin_closes_the_books(
    officer_api: ApiClient, accountant_api: ApiClient, anon_api: ApiClient
) -> None:
    body = {"through": (_today() - timedelta(days=1)).isoformat()}
    assert officer_api.post("/api/books/close", body).status_code == 403
    assert accountant_api.post("/api/books/close", body).status_code == 403
    assert anon_api.post("/api/books/close", body).status_code == 401
    assert not BooksClosing.objects.exists()


def test_repayment_dated_in_closed_books_is_409(admin_api: ApiClient) -> None:
    loan = ActiveLoanFactory(disbursed_days_ago=10)
    yesterday = (_today() - timedelta(days=1)).isoformat()
    assert admin_api.post("/api/books/close", {"through": yesterday}).status_code == 200
    before = _footprint()
    response = admin_api.post(
        f"/api/loans/{loan.pk}/repayments", {"amount": "100.00", "paid_on": yesterday}
    )
    assert response.status_code == 409, response.content
    assert "closed through" in response.json()["detail"]
    assert _footprint() == before
    today = admin_api.post(f"/api/loans/{loan.pk}/repayments", {"amount": "100.00"})
    assert today.status_code == 201


# --- the schema -----------------------------------------------------------------------------


def test_openapi_documents_the_ledger_endpoints() -> None:
    schema = Client().get("/api/openapi.json").json()
    paths = schema["paths"]
    assert set(paths["/api/loans/{id}/transactions"]) == {"get"}
    assert set(paths["/api/repayments/{id}/reverse"]) == {"post"}
    assert set(paths["/api/gl/accounts"]) == {"get"}
    assert set(paths["/api/gl/trial-balance"]) == {"get"}
    assert set(paths["/api/gl/entries"]) == {"get"}
    assert set(paths["/api/books/close"]) == {"post"}
    components = schema["components"]["schemas"]
    assert components["TrialBalanceRow"]["properties"]["debit"]["type"] == "string"
    assert components["TransactionOut"]["properties"]["amount"]["type"] == "string"
