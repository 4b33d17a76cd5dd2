"""Demo users (one per role, plus a second officer for four-eyes approval, all in the head
office; and an officer and an accountant in each of two branches) and demo data, its
borrowers spread over the two branches so that scoping shows (DESIGN.md "Offices").

Idempotent: users are created or reset to their demo password and office; demo borrowers and
loans are added only when the database has none, so running it again changes nothing.
"""

from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from accounts.models import Office
from accounts.offices import office_create, user_office_set
from accounts.roles import ACCOUNTANT, ADMIN, LOAN_OFFICER, sync_roles

DEMO_USERS = [
    # username, password, first name, last name, role, is_staff, office ("": the head office)
    ("admin", "karo-admin-demo", "Ada", "Mensah", ADMIN, True, ""),
    ("officer", "karo-officer-demo", "Olu", "Banda", LOAN_OFFICER, False, ""),
    ("officer2", "karo-officer2-demo", "Oni", "Phiri", LOAN_OFFICER, False, ""),
    ("accountant", "karo-accountant-demo", "Ama", "Osei", ACCOUNTANT, False, ""),
    ("north_officer", "karo-north-officer-demo", "Nia", "Kamau", LOAN_OFFICER, False, "North"),
    ("north_accountant", "karo-north-cash-demo", "Ned", "Otieno", ACCOUNTANT, False, "North"),
    ("south_officer", "karo-south-officer-demo", "Sade", "Mwale", LOAN_OFFICER, False, "South"),
    ("south_accountant", "karo-south-cash-demo", "Sipho", "Dube", ACCOUNTANT, False, "South"),
]
# The branches under the head office; the demo borrowers are registered in them in turn.
DEMO_BRANCHES = {"North": "North branch", "South": "South branch"}


def demo_branches() -> dict[str, Office]:
    """The demo's branches, created under the head office the first time."""
    offices = {}
    for key, name in DEMO_BRANCHES.items():
        office = Office.objects.filter(name=name).first()
        offices[key] = office or office_create(name=name, parent=None)
    return offices


def bulk_branches(count: int) -> list[int]:
    """The offices a bulk portfolio is spread over: the demo's branches, then "Branch NN"
    offices under the head office up to `count` (created the first time)."""
    offices = list(demo_branches().values())
    for n in range(len(offices) + 1, count + 1):
        name = f"Branch {n:02d}"
        offices.append(
            Office.objects.filter(name=name).first() or office_create(name=name, parent=None)
        )
    return [office.pk for office in offices[:count]]


BULK_ABOVE = 500  # more loans than this go through the bulk builder


class Command(BaseCommand):
    help = "Create the demo users (passwords printed) and, on an empty database, demo data."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--borrowers", type=int, default=40, help="demo borrowers to add")
        parser.add_argument("--loans", type=int, default=60, help="demo loans to add")
        parser.add_argument("--users-only", action="store_true", help="skip demo data")
        parser.add_argument(
            "--force",
            action="store_true",
            help="run with DEBUG off (it resets the demo users' passwords: never in production)",
        )
        parser.add_argument(
            "--bulk",
            action="store_true",
            help=f"bulk-insert the portfolio (automatic above {BULK_ABOVE} loans)",
        )
        parser.add_argument(
            "--branches",
            type=int,
            default=len(DEMO_BRANCHES),
            help="branches a bulk portfolio is spread over (the demo's, then Branch 03, ...)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG and not options["force"]:
            raise CommandError(
                "seed_demo creates users with published passwords; it runs only with DEBUG on "
                "(or with --force on a throw-away database such as a benchmark's)."
            )
        sync_roles()
        with transaction.atomic():
            branches = demo_branches()
            for username, password, first, last, role, is_staff, office in DEMO_USERS:
                user, _ = User.objects.get_or_create(username=username)
                user.first_name, user.last_name = first, last
                user.email = f"{username}@example.org"
                user.is_staff = is_staff
                user.is_active = True
                user.set_password(password)
                user.save()
                user.groups.set([Group.objects.get(name=role)])
                user_office_set(user=user, office=branches[office] if office else None)
        self.stdout.write("Demo users (development passwords, change them in production):")
        for username, password, _, _, role, _, office in DEMO_USERS:
            where = DEMO_BRANCHES[office] if office else "Head office (every branch)"
            self.stdout.write(f"  {username:<17} {password:<24} {role:<13} {where}")
        if options["users_only"]:
            return
        if options["bulk"] or options["loans"] > BULK_ABOVE:
            # Large portfolios: the same rules, bulk inserts (lending/demo_bulk.py).
            from lending.demo_bulk import seed_bulk_portfolio

            with transaction.atomic():
                offices = bulk_branches(options["branches"])
            seed_bulk_portfolio(
                borrowers=options["borrowers"],
                loans=options["loans"],
                stdout=self.stdout,
                offices=offices,
            )
            return
        from lending.demo import seed_portfolio

        seed_portfolio(
            borrowers=options["borrowers"],
            loans=options["loans"],
            stdout=self.stdout,
        )
