"""The Working days page and the rescheduling of loans after a new day off: every write is
refused with nothing stored when it would leave no working day, the preview shows exactly what
the apply moves, the apply is one audited action, and a late penalty whose day is no longer a
penalty day is taken back."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.urls import reverse

from lending.models import AuditLog, Holiday, Installment, Loan, LoanTransaction, NonWorkingWeekday
from lending.services.calendar import (
    fingerprint,
    holidays_add,
    loans_reschedule,
    reschedule_moves,
    weekdays_off_set,
)
from lending.services.close_day import day_close
from lending.services.loans import loan_approve
from lending.services.repayments import repayment_record
from lending.services.transactions import replay_differences
from tests.conftest import login
from tests.factories import (
    AdminFactory,
    BorrowerFactory,
    LoanFactory,
    LoanProductFactory,
    OfficerFactory,
)
from tests.offices import branch

pytestmark = pytest.mark.django_db
D = Decimal
SUNDAY = 6
PAGE = "/working-days/"
RESCHEDULE = "/working-days/reschedule/"


def test_addresses_are_stable() -> None:
    assert reverse("working_days") == PAGE
    assert reverse("loans_reschedule") == RESCHEDULE
    assert reverse("holiday_add") == "/working-days/holidays/"


def test_admin_sees_the_page_in_a_fixed_number_of_queries(
    admin_client: Client, admin_user: Any, django_assert_max_num_queries: Any
) -> None:
    for k in range(5):
        holidays_add(user=admin_user, first=date(2030, 1, 1 + 2 * k), name=f"Feast {k}")
    holidays_add(user=admin_user, first=date(2020, 1, 1), name="Old feast")
    with django_assert_max_num_queries(10):
        response = admin_client.get(PAGE)
    html = response.content.decode()
    assert response.status_code == 200
    assert "Feast 4" in html and "Old feast" in html


@pytest.mark.parametrize("name", ["officer_client", "accountant_client"])
def test_other_roles_may_not_change_working_days(request: pytest.FixtureRequest, name: str) -> None:
    client: Client = request.getfixturevalue(name)
    for url in (PAGE, RESCHEDULE):
        assert client.get(url).status_code == 403
    response = client.post("/working-days/holidays/", {"first": "25/12/2030", "name": "X"})
    assert response.status_code == 403
    assert client.post("/working-days/weekdays/", {"weekdays": ["6"]}).status_code == 403
    assert client.post(RESCHEDULE, {"preview": "x"}).status_code == 403
    assert not Holiday.objects.exists() and not NonWorkingWeekday.objects.exists()


def test_services_refuse_other_roles() -> None:
    officer = OfficerFactory()
    with pytest.raises(PermissionDenied):
        holidays_add(user=officer, first=date(2030, 12, 25), name="Christmas")
    with pytest.raises(PermissionDenied):
        weekdays_off_set(user=officer, weekdays=[SUNDAY])
    with pytest.raises(PermissionDenied):
        loans_reschedule(user=officer)


def test_admin_adds_a_holiday_and_it_is_audited(admin_client: Client) -> None:
    response = admin_client.post(
        "/working-days/holidays/", {"first": "25/12/2030", "last": "26/12/2030", "name": "Xmas"}
    )
    assert response.status_code == 302
    assert list(Holiday.objects.values_list("date", "name")) == [
        (date(2030, 12, 25), "Xmas"),
        (date(2030, 12, 26), "Xmas"),
    ]
    entry = AuditLog.objects.get(action=AuditLog.Action.CALENDAR_CHANGED)
    assert entry.details["holidays_added"][0] == {"date": "2030-12-25", "name": "Xmas"}


def test_admin_sets_the_weekly_days_off(admin_client: Client) -> None:
    response = admin_client.post("/working-days/weekdays/", {"weekdays": ["5", "6"]})
    assert response.status_code == 302
    assert set(NonWorkingWeekday.objects.values_list("weekday", flat=True)) == {5, 6}
    entry = AuditLog.objects.get(action=AuditLog.Action.CALENDAR_CHANGED)
    assert entry.details["weekdays_off"] == {"before": [], "after": ["Saturday", "Sunday"]}
    assert b"Saturday" in admin_client.get(PAGE).content


def test_a_week_without_a_working_day_is_refused_and_nothing_stored(admin_client: Client) -> None:
    response = admin_client.post(
        "/working-days/weekdays/", {"weekdays": [str(d) for d in range(7)]}
    )
    assert response.status_code == 200
    assert "leaves no working day" in response.content.decode()
    assert not NonWorkingWeekday.objects.exists()
    assert not AuditLog.objects.filter(action=AuditLog.Action.CALENDAR_CHANGED).exists()


def test_holidays_that_leave_no_working_day_are_refused_and_nothing_stored(
    admin_client: Client, admin_user: Any
) -> None:
    weekdays_off_set(user=admin_user, weekdays=[5, 6])
    # Mon 6 Jan 2031 to Fri 31 Jan 2031, then Mon 3 Feb to Fri 7 Feb: with the weekends
    # between, 35 days with no working day.
    holidays_add(user=admin_user, first=date(2031, 1, 6), last=date(2031, 1, 31), name="Long")
    response = admin_client.post(
        "/working-days/holidays/", {"first": "03/02/2031", "last": "07/02/2031", "name": "More"}
    )
    assert response.status_code == 200
    assert "leave no working day from" in response.content.decode()
    assert not Holiday.objects.filter(name="More").exists()


def test_bad_holiday_input_is_refused_beside_the_field(admin_client: Client) -> None:
    cases = [
        ({"first": "", "name": "X"}, "first"),
        ({"first": "25/12/2030", "name": ""}, "name"),
        ({"first": "25/12/2030", "last": "24/12/2030", "name": "X"}, "last"),
        ({"first": "01/01/2030", "last": "01/03/2030", "name": "X"}, "last"),
    ]
    for data, field in cases:
        response = admin_client.post("/working-days/holidays/", data)
        assert response.status_code == 200, data
        assert field in response.context["holiday_form"].errors, data
    assert not Holiday.objects.exists()


def test_a_date_already_a_holiday_is_refused(admin_user: Any) -> None:
    holidays_add(user=admin_user, first=date(2030, 12, 25), name="Christmas")
    with pytest.raises(ValidationError, match="already a holiday"):
        holidays_add(user=admin_user, first=date(2030, 12, 24), last=date(2030, 12, 25), name="X")
    assert Holiday.objects.count() == 1


def test_admin_removes_a_holiday(admin_client: Client, admin_user: Any) -> None:
    (holiday,) = holidays_add(user=admin_user, first=date(2030, 12, 25), name="Christmas")
    response = admin_client.post(f"/working-days/holidays/{holiday.pk}/remove/")
    assert response.status_code == 302
    assert not Holiday.objects.exists()
    entry = AuditLog.objects.filter(action=AuditLog.Action.CALENDAR_CHANGED).first()
    assert entry is not None and entry.details["holiday_removed"]["name"] == "Christmas"


def test_the_admin_navigation_has_working_days(admin_client: Client) -> None:
    assert b'href="/working-days/"' in admin_client.get(PAGE).content


# --- rescheduling ----------------------------------------------------------------------------


def _monthly_loan(rule: str = "next", **product: Any) -> Loan:
    """12 monthly installments from Saturday 3 Feb 2024: due on the 3rd, March 2024 to
    February 2025 (Sunday 3 March and Sunday 3 November 2024 among them)."""
    loan = LoanFactory(product=LoanProductFactory(due_date_rule=rule, **product))
    return loan_approve(loan=loan, user=AdminFactory(), disbursement_date=date(2024, 2, 3))


def _dues(loan: Loan) -> list[date]:
    return list(
        Installment.objects.filter(loan=loan).order_by("number").values_list("due_date", flat=True)
    )


def test_a_new_day_off_moves_no_schedule_until_the_admin_reschedules(admin_user: Any) -> None:
    loan = _monthly_loan()
    before = _dues(loan)
    weekdays_off_set(user=admin_user, weekdays=[SUNDAY])
    assert _dues(loan) == before  # nothing moved by itself
    moves = reschedule_moves()
    assert [(m.number, m.old, m.new) for m in moves] == [
        (1, date(2024, 3, 3), date(2024, 3, 4)),
        (9, date(2024, 11, 3), date(2024, 11, 4)),
    ]


def test_preview_then_apply_moves_exactly_what_was_shown(
    admin_client: Client, admin_user: Any
) -> None:
    loan = _monthly_loan()
    kept = _monthly_loan(rule="keep")
    previous = _monthly_loan(rule="previous")
    weekdays_off_set(user=admin_user, weekdays=[SUNDAY])
    holidays_add(user=admin_user, first=date(2024, 6, 3), name="Madaraka Day")

    page = admin_client.get(RESCHEDULE)
    assert page.status_code == 200
    shown = {
        (row.loan_number, m.number, m.old, m.new)
        for row in page.context["loans"]
        for m in row.moves
    }
    assert (loan.number, 1, date(2024, 3, 3), date(2024, 3, 4)) in shown
    assert (previous.number, 1, date(2024, 3, 3), date(2024, 3, 2)) in shown
    assert (loan.number, 4, date(2024, 6, 3), date(2024, 6, 4)) in shown
    assert all(number != kept.number for number, *_ in shown)
    token = page.context["form"]["preview"].value()

    response = admin_client.post(RESCHEDULE, {"preview": token})
    assert response.status_code == 302
    stored = {
        (i.loan.number, i.number, i.due_date)
        for i in Installment.objects.select_related("loan").exclude(loan=kept)
    }
    for number, inst, _old, new in shown:
        assert (number, inst, new) in stored
    assert _dues(kept)[0] == date(2024, 3, 3)
    assert reschedule_moves() == []  # nothing left on a day off
    (entry,) = AuditLog.objects.filter(action=AuditLog.Action.LOANS_RESCHEDULED)
    assert entry.details["installments"] == len(shown)
    audited = {
        (row["loan"], n, date.fromisoformat(old), date.fromisoformat(new))
        for row in entry.details["loans"]
        for n, old, new in row["moves"]
    }
    assert audited == shown
    for each in (loan, previous):
        assert replay_differences(Loan.objects.get(pk=each.pk)) == []


def test_a_stale_preview_moves_nothing(admin_client: Client, admin_user: Any) -> None:
    loan = _monthly_loan()
    weekdays_off_set(user=admin_user, weekdays=[SUNDAY])
    token = fingerprint(reschedule_moves())
    holidays_add(user=admin_user, first=date(2024, 6, 3), name="Madaraka Day")  # after the preview
    response = admin_client.post(RESCHEDULE, {"preview": token})
    assert response.status_code == 200
    assert "changed since the preview" in response.content.decode()
    assert _dues(loan)[0] == date(2024, 3, 3)
    assert not AuditLog.objects.filter(action=AuditLog.Action.LOANS_RESCHEDULED).exists()


def test_nothing_to_move_is_said_plainly(admin_client: Client, admin_user: Any) -> None:
    _monthly_loan()
    assert b"nothing to move" in admin_client.get(RESCHEDULE).content
    with pytest.raises(ValidationError, match="nothing to move"):
        loans_reschedule(user=admin_user)


def test_a_penalty_whose_day_is_no_longer_a_penalty_day_is_taken_back(admin_user: Any) -> None:
    # Weekly from Monday 5 Feb 2024: installment 1 due Monday 12 Feb; a flat 10.00 penalty the
    # day after. The close of 13 Feb charges it. Then 12 Feb becomes a holiday: the due date
    # moves to 13 Feb, whose penalty day (14 Feb) no close has decided, so the 13 Feb penalty
    # is taken back.
    product = LoanProductFactory(
        due_date_rule="next", penalty_type="flat", penalty_amount=D("10.00")
    )
    loan = LoanFactory(product=product, frequency="weekly", installments=4)
    loan = loan_approve(loan=loan, user=AdminFactory(), disbursement_date=date(2024, 2, 5))
    day_close(on=date(2024, 2, 13))
    charge = LoanTransaction.objects.get(loan=loan, kind="charge", reversed_at=None)
    assert charge.value_date == date(2024, 2, 13)
    before = Loan.objects.get(pk=loan.pk).outstanding

    holidays_add(user=admin_user, first=date(2024, 2, 12), name="Founders' Day")
    result = loans_reschedule(user=admin_user, expected=fingerprint(reschedule_moves()))
    assert result.penalties_taken_back == 1
    charge.refresh_from_db()
    assert charge.reversed_at is not None
    loan.refresh_from_db()
    assert loan.outstanding == before - D("10.00")
    assert _dues(loan)[0] == date(2024, 2, 13)
    assert replay_differences(loan) == []
    (entry,) = AuditLog.objects.filter(action=AuditLog.Action.LOANS_RESCHEDULED)
    assert entry.details["penalties_taken_back"] == 1
    assert entry.details["loans"][0]["penalties_taken_back"][0]["amount"] == "10.00"


def test_paid_installments_are_not_moved(admin_user: Any) -> None:
    loan = _monthly_loan()
    first = Installment.objects.get(loan=loan, number=1)
    repayment_record(
        loan=loan,
        user=admin_user,
        amount=first.principal + first.interest,
        paid_on=date(2024, 3, 3),  # on the due date: not a prepayment
        method="cash",
    )
    assert Installment.objects.get(pk=first.pk).status == Installment.Status.PAID
    weekdays_off_set(user=admin_user, weekdays=[SUNDAY])
    assert [m.number for m in reschedule_moves()] == [9]  # #1 is paid: it stays


# --- offices ---------------------------------------------------------------------------------


def _branch_loan(office_branch: Any) -> Loan:
    """A loan of the branch (its borrower registered by the branch's officer), monthly from
    Saturday 3 Feb 2024: installment 4 falls due Monday 3 June 2024."""
    borrower = BorrowerFactory(created_by=office_branch.officer)
    loan = LoanFactory(
        borrower=borrower,
        submitted_by=office_branch.officer,
        product=LoanProductFactory(due_date_rule="next"),
    )
    return loan_approve(loan=loan, user=office_branch.admin, disbursement_date=date(2024, 2, 3))


def test_an_offices_holiday_moves_only_that_offices_loans(admin_user: Any) -> None:
    north, south = branch("North branch"), branch("South branch")
    holidays_add(user=north.admin, first=date(2024, 6, 3), name="North fair", office=north.office)
    # Approved after the holiday: the north loan is scheduled around it, the south one not.
    north_loan, south_loan = _branch_loan(north), _branch_loan(south)
    assert _dues(north_loan)[3] == date(2024, 6, 4)
    assert _dues(south_loan)[3] == date(2024, 6, 3)
    # A holiday of all offices entered later: each office's loans move when rescheduled.
    holidays_add(user=admin_user, first=date(2024, 7, 3), name="National day")
    moves = {(m.loan_number, m.old, m.new) for m in reschedule_moves()}
    assert moves == {
        (north_loan.number, date(2024, 7, 3), date(2024, 7, 4)),
        (south_loan.number, date(2024, 7, 3), date(2024, 7, 4)),
    }
    # A branch Admin sees and reschedules only their office's loans.
    assert {m.loan_number for m in reschedule_moves(user=south.admin)} == {south_loan.number}


def test_a_branch_admin_may_not_set_all_offices_days_off() -> None:
    north, south = branch("North branch"), branch("South branch")
    with pytest.raises(PermissionDenied):
        holidays_add(user=north.admin, first=date(2030, 12, 25), name="Christmas")
    with pytest.raises(PermissionDenied):
        weekdays_off_set(user=north.admin, weekdays=[SUNDAY])
    with pytest.raises(ValidationError, match="one of your offices"):
        holidays_add(user=north.admin, first=date(2030, 12, 25), name="X", office=south.office)
    assert not Holiday.objects.exists() and not NonWorkingWeekday.objects.exists()


def test_a_branch_admin_adds_a_holiday_for_their_office_on_the_page() -> None:
    north, south = branch("North branch"), branch("South branch")
    client = login(north.admin)
    page = client.get(PAGE)
    assert "South branch" not in page.content.decode()  # not an office they may choose
    response = client.post(
        "/working-days/holidays/",
        {"first": "25/12/2030", "name": "Fair", "office": str(north.office.pk)},
    )
    assert response.status_code == 302
    assert Holiday.objects.get().office == north.office
    other = Holiday.objects.create(date=date(2030, 12, 26), name="South fair", office=south.office)
    assert client.post(f"/working-days/holidays/{other.pk}/remove/").status_code == 404
    assert Holiday.objects.filter(pk=other.pk).exists()


def test_a_loan_a_taken_back_penalty_leaves_owing_nothing_is_closed(admin_user: Any) -> None:
    # One weekly installment due Monday 12 Feb 2024; the close of 13 Feb charges 10.00; a
    # payment of principal + interest on 14 Feb pays the penalty first and leaves 10.00. Then
    # 12 Feb becomes a holiday: the penalty is taken back and the payment covers everything.
    product = LoanProductFactory(
        due_date_rule="next", penalty_type="flat", penalty_amount=D("10.00")
    )
    loan = LoanFactory(product=product, frequency="weekly", installments=1)
    loan = loan_approve(loan=loan, user=AdminFactory(), disbursement_date=date(2024, 2, 5))
    day_close(on=date(2024, 2, 13))
    inst = Installment.objects.get(loan=loan)
    repayment_record(
        loan=Loan.objects.get(pk=loan.pk),
        user=admin_user,
        amount=inst.principal + inst.interest,
        paid_on=date(2024, 2, 14),
        method="cash",
    )
    assert Loan.objects.get(pk=loan.pk).outstanding == D("10.00")
    holidays_add(user=admin_user, first=date(2024, 2, 12), name="Founders' Day")
    loans_reschedule(user=admin_user, expected=fingerprint(reschedule_moves()))
    loan.refresh_from_db()
    assert loan.outstanding == 0 and loan.status == Loan.Status.CLOSED
    assert replay_differences(loan) == []
