"""The general ledger: chart of accounts, journal entries and their lines (DESIGN.md, "General
ledger (double entry)").

Lending posts to it only through `ledger.services.journal_post`; nothing else writes these
models. Entries and lines are append-only: a mistake is corrected by a mirror entry, never by
an edit, so the journal is the history an auditor reads. Every entry balances (the service
checks it, and on PostgreSQL a deferred constraint trigger refuses an unbalanced one at
commit).

Each line repeats its entry's value date, so the trial balance sums one table through one
index. Days the books are closed through are final (nothing can be dated on or before them
any more), so their totals per account and day are kept in `AccountDayTotal` when the books
are closed and a trial balance reads those instead of every line: no row is updated by a
posting, so cashiers never queue on a running balance.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.head_office import HEAD_OFFICE_ID

ZERO = Decimal("0.00")


def money_field(verbose_name: str | None = None, **kwargs: Any) -> models.DecimalField:
    return models.DecimalField(verbose_name, max_digits=14, decimal_places=2, **kwargs)


class Account(models.Model):
    """An account of the chart. Header accounts (those with children) only group others and
    hold no entries. An account with entries cannot be deleted: switch it off instead."""

    class Type(models.TextChoices):
        ASSET = "asset", "Asset"
        LIABILITY = "liability", "Liability"
        EQUITY = "equity", "Equity"
        INCOME = "income", "Income"
        EXPENSE = "expense", "Expense"

    code = models.CharField(max_length=20, unique=True)
    name = models.CharField(max_length=120)
    type = models.CharField(max_length=10, choices=Type.choices)
    parent = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="children"
    )
    is_active = models.BooleanField("active", default=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    @property
    def debit_normal(self) -> bool:
        """Assets and expenses grow by debits; the others by credits."""
        return self.type in (self.Type.ASSET, self.Type.EXPENSE)

    def clean(self) -> None:
        if self.parent_id and self.parent_id == self.pk:
            raise ValidationError({"parent": "An account cannot be its own parent."})
        if self.parent is not None and self.parent.type != self.type:
            raise ValidationError(
                {"parent": f"The parent is an {self.parent.get_type_display().lower()} account."}
            )


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs: Any) -> int:
        raise PermissionError("The journal is append-only.")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise PermissionError("The journal is append-only.")


class AppendOnly(models.Model):
    """Rows saved once and never changed or deleted through the ORM."""

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise PermissionError(f"{self._meta.verbose_name} rows are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise PermissionError(f"{self._meta.verbose_name} rows are append-only.")


class JournalEntry(AppendOnly):
    """One balanced posting. `source` says where it comes from: a loan transaction
    (`loan_transaction`, with its id), its reversal (`reversal`), a replay's correction of a
    transaction's split (`replay`), an accrual, or a manual entry."""

    class Source(models.TextChoices):
        LOAN_TRANSACTION = "loan_transaction", "Loan transaction"
        REVERSAL = "reversal", "Reversal"
        REPLAY = "replay", "Replay correction"
        MANUAL = "manual", "Manual entry"

    value_date = models.DateField()
    booked_at = models.DateTimeField(default=timezone.now)
    memo = models.CharField(max_length=300)
    source = models.CharField(max_length=20, choices=Source.choices)
    # The loan transaction the entry books (no foreign key: lending depends on the ledger,
    # never the other way round).
    transaction_id = models.BigIntegerField(null=True, blank=True)
    loan_id = models.BigIntegerField(null=True, blank=True)
    # The office whose books the entry is in (DESIGN.md "Offices"): its loan transaction's,
    # the head office's for a manual entry unless said otherwise. Its lines are the office's
    # (through the entry): the trial balance filters by it.
    office = models.ForeignKey(
        "accounts.Office",
        on_delete=models.PROTECT,
        default=HEAD_OFFICE_ID,
        db_default=HEAD_OFFICE_ID,
        related_name="+",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["value_date", "id"]
        verbose_name_plural = "journal entries"
        indexes = [
            models.Index(fields=["transaction_id"]),
            models.Index(fields=["loan_id"]),
            models.Index(fields=["value_date", "id"]),
        ]

    def __str__(self) -> str:
        return f"JE-{self.pk} {self.value_date:%d %b %Y} {self.memo}"


class JournalLine(AppendOnly):
    """A debit or a credit on one account (exactly one of the two is above zero)."""

    entry = models.ForeignKey(JournalEntry, on_delete=models.PROTECT, related_name="lines")
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="lines")
    value_date = models.DateField()  # the entry's, repeated for the trial balance's index
    debit = money_field(default=ZERO)
    credit = money_field(default=ZERO)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["entry", "id"]
        indexes = [
            models.Index(
                fields=["value_date", "account"],
                include=["debit", "credit"],
                name="ledger_line_date_account",
            ),
            models.Index(fields=["account", "value_date"], name="ledger_line_account_date"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(Q(debit__gt=0, credit=0) | Q(debit=0, credit__gt=0)),
                name="ledger_line_one_side",
            ),
        ]

    def __str__(self) -> str:
        side = f"Dr {self.debit}" if self.debit else f"Cr {self.credit}"
        return f"{self.account_id} {side}"


class BooksClosing(models.Model):
    """The books are closed through `through`: nothing may be dated on or before it any
    more. The latest row is in force; an earlier date can never follow a later one."""

    through = models.DateField(unique=True)
    closed_at = models.DateTimeField(default=timezone.now)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )

    class Meta:
        ordering = ["-through"]
        verbose_name = "books closing"

    def __str__(self) -> str:
        return f"Closed through {self.through:%d %b %Y}"


class AccountDayTotal(models.Model):
    """Debits and credits of one account on one closed day, written when the books are closed
    through it (a closed day never changes again)."""

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")
    value_date = models.DateField()
    debit = money_field(default=ZERO)
    credit = money_field(default=ZERO)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["value_date", "account"], name="ledger_day_total"),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.value_date}: Dr {self.debit} Cr {self.credit}"
