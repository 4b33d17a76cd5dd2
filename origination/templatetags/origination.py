"""The origination sections other pages include: the application file on the loan page (what
the approver weighs before the decision) and the documents on the borrower page. Each reads
its own data through `origination.selectors`, in a fixed number of queries, so the pages that
include it need no change beyond the tag."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.functional import SimpleLazyObject

from lending.models import Borrower, Loan
from origination.access import can_edit_application, can_edit_documents
from origination.selectors import (
    application_file,
    borrower_documents,
    loan_collateral,
    loan_guarantors,
)
from origination.services import MAX_DOCUMENT_MB

register = template.Library()


def _shared(context: template.Context) -> dict[str, Any]:
    return {
        "request": context.get("request"),
        "csrf_token": context.get("csrf_token"),
        "CURRENCY": context.get("CURRENCY"),
        "perms": context.get("perms"),
    }


@register.inclusion_tag("origination/_application_file.html", takes_context=True)
def application_file_section(context: template.Context, loan: Loan) -> dict[str, Any]:
    """While the loan is pending: the borrower's income, other loans and exposure, the
    guarantors, collateral and documents, with the controls this user may use, read fresh on
    every view (a decision is never taken on a stale exposure). Afterwards: the guarantors and
    collateral it was decided with, which no longer change, kept in the loan page's cached
    summary and read only when that cached copy is missing."""
    user = context["request"].user
    pending = loan.status == Loan.Status.PENDING
    return {
        **_shared(context),
        "loan": loan,
        "pending": pending,
        "file": application_file(loan=loan) if pending else None,
        "guarantors": None if pending else SimpleLazyObject(lambda: loan_guarantors(loan=loan)),
        "collateral": None if pending else SimpleLazyObject(lambda: loan_collateral(loan=loan)),
        "may_edit": can_edit_application(user, loan),
        "may_edit_documents": can_edit_documents(user),
    }


@register.inclusion_tag("origination/_borrower_documents.html", takes_context=True)
def borrower_documents_section(context: template.Context, borrower: Borrower) -> dict[str, Any]:
    user = context["request"].user
    return {
        **_shared(context),
        "borrower": borrower,
        "documents": borrower_documents(borrower=borrower),
        "may_edit_documents": can_edit_documents(user),
        "max_mb": MAX_DOCUMENT_MB,
    }
