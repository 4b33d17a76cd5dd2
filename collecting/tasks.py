"""Celery tasks of the collections app. Each is a thin wrapper around a service, so the same
work runs the same way from a worker, in-process (no broker) or from a test."""

from __future__ import annotations

from celery import shared_task

from collecting.close import day_close_chunk
from collecting.imports import post_rows


@shared_task(name="collecting.close_day_chunk", acks_late=True, reject_on_worker_lost=True)
def close_day_chunk(chunk_id: int) -> bool:
    """One chunk of a daily close (idempotent: a redelivered chunk that is done does nothing)."""
    return day_close_chunk(chunk_id=chunk_id)


@shared_task(name="collecting.post_import_rows", acks_late=True, reject_on_worker_lost=True)
def post_import_rows(import_id: int) -> int:
    """Post a payment import's ready rows (idempotent per file digest and row)."""
    return post_rows(import_id=import_id)
