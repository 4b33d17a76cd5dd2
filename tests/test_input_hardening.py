"""Issue 19, input items: the same limits on the page forms and the API, no control characters
anywhere, bounded dates, one amount parser, form keys namespaced by user, no-store on
everything behind sign-in, and CSV cells that cannot run as formulas.

The NUL-byte tests matter most on PostgreSQL (which cannot store a NUL and answered 500); run
them there too: DATABASE_URL=postgres://... pytest --create-db tests/test_input_hardening.py
"""

from __future__ import annotations

import csv
import importlib
import inspect
import io
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django import forms
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from karo.inputs import (
    EARLIEST_VALUE_DATE,
    DayFirstDateField,
    DayFirstDateInput,
    InputRulesMixin,
    PlainDecimalField,
    latest_value_date,
    parse_decimal,
    text_problem,
)
from karo.spreadsheet import formula_safe
from lending.forms import BorrowerForm
from lending.forms_repayments import RepaymentForm
from lending.limits import ADDRESS_MAX_LENGTH
from lending.models import Borrower, Loan, Repayment
from lending.services.repayments import repayment_record
from reporting.exports import cell
from tests.api.conftest import ApiClient, token_for
from tests.factories import AccountantFactory, ActiveLoanFactory, BorrowerFactory, LoanFactory

pytestmark = pytest.mark.django_db
D = Decimal
FORM_MODULES = [
    "lending.forms",
    "lending.forms_repayments",
    "ledger.forms",
    "reporting.forms",
    "collecting.forms",
]


def today() -> date:
    return timezone.localdate()


@pytest.fixture
def loan(db: Any) -> Loan:
    return ActiveLoanFactory(disbursed_days_ago=75)


@pytest.fixture
def admin_api(admin_user: User) -> ApiClient:
    return ApiClient(token_for(admin_user))


@pytest.fixture
def officer_api(officer: User) -> ApiClient:
    return ApiClient(token_for(officer))


@pytest.fixture
def accountant_api(accountant: User) -> ApiClient:
    return ApiClient(token_for(accountant))


@pytest.fixture
def anon_api(db: Any) -> ApiClient:
    return ApiClient()


def borrower_form_data(**overrides: Any) -> dict[str, Any]:
    data = {
        "full_name": "Esther Phiri",
        "national_id": "ZX 9988-77",
        "date_of_birth": "1988-02-29",
        "phone": "+260 977 123 456",
        "email": "esther@example.org",
        "address": "Plot 4, Cairo Road",
        "employer": "Clinic",
        "monthly_income": "2100.50",
        "notes": "",
    }
    return data | overrides


def borrower_body(**overrides: Any) -> dict[str, Any]:
    data = borrower_form_data(**overrides)
    data.pop("notes")
    return data


def payment_data(key: str = "c" * 32, **overrides: str) -> dict[str, str]:
    data = {
        "amount": "100.00",
        "paid_on": today().isoformat(),
        "method": "cash",
        "reference": "",
        "idempotency_key": key,
    }
    return data | overrides


# --- every form follows the rules -------------------------------------------------------------


def _page_forms() -> list[type[forms.BaseForm]]:
    found = []
    for name in FORM_MODULES:
        module = importlib.import_module(name)
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, forms.BaseForm) and obj.__module__ == name:
                found.append(obj)
    return found


@pytest.mark.parametrize("form_class", _page_forms(), ids=lambda c: c.__name__)
def test_every_page_form_takes_the_input_rules(form_class: type[forms.BaseForm]) -> None:
    assert issubclass(form_class, InputRulesMixin)
    for name, field in form_class.base_fields.items():
        if isinstance(field, forms.DecimalField):
            assert isinstance(field, PlainDecimalField), name
        if isinstance(field, forms.DateField):  # typed day first, never a browser date input
            assert isinstance(field, DayFirstDateField), name
            assert isinstance(field.widget, DayFirstDateInput | forms.HiddenInput), name


# --- field sizes --------------------------------------------------------------------------------


