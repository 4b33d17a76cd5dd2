"""Origination data: what an application carries to its decision.

- `BorrowerDocument`: a file about a borrower (ID, photo, payslip...). The bytes live in the
  "documents" storage (`origination.storage`), never under a public URL; the row holds what
  the content check found, the size and a SHA-256 of the bytes, so the audit log and the row
  can prove which file was there.
- `Guarantor`: someone who answers for part or all of an application's loan: either a
  registered borrower (never the applicant) or a named person with ID and phone.
- `Collateral`: an asset pledged for an application, with what it is worth.

Rows are written only by `origination.services` (audited, atomic); guarantors and collateral
change only while their loan is pending, and stay with the loan as its record afterwards.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from lending.models import Borrower, Loan, money_field

CENT = Decimal("0.01")


class BorrowerDocument(models.Model):
    class Kind(models.TextChoices):
        ID = "id", "ID document"
        PHOTO = "photo", "Photo"
        PAYSLIP = "payslip", "Payslip"
        OTHER = "other", "Other"

    class ContentType(models.TextChoices):
        PDF = "application/pdf", "PDF"
        JPEG = "image/jpeg", "JPEG image"
        PNG = "image/png", "PNG image"

    borrower = models.ForeignKey(Borrower, on_delete=models.PROTECT, related_name="documents")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    description = models.CharField(max_length=200, blank=True)
    # The name the file had on the officer's computer (shown, and offered on download with
    # the extension of what the content is).
    original_name = models.CharField(max_length=200)
    content_type = models.CharField(max_length=20, choices=ContentType.choices)
    size = models.PositiveIntegerField()
    sha256 = models.CharField("SHA-256", max_length=64)
    # Where the bytes are in the documents storage (a random name: nothing guessable).
    storage_name = models.CharField(max_length=255, unique=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    uploaded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-uploaded_at", "-id"]
        indexes = [models.Index(fields=["borrower", "-uploaded_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.original_name} of {self.borrower.number}"

    @property
    def download_name(self) -> str:
        """The original name, with the extension of what the content is."""
        from origination.content import BY_CONTENT_TYPE

        stem = self.original_name.rsplit(".", 1)[0] if "." in self.original_name else ""
        return f"{stem or self.kind}.{BY_CONTENT_TYPE[self.content_type].extension}"


class Guarantor(models.Model):
    """Either `borrower` is set (a registered borrower, not the applicant), or the named
    person's name, national ID (normalised like a borrower's) and phone are."""

    loan = models.ForeignKey(Loan, on_delete=models.PROTECT, related_name="guarantors")
    borrower = models.ForeignKey(
        Borrower, on_delete=models.PROTECT, related_name="guarantees", null=True, blank=True
    )
    full_name = models.CharField(max_length=200, blank=True)
    national_id = models.CharField("national ID", max_length=40, blank=True)
    phone = models.CharField(max_length=30, blank=True)
    amount = money_field("amount guaranteed", validators=[MinValueValidator(CENT)])
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    added_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["added_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="guarantor_amount_positive"),
            models.CheckConstraint(
                condition=(Q(borrower__isnull=False) & Q(full_name="") & Q(national_id=""))
                | (Q(borrower__isnull=True) & ~Q(full_name="") & ~Q(national_id="") & ~Q(phone="")),
                name="guarantor_borrower_or_named_person",
            ),
            models.UniqueConstraint(
                fields=["loan", "borrower"],
                condition=Q(borrower__isnull=False),
                name="guarantor_borrower_once_per_loan",
            ),
            models.UniqueConstraint(
                fields=["loan", "national_id"],
                condition=~Q(national_id=""),
                name="guarantor_person_once_per_loan",
            ),
        ]

    def __str__(self) -> str:
        return f"Guarantor {self.name} on {self.loan.number}"

    @property
    def name(self) -> str:
        return self.borrower.full_name if self.borrower_id else self.full_name  # type: ignore[union-attr]


class Collateral(models.Model):
    class Type(models.TextChoices):
        LAND = "land", "Land or building"
        VEHICLE = "vehicle", "Vehicle"
        EQUIPMENT = "equipment", "Equipment or machinery"
        SAVINGS = "savings", "Savings or deposit"
        LIVESTOCK = "livestock", "Livestock"
        HOUSEHOLD = "household", "Household goods"
        OTHER = "other", "Other"

    loan = models.ForeignKey(Loan, on_delete=models.PROTECT, related_name="collateral")
    type = models.CharField(max_length=12, choices=Type.choices)
    description = models.CharField(max_length=500)
    value = money_field(validators=[MinValueValidator(CENT)])
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    added_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["added_at", "id"]
        verbose_name_plural = "collateral"
        constraints = [
            models.CheckConstraint(condition=Q(value__gt=0), name="collateral_value_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.get_type_display()} on {self.loan.number}"
