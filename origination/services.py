"""Origination writes: documents, guarantors and collateral. One function per write,
keyword-only, atomic, audited; views, commands and tests all call these.

Decisions (where DESIGN.md is silent):
- A document is PDF, JPEG or PNG by its content (`origination.content`), up to
  MAX_DOCUMENT_BYTES; the name it came with does not decide anything. Uploading, deleting and
  downloading are each audited (a download is an access to personal data: an auditor asks who
  looked at a borrower's ID). A deleted document's row and bytes are gone; its audit entries
  keep its name, kind, size and SHA-256.
- A guarantor guarantees an amount above zero and at most the loan's principal. Each guarantor
  is capped on its own (co-guarantors may each answer for the whole loan), so the total is
  not capped. The applicant never guarantees their own loan, neither as a borrower nor by their
  national ID; a named person whose national ID belongs to a registered borrower must be
  chosen as that borrower (one person, one record); nobody guarantees the same application
  twice.
- Guarantors and collateral are added and removed only while the application is pending; after
  the decision they are the loan's record.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import IntegrityError, transaction
from django.http import HttpRequest

from accounts.access import require
from karo.inputs import CONTROL_CHARACTERS, text_problem
from lending.audit import audit_record
from lending.errors import StateConflict
from lending.models import AuditLog, Borrower, Loan
from lending.phones import normalise_phone
from origination.access import EDIT_APPLICATION, EDIT_DOCUMENTS, VIEW_DOCUMENTS
from origination.content import SNIFF_BYTES, describe_refused, detect
from origination.models import BorrowerDocument, Collateral, Guarantor
from origination.storage import documents_storage

MAX_DOCUMENT_BYTES = 5 * 1024 * 1024
MAX_DOCUMENT_MB = MAX_DOCUMENT_BYTES // (1024 * 1024)
Action = AuditLog.Action


def megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def too_large_message(size: int) -> str:
    shown = megabytes(size)
    if size <= MAX_DOCUMENT_BYTES or float(shown.split()[0]) <= MAX_DOCUMENT_MB:
        shown = f"over {MAX_DOCUMENT_MB} MB"  # just over: "5.0 MB" would read as allowed
    return (
        f"This file is {shown}; a document may be at most {MAX_DOCUMENT_MB} MB. "
        "Scan it at a lower resolution or split it, then upload it again."
    )


# --- documents ----------------------------------------------------------------------------------


def _clean_name(name: str) -> str:
    """The file's own name, without any folder, control characters or more than 200
    characters (the extension kept)."""
    base = os.path.basename((name or "").replace("\\", "/"))
    base = CONTROL_CHARACTERS.sub("", base).replace("\n", "").replace("\r", "").strip()
    if len(base) > 200:
        stem, dot, ext = base.rpartition(".")
        base = f"{stem[: 199 - len(ext)]}.{ext}" if dot and len(ext) < 10 else base[:200]
    return base or "document"


def _check_text(errors: dict[str, str], field: str, value: str, limit: int) -> None:
    problem = text_problem(value)
    if problem:
        errors[field] = problem
    elif len(value) > limit:
        errors[field] = f"Shorten this to at most {limit} characters."


def document_upload(
    *,
    borrower: Borrower,
    user: User,
    kind: str,
    file: File,
    description: str = "",
    request: HttpRequest | None = None,
) -> BorrowerDocument:
    """Check the file by its content and size, store its bytes, record it and audit it. A
    refused file stores nothing."""
    require(user.has_perm(EDIT_DOCUMENTS), "Your role does not allow adding documents.")
    errors: dict[str, str] = {}
    if kind not in BorrowerDocument.Kind.values:
        errors["kind"] = "Choose what the document is: ID, photo, payslip or other."
    description = (description or "").strip()
    _check_text(errors, "description", description, 200)
    size = file.size or 0
    file_type = None
    if size > MAX_DOCUMENT_BYTES:
        errors["file"] = too_large_message(size)
    elif size == 0:
        errors["file"] = "This file is empty. Choose the scan or photo again."
    else:
        file.seek(0)
        head = file.read(SNIFF_BYTES)
        file_type = detect(head)
        if file_type is None:
            errors["file"] = (
                f"This file is {describe_refused(head)}. Upload a PDF, JPEG or PNG: the type is "
                "read from the file's content, not its name."
            )
    if errors:
        raise ValidationError(errors)
    assert file_type is not None
    digest = hashlib.sha256()
    file.seek(0)
    for chunk in file.chunks():
        digest.update(chunk)
    file.seek(0)
    storage = documents_storage()
    stored = storage.save(f"{borrower.pk}/{uuid.uuid4().hex}.{file_type.extension}", file)
    try:
        with transaction.atomic():
            locked = Borrower.objects.select_for_update().get(pk=borrower.pk)
            document = BorrowerDocument.objects.create(
                borrower=locked,
                kind=kind,
                description=description,
                original_name=_clean_name(file.name or ""),
                content_type=file_type.content_type,
                size=size,
                sha256=digest.hexdigest(),
                storage_name=stored,
                uploaded_by=user,
            )
            audit_record(
                action=Action.DOCUMENT_UPLOADED,
                user=user,
                obj=document,
                details={"after": _document_facts(document)},
                request=request,
            )
    except BaseException:
        storage.delete(stored)  # nothing recorded: keep no bytes either
        raise
    return document


def _document_facts(document: BorrowerDocument) -> dict[str, Any]:
    return {
        "borrower": document.borrower.number,
        "kind": document.kind,
        "name": document.original_name,
        "content_type": document.content_type,
        "size": document.size,
        "sha256": document.sha256,
    }


def document_download(
    *, document: BorrowerDocument, user: User, request: HttpRequest | None = None
) -> File:
    """Open the bytes for reading (the caller streams and closes them) and audit the access.
    Bytes missing from the storage raise FileNotFoundError and audit nothing."""
    require(user.has_perm(VIEW_DOCUMENTS), "Your role does not allow reading documents.")
    handle = documents_storage().open(document.storage_name, "rb")
    try:
        with transaction.atomic():
            audit_record(
                action=Action.DOCUMENT_DOWNLOADED,
                user=user,
                obj=document,
                details={"borrower": document.borrower.number, "sha256": document.sha256},
                request=request,
            )
    except BaseException:
        handle.close()
        raise
    return handle


def document_delete(
    *, document: BorrowerDocument, user: User, request: HttpRequest | None = None
) -> None:
    """Delete the row (audited with what it was) and, once that commits, the bytes."""
    require(user.has_perm(EDIT_DOCUMENTS), "Your role does not allow deleting documents.")
    with transaction.atomic():
        locked = (
            BorrowerDocument.objects.select_for_update(of=("self",))
            .select_related("borrower")
            .filter(pk=document.pk)
            .first()
        )
        if locked is None:
            raise StateConflict("This document was already deleted.")
        audit_record(
            action=Action.DOCUMENT_DELETED,
            user=user,
            obj=locked,
            details={"before": _document_facts(locked)},
            request=request,
        )
        name = locked.storage_name
        locked.delete()
        transaction.on_commit(lambda: documents_storage().delete(name))


# --- guarantors and collateral -----------------------------------------------------------------


def _pending_loan(loan: Loan, what: str) -> Loan:
    """The loan's row, locked; refused unless the application is still pending."""
    locked = Loan.objects.select_for_update(of=("self",)).select_related("borrower").get(pk=loan.pk)
    if locked.status != Loan.Status.PENDING:
        raise StateConflict(
            f"{what} can be changed only while the application is pending; loan "
            f"{locked.number} is {locked.get_status_display().lower()}."
        )
    return locked


