"""Document pages: upload from the borrower page, download through a permission-checked view,
delete; who may do what; a too-large or disguised file refused with a clear message."""

from __future__ import annotations

import io
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.handlers.wsgi import WSGIRequest
from django.test import Client
from django.urls import reverse

from lending.models import AuditLog, Borrower
from origination.models import BorrowerDocument
from origination.services import MAX_DOCUMENT_BYTES, document_upload
from tests.factories import BorrowerFactory
from tests.origination.helpers import EXE_BYTES, PDF_BYTES, PNG_BYTES, stored_files, upload

pytestmark = pytest.mark.django_db
MB = 1024 * 1024


@pytest.fixture
def borrower() -> Borrower:
    return BorrowerFactory(full_name="Amina Njoroge")


@pytest.fixture
def document(borrower: Borrower, officer: User) -> BorrowerDocument:
    return document_upload(
        borrower=borrower, user=officer, kind="id", file=upload("Amina ID.pdf"), description="Front"
    )


def _upload_url(borrower: Borrower) -> str:
    return reverse("document_upload", args=[borrower.pk])


def _post(client: Client, borrower: Borrower, file: Any, kind: str = "id") -> Any:
    return client.post(_upload_url(borrower), {"kind": kind, "description": "", "file": file})


@pytest.mark.parametrize("role", ["admin", "officer"])
def test_admin_and_officer_upload_from_the_borrower_page(
    request: pytest.FixtureRequest, borrower: Borrower, role: str, documents_folder: Path
) -> None:
    client: Client = request.getfixturevalue(f"{role}_client")
    page = client.get(reverse("borrower_detail", args=[borrower.pk])).content.decode()
    assert _upload_url(borrower) in page
    response = _post(client, borrower, upload("payslip.png", PNG_BYTES, "image/png"), "payslip")
    assert response.status_code == 302
    assert response["Location"].endswith(f"/borrowers/{borrower.pk}/#documents")
    document = BorrowerDocument.objects.get()
    assert (document.kind, document.content_type) == ("payslip", "image/png")
    assert len(stored_files(documents_folder)) == 1
    page = client.get(response["Location"]).content.decode()
    assert "is added to Amina Njoroge" in page and "payslip.png" in page


def test_an_accountant_sees_documents_but_cannot_upload_or_delete(
    accountant_client: Client, borrower: Borrower, document: BorrowerDocument
) -> None:
    page = accountant_client.get(reverse("borrower_detail", args=[borrower.pk])).content.decode()
    assert "Amina ID.pdf" in page
    assert reverse("document_download", args=[borrower.pk, document.pk]) in page
    assert _upload_url(borrower) not in page
    assert reverse("document_delete", args=[borrower.pk, document.pk]) not in page
    assert accountant_client.get(_upload_url(borrower)).status_code == 403
    assert _post(accountant_client, borrower, upload()).status_code == 403
    delete = reverse("document_delete", args=[borrower.pk, document.pk])
    assert accountant_client.post(delete).status_code == 403
    assert BorrowerDocument.objects.count() == 1


@pytest.mark.parametrize("role", ["admin", "officer", "accountant"])
def test_every_role_downloads_as_an_attachment_never_sniffed_and_audited(
    request: pytest.FixtureRequest, borrower: Borrower, document: BorrowerDocument, role: str
) -> None:
    client: Client = request.getfixturevalue(f"{role}_client")
    response = client.get(reverse("document_download", args=[borrower.pk, document.pk]))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PDF_BYTES
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="Amina ID.pdf"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "no-store" in response["Cache-Control"]
    entry = AuditLog.objects.get(action="document_downloaded")
    assert entry.object_id == str(document.pk) and entry.ip_address == "127.0.0.1"


def test_a_download_needs_signing_in_and_the_right_borrower(
    client: Client, officer_client: Client, borrower: Borrower, document: BorrowerDocument
) -> None:
    url = reverse("document_download", args=[borrower.pk, document.pk])
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    other = BorrowerFactory()
    wrong = reverse("document_download", args=[other.pk, document.pk])
    assert officer_client.get(wrong).status_code == 404
    assert not AuditLog.objects.filter(action="document_downloaded").exists()


def test_no_public_media_address_serves_documents(
    officer_client: Client, document: BorrowerDocument
) -> None:
    assert officer_client.get(f"/media/{document.storage_name}").status_code == 404
    assert officer_client.get(f"/documents/{document.storage_name}").status_code == 404


def test_a_document_whose_file_is_gone_is_a_clear_404(
    officer_client: Client, borrower: Borrower, document: BorrowerDocument, documents_folder: Path
) -> None:
    for path in stored_files(documents_folder):
        path.unlink()
    response = officer_client.get(reverse("document_download", args=[borrower.pk, document.pk]))
    assert response.status_code == 404
    assert "its file is missing from the document storage" in response.content.decode()
    assert not AuditLog.objects.filter(action="document_downloaded").exists()


