"""Where document bytes are kept: the "documents" entry of `settings.STORAGES`.

Local files under MEDIA_ROOT/documents by default, an S3-compatible bucket when
KARO_DOCUMENTS_S3_BUCKET is set (README, "Borrower documents"). Looked up on every use, so a
test (or a settings change) that points it elsewhere is honoured at once.
"""

from __future__ import annotations

from django.core.files.storage import Storage, storages

DOCUMENTS = "documents"


def documents_storage() -> Storage:
    return storages[DOCUMENTS]
