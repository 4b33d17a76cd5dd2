"""Role matrix for the dashboard and every report (page and CSV): allowed, forbidden, anonymous.

DESIGN.md: reports and CSV exports: Admin yes, Loan Officer portfolio reports only,
Accountant yes. A refused export writes nothing (no audit entry)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from lending.models import AuditLog

pytestmark = pytest.mark.django_db

ALLOWED = {
    "dashboard": {"admin", "officer", "accountant"},
    "reports": {"admin", "officer", "accountant"},
    "report_aging": {"admin", "officer", "accountant"},
    "report_disbursements": {"admin", "officer", "accountant"},
    "report_officers": {"admin", "officer", "accountant"},
    "report_collections": {"admin", "accountant"},
}
EXPORTS = [name for name in ALLOWED if name.startswith("report_")]


@pytest.mark.parametrize("name", sorted(ALLOWED))
def test_role_matrix_for_pages(name: str, role_client: tuple[str, Client]) -> None:
    role, client = role_client
    response = client.get(reverse(name))
    assert response.status_code == (200 if role in ALLOWED[name] else 403)


@pytest.mark.parametrize("name", EXPORTS)
def test_role_matrix_for_csv(name: str, role_client: tuple[str, Client]) -> None:
    role, client = role_client
    response = client.get(reverse(name), {"format": "csv"})
    exported = AuditLog.objects.filter(action=AuditLog.Action.REPORT_EXPORTED)
    if role in ALLOWED[name]:
        assert response.status_code == 200
        assert response["Content-Type"] == "text/csv; charset=utf-8"
        assert exported.count() == 1
    else:
        assert response.status_code == 403
        assert "Your role does not allow" in response.content.decode()
        assert exported.count() == 0


@pytest.mark.parametrize("name", sorted(ALLOWED))
def test_anonymous_goes_to_login(client: Client, name: str) -> None:
    response = client.get(reverse(name), {"format": "csv"})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert not AuditLog.objects.filter(action=AuditLog.Action.REPORT_EXPORTED).exists()


def test_officer_sees_only_portfolio_reports_in_the_index(officer_client: Client) -> None:
    html = officer_client.get(reverse("reports")).content.decode()
    assert reverse("report_aging") in html
    assert reverse("report_disbursements") in html
    assert reverse("report_officers") in html
    assert reverse("report_collections") not in html


def test_accountant_sees_every_report_in_the_index(accountant_client: Client) -> None:
    html = accountant_client.get(reverse("reports")).content.decode()
    for name in EXPORTS:
        assert reverse(name) in html


@pytest.mark.parametrize("name", sorted(ALLOWED))
def test_pages_are_read_only(admin_client: Client, name: str) -> None:
    assert admin_client.post(reverse(name)).status_code == 405
