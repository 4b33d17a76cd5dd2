"""Weekly days off of one office (DESIGN.md "Working days and holidays per office"): added to
those of all offices, of the office and the offices under it; set by that office's Admin
(those of all offices by a head-office Admin only), audited, refused with nothing stored when
they leave no working day; the schedules and the rescheduling of that office's loans follow
them, another office's loans do not."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from lending.models import AuditLog, Installment, Loan, NonWorkingWeekday
from lending.selectors.calendar import working_calendar
from lending.services.calendar import loans_reschedule, reschedule_moves, weekdays_off_set
from lending.services.loans import loan_approve
from tests.conftest import login
from tests.factories import BorrowerFactory, LoanFactory, LoanProductFactory
from tests.offices import Branch, branch

pytestmark = pytest.mark.django_db
SATURDAY, SUNDAY = 5, 6
SAT_3_AUG_2024 = date(2024, 8, 3)  # installment 6 of a monthly loan disbursed 3 Feb 2024
SUN_4_AUG_2024 = date(2024, 8, 4)
MON_5_AUG_2024 = date(2024, 8, 5)
WEEKDAYS = "/working-days/weekdays/"


def _branch_loan(office_branch: Branch) -> Loan:
    borrower = BorrowerFactory(created_by=office_branch.officer)
    loan = LoanFactory(
        borrower=borrower,
        submitted_by=office_branch.officer,
        product=LoanProductFactory(due_date_rule="next"),
    )
    return loan_approve(loan=loan, user=office_branch.admin, disbursement_date=date(2024, 2, 3))


def _due6(loan: Loan) -> date:
    return Installment.objects.get(loan=loan, number=6).due_date


def _own(office: Any) -> set[int]:
    return set(NonWorkingWeekday.objects.filter(office=office).values_list("weekday", flat=True))


def test_a_branchs_saturday_off_moves_its_saturday_due_date_only(admin_user: Any) -> None:
    north, south = branch("North branch"), branch("South branch")
    weekdays_off_set(user=admin_user, weekdays=[SUNDAY])
    weekdays_off_set(user=north.admin, weekdays=[SATURDAY], office=north.office)
    north_loan, south_loan = _branch_loan(north), _branch_loan(south)
    # North: Saturday and (all offices') Sunday off, so Saturday 3 Aug moves to Monday 5 Aug.
    assert _due6(north_loan) == MON_5_AUG_2024
    assert _due6(south_loan) == SAT_3_AUG_2024
    assert working_calendar(north.office.pk).weekdays_off == {SATURDAY, SUNDAY}
    assert working_calendar(south.office.pk).weekdays_off == {SUNDAY}
    assert working_calendar().weekdays_off == {SUNDAY}


def test_a_regions_weekday_off_is_one_of_the_branches_under_it(admin_user: Any) -> None:
    region = branch("Region office")
    town = branch("Town branch", parent=region.office)
    weekdays_off_set(user=region.admin, weekdays=[SATURDAY], office=region.office)
    assert working_calendar(town.office.pk).weekdays_off == {SATURDAY}
    assert _due6(_branch_loan(town)) == SUN_4_AUG_2024


def test_a_weekday_off_entered_later_is_rescheduled_for_that_office_only(
    admin_user: Any,
) -> None:
    north, south = branch("North branch"), branch("South branch")
    north_loan, south_loan = _branch_loan(north), _branch_loan(south)
    weekdays_off_set(user=north.admin, weekdays=[SATURDAY], office=north.office)
    moves = [(m.loan_number, m.old, m.new) for m in reschedule_moves()]
    assert moves == [(north_loan.number, SAT_3_AUG_2024, SUN_4_AUG_2024)]
    assert reschedule_moves(user=south.admin) == []
    result = loans_reschedule(user=north.admin)
    assert (result.loans, result.installments) == (1, 1)
    assert _due6(north_loan) == SUN_4_AUG_2024
    assert _due6(south_loan) == SAT_3_AUG_2024


def test_a_branch_admin_sets_their_offices_weekdays_on_the_page_audited() -> None:
    north = branch("North branch")
    client = login(north.admin)
    page = client.get("/working-days/").content.decode()
    assert "Save the days off" in page
    response = client.post(WEEKDAYS, {"weekdays": [str(SATURDAY)], "office": north.office.pk})
    assert response.status_code == 302
    assert _own(north.office) == {SATURDAY} and _own(None) == set()
    entry = AuditLog.objects.get(action=AuditLog.Action.CALENDAR_CHANGED)
    assert entry.user == north.admin
    assert entry.details == {
        "weekdays_off": {"before": [], "after": ["Saturday"]},
        "office": "North branch",
    }
    assert "North branch: Saturday" in client.get("/working-days/").content.decode()
    # Emptied again: the branch works on Saturdays.
    assert client.post(WEEKDAYS, {"office": north.office.pk}).status_code == 302
    assert _own(north.office) == set()


def test_a_branch_admin_may_not_set_another_offices_or_all_offices_weekdays() -> None:
    north, south = branch("North branch"), branch("South branch")
    client = login(north.admin)
    response = client.post(WEEKDAYS, {"weekdays": [str(SATURDAY)], "office": south.office.pk})
    assert response.status_code == 200
    assert "Choose one of your offices." in response.content.decode()
    response = client.post(WEEKDAYS, {"weekdays": [str(SATURDAY)], "office": ""})
    assert response.status_code == 200
    assert "head-office Admin" in response.content.decode()
    with pytest.raises(ValidationError, match="one of your offices"):
        weekdays_off_set(user=north.admin, weekdays=[SATURDAY], office=south.office)
    with pytest.raises(PermissionDenied):
        weekdays_off_set(user=north.admin, weekdays=[SATURDAY])
    assert not NonWorkingWeekday.objects.exists()
    assert not AuditLog.objects.filter(action=AuditLog.Action.CALENDAR_CHANGED).exists()


def test_an_offices_weekdays_leaving_no_working_day_are_refused(admin_user: Any) -> None:
    north = branch("North branch")
    weekdays_off_set(user=admin_user, weekdays=[SUNDAY])
    client = login(north.admin)
    response = client.post(
        WEEKDAYS, {"weekdays": [str(day) for day in range(6)], "office": north.office.pk}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "no working day" in html and "North branch" in html
    assert _own(north.office) == set()
    # And all offices' days off may not close the branch every day either.
    weekdays_off_set(user=admin_user, weekdays=[])
    weekdays_off_set(user=north.admin, weekdays=[0, 1, 2, 3, 4, 5], office=north.office)
    with pytest.raises(ValidationError, match="North branch"):
        weekdays_off_set(user=admin_user, weekdays=[SUNDAY])
    assert _own(None) == set()


def test_bad_weekdays_are_a_form_error_with_nothing_stored() -> None:
    north = branch("North branch")
    client = login(north.admin)
    response = client.post(WEEKDAYS, {"weekdays": ["9"], "office": north.office.pk})
    assert response.status_code == 200
    assert "Choose days of the week from Monday to Sunday." in response.content.decode()
    response = client.post(WEEKDAYS, {"weekdays": ["5"], "office": "x"})
    assert "Choose one of your offices." in response.content.decode()
    assert not NonWorkingWeekday.objects.exists()
