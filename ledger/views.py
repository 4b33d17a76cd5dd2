"""General ledger pages under /ledger/ (DESIGN.md, "General ledger"): the trial balance as of a
date, an account's ledger for a date range, the day's journal, closing the books and a manual
journal entry.

Reading needs `ledger.view_journalentry` (Admin, Accountant); closing the books needs
`ledger.add_booksclosing` and a manual entry `ledger.add_journalentry` (both Admin). Each
report page is also a CSV at the same address with `?format=csv`, written and audited
(REPORT_EXPORTED) by the reports' own helper. Every page answers in a fixed number of queries
whatever the size of the journal.

These are the web shell of the ledger: the ledger's models, services and selectors import
nothing from lending or reporting, but its pages reuse the reports' CSV helper and date-range
form, and close the books and book manual entries through `lending.services.books` (which
audits both).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from accounts.access import permission_required
from accounts.models import Office
from ledger import selectors
from ledger.forms import (
    AsOfForm,
    BooksCloseForm,
    JournalDayForm,
    JournalEntryForm,
    line_formset,
    with_more_lines,
)
from ledger.models import Account, JournalLine
from ledger.services import closed_through
from ledger.templatetags.ledger_format import to_cents
from lending.forms import add_service_errors
from lending.services.books import books_close, journal_entry_record
from lending.views.borrowers import signed_in
from reporting.exports import csv_response
from reporting.forms import DateRangeForm

VIEW = "ledger.view_journalentry"
CLOSE = "ledger.add_booksclosing"
ADD_ENTRY = "ledger.add_journalentry"
ENTRIES_PER_PAGE = 50


def _wants_csv(request: HttpRequest) -> bool:
    return request.GET.get("format") == "csv"


def _csv_query(request: HttpRequest) -> str:
    """The current filter with format=csv (for the page's download link)."""
    query = request.GET.copy()
    query.pop("page", None)
    query["format"] = "csv"
    return query.urlencode()


def _books(request: HttpRequest, office: Office | None = None) -> selectors.Books:
    """The books of the user's offices (DESIGN.md "Offices"), or of one of them."""
    return selectors.Books(user=request.user, office=office)


def _account_facts(account: Account) -> str:
    facts = [f"{account.get_type_display()} account"]
    if account.parent is not None:
        facts.append(f"under {account.parent}")
    if not account.is_active:
        facts.append("not active")
    return ", ".join(facts) + ". Balances are shown as debit (Dr) or credit (Cr)."


# --- Trial balance ------------------------------------------------------------------------------


@require_GET
@permission_required(VIEW)
def trial_balance(request: HttpRequest) -> HttpResponse:
    form = AsOfForm(request.GET, user=request.user)
    report, rows = None, []
    if not form.is_bound or form.is_valid():
        as_of = form.day()
        report = selectors.trial_balance(as_of, books=_books(request, form.office()))
        # Accounts whose debits and credits cancel out have no balance to show.
        rows = [r for r in report.rows if r.net]
        if _wants_csv(request):
            cells: list[list[Any]] = [
                [
                    r.account.code,
                    r.account.name,
                    r.account.get_type_display(),
                    to_cents(r.debit_balance),
                    to_cents(r.credit_balance),
                ]
                for r in rows
            ]
            cells.append(
                ["", "Total", "", to_cents(report.total_debit), to_cents(report.total_credit)]
            )
            return csv_response(
                request=request,
                report="trial_balance",
                filename=f"trial-balance-{as_of}.csv",
                header=["Account", "Name", "Type", "Debit", "Credit"],
                rows=cells,
                params={"as_of": as_of, "office": str(form.office() or "")},
            )
    return render(
        request,
        "ledger/trial_balance.html",
        {
            "form": form,
            "report": report,
            "rows": rows,
            "month_start": report.as_of.replace(day=1) if report else None,
            "closed_through": closed_through() if report else None,
            "csv_query": _csv_query(request),
        },
    )


# --- An account's ledger ------------------------------------------------------------------------


def _ledger_csv_rows(
    ledger: selectors.AccountLedger, books: selectors.Books
) -> Iterator[list[Any]]:
    """Opening balance, every line of the range (the page stops at MAX_LEDGER_LINES, the CSV
    does not) with its running balance, then the totals and the closing balance."""
    yield [ledger.date_from, "", "Opening balance", "", "", "", to_cents(ledger.opening)]
    lines = (
        books.lines(
            JournalLine.objects.filter(
                account=ledger.account,
                value_date__gte=ledger.date_from,
                value_date__lte=ledger.date_to,
            )
        )
        .select_related("entry")
        .order_by("value_date", "entry_id", "id")
    )
    running = to_cents(ledger.opening)
    for line in lines.iterator(chunk_size=2000):
        running += line.debit - line.credit
        entry = line.entry
        yield [
            line.value_date,
            f"JE-{entry.pk}",
            entry.memo,
            entry.loan_id,
            line.debit,
            line.credit,
            running,
        ]
    yield [
        ledger.date_to,
        "",
        "Closing balance",
        "",
        to_cents(ledger.total_debit),
        to_cents(ledger.total_credit),
        to_cents(ledger.closing),
    ]


@require_GET
@permission_required(VIEW)
def account_ledger(request: HttpRequest, code: str) -> HttpResponse:
    account = get_object_or_404(Account.objects.select_related("parent"), code=code)
    form = DateRangeForm(request.GET, max_days=None)
    ledger = None
    if not form.is_bound or form.is_valid():
        start, end = form.range()
        assert start is not None and end is not None
        books = _books(request)
        ledger = selectors.account_ledger(account, start, end, books=books)
        if _wants_csv(request):
            return csv_response(
                request=request,
                report="account_ledger",
                filename=f"ledger-{account.code}-{start}-to-{end}.csv",
                header=["Date", "Entry", "Memo", "Loan id", "Debit", "Credit", "Balance"],
                rows=_ledger_csv_rows(ledger, books),
                params={"account": account.code, "date_from": start, "date_to": end},
            )
    return render(
        request,
        "ledger/account_ledger.html",
        {
            "account": account,
            "form": form,
            "ledger": ledger,
            "title": f"{account.code} {account.name}",
            "subtitle": _account_facts(account),
            "max_lines": selectors.MAX_LEDGER_LINES,
            "csv_query": _csv_query(request),
        },
    )


# --- The day's journal --------------------------------------------------------------------------


def _entry_id(request: HttpRequest) -> int | None:
    """`?entry=<id>`: one entry (the account ledger links each of its lines to it)."""
    value = request.GET.get("entry", "")
    return int(value) if value.isdigit() and len(value) < 19 else None


def _journal_rows(qs: Any) -> Iterator[list[Any]]:
    for entry in qs.iterator(chunk_size=500):
        for line in entry.lines.all():
            yield [
                f"JE-{entry.pk}",
                entry.value_date,
                entry.booked_at,
                entry.get_source_display(),
                entry.memo,
                entry.loan_id,
                line.account.code,
                line.account.name,
                line.debit,
                line.credit,
            ]


@require_GET
@permission_required(VIEW)
def journal(request: HttpRequest) -> HttpResponse:
    entry_id = _entry_id(request)
    form = JournalDayForm(request.GET)
    context: dict[str, Any] = {"form": form, "page_obj": None, "entry_id": entry_id}
    books = _books(request)
    if entry_id is not None:
        qs = selectors.entries(books=books).filter(pk=entry_id)
        entry = qs.first()
        if entry is None:
            return render(request, "ledger/journal.html", {**context, "missing": True}, status=404)
        day: date = entry.value_date
        context["entry"] = entry
    elif not form.is_bound or form.is_valid():
        day = form.day()
        qs = selectors.entries(date_from=day, date_to=day, books=books)
    else:
        return render(request, "ledger/journal.html", context)
    if _wants_csv(request):
        return csv_response(
            request=request,
            report="journal",
            filename=f"journal-{day}.csv" if entry_id is None else f"journal-entry-{entry_id}.csv",
            header=[
                "Entry",
                "Date",
                "Booked at",
                "Source",
                "Memo",
                "Loan id",
                "Account",
                "Account name",
                "Debit",
                "Credit",
            ],
            rows=_journal_rows(qs),
            params={"date": day} if entry_id is None else {"entry": entry_id},
        )
    if entry_id is None:
        page = Paginator(qs, ENTRIES_PER_PAGE).get_page(request.GET.get("page"))
        context.update(page_obj=page, entries=page, totals=selectors.entry_totals(qs))
    else:
        context.update(entries=[context["entry"]], title=f"Journal entry JE-{entry_id}")
    context["day"] = day
    context["csv_query"] = _csv_query(request)
    return render(request, "ledger/journal.html", context)


# --- Closing the books --------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@permission_required(CLOSE)
def books_close_page(request: HttpRequest) -> HttpResponse:
    form = BooksCloseForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        through = form.cleaned_data["through"]
        try:
            books_close(through=through, user=signed_in(request), request=request)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"The books are closed through {through:%d %b %Y}.")
            return redirect("ledger_close")
    return render(
        request,
        "ledger/close.html",
        {"form": form, "closed_through": closed_through()},
    )


# --- A manual journal entry ---------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@permission_required(ADD_ENTRY)
def journal_entry_new(request: HttpRequest) -> HttpResponse:
    """Date, memo and lines; "Add lines" posts the form back and gets it longer (no JavaScript
    needed). A booked entry opens in the journal (`?entry=<id>`)."""
    if request.method == "POST" and "add_lines" in request.POST:
        form, formset = with_more_lines(request.POST)
    elif request.method == "POST":
        form = JournalEntryForm(request.POST)
        formset = line_formset(request.POST)
        if form.is_valid() and formset.is_valid():
            try:
                entry = journal_entry_record(
                    value_date=form.cleaned_data["value_date"],
                    memo=form.cleaned_data["memo"],
                    lines=formset.lines(),
                    user=signed_in(request),
                    request=request,
                )
            except ValidationError as exc:
                # "value_date" and "memo" go next to their fields, "lines" to the top.
                add_service_errors(form, exc)
            else:
                messages.success(request, f"Journal entry JE-{entry.pk} is booked.")
                return redirect(f"{reverse('ledger_journal')}?entry={entry.pk}")
    else:
        form, formset = JournalEntryForm(), line_formset()
    return render(request, "ledger/journal_entry_new.html", {"form": form, "formset": formset})