def test_the_borrower_form_takes_no_longer_an_address_than_the_api(officer_client: Client) -> None:
    response = officer_client.post(
        reverse("borrower_create"), borrower_form_data(address="x" * 1_000_000)
    )
    assert response.status_code == 200
    assert f"at most {ADDRESS_MAX_LENGTH} characters" in response.content.decode()
    assert not Borrower.objects.exists()


def test_an_address_at_the_limit_is_taken(officer_client: Client) -> None:
    data = borrower_form_data(address="x" * ADDRESS_MAX_LENGTH, notes="y" * ADDRESS_MAX_LENGTH)
    response = officer_client.post(reverse("borrower_create"), data)
    assert response.status_code == 302
    assert len(Borrower.objects.get().address) == ADDRESS_MAX_LENGTH


def test_the_api_refuses_the_same_address(officer_api: ApiClient) -> None:
    response = officer_api.post("/api/borrowers", borrower_body(address="x" * 2001))
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "address"


def test_reasons_take_as_much_on_the_page_as_in_the_api(accountant: User, loan: Loan) -> None:
    from lending.forms import ReasonForm, WithdrawForm
    from lending.forms_repayments import ReverseForm

    for form_class in (ReasonForm, WithdrawForm, ReverseForm):
        field = form_class.base_fields["reason"]
        assert isinstance(field, forms.CharField) and field.max_length == 2000


# --- control characters -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "multiline", "refused"),
    [
        ("plain", False, False),
        ("two\nlines", True, False),
        ("tab\there", True, False),
        ("two\nlines", False, True),
        ("tab\there", False, True),
        ("nul\x00", True, True),
        ("vertical\x0btab", True, True),
        ("escape\x1b[31m", True, True),
        ("delete\x7f", True, True),
        ("c1\x85", True, True),
        ("lone \ud800 surrogate", True, True),
        ("Ŋgũgĩ wa Thiong'o — ታደሰ", False, False),
    ],
)
def test_the_text_rule(text: str, multiline: bool, refused: bool) -> None:
    assert (text_problem(text, multiline=multiline) is not None) is refused


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("address", "Plot 4\x0b Cairo Road"),  # a vertical tab pasted from a word processor
        ("full_name", "Esther\nPhiri"),
        ("employer", "Clinic\x1b"),
        ("notes", "bell\x07"),
    ],
)
def test_a_form_refuses_control_characters_next_to_the_field(field: str, value: str) -> None:
    form = BorrowerForm(borrower_form_data(**{field: value}))
    assert not form.is_valid()
    assert field in form.errors


@pytest.mark.parametrize("path", ["/borrowers/", "/repayments/", "/loans/", "/reports/"])
def test_a_nul_in_a_search_is_a_400(admin_client: Client, path: str) -> None:
    assert admin_client.get(f"{path}?q=%00").status_code == 400
    assert admin_client.get(f"{path}?q=a%1Bb").status_code == 400
    assert admin_client.get(f"{path}?%00=1").status_code == 400


def test_a_nul_in_the_borrower_picker_search_is_a_400(officer_client: Client) -> None:
    assert officer_client.get("/borrowers/search/?borrower_q=%00").status_code == 400


@pytest.mark.parametrize(
    "url",
    [
        "/admin/lending/loanproduct/?name=%00",
        "/admin/lending/loanproduct/?q=%00",
        "/admin/lending/loanproduct/?is_active__exact=%00",
        "/admin/ledger/journalentry/?q=%00",
    ],
)
def test_a_nul_in_an_admin_filter_is_a_400(admin_client: Client, url: str) -> None:
    assert admin_client.get(url).status_code == 400


def test_a_nul_in_a_posted_form_is_a_400_and_writes_nothing(officer_client: Client) -> None:
    response = officer_client.post(reverse("borrower_create"), borrower_form_data(address="\x00"))
    assert response.status_code == 400
    assert not Borrower.objects.exists()


