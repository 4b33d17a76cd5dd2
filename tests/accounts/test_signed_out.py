"""What a browser whose session ended gets: HX-Redirect for htmx, a kept form for a POST, and
the sign-out message."""

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from accounts.middleware import RESTORE_KEY, SESSION_ENDED_MESSAGE
from lending.models import Repayment
from tests.factories import PASSWORD, AccountantFactory, ActiveLoanFactory, OfficerFactory

pytestmark = pytest.mark.django_db


def test_an_htmx_request_signed_out_is_sent_whole_to_the_login_page(client: Client) -> None:
    response = client.get(
        "/loans/?status=active",
        headers={"HX-Request": "true", "HX-Current-URL": "http://testserver/loans/?q=ab"},
    )
    assert response.status_code == 200
    assert response.content == b""
    assert response["HX-Redirect"] == "/accounts/login/?next=%2Floans%2F%3Fq%3Dab"


def test_an_htmx_request_with_a_foreign_current_url_goes_to_the_login_page_with_home(
    client: Client,
) -> None:
    response = client.get(
        "/loans/", headers={"HX-Request": "true", "HX-Current-URL": "https://evil.example/x"}
    )
    assert response["HX-Redirect"] == "/accounts/login/?next=%2F"


def test_a_plain_page_signed_out_still_redirects_to_the_login_page(client: Client) -> None:
    response = client.get("/loans/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/loans/"


def test_a_payment_posted_signed_out_is_not_recorded_and_its_fields_come_back_once(
    client: Client,
) -> None:
    user = AccountantFactory()
    loan = ActiveLoanFactory(disbursed_days_ago=40)
    form_url = reverse("repayment_create", args=[loan.pk])
    response = client.post(
        form_url,
        {
            "amount": "77.10",
            "method": "cash",
            "reference": "R-1",
            "csrfmiddlewaretoken": "x",
            "idempotency_key": "k-1",
            "password": "typed",
        },
        headers={"Referer": f"http://testserver{form_url}"},
    )
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={form_url.replace('/', '%2F')}"
    assert not Repayment.objects.exists()
    kept = client.session[RESTORE_KEY]
    assert kept["fields"] == {"amount": ["77.10"], "method": ["cash"], "reference": ["R-1"]}

    login = client.get(response["Location"])
    assert SESSION_ENDED_MESSAGE in login.content.decode()

    signed_in = client.post(
        "/accounts/login/", {"username": user.username, "password": PASSWORD, "next": form_url}
    )
    assert signed_in["Location"] == form_url
    page = client.get(form_url)
    assert page.context["RESTORED_FORM"] == {"action": form_url, "fields": kept["fields"]}
    assert 'id="restored-form"' in page.content.decode()
    again = client.get(form_url)
    assert again.context["RESTORED_FORM"] is None


def test_kept_fields_are_only_for_the_page_the_form_was_on(client: Client) -> None:
    user = AccountantFactory()
    loan = ActiveLoanFactory(disbursed_days_ago=40)
    form_url = reverse("repayment_create", args=[loan.pk])
    client.post(form_url, {"amount": "5.00"})
    client.post("/accounts/login/", {"username": user.username, "password": PASSWORD})
    assert client.get("/").context["RESTORED_FORM"] is None
    assert client.get(form_url).context["RESTORED_FORM"]["fields"] == {"amount": ["5.00"]}


def test_signing_out_says_so(client: Client) -> None:
    client.force_login(OfficerFactory())
    response = client.post(reverse("logout"), follow=True)
    assert "You have signed out." in response.content.decode()


def test_the_api_keeps_its_own_answer(client: Client, **_: Any) -> None:
    response = client.get("/api/loans", headers={"HX-Request": "true"})
    assert "HX-Redirect" not in response
