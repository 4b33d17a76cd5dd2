"""What a document's bytes are, read from the bytes themselves (never the name or the type the
browser claims): a program renamed `payslip.pdf` is still a program.

Plain Python, no Django: the upload service and the tests call it directly.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FileType:
    content_type: str
    extension: str
    label: str


PDF = FileType("application/pdf", "pdf", "PDF")
JPEG = FileType("image/jpeg", "jpg", "JPEG image")
PNG = FileType("image/png", "png", "PNG image")
ACCEPTED = (PDF, JPEG, PNG)
BY_CONTENT_TYPE = {t.content_type: t for t in ACCEPTED}

# Enough bytes to tell the accepted types (and the common refused ones) apart.
SNIFF_BYTES = 16

_SIGNATURES: list[tuple[bytes, FileType]] = [
    (b"%PDF-", PDF),
    (b"\xff\xd8\xff", JPEG),
    (b"\x89PNG\r\n\x1a\n", PNG),
]
# Recognised only to say what a refused file is, in the message the officer reads.
_REFUSED: list[tuple[bytes, str]] = [
    (b"MZ", "a Windows program"),
    (b"\x7fELF", "a Linux program"),
    (b"\xcf\xfa\xed\xfe", "a macOS program"),
    (b"#!", "a script"),
    (b"PK\x03\x04", "a ZIP archive (or a Word or Excel file)"),
    (b"\xd0\xcf\x11\xe0", "an old Word or Excel file"),
    (b"GIF8", "a GIF image"),
    (b"<", "a web page or XML file"),
]


def detect(head: bytes) -> FileType | None:
    """The accepted type whose signature the file starts with, or None."""
    for signature, file_type in _SIGNATURES:
        if head.startswith(signature):
            return file_type
    return None


def describe_refused(head: bytes) -> str:
    """Words for what a refused file seems to be ("a Windows program"), or a plain fallback."""
    for signature, words in _REFUSED:
        if head.startswith(signature):
            return words
    if not head:
        return "empty"
    return "not a PDF, JPEG or PNG file"
