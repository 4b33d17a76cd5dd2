"""Payment file imports: upload, map the columns, dry run, commit on a worker.

- `payment_import_upload` reads the file (`collecting.payment_file`) and stores its rows as
  text; nothing is matched or posted yet. A file over `MAX_BYTES` is refused whole.
- `payment_import_check` (the dry run) applies a column mapping (remembered for the source)
  and gives each row a verdict: ready (its loan and how it was matched), unmatched (why),
  invalid (which cell, why), duplicate (of which row), refused (what the repayment service
  would refuse: a loan not active, an amount above what it owes, a date before the
  disbursement or in closed books), already posted (the same file's row, posted by an
  earlier import). It may be run again with another mapping.
- `payment_import_commit` queues `post_import_rows` (a Celery task; in-process without a
  broker), which posts each ready row through `repayment_record` with the idempotency key
  `import:<file digest>:<row>`: the same file imported again, or a commit rerun after a worker
  died, finds each posted row's repayment and posts nothing twice. Rows are decided in
  batches; each batch records its verdicts and the progress in one transaction.

Matching, in order: the loan number column; else a loan number found in the reference; else
the phone number, normalised to E.164 on both sides (the file's and the borrowers' as stored,
whatever their format), when it leads to exactly one active loan.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from accounts.access import can_record_repayment, require
from accounts.offices import scope
from collecting.models import ImportSource, PaymentImport, PaymentImportRow
from collecting.payment_file import (
    CellProblem,
    FileProblem,
    is_formula,
    normalise_phone,
    parse_amount,
    parse_date,
    phone_tail,
    read_table,
)
from karo.inputs import date_problem
from ledger.services import closed_through
from lending.audit import audit_record
from lending.errors import StateConflict
from lending.models import AuditLog, Borrower, Loan, Repayment
from lending.services.repayments import repayment_record, request_fingerprint_for

MAX_BYTES = 10 * 1024 * 1024
FIELDS = ("paid_on", "amount", "reference", "loan_number", "phone")
FIELD_LABELS = {
    "paid_on": "Date paid",
    "amount": "Amount",
    "reference": "Reference",
    "loan_number": "Loan number",
    "phone": "Phone",
}
BATCH = 50
LOAN_NUMBER = re.compile(r"\bL-\d{4}-\d{6}\b", re.IGNORECASE)
Verdict = PaymentImportRow.Verdict


def _require(user: User) -> None:
    require(can_record_repayment(user), "Your role does not allow importing payments.")


def payment_import_upload(
    *, user: User, source_name: str, file_name: str, content: bytes, method: str
) -> PaymentImport:
    """Store an uploaded payment file's rows (see the module docstring)."""
    _require(user)
    if len(content) > MAX_BYTES:
        raise ValidationError(
            {
                "file": f"The file is {len(content) / 1024 / 1024:.1f} MB; an import takes at "
                f"most {MAX_BYTES // 1024 // 1024} MB. Split it into smaller files."
            }
        )
    if method not in Repayment.Method.values:
        raise ValidationError({"method": "Choose a payment method."})
    source_name = source_name.strip()
    if not source_name:
        raise ValidationError({"source": "Name the source (the bank or the mobile-money service)."})
    try:
        table = read_table(file_name, content)
    except FileProblem as problem:
        raise ValidationError({"file": str(problem)}) from None
    with transaction.atomic():
        source, _ = ImportSource.objects.get_or_create(name=source_name)
        payment_import = PaymentImport.objects.create(
            source=source,
            file_name=file_name[:200],
            digest=hashlib.sha256(content).hexdigest(),
            header=table.header,
            notes=table.notes,
            method=method,
            uploaded_by=user,
            rows_total=len(table.rows),
        )
        PaymentImportRow.objects.bulk_create(
            PaymentImportRow(payment_import=payment_import, number=i + 2, cells=cells)
            for i, cells in enumerate(table.rows)
        )
    return payment_import


def suggested_mapping(payment_import: PaymentImport) -> dict[str, str]:
    """The source's remembered mapping (for the columns this file has), else columns whose
    header names the field."""
    remembered = {
        f: col for f, col in payment_import.source.mapping.items() if col in payment_import.header
    }
    if remembered:
        return remembered
    guesses = {
        "paid_on": ("date", "value date", "paid on", "transaction date", "completion time"),
        "amount": ("amount", "paid in", "credit", "received"),
        "reference": ("reference", "ref", "receipt no.", "details", "narration", "description"),
        "loan_number": ("loan", "loan number", "loan no", "account"),
        "phone": ("phone", "msisdn", "mobile", "phone number"),
    }
    found: dict[str, str] = {}
    for name, words in guesses.items():
        for column in payment_import.header:
            if column.strip().lower() in words:
                found[name] = column
                break
    return found


