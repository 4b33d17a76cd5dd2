"""The type of a document is read from its bytes, not its name."""

from __future__ import annotations

import pytest

from origination.content import JPEG, PDF, PNG, describe_refused, detect
from tests.origination.helpers import EXE_BYTES, JPEG_BYTES, PDF_BYTES, PNG_BYTES


@pytest.mark.parametrize(
    ("head", "expected"), [(PDF_BYTES, PDF), (JPEG_BYTES, JPEG), (PNG_BYTES, PNG)]
)
def test_accepted_types_are_recognised_by_their_first_bytes(head: bytes, expected: object) -> None:
    assert detect(head[:16]) == expected


@pytest.mark.parametrize(
    ("head", "words"),
    [
        (EXE_BYTES, "a Windows program"),
        (b"\x7fELF\x02\x01", "a Linux program"),
        (b"PK\x03\x04", "a ZIP archive (or a Word or Excel file)"),
        (b"GIF89a", "a GIF image"),
        (b"<html><script>", "a web page or XML file"),
        (b"plain text", "not a PDF, JPEG or PNG file"),
        (b"", "empty"),
    ],
)
def test_other_content_is_refused_and_described(head: bytes, words: str) -> None:
    assert detect(head) is None
    assert describe_refused(head) == words


def test_a_signature_elsewhere_than_the_start_does_not_count() -> None:
    assert detect(b" %PDF-1.4") is None
    assert detect(b"MZ%PDF-1.4") is None
