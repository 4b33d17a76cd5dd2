"""Borrower pages: role matrix, live search, sorting, pagination, forms with inline errors."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from lending.models import AuditLog, Borrower
from lending.services.borrowers import duplicate_id_message
from tests.factories import ActiveLoanFactory, BorrowerFactory, LoanFactory

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def form_data(**overrides: Any) -> dict[str, Any]:
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


@pytest.fixture
def borrower() -> Borrower:
    return BorrowerFactory(
        full_name="Kwame Asante", national_id="GH-1234-5678", phone="+233 20 111 2222"
    )


# --- role matrix ------------------------------------------------------------------------------

READ_PAGES = ["borrower_list", "borrower_detail", "borrower_search"]
WRITE_PAGES = ["borrower_create", "borrower_update"]


def url_for(name: str, borrower: Borrower) -> str:
    return reverse(
        name, args=[borrower.pk] if name in {"borrower_detail", "borrower_update"} else []
    )


@pytest.mark.parametrize("name", READ_PAGES)
def test_every_role_reads_borrowers(role_client: Any, borrower: Borrower, name: str) -> None:
    _, client = role_client
    assert client.get(url_for(name, borrower)).status_code == 200


@pytest.mark.parametrize("name", WRITE_PAGES)
@pytest.mark.parametrize(
    ("role", "status"), [("admin", 200), ("officer", 200), ("accountant", 403)]
)
def test_who_may_open_the_borrower_forms(
    request: pytest.FixtureRequest, borrower: Borrower, name: str, role: str, status: int
) -> None:
    client = request.getfixturevalue(f"{role}_client")
    assert client.get(url_for(name, borrower)).status_code == status


@pytest.mark.parametrize("name", WRITE_PAGES)
def test_accountant_posts_are_refused_and_change_nothing(
    accountant_client: Client, borrower: Borrower, name: str
) -> None:
    before = (Borrower.objects.count(), AuditLog.objects.count())
    response = accountant_client.post(url_for(name, borrower), form_data())
    assert response.status_code == 403
    assert (Borrower.objects.count(), AuditLog.objects.count()) == before
    borrower.refresh_from_db()
    assert borrower.full_name == "Kwame Asante"


@pytest.mark.parametrize("name", READ_PAGES + WRITE_PAGES)
def test_anonymous_users_go_to_the_login_page(
    client: Client, borrower: Borrower, name: str
) -> None:
    response = client.get(url_for(name, borrower))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_accountant_sees_no_edit_buttons(accountant_client: Client, borrower: Borrower) -> None:
    html = accountant_client.get(reverse("borrower_detail", args=[borrower.pk])).content.decode()
    assert reverse("borrower_update", args=[borrower.pk]) not in html
    assert reverse("loan_apply") not in html
    listing = accountant_client.get(reverse("borrower_list")).content.decode()
    assert reverse("borrower_create") not in listing


# --- list: search, sort, pagination -----------------------------------------------------------


@pytest.mark.parametrize(
    "query", ["kwame", "ASANTE", "GH12345678", "gh 1234-5678", "+233 20", "B-0000"]
)
def test_search_finds_by_name_number_phone_or_national_id(
    officer_client: Client, borrower: Borrower, query: str
) -> None:
    other = BorrowerFactory(full_name="Zed Other", national_id="ZZ1", phone="+1 650 253 0000")
    response = officer_client.get(reverse("borrower_list"), {"q": query})
    names = [b.full_name for b in response.context["page_obj"]]
    assert "Kwame Asante" in names
    if query != "B-0000":
        assert other.full_name not in names


def test_htmx_search_returns_only_the_results_fragment(
    officer_client: Client, borrower: Borrower
) -> None:
    response = officer_client.get(reverse("borrower_list"), {"q": "kwame"}, **HTMX)
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="borrower-results"')
    assert "Kwame Asante" in html and "<html" not in html
    assert "HX-Request" in response["Vary"]


def test_search_box_updates_as_you_type(officer_client: Client) -> None:
    html = officer_client.get(reverse("borrower_list")).content.decode()
    assert 'hx-trigger="input changed delay:300ms, search"' in html
    assert 'hx-target="#borrower-results"' in html
    assert '<form method="get" action="/borrowers/"' in html  # works without JavaScript


def test_sorting_by_name_number_and_registration(officer_client: Client) -> None:
    for name in ["Charlie", "alice", "Bob"]:
        BorrowerFactory(full_name=name)

    def names(sort: str) -> list[str]:
        response = officer_client.get(reverse("borrower_list"), {"sort": sort})
        return [b.full_name for b in response.context["page_obj"]]

    assert names("name") == ["alice", "Bob", "Charlie"] or names("name") == [
        "Bob",
        "Charlie",
        "alice",
    ]
    assert names("number") == ["Charlie", "alice", "Bob"]
    assert names("-number") == ["Bob", "alice", "Charlie"]
    assert names("-created") == ["Bob", "alice", "Charlie"]
    assert names("created") == ["Charlie", "alice", "Bob"]
    assert names("nonsense") == names("name")


def test_borrower_list_paginates_by_25_with_fixed_queries(
    officer_client: Client, django_assert_max_num_queries: Any
) -> None:
    for _ in range(27):
        BorrowerFactory()
    with django_assert_max_num_queries(9):
        first = officer_client.get(reverse("borrower_list"))
    assert len(first.context["page_obj"]) == 25
    with django_assert_max_num_queries(9):
        second = officer_client.get(reverse("borrower_list"), {"page": 2})
    assert len(second.context["page_obj"]) == 2
    assert officer_client.get(reverse("borrower_list"), {"page": "x"}).status_code == 200


# --- detail -------------------------------------------------------------------------------------


def test_detail_lists_loans_with_totals(
    officer_client: Client, borrower: Borrower, django_assert_max_num_queries: Any
) -> None:
    active = ActiveLoanFactory(borrower=borrower, principal=Decimal("1000.00"))
    ActiveLoanFactory(borrower=borrower, principal=Decimal("2000.00"))
    pending = LoanFactory(borrower=borrower, principal=Decimal("700.00"))
    # Session, user, permissions and groups (7, of which 3 save the session), then the
    # borrower, the loan count, the totals and one page of loans: the same for any number.
    with django_assert_max_num_queries(11):
        response = officer_client.get(reverse("borrower_detail", args=[borrower.pk]))
    totals = response.context["totals"]
    assert totals["loans"] == 3 and totals["active"] == 2 and totals["pending"] == 1
    assert totals["principal"] == Decimal("3000.00")
    active.refresh_from_db()
    html = response.content.decode()
    assert active.number in html and pending.number in html
    assert f"{totals['outstanding']:,}" in html


# --- create and edit ----------------------------------------------------------------------------


def test_officer_registers_a_borrower(officer_client: Client) -> None:
    response = officer_client.post(reverse("borrower_create"), form_data())
    borrower = Borrower.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("borrower_detail", args=[borrower.pk])
    assert borrower.national_id == "ZX998877"
    assert borrower.monthly_income == Decimal("2100.50")
    assert AuditLog.objects.filter(action=AuditLog.Action.BORROWER_CREATED).count() == 1
    page = officer_client.get(response["Location"]).content.decode()
    assert f"is registered as {borrower.number}" in page


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"full_name": ""}, "full_name", "Enter the borrower's full name."),
        ({"date_of_birth": "yesterday"}, "date_of_birth", "Enter the date of birth as dd/mm/yyyy"),
        ({"monthly_income": "-10"}, "monthly_income", "The monthly income cannot be negative."),
        ({"monthly_income": "lots"}, "monthly_income", "Enter the monthly income as a number"),
        ({"email": "not-an-email"}, "email", "valid email"),
    ],
)
def test_bad_borrower_input_is_shown_next_to_the_field(
    officer_client: Client, overrides: dict[str, Any], field: str, message: str
) -> None:
    response = officer_client.post(reverse("borrower_create"), form_data(**overrides))
    assert response.status_code == 200
    assert any(message in e for e in response.context["form"].errors[field])
    assert message.split(" as ")[0].replace("'", "&#x27;") in response.content.decode()
    assert not Borrower.objects.exists()


def test_minors_are_refused(officer_client: Client) -> None:
    dob = timezone.localdate() - timedelta(days=365 * 17)
    response = officer_client.post(
        reverse("borrower_create"), form_data(date_of_birth=dob.isoformat())
    )
    assert "at least 18 years old" in response.context["form"].errors["date_of_birth"][0]
    assert not Borrower.objects.exists()


def test_duplicate_national_id_is_refused_with_a_clear_message(
    officer_client: Client, borrower: Borrower
) -> None:
    response = officer_client.post(
        reverse("borrower_create"), form_data(national_id="gh 1234 5678")
    )
    assert response.status_code == 200
    message = (
        f"A borrower with this national ID is already registered: Kwame Asante ({borrower.number})."
    )
    assert response.context["form"].errors["national_id"] == [message]
    html = response.content.decode()
    assert message in html
    link = reverse("borrower_detail", args=[borrower.pk])
    assert f'<a href="{link}">Open {borrower.number} · Kwame Asante</a>' in html
    assert Borrower.objects.count() == 1


def test_edit_saves_and_audits(officer_client: Client, borrower: Borrower) -> None:
    url = reverse("borrower_update", args=[borrower.pk])
    data = form_data(full_name="Kwame Asante Jr", national_id=borrower.national_id)
    response = officer_client.post(url, data)
    assert response.status_code == 302
    borrower.refresh_from_db()
    assert borrower.full_name == "Kwame Asante Jr"
    entry = AuditLog.objects.filter(action=AuditLog.Action.BORROWER_UPDATED).get()
    assert entry.details["changes"]["full_name"] == ["Kwame Asante", "Kwame Asante Jr"]


def test_edit_to_a_taken_national_id_is_refused(officer_client: Client, borrower: Borrower) -> None:
    other = BorrowerFactory(national_id="TAKEN1")
    response = officer_client.post(
        reverse("borrower_update", args=[borrower.pk]), form_data(national_id="taken-1")
    )
    assert response.context["form"].errors["national_id"] == [duplicate_id_message(other)]
    # The heading still shows the stored record, not the rejected input.
    assert response.context["borrower"].full_name == "Kwame Asante"
    borrower.refresh_from_db()
    assert borrower.national_id == "GH12345678" and other.national_id == "TAKEN1"


# --- the application form's picker ---------------------------------------------------------------


def test_picker_search_returns_options_keeping_the_selection(
    officer_client: Client, borrower: Borrower
) -> None:
    chosen = BorrowerFactory(full_name="Chosen One")
    response = officer_client.get(
        reverse("borrower_search"), {"borrower_q": "kwame", "borrower": chosen.pk}, **HTMX
    )
    html = response.content.decode()
    assert f'<option value="{chosen.pk}" selected>' in html
    assert f'<option value="{borrower.pk}"' in html
    assert "1 match" in html


def test_picker_preselects_a_single_match(officer_client: Client, borrower: Borrower) -> None:
    html = officer_client.get(reverse("borrower_search"), {"q": "asante"}).content.decode()
    assert f'<option value="{borrower.pk}" selected>' in html
    assert (
        "no borrower matches"
        in officer_client.get(reverse("borrower_search"), {"q": "nobody"}).content.decode()
    )


def test_borrower_search_is_indexed_on_postgresql() -> None:
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: trigram indexes exist only there")
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'lending_borrower'")
        names = {row[0] for row in cursor.fetchall()}
    assert {"borrower_name_trgm", "borrower_phone_trgm", "borrower_national_id_trgm"} <= names


@pytest.mark.parametrize(
    "query", ["+254 776 780 218", "+254776780218", "0776780218", "776780218", "0776 780", "780218"]
)
def test_phone_search_finds_a_borrower_by_any_form_of_the_number(
    officer_client: Client, query: str
) -> None:
    BorrowerFactory(full_name="Amina Otieno", phone="0776 780 218")
    BorrowerFactory(full_name="Zed Other", phone="+254 712 345 678")
    response = officer_client.get(reverse("borrower_list"), {"q": query})
    assert [b.full_name for b in response.context["page_obj"]] == ["Amina Otieno"]


def test_the_form_stores_the_phone_normalised_and_refuses_nonsense(officer_client: Client) -> None:
    response = officer_client.post(
        reverse("borrower_create"),
        form_data(
            full_name="X", phone="abc", date_of_birth="1890-01-01", monthly_income="9999999999.99"
        ),
    )
    errors = response.context["form"].errors
    assert set(errors) == {"full_name", "phone", "date_of_birth", "monthly_income"}
    assert not Borrower.objects.exists()
    officer_client.post(reverse("borrower_create"), form_data(phone="0712 000 111"))
    assert Borrower.objects.get().phone == "+254712000111"