def _money(
    errors: dict[str, str], field: str, value: Any, what: str, most: Decimal | None = None
) -> Decimal | None:
    if not isinstance(value, Decimal | int) or isinstance(value, bool):
        errors[field] = f"Enter the {what} as a number, such as 1500 or 1500.50."
        return None
    amount = Decimal(value)
    if not amount.is_finite():
        errors[field] = f"Enter the {what} as a number, such as 1500 or 1500.50."
    elif amount <= 0:
        errors[field] = f"The {what} must be above zero."
    elif amount != amount.quantize(Decimal("0.01")):
        errors[field] = f"Enter the {what} to the cent (two decimals at most)."
    elif amount >= Decimal("1e12"):
        errors[field] = f"The {what} is too large."
    elif most is not None and amount > most:
        errors[field] = (
            f"The {what} cannot be more than the loan's principal, "
            f"{settings.KARO_CURRENCY} {most:,}."
        )
    else:
        return amount
    return None


def guarantor_add(
    *,
    loan: Loan,
    user: User,
    amount: Decimal,
    borrower: Borrower | None = None,
    full_name: str = "",
    national_id: str = "",
    phone: str = "",
    request: HttpRequest | None = None,
) -> Guarantor:
    """Add a guarantor to a pending application: a registered `borrower`, or a named person
    (`full_name`, `national_id`, `phone`), guaranteeing `amount`."""
    require(user.has_perm(EDIT_APPLICATION), "Your role does not allow changing applications.")
    full_name, phone = (full_name or "").strip(), (phone or "").strip()
    national_id = Borrower.normalise_national_id(national_id or "")
    with transaction.atomic():
        locked = _pending_loan(loan, "Guarantors")
        applicant = locked.borrower
        errors: dict[str, str] = {}
        if borrower is not None:
            if full_name or national_id or phone:
                errors["__all__"] = (
                    "Choose a registered borrower or enter a person's details, not both."
                )
            elif borrower.pk == applicant.pk:
                errors["borrower"] = (
                    f"{applicant.full_name} is the applicant: a borrower cannot guarantee their "
                    "own loan. Choose someone else."
                )
            elif locked.guarantors.filter(borrower=borrower).exists():
                errors["borrower"] = f"{borrower.full_name} already guarantees this application."
        else:
            _check_text(errors, "full_name", full_name, 200)
            _check_text(errors, "phone", phone, 30)
            if not full_name:
                errors.setdefault("full_name", "Enter the guarantor's full name.")
            if not phone:
                errors.setdefault("phone", "Enter the guarantor's phone number.")
            elif "phone" not in errors:
                try:
                    phone = normalise_phone(phone)  # E.164, like a borrower's
                except ValidationError as exc:
                    errors["phone"] = exc.messages[0]
            if not national_id:
                errors["national_id"] = "Enter the guarantor's national ID (letters and digits)."
            elif len(national_id) > 40:
                errors["national_id"] = "Shorten this to at most 40 characters."
            elif national_id == applicant.national_id:
                errors["national_id"] = (
                    f"This is the national ID of the applicant, {applicant.full_name}: a "
                    "borrower cannot guarantee their own loan."
                )
            elif locked.guarantors.filter(national_id=national_id).exists():
                errors["national_id"] = "A guarantor with this national ID is already added."
            else:
                registered = Borrower.objects.filter(national_id=national_id).first()
                if registered is not None:
                    errors["national_id"] = (
                        f"{registered.full_name} ({registered.number}) is a registered borrower "
                        "with this national ID: choose them as a registered borrower instead."
                    )
        checked = _money(errors, "amount", amount, "amount guaranteed", most=locked.principal)
        if errors:
            raise ValidationError(errors)
        guarantor = Guarantor(
            loan=locked,
            borrower=borrower,
            full_name="" if borrower else full_name,
            national_id="" if borrower else national_id,
            phone="" if borrower else phone,
            amount=checked,
            added_by=user,
        )
        try:
            with transaction.atomic():
                guarantor.save()
        except IntegrityError as exc:  # the same guarantor added at the same moment
            raise ValidationError("This guarantor is already on the application.") from exc
        audit_record(
            action=Action.GUARANTOR_ADDED,
            user=user,
            obj=guarantor,
            details={"loan": locked.number, "after": _guarantor_facts(guarantor)},
            request=request,
        )
    return guarantor


