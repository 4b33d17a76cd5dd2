"""document_upload, document_download, document_delete: checked by content and size, stored
through the documents storage, audited; a refused file leaves nothing behind."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from lending.models import AuditLog, Borrower
from origination.models import BorrowerDocument
from origination.services import (
    MAX_DOCUMENT_BYTES,
    document_delete,
    document_download,
    document_upload,
)
from tests.factories import BorrowerFactory
from tests.origination.helpers import (
    EXE_BYTES,
    JPEG_BYTES,
    PDF_BYTES,
    PNG_BYTES,
    stored_files,
    upload,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def borrower() -> Borrower:
    return BorrowerFactory(full_name="Amina Njoroge")


def _actions() -> list[str]:
    return list(AuditLog.objects.order_by("id").values_list("action", flat=True))


@pytest.mark.parametrize(
    ("name", "content", "content_type", "download_name"),
    [
        ("ID card.pdf", PDF_BYTES, "application/pdf", "ID card.pdf"),
        ("face.JPG", JPEG_BYTES, "image/jpeg", "face.jpg"),
        ("slip.png", PNG_BYTES, "image/png", "slip.png"),
        # The content decides: a PNG sent as "scan.pdf" is stored and offered as a PNG.
        ("scan.pdf", PNG_BYTES, "image/png", "scan.png"),
    ],
)
def test_an_accepted_file_is_stored_recorded_and_audited(
    borrower: Borrower, officer: User, documents_folder: Path,
    name: str, content: bytes, content_type: str, download_name: str,
) -> None:  # fmt: skip
    document = document_upload(
        borrower=borrower, user=officer, kind="id", file=upload(name, content, "text/plain")
    )
    assert document.content_type == content_type
    assert document.size == len(content)
    assert document.sha256 == hashlib.sha256(content).hexdigest()
    assert document.download_name == download_name
    [path] = stored_files(documents_folder)
    assert path.read_bytes() == content
    entry = AuditLog.objects.get(action="document_uploaded")
    assert entry.user == officer and entry.object_id == str(document.pk)
    assert entry.details["after"]["sha256"] == document.sha256
    assert entry.details["after"]["borrower"] == borrower.number


def test_an_executable_renamed_pdf_is_refused_and_nothing_is_stored(
    borrower: Borrower, officer: User, documents_folder: Path
) -> None:
    before = _actions()
    with pytest.raises(ValidationError) as caught:
        document_upload(
            borrower=borrower, user=officer, kind="payslip",
            file=upload("payslip.pdf", EXE_BYTES, "application/pdf"),
        )  # fmt: skip
    assert caught.value.message_dict["file"] == [
        "This file is a Windows program. Upload a PDF, JPEG or PNG: the type is read from the "
        "file's content, not its name."
    ]
    assert not BorrowerDocument.objects.exists()
    assert stored_files(documents_folder) == []
    assert _actions() == before


def test_a_file_over_5_mb_is_refused(
    borrower: Borrower, officer: User, documents_folder: Path
) -> None:
    big = SimpleUploadedFile("big.pdf", PDF_BYTES + b"0" * MAX_DOCUMENT_BYTES)
    with pytest.raises(ValidationError) as caught:
        document_upload(borrower=borrower, user=officer, kind="other", file=big)
    assert "a document may be at most 5 MB" in caught.value.message_dict["file"][0]
    assert stored_files(documents_folder) == []


def test_a_file_of_exactly_5_mb_is_taken(borrower: Borrower, officer: User) -> None:
    exact = SimpleUploadedFile(
        "exact.pdf", PDF_BYTES + b"0" * (MAX_DOCUMENT_BYTES - len(PDF_BYTES))
    )
    assert document_upload(borrower=borrower, user=officer, kind="other", file=exact).size == (
        MAX_DOCUMENT_BYTES
    )


def test_an_empty_file_and_an_unknown_kind_are_refused(borrower: Borrower, officer: User) -> None:
    with pytest.raises(ValidationError) as caught:
        document_upload(borrower=borrower, user=officer, kind="passport", file=upload(content=b""))
    assert set(caught.value.message_dict) == {"kind", "file"}


def test_a_description_with_a_control_character_is_refused(
    borrower: Borrower, officer: User
) -> None:
    with pytest.raises(ValidationError) as caught:
        document_upload(
            borrower=borrower, user=officer, kind="id", file=upload(), description="ID\x00"
        )
    assert "description" in caught.value.message_dict


def test_a_folder_in_the_file_name_is_dropped(borrower: Borrower, officer: User) -> None:
    document = document_upload(
        borrower=borrower, user=officer, kind="id", file=upload("../../etc/passwd.pdf")
    )
    assert document.original_name == "passwd.pdf"
    assert ".." not in document.storage_name


def test_a_failed_record_leaves_no_file_behind(
    borrower: Borrower, officer: User, documents_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(**kwargs: object) -> None:
        raise RuntimeError("audit down")

    monkeypatch.setattr("origination.services.audit_record", fail)
    with pytest.raises(RuntimeError):
        document_upload(borrower=borrower, user=officer, kind="id", file=upload())
    assert stored_files(documents_folder) == []
    assert not BorrowerDocument.objects.exists()


def test_an_accountant_cannot_upload_or_delete(
    borrower: Borrower, officer: User, accountant: User
) -> None:
    with pytest.raises(PermissionDenied):
        document_upload(borrower=borrower, user=accountant, kind="id", file=upload())
    document = document_upload(borrower=borrower, user=officer, kind="id", file=upload())
    with pytest.raises(PermissionDenied):
        document_delete(document=document, user=accountant)
    assert BorrowerDocument.objects.count() == 1


def test_a_download_is_audited_and_gives_the_bytes(
    borrower: Borrower, officer: User, accountant: User
) -> None:
    document = document_upload(borrower=borrower, user=officer, kind="id", file=upload())
    with document_download(document=document, user=accountant) as handle:
        assert handle.read() == PDF_BYTES
    entry = AuditLog.objects.get(action="document_downloaded")
    assert entry.user == accountant and entry.object_id == str(document.pk)


# Transactional (the file goes on commit); serialized_rollback keeps the roles for the tests
# that follow, as the other transactional tests do.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_delete_removes_the_row_and_the_file_and_audits_what_it_was(
    officer: User, documents_folder: Path
) -> None:
    borrower = BorrowerFactory()
    document = document_upload(borrower=borrower, user=officer, kind="photo", file=upload())
    document_delete(document=document, user=officer)
    assert not BorrowerDocument.objects.exists()
    assert stored_files(documents_folder) == []
    entry = AuditLog.objects.get(action="document_deleted")
    assert entry.details["before"]["sha256"] == hashlib.sha256(PDF_BYTES).hexdigest()
    with pytest.raises(ValidationError):
        document_delete(document=document, user=officer)