def test_a_search_with_ordinary_text_still_works(admin_client: Client) -> None:
    BorrowerFactory(full_name="Ŋgũgĩ Kamau")
    response = admin_client.get("/borrowers/", {"q": "Ŋgũgĩ"})
    assert response.status_code == 200 and "Kamau" in response.content.decode()


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/borrowers", {"q": "\x00"}),
        ("/api/loans", {"q": "a\x00"}),
        ("/api/loans", {"officer": "\x1b"}),
        ("/api/gl/entries", {"account": "\x00"}),
    ],
)
def test_the_api_answers_a_nul_in_a_query_with_a_422(
    admin_api: ApiClient, path: str, params: dict[str, str]
) -> None:
    response = admin_api.get(path, params)
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] in params


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("full_name", "Ama\x00"),
        ("full_name", "Ama\nMensah"),
        ("address", "4 Station Road\x0b Kumasi"),
        ("employer", "\x7f"),
    ],
)
def test_the_api_refuses_control_characters_in_a_body(
    officer_api: ApiClient, field: str, value: str
) -> None:
    response = officer_api.post("/api/borrowers", borrower_body(**{field: value}))
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == field
    assert not Borrower.objects.exists()


def test_the_api_keeps_line_breaks_in_an_address(officer_api: ApiClient) -> None:
    response = officer_api.post("/api/borrowers", borrower_body(address="Plot 4\nCairo Road"))
    assert response.status_code == 201


# --- dates --------------------------------------------------------------------------------------


def test_a_birth_before_1900_is_refused_on_the_page_and_in_the_api(
    officer_client: Client, officer_api: ApiClient
) -> None:
    for value in ("0001-01-01", "1899-12-31"):
        response = officer_client.post(
            reverse("borrower_create"), borrower_form_data(date_of_birth=value)
        )
        assert response.status_code == 200
        assert "on or after 01 Jan 1900" in response.content.decode()
        response = officer_api.post("/api/borrowers", borrower_body(date_of_birth=value))
        assert response.status_code == 422
        assert response.json()["detail"][0]["field"] == "date_of_birth"
    assert not Borrower.objects.exists()
    # 1 Jan 1900 itself passes the date bound but not the oldest age at registration (100).
    form = BorrowerForm(borrower_form_data(date_of_birth="1900-01-01"))
    assert "older than 100" in form.errors["date_of_birth"][0]


@pytest.mark.parametrize("value", ["0001-01-01", "1999-12-31"])
def test_a_payment_before_2000_is_refused(
    accountant_client: Client, accountant_api: ApiClient, loan: Loan, value: str
) -> None:
    url = reverse("repayment_create", args=[loan.pk])
    response = accountant_client.post(url, payment_data(paid_on=value))
    assert response.status_code == 200
    assert "Enter a date on or after 01 Jan 2000." in response.content.decode()
    response = accountant_api.post(
        f"/api/loans/{loan.pk}/repayments", {"amount": "10.00", "paid_on": value}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "paid_on"
    assert not Repayment.objects.exists()


def test_a_disbursement_before_2000_is_refused(
    admin_client: Client, admin_api: ApiClient, officer: User
) -> None:
    pending = LoanFactory(submitted_by=officer)
    response = admin_client.post(
        reverse("loan_approve", args=[pending.pk]), {"disbursement_date": "0001-01-01"}
    )
    assert response.status_code in (200, 302)
    pending.refresh_from_db()
    assert pending.status == Loan.Status.PENDING
    response = admin_api.post(
        f"/api/loans/{pending.pk}/approve", {"disbursement_date": "0001-01-01"}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "disbursement_date"


def test_the_calculator_refuses_dates_far_off(officer_client: Client) -> None:
    data = {
        "principal": "5000",
        "annual_interest_rate": "12",
        "installments": "12",
        "frequency": "monthly",
        "interest_method": "declining",
        "amortization": "equal_installments",
        "installment_rounding": "nearest",
        "interest_period": "per_period",
        "days_in_year": "365",
    }
    too_late = (latest_value_date() + timedelta(days=1)).isoformat()
    for extra in (
        {"disbursement_date": "0001-01-01"},
        {"disbursement_date": today().isoformat(), "first_due_date": "9999-12-01"},
        {"disbursement_date": too_late},
    ):
        response = officer_client.get(reverse("calculator"), data | extra)
        assert response.status_code == 200
        html = response.content.decode()
        assert "Enter a date on or" in html, extra


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/repayments/", {"date_from": "0001-01-01"}),
        ("/repayments/export.csv", {"date_from": "0001-01-01"}),
        ("/loans/", {"submitted_from": "0001-01-01"}),
        ("/reports/collections/", {"date_from": "0001-01-01", "date_to": "0001-01-31"}),
    ],
)
def test_a_filter_date_before_1900_is_refused_not_a_500(
    admin_client: Client, path: str, params: dict[str, str]
) -> None:
    response = admin_client.get(path, params)
    assert response.status_code in (200, 400)


