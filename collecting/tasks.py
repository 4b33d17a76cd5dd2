"""Celery tasks of the collections app. Each is a thin wrapper around a service, so the same
work runs the same way from a worker, in-process (no broker) or from a test."""

from __future__ import annotations

from datetime import date
from typing import Any

from celery import shared_task

from collecting.close import day_close_chunk
from collecting.imports import post_rows
from collecting.reminders import reminders_send


@shared_task(name="collecting.close_day_chunk", acks_late=True, reject_on_worker_lost=True)
def close_day_chunk(chunk_id: int) -> bool:
    """One chunk of a daily close (idempotent: a redelivered chunk that is done does nothing)."""
    return day_close_chunk(chunk_id=chunk_id)


@shared_task(name="collecting.post_import_rows", acks_late=True, reject_on_worker_lost=True)
def post_import_rows(import_id: int) -> int:
    """Post a payment import's ready rows (idempotent per file digest and row)."""
    return post_rows(import_id=import_id)


@shared_task(name="collecting.send_reminders", acks_late=True, reject_on_worker_lost=True)
def send_reminders(on: str | None = None) -> dict[str, Any]:
    """The payment reminders of a day (ISO date, default today), each sent once: a
    redelivered task sends nothing twice and retries what failed."""
    result = reminders_send(on=date.fromisoformat(on) if on else None)
    return result.as_details()