def _guarantor_facts(guarantor: Guarantor) -> dict[str, Any]:
    person = (
        {"borrower": guarantor.borrower.number}
        if guarantor.borrower is not None
        else {
            "full_name": guarantor.full_name,
            "national_id": guarantor.national_id,
            "phone": guarantor.phone,
        }
    )
    return {**person, "amount": str(guarantor.amount)}


def guarantor_remove(
    *, guarantor: Guarantor, user: User, request: HttpRequest | None = None
) -> None:
    require(user.has_perm(EDIT_APPLICATION), "Your role does not allow changing applications.")
    with transaction.atomic():
        locked = _pending_loan(guarantor.loan, "Guarantors")
        row = (
            Guarantor.objects.select_for_update(of=("self",))
            .select_related("borrower")
            .filter(pk=guarantor.pk, loan=locked)
            .first()
        )
        if row is None:
            raise StateConflict("This guarantor was already removed.")
        audit_record(
            action=Action.GUARANTOR_REMOVED,
            user=user,
            obj=row,
            details={"loan": locked.number, "before": _guarantor_facts(row)},
            request=request,
        )
        row.delete()


def collateral_add(
    *,
    loan: Loan,
    user: User,
    type: str,
    description: str,
    value: Decimal,
    request: HttpRequest | None = None,
) -> Collateral:
    """Pledge an asset (its type, a description that identifies it, its value) for a pending
    application."""
    require(user.has_perm(EDIT_APPLICATION), "Your role does not allow changing applications.")
    description = (description or "").strip()
    with transaction.atomic():
        locked = _pending_loan(loan, "Collateral")
        errors: dict[str, str] = {}
        if type not in Collateral.Type.values:
            errors["type"] = "Choose the type of collateral."
        _check_text(errors, "description", description, 500)
        if not description:
            errors.setdefault(
                "description",
                "Describe the asset so it can be found again (registration, serial or title "
                "number, where it is).",
            )
        checked = _money(errors, "value", value, "value")
        if errors:
            raise ValidationError(errors)
        item = Collateral.objects.create(
            loan=locked, type=type, description=description, value=checked, added_by=user
        )
        audit_record(
            action=Action.COLLATERAL_ADDED,
            user=user,
            obj=item,
            details={"loan": locked.number, "after": _collateral_facts(item)},
            request=request,
        )
    return item


def _collateral_facts(item: Collateral) -> dict[str, Any]:
    return {"type": item.type, "description": item.description, "value": str(item.value)}


def collateral_remove(*, item: Collateral, user: User, request: HttpRequest | None = None) -> None:
    require(user.has_perm(EDIT_APPLICATION), "Your role does not allow changing applications.")
    with transaction.atomic():
        locked = _pending_loan(item.loan, "Collateral")
        row = Collateral.objects.select_for_update().filter(pk=item.pk, loan=locked).first()
        if row is None:
            raise StateConflict("This collateral was already removed.")
        audit_record(
            action=Action.COLLATERAL_REMOVED,
            user=user,
            obj=row,
            details={"loan": locked.number, "before": _collateral_facts(row)},
            request=request,
        )
        row.delete()