def test_the_api_refuses_value_dates_out_of_range(admin_api: ApiClient) -> None:
    response = admin_api.get("/api/gl/entries", {"from": "0001-01-01"})
    assert response.status_code == 422
    response = admin_api.post("/api/books/close", {"through": "1999-12-31"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "through"


def test_the_earliest_value_date_is_taken() -> None:
    form = RepaymentForm(payment_data(paid_on=EARLIEST_VALUE_DATE.isoformat()))
    assert form.is_valid(), form.errors


# --- amounts ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [("100", D("100")), (" 100.50 ", D("100.50")), ("0.5", D("0.5")), ("-5", D("-5"))],
)
def test_the_amount_parser_reads_plain_decimals(text: str, value: Decimal) -> None:
    assert parse_decimal(text) == value


ARABIC_INDIC_100 = "\u0661\u0660\u0660"
FULLWIDTH_100 = "\uff11\uff10\uff10"
BAD_AMOUNTS = [
    *("1E2", "1e2", "+10", ARABIC_INDIC_100, FULLWIDTH_100, "1_000"),
    *("NaN", "Infinity", "0x10", ".5", "5.", ""),
]


@pytest.mark.parametrize("text", BAD_AMOUNTS)
def test_the_amount_parser_refuses_anything_else(text: str) -> None:
    with pytest.raises(ValueError):
        parse_decimal(text)


@pytest.mark.parametrize("text", [t for t in BAD_AMOUNTS if t])
def test_the_payment_form_and_the_api_refuse_the_same_amounts(
    accountant_api: ApiClient, loan: Loan, text: str
) -> None:
    form = RepaymentForm(payment_data(amount=text))
    assert not form.is_valid() and "amount" in form.errors
    response = accountant_api.post(f"/api/loans/{loan.pk}/repayments", {"amount": text})
    assert response.status_code == 422
    assert not Repayment.objects.exists()


def test_the_payment_form_still_takes_what_people_type() -> None:
    form = RepaymentForm(payment_data(amount=" 100.5 "))
    assert form.is_valid(), form.errors
    assert form.cleaned_data["amount"] == D("100.50")


def test_a_negative_amount_still_says_so_on_the_form() -> None:
    form = BorrowerForm(borrower_form_data(monthly_income="-5"))
    assert form.errors["monthly_income"] == ["The monthly income cannot be negative."]


# --- one-time keys ------------------------------------------------------------------------------


def test_a_form_key_is_stored_under_its_user(accountant_client: Client, loan: Loan) -> None:
    accountant_client.post(reverse("repayment_create", args=[loan.pk]), payment_data("k" * 32))
    repayment = Repayment.objects.get()
    assert repayment.idempotency_key == f"form:{repayment.recorded_by_id}:{'k' * 32}"


def test_a_form_key_cannot_take_another_users_api_key(
    accountant_client: Client, loan: Loan
) -> None:
    other = AccountantFactory()
    api = ApiClient(token_for(other))
    api_answer = api.post(
        f"/api/loans/{loan.pk}/repayments", {"amount": "10.00"}, **{"Idempotency-Key": "abc"}
    )
    assert api_answer.status_code == 201
    # The form sends the API's stored key as its own: a new payment, not the API's replayed.
    accountant_client.post(
        reverse("repayment_create", args=[loan.pk]),
        payment_data(f"api:{other.pk}:abc", amount="20.00"),
    )
    assert Repayment.objects.count() == 2
    retry = api.post(
        f"/api/loans/{loan.pk}/repayments", {"amount": "10.00"}, **{"Idempotency-Key": "abc"}
    )
    assert retry.status_code == 201 and retry.json()["id"] == api_answer.json()["id"]


def test_two_users_with_the_same_form_key_record_two_payments(
    accountant: User, accountant_client: Client, loan: Loan
) -> None:
    other = Client()
    other.force_login(AccountantFactory())
    url = reverse("repayment_create", args=[loan.pk])
    accountant_client.post(url, payment_data("s" * 32))
    other.post(url, payment_data("s" * 32))
    assert Repayment.objects.count() == 2


def test_a_form_key_with_spaces_or_too_long_is_refused() -> None:
    assert "idempotency_key" in RepaymentForm(payment_data("a b")).errors
    assert "idempotency_key" in RepaymentForm(payment_data("a" * 65)).errors


# --- Cache-Control ------------------------------------------------------------------------------


def _no_store(response: Any) -> bool:
    return "no-store" in response.get("Cache-Control", "")


def test_signed_in_pages_are_not_stored(admin_client: Client) -> None:
    for path in ("/", "/borrowers/", "/loans/", "/repayments/", "/reports/"):
        response = admin_client.get(path, follow=True)
        assert _no_store(response), path


def test_an_error_page_behind_sign_in_is_not_stored(admin_client: Client) -> None:
    response = admin_client.get("/borrowers/999999/")
    assert response.status_code == 404 and _no_store(response)


def test_api_answers_are_not_stored(admin_api: ApiClient, anon_api: ApiClient) -> None:
    assert _no_store(admin_api.get("/api/borrowers"))
    assert _no_store(anon_api.get("/api/borrowers"))  # the 401 too


def test_receipts_and_the_csv_are_not_stored(accountant: User, accountant_client: Client) -> None:
    loan = ActiveLoanFactory(disbursed_days_ago=10)
    repayment = repayment_record(
        loan=loan, user=accountant, amount=D("10.00"), paid_on=today(), method="cash"
    )
    number = repayment.receipt.number
    for url in (
        reverse("receipt_pdf", args=[number]),
        reverse("receipt_detail", args=[number]),
        reverse("repayment_export"),
    ):
        response = accountant_client.get(url)
        assert response.status_code == 200, url
        assert _no_store(response), url


# --- CSV ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "safe"),
    [
        ("=1+1", "'=1+1"),
        (" =1+1", "' =1+1"),
        ("\t=1+1", "'\t=1+1"),
        ("  \t @SUM(A1)", "'  \t @SUM(A1)"),
        ("\r\n+1", "'\r\n+1"),
        ("\tplain", "'\tplain"),
        ("-5 owed", "'-5 owed"),
        ("Ama Mensah", "Ama Mensah"),
        ("a = b", "a = b"),
        ("", ""),
    ],
)
def test_formula_cells_are_neutralised(text: str, safe: str) -> None:
    assert formula_safe(text) == safe
    assert cell(text) == safe


def test_amounts_stay_numbers_negative_ones_too() -> None:
    assert cell(D("-1200.00")) == "-1200.00"
    assert cell(-3) == -3


def test_the_repayments_csv_neutralises_a_name_with_a_leading_space(
    accountant: User, accountant_client: Client
) -> None:
    # Stored before the forms stripped names, or written by another client.
    borrower = BorrowerFactory(full_name=' =HYPERLINK("http://x")')
    loan = ActiveLoanFactory(borrower=borrower, disbursed_days_ago=10)
    repayment_record(loan=loan, user=accountant, amount=D("10.00"), paid_on=today(), method="cash")
    response = accountant_client.get(reverse("repayment_export"))
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    name = rows[0].index("Borrower")
    assert rows[1][name] == '\' =HYPERLINK("http://x")'
    assert rows[1][rows[0].index("Amount received")] == "10.00"