_LOAN_FIELDS = ("id", "number", "status", "outstanding", "borrower_id", "disbursement_date")


@dataclass
class _Matcher:
    """Finds the loan a row pays (see the module docstring), from data read once per run."""

    by_number: dict[str, Loan]
    active_by_phone: dict[str, list[Loan]]

    @classmethod
    def for_rows(cls, rows: list[dict[str, str]], region: str | None, user: Any = None) -> _Matcher:
        """Rows match the loans of the offices of whoever checks the file (DESIGN.md
        "Offices"): another office's loan number is "No loan ..." as anywhere else."""
        loans = Loan.objects.all() if user is None else scope(Loan.objects.all(), user)
        borrowers_seen = (
            Borrower.objects.all() if user is None else scope(Borrower.objects.all(), user)
        )
        numbers = {r["loan_number"].strip().upper() for r in rows if r.get("loan_number")}
        for r in rows:
            numbers.update(m.upper() for m in LOAN_NUMBER.findall(r.get("reference", "")))
        by_number = {
            loan.number.upper(): loan
            for loan in loans.filter(number__in=numbers).only(*_LOAN_FIELDS)
        }
        tails = {phone_tail(r["phone"]) for r in rows if r.get("phone")} - {""}
        active_by_phone: dict[str, list[Loan]] = defaultdict(list)
        if tails:
            borrowers: dict[int, str] = {}
            for pk, phone in borrowers_seen.exclude(phone="").values_list("id", "phone"):
                if phone_tail(phone) in tails:
                    normalised = normalise_phone(phone, region)
                    if normalised:
                        borrowers[pk] = normalised
            for loan in loans.filter(
                borrower_id__in=list(borrowers), status=Loan.Status.ACTIVE
            ).only(*_LOAN_FIELDS):
                active_by_phone[borrowers[loan.borrower_id]].append(loan)
        return cls(by_number, active_by_phone)

    def match(self, row: dict[str, str], region: str | None) -> tuple[Loan | None, str, str]:
        """(loan, how it was matched, why none was)."""
        number = row.get("loan_number", "").strip()
        if number:
            loan = self.by_number.get(number.upper())
            return (loan, "loan number", "") if loan else (None, "", f"No loan {number}.")
        for found in LOAN_NUMBER.findall(row.get("reference", "")):
            loan = self.by_number.get(found.upper())
            if loan:
                return loan, "reference", ""
        phone = row.get("phone", "").strip()
        if phone:
            normalised = normalise_phone(phone, region)
            if normalised is None:
                return None, "", f"The phone number {phone} is not a valid number."
            loans = self.active_by_phone.get(normalised, [])
            if len(loans) == 1:
                return loans[0], "phone", ""
            if len(loans) > 1:
                listed = ", ".join(sorted(loan.number for loan in loans))
                return (
                    None,
                    "",
                    f"{normalised} has {len(loans)} active loans ({listed}): give the loan number.",
                )
            return None, "", f"No active loan for {normalised}."
        return None, "", "No loan number, loan number in the reference, or phone to match."


def _cells(row: PaymentImportRow, columns: dict[str, int]) -> dict[str, str]:
    return {f: row.cells[i] if i < len(row.cells) else "" for f, i in columns.items()}


def _check_mapping(payment_import: PaymentImport, mapping: dict[str, str]) -> dict[str, int]:
    mapping = {f: col for f, col in mapping.items() if col}
    unknown = [f for f in mapping if f not in FIELDS]
    if unknown:
        raise ValidationError({"mapping": f"Unknown fields: {', '.join(unknown)}."})
    missing = [col for col in mapping.values() if col not in payment_import.header]
    if missing:
        raise ValidationError({"mapping": f"The file has no column {missing[0]!r}."})
    for required in ("paid_on", "amount"):
        if required not in mapping:
            raise ValidationError(
                {required: f"Choose the column of the {FIELD_LABELS[required].lower()}."}
            )
    if not {"loan_number", "reference", "phone"} & set(mapping):
        raise ValidationError(
            {
                "loan_number": "Choose at least one column to match loans by: loan number, "
                "reference or phone."
            }
        )
    return {f: payment_import.header.index(col) for f, col in mapping.items()}