def test_an_executable_renamed_pdf_is_refused_on_the_page(
    officer_client: Client, borrower: Borrower, documents_folder: Path
) -> None:
    response = _post(officer_client, borrower, upload("payslip.pdf", EXE_BYTES, "application/pdf"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Nothing was stored" in html
    assert "This file is a Windows program. Upload a PDF, JPEG or PNG" in html
    assert not BorrowerDocument.objects.exists() and stored_files(documents_folder) == []
    assert not AuditLog.objects.filter(action="document_uploaded").exists()


def test_a_50_mb_upload_is_refused_with_a_clear_message(
    officer_client: Client, borrower: Borrower, documents_folder: Path
) -> None:
    big = upload("scan.pdf", PDF_BYTES + b"0" * (50 * MB), "application/pdf")
    response = _post(officer_client, borrower, big)
    assert response.status_code == 413
    html = response.content.decode()
    assert "Nothing was stored" in html
    assert "This file is 50.0 MB; a document may be at most 5 MB." in html
    assert not BorrowerDocument.objects.exists() and stored_files(documents_folder) == []
    assert not AuditLog.objects.filter(action="document_uploaded").exists()


class LazyBody(io.RawIOBase):
    """A multipart body of a 50 MB file, made as it is read (never whole in memory), that
    counts what was read."""

    def __init__(self, head: bytes, size: int, tail: bytes) -> None:
        self.parts = [head, size, tail]
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while self.parts:
            part = self.parts[0]
            if isinstance(part, int):
                n = min(part, len(buffer))
                buffer[:n] = b"0" * n
                self.parts[0] = part - n
                if self.parts[0] == 0:
                    self.parts.pop(0)
            else:
                n = min(len(part), len(buffer))
                buffer[:n] = part[:n]
                self.parts[0] = part[n:]
                if not self.parts[0]:
                    self.parts.pop(0)
            if n:
                self.read_bytes += n
                return n
        return 0


def test_a_50_mb_body_is_dropped_as_it_is_read_not_kept(borrower: Borrower) -> None:
    """What happens under the middleware's first read of the form: the fields before the file
    arrive, the file is refused from the request's length, and the rest of the body is read
    and dropped a chunk at a time (the browser then gets the page, not a reset connection)."""
    boundary = "karoboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="kind"\r\n\r\nid\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="scan.pdf"\r\nContent-Type: application/pdf\r\n\r\n'
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    size = 50 * MB
    body = LazyBody(head, size, tail)
    length = len(head) + size + len(tail)
    request = WSGIRequest(
        {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": reverse("document_upload", args=[borrower.pk]),
            "CONTENT_TYPE": f"multipart/form-data; boundary={boundary}",
            "CONTENT_LENGTH": str(length),
            "wsgi.input": body,
            "SERVER_NAME": "testserver",
            "SERVER_PORT": "80",
        }
    )
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        post, files = request.POST, request.FILES
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert post["kind"] == "id" and "file" not in files
    assert request.upload_refused == length  # type: ignore[attr-defined]
    assert body.read_bytes == length  # all of it read...
    assert peak < 2 * MB  # ...and none of it kept


def test_a_file_just_over_the_limit_is_stopped_while_streaming(
    officer_client: Client, borrower: Borrower, documents_folder: Path
) -> None:
    """Its request is within the allowance for the form's other fields, so the length alone
    does not give it away: the handler stops it once its bytes pass 5 MB."""
    content = PDF_BYTES + b"0" * (MAX_DOCUMENT_BYTES - len(PDF_BYTES) + 1)
    response = _post(officer_client, borrower, upload("scan.pdf", content))
    assert response.status_code == 413
    assert "This file is over 5 MB; a document may be at most 5 MB." in response.content.decode()
    assert not BorrowerDocument.objects.exists() and stored_files(documents_folder) == []


def test_a_file_of_exactly_5_mb_is_taken_on_the_page(
    officer_client: Client, borrower: Borrower
) -> None:
    content = PDF_BYTES + b"0" * (MAX_DOCUMENT_BYTES - len(PDF_BYTES))
    assert _post(officer_client, borrower, upload("scan.pdf", content)).status_code == 302
    assert BorrowerDocument.objects.get().size == MAX_DOCUMENT_BYTES


def test_the_upload_limit_applies_only_to_the_document_upload(
    officer_client: Client, borrower: Borrower
) -> None:
    """Other views' posts are not cut short by the documents' limit (the borrower form posted
    as multipart with a 6 MB file attached still reaches its view)."""
    response = officer_client.post(
        reverse("borrower_update", args=[borrower.pk]),
        {"full_name": "", "attachment": upload("x.pdf", PDF_BYTES + b"0" * (6 * MB))},
    )
    assert response.status_code == 200
    assert "upload_refused" not in response.wsgi_request.__dict__


def test_missing_fields_are_named(officer_client: Client, borrower: Borrower) -> None:
    response = officer_client.post(_upload_url(borrower), {"kind": "", "description": ""})
    html = response.content.decode()
    assert "Choose what the document is." in html and "Choose the file to upload." in html


def test_delete_from_the_borrower_page(
    officer_client: Client, borrower: Borrower, document: BorrowerDocument
) -> None:
    delete = reverse("document_delete", args=[borrower.pk, document.pk])
    assert officer_client.get(delete).status_code == 405
    response = officer_client.post(delete, follow=True)
    assert "“Amina ID.pdf” is deleted." in response.content.decode()
    assert not BorrowerDocument.objects.exists()
    again = officer_client.post(delete)
    assert again.status_code == 404


def test_the_borrower_page_lists_documents_in_a_fixed_number_of_queries(
    officer_client: Client, borrower: Borrower, officer: User, officer2: User,
    django_assert_num_queries: Any,
) -> None:  # fmt: skip
    document_upload(borrower=borrower, user=officer, kind="id", file=upload())
    url = reverse("borrower_detail", args=[borrower.pk])
    officer_client.get(url)
    with django_assert_num_queries(0) as one:
        pass
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        officer_client.get(url)
    for i in range(6):
        user = officer if i % 2 else officer2
        document_upload(borrower=borrower, user=user, kind="payslip", file=upload(f"p{i}.pdf"))
    with django_assert_num_queries(len(few)):
        page = officer_client.get(url).content.decode()
    assert page.count("/documents/") >= 7
    del one
