from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.origination.helpers import use_temporary_document_storage


@pytest.fixture(autouse=True)
def documents_folder(settings: Any, tmp_path: Path) -> Path:
    """Every origination test keeps its documents in its own folder."""
    return use_temporary_document_storage(settings, tmp_path)