def payment_import_check(
    *, payment_import: PaymentImport, user: User, mapping: dict[str, str]
) -> dict[str, int]:
    """The dry run: a verdict per row (see the module docstring); the mapping is remembered
    for the source. Returns the count of rows per verdict. Refused once the import is being
    posted."""
    _require(user)
    columns = _check_mapping(payment_import, mapping)
    region = settings.KARO_PHONE_REGION or None
    with transaction.atomic():
        payment_import = PaymentImport.objects.select_for_update().get(pk=payment_import.pk)
        if payment_import.status in (PaymentImport.Status.COMMITTING, PaymentImport.Status.DONE):
            raise StateConflict(
                "This import has been posted; upload the file again to re-check it."
            )
        rows = list(payment_import.rows.order_by("number"))
        values = [_cells(row, columns) for row in rows]
        matcher = _Matcher.for_rows(values, region, user)
        seen: dict[tuple[Any, ...], int] = {}
        owed: dict[int, Decimal] = {}
        context = _Posted.for_import(payment_import)
        for row, cells in zip(rows, values, strict=True):
            _judge(row, cells, matcher, region, seen, owed, context)
        PaymentImportRow.objects.bulk_update(
            rows,
            [
                "paid_on", "amount", "reference", "loan", "matched_by", "verdict", "message",
                "repayment",
            ],
            batch_size=500,
        )  # fmt: skip
        source = payment_import.source
        source.mapping = {f: payment_import.header[i] for f, i in columns.items()}
        source.save(update_fields=["mapping", "updated_at"])
        payment_import.status = PaymentImport.Status.CHECKED
        payment_import.save(update_fields=["status"])
    counts: dict[str, int] = defaultdict(int)
    for row in rows:
        counts[row.verdict] += 1
    return dict(counts)


@dataclass
class _Posted:
    """What the commit would find already done, read once per dry run (three queries): the
    date the books are closed through, and the repayments earlier imports of the same file
    posted under this import's row keys, with the import and row that posted each."""

    payment_import: PaymentImport
    closed_through: date | None
    by_key: dict[str, Repayment]
    posted_by: dict[int, tuple[int, int]]  # repayment id -> (import id, row number)

    @classmethod
    def for_import(cls, payment_import: PaymentImport) -> _Posted:
        # By the keys' prefix and the file's digest: no list of up to 20,000 keys to send.
        by_key = {
            str(r.idempotency_key): r
            for r in Repayment.objects.filter(
                idempotency_key__startswith=f"import:{payment_import.digest}:"
            ).only("id", "idempotency_key", "request_fingerprint")
        }
        posted_by = {
            repayment_id: (import_id, number)
            for repayment_id, import_id, number in PaymentImportRow.objects.filter(
                payment_import__digest=payment_import.digest, repayment__isnull=False
            )
            .exclude(payment_import=payment_import)
            .order_by("-payment_import_id")
            .values_list("repayment_id", "payment_import_id", "number")
        }  # the earliest import that holds a repayment wins (read last)
        return cls(payment_import, closed_through(), by_key, posted_by)

    def earlier(self, row: PaymentImportRow) -> Repayment | None:
        return self.by_key.get(row_key(self.payment_import, row))

    def who(self, repayment: Repayment, row: PaymentImportRow) -> str:
        import_id, number = self.posted_by.get(repayment.pk, (0, row.number))
        by = f"import #{import_id}" if import_id else "an earlier import of the same file"
        return f"{by}, row {number}"


def _fingerprint(row: PaymentImportRow, loan: Loan, method: str) -> str:
    """The request fingerprint the commit posts the row with (see `_post_batch`)."""
    assert row.amount is not None and row.paid_on is not None
    return request_fingerprint_for(
        action="payment_import",
        loan=loan.pk,
        amount=f"{row.amount:.2f}",
        paid_on=row.paid_on.isoformat(),
        method=method,
        reference=row.reference,
    )


