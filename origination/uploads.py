"""Refusing a too-large upload before it is read.

Django parses a posted form (files included) the first time anything reads `request.POST`,
which a middleware does before any view runs; by then a 50 MB file would already have been
streamed to a temporary file. `UploadLimitHandler` is the first upload handler
(settings.FILE_UPLOAD_HANDLERS): for a view marked with `@upload_limit(n)` it

- refuses at once a request whose Content-Length is already above n plus room for the form's
  other fields: no file is opened, and the rest of the body is read and dropped 64 KB at a
  time (never kept, so the browser gets the page with the message rather than a reset
  connection);
- stops a file whose bytes pass n while they stream in (a client that sent no length, or a
  small form around a big file), with the same message.

Either way `request.upload_refused` holds the size seen, the file is missing from
`request.FILES`, and the view says so next to the field. Other views are not touched.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve

View = TypeVar("View", bound=Callable[..., HttpResponse])

# Room for the form's other fields and the multipart boundaries around the file.
FORM_OVERHEAD_BYTES = 64 * 1024
DRAIN_CHUNK_BYTES = 64 * 1024


def upload_limit(max_bytes: int) -> Callable[[View], View]:
    """Mark a view: its uploaded files may be at most `max_bytes` each."""

    def decorator(view: View) -> View:
        view.upload_max_bytes = max_bytes  # type: ignore[attr-defined]
        return view

    return decorator


def limit_for(request: HttpRequest) -> int | None:
    try:
        match = resolve(request.path_info)
    except Resolver404:
        return None
    return getattr(match.func, "upload_max_bytes", None)


class UploadLimitHandler(FileUploadHandler):
    def handle_raw_input(
        self,
        input_data: Any,
        META: dict[str, Any],
        content_length: int | None,
        boundary: str,
        encoding: str | None = None,
    ) -> None:
        self.limit = limit_for(self.request) if self.request is not None else None
        self.declared_too_large = bool(
            self.limit is not None
            and content_length
            and content_length > self.limit + FORM_OVERHEAD_BYTES
        )
        self.request_length = content_length or 0
        self.input_data = input_data

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        if getattr(self, "declared_too_large", False):
            self._refuse(self.request_length)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        limit = getattr(self, "limit", None)
        if limit is not None and start + len(raw_data) > limit:
            self._refuse(max(self.request_length, start + len(raw_data)))
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None  # the next handler (memory or temporary file) builds the file

    def _refuse(self, size: int) -> None:
        self.request.upload_refused = size  # type: ignore[union-attr]
        # Read the rest of the body and drop it, so the answer reaches the browser. Here, a
        # chunk at a time: Django's own draining (StopUpload without connection_reset) reads
        # by lines, and a file's bytes may hold no line break for megabytes.
        while self.input_data.read(DRAIN_CHUNK_BYTES):
            pass
        raise StopUpload(connection_reset=True)