def _judge(
    row: PaymentImportRow,
    cells: dict[str, str],
    matcher: _Matcher,
    region: str | None,
    seen: dict[tuple[Any, ...], int],
    owed: dict[int, Decimal],
    posted: _Posted,
) -> None:
    row.repayment = None
    row.paid_on = row.amount = row.loan = None
    row.matched_by = row.message = ""
    row.reference = cells.get("reference", "")[:100]
    try:
        row.paid_on = _read("Date paid", parse_date, cells.get("paid_on", ""))
        row.amount = _read("Amount", parse_amount, cells.get("amount", ""))
        for name in ("reference", "loan_number", "phone"):
            if is_formula(cells.get(name, "")):
                raise CellProblem(f"{FIELD_LABELS[name]} is a formula, not a value")
    except CellProblem as problem:
        row.verdict, row.message = Verdict.INVALID, str(problem)
        return
    out_of_range = date_problem(row.paid_on, value_date=True)
    if out_of_range is None and row.paid_on > timezone.localdate():
        out_of_range = "The date is in the future."
    if out_of_range:
        row.verdict, row.message = Verdict.INVALID, f"Date paid: {out_of_range}"
        return
    loan, how, why = matcher.match(cells, region)
    if loan is None:
        row.verdict, row.message = Verdict.UNMATCHED, why
        return
    row.loan, row.matched_by = loan, how
    key = (row.paid_on, row.amount, row.reference, loan.pk)
    if key in seen:
        row.verdict = Verdict.DUPLICATE
        row.message = f"Same date, amount, reference and loan as row {seen[key]}: not posted twice."
        return
    seen[key] = row.number
    earlier = posted.earlier(row)
    if earlier is not None:  # the commit would answer this row with that payment
        if earlier.request_fingerprint == _fingerprint(row, loan, posted.payment_import.method):
            row.verdict, row.repayment = Verdict.ALREADY, earlier
            row.message = f"Already posted by {posted.who(earlier, row)}."
        else:
            row.verdict = Verdict.REFUSED
            row.message = (
                f"{posted.who(earlier, row).capitalize()} posted another payment (date, "
                "amount, reference, loan or method) for this row of the same file: nothing "
                "is posted twice. Record it on the loan's payment form if it is a new payment."
            )
        return
    if loan.status != Loan.Status.ACTIVE:
        row.verdict = Verdict.REFUSED
        row.message = f"Loan {loan.number} is {loan.get_status_display().lower()}."
        return
    if loan.disbursement_date is not None and row.paid_on < loan.disbursement_date:
        row.verdict = Verdict.REFUSED
        row.message = (
            f"The date paid is before loan {loan.number} was disbursed "
            f"({loan.disbursement_date:%d %b %Y})."
        )
        return
    if posted.closed_through is not None and row.paid_on <= posted.closed_through:
        row.verdict = Verdict.REFUSED
        row.message = (
            f"The books are closed through {posted.closed_through:%d %b %Y}: nothing can be "
            f"dated on or before it ({row.paid_on:%d %b %Y})."
        )
        return
    left = owed.setdefault(loan.pk, loan.outstanding)
    if row.amount > left:
        row.verdict = Verdict.REFUSED
        row.message = f"Above what loan {loan.number} owes ({left:,.2f} left after earlier rows)."
        return
    owed[loan.pk] = left - row.amount
    row.verdict, row.message = Verdict.READY, f"Loan {loan.number}, matched by {how}."


def _read(label: str, parse: Any, text: str) -> Any:
    try:
        return parse(text)
    except CellProblem as problem:
        raise CellProblem(f"{label} {problem}.") from None


def payment_import_commit(
    *, payment_import: PaymentImport, user: User, request: HttpRequest | None = None
) -> PaymentImport:
    """Queue the posting of the ready rows (in-process without a broker). A commit of an
    import that is already posting (a worker died) sends it again: what was posted is found
    by its key, never posted twice."""
    from collecting.tasks import post_import_rows

    _require(user)
    with transaction.atomic():
        payment_import = PaymentImport.objects.select_for_update().get(pk=payment_import.pk)
        if payment_import.status == PaymentImport.Status.UPLOADED:
            raise StateConflict("Run the dry run first: map the columns and check the rows.")
        if payment_import.status == PaymentImport.Status.DONE:
            raise StateConflict("This import has been posted.")
        if payment_import.status == PaymentImport.Status.CHECKED:
            payment_import.status = PaymentImport.Status.COMMITTING
            payment_import.committed_by = user
            payment_import.committed_at = timezone.now()
            payment_import.rows_done = payment_import.rows.exclude(
                verdict__in=[Verdict.READY, Verdict.PENDING]
            ).count()
            payment_import.save(
                update_fields=["status", "committed_by", "committed_at", "rows_done"]
            )
    post_import_rows.delay(payment_import.pk)
    payment_import.refresh_from_db()
    return payment_import


def row_key(payment_import: PaymentImport, row: PaymentImportRow) -> str:
    return f"import:{payment_import.digest}:{row.number}"


def post_rows(*, import_id: int) -> int:
    """Post the import's ready rows, a batch at a time (the body of the Celery task). Returns
    the rows posted by this call."""
    payment_import = PaymentImport.objects.select_related("committed_by").get(pk=import_id)
    if payment_import.status != PaymentImport.Status.COMMITTING:
        return 0
    user = payment_import.committed_by
    assert user is not None
    posted = 0
    while True:
        batch = list(
            payment_import.rows.filter(verdict=Verdict.READY)
            .select_related("loan")
            .order_by("number")[:BATCH]
        )
        if not batch:
            break
        posted += _post_batch(payment_import, batch, user)
    _finish(payment_import.pk, user)
    return posted


def _post_batch(payment_import: PaymentImport, batch: list[PaymentImportRow], user: User) -> int:
    keys = {row.pk: row_key(payment_import, row) for row in batch}
    earlier = dict(
        Repayment.objects.filter(idempotency_key__in=list(keys.values())).values_list(
            "idempotency_key", "pk"
        )
    )
    # Rows of another import of the same file already hold those repayments.
    elsewhere = set(
        PaymentImportRow.objects.filter(repayment_id__in=list(earlier.values()))
        .exclude(payment_import=payment_import)
        .values_list("repayment_id", flat=True)
    )
    posted = 0
    for row in batch:
        assert row.loan is not None and row.amount is not None and row.paid_on is not None
        try:
            repayment = repayment_record(
                loan=row.loan,
                user=user,
                amount=row.amount,
                paid_on=row.paid_on,
                method=payment_import.method,
                reference=row.reference,
                idempotency_key=keys[row.pk],
                request_fingerprint=request_fingerprint_for(
                    action="payment_import",
                    loan=row.loan.pk,
                    amount=f"{row.amount:.2f}",
                    paid_on=row.paid_on.isoformat(),
                    method=payment_import.method,
                    reference=row.reference,
                ),
            )
        except (ValidationError, StateConflict, PermissionDenied) as error:
            row.verdict = Verdict.REFUSED
            row.message = " ".join(getattr(error, "messages", [str(error)]))[:300]
            continue
        row.repayment = repayment
        if repayment.pk in elsewhere:
            row.verdict = Verdict.ALREADY
            row.message = "Already posted by an earlier import of the same file."
        else:
            row.verdict = Verdict.POSTED
            row.message = f"Posted to loan {row.loan.number}."
            posted += 1
    with transaction.atomic():
        PaymentImportRow.objects.bulk_update(batch, ["verdict", "message", "repayment"])
        PaymentImport.objects.filter(pk=payment_import.pk).update(
            rows_done=payment_import.rows.exclude(verdict=Verdict.READY).count()
        )
    return posted


def _finish(import_id: int, user: User) -> None:
    with transaction.atomic():
        payment_import = PaymentImport.objects.select_for_update().get(pk=import_id)
        if payment_import.status != PaymentImport.Status.COMMITTING:
            return
        counts: dict[str, int] = defaultdict(int)
        total = Decimal("0.00")
        for verdict, amount in payment_import.rows.values_list("verdict", "amount"):
            counts[verdict] += 1
            if verdict == Verdict.POSTED and amount is not None:
                total += amount
        payment_import.status = PaymentImport.Status.DONE
        payment_import.finished_at = timezone.now()
        payment_import.rows_done = payment_import.rows_total
        payment_import.save(update_fields=["status", "finished_at", "rows_done"])
        audit_record(
            action=AuditLog.Action.PAYMENTS_IMPORTED,
            user=user,
            obj=payment_import,
            details={
                "file": payment_import.file_name,
                "digest": payment_import.digest,
                "source": payment_import.source.name,
                "method": payment_import.method,
                "rows": payment_import.rows_total,
                "posted_total": str(total),
                **{str(v): n for v, n in sorted(counts.items())},
            },
        )


def report_rows(payment_import: PaymentImport) -> Any:
    """The rows with their loans and receipts (one query), for the page and the CSV."""
    return payment_import.rows.select_related("loan", "repayment__receipt").order_by("number")


def verdict_counts(payment_import: PaymentImport) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for verdict in payment_import.rows.values_list("verdict", flat=True):
        counts[verdict] += 1
    return dict(counts)


def as_date(value: date | None) -> str:
    return value.isoformat() if value else ""
