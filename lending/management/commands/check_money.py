"""`manage.py check_money [--sample N]`: verify every money invariant of DESIGN.md.

Each check is one set-wise SQL query (aggregates grouped by loan, joined to the loan row), so
it runs in seconds on 100,000 loans and millions of installments; none loads rows into Python
one by one. With `--sample N` the per-loan checks look at N loans drawn at random (the
receipt-numbering check always covers every receipt). Prints each violation (the first
`--show` of each kind) and exits non-zero when there is any.

Amounts are compared after `ROUND(…, 2)`: on PostgreSQL they are exact numerics anyway; on
SQLite decimals are stored as REAL, and sums of a few hundred of them carry float noise far
below a cent.

Checked, per disbursed loan (active, closed, written off):
- the installments' principal adds up to the loan's principal, and there are `installments`
  of them;
- no component is negative or paid beyond what is due; installment status agrees with what
  is left (paid ⇔ nothing left; partial ⇔ something paid, something left);
- `total_repayable` == Σ installment amounts (principal + interest + fees + penalties);
  `total_waived` == Σ interest waived on the installments == Σ interest waived on the
  allocations of non-reversed settlements; `total_paid` == Σ paid components of the
  installments == Σ non-reversed repayments == Σ their allocations;
- every repayment's amount == Σ its allocations, each to an installment of the same loan;
- `outstanding` == total_repayable - total_waived - total_paid, never negative;
- `closed` exactly when the outstanding is zero (with `closed_on` set);
and for loans never disbursed (pending, rejected, withdrawn): no schedule, no money.
Recoveries (repayments flagged `is_recovery`, on written-off loans) are not payments of the
loan: they count in recoveries income, which must equal the live recoveries, each on a
written-off loan and adding up to at most its write-off.
Receipts: one per repayment, void exactly when the repayment is reversed, numbered
`RCT-YEAR-NNNNNN` from 1 with no gap or double per year, and the `receipt:YEAR` counter at
the highest number (so the next posting continues gaplessly). Loan and borrower counters are
at least the highest number used.
"""

# ruff: noqa: S608 - the SQL is built from model table names and constants, never from input
from __future__ import annotations

import random
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from ledger.models import JournalEntry, JournalLine
from lending.models import (
    Allocation,
    Borrower,
    Installment,
    Loan,
    LoanTransaction,
    NumberSequence,
    ProductAccount,
    Receipt,
    Repayment,
)

DISBURSED = "('active', 'closed', 'written_off')"
UNDISBURSED = "('pending', 'rejected', 'withdrawn')"
SAMPLE_TABLE = "check_money_sample"


def _tables() -> dict[str, str]:
    return {
        "loan": Loan._meta.db_table,
        "inst": Installment._meta.db_table,
        "rep": Repayment._meta.db_table,
        "alloc": Allocation._meta.db_table,
        "txn": LoanTransaction._meta.db_table,
        "line": JournalLine._meta.db_table,
        "entry": JournalEntry._meta.db_table,
        "pa": ProductAccount._meta.db_table,
        "receipt": Receipt._meta.db_table,
        "seq": NumberSequence._meta.db_table,
        "borrower": Borrower._meta.db_table,
    }


def _loan_checks(scope: str) -> list[tuple[str, str]]:
    """(name, SQL returning loan id, loan number, detail) per invariant; `scope` is an extra
    condition on the loan alias `l` (the sample), or empty."""
    t = _tables()
    inst_sums = f"""
        SELECT loan_id,
               COUNT(*) AS n,
               SUM(principal) AS principal,
               SUM(principal + interest + fees + penalties) AS amount,
               SUM(interest_waived) AS waived,
               SUM(principal_paid + interest_paid + fees_paid + penalties_paid) AS paid
        FROM {t["inst"]} GROUP BY loan_id"""
    rep_sums = f"""
        SELECT loan_id, SUM(amount) AS paid FROM {t["rep"]}
        WHERE reversed_at IS NULL AND NOT is_recovery GROUP BY loan_id"""
    alloc_sums = f"""
        SELECT x.loan_id,
               SUM(CASE WHEN x.kind IN ('repayment', 'interest_credit')
                        THEN a.principal + a.interest + a.fees + a.penalties ELSE 0 END) AS paid,
               SUM(CASE WHEN x.kind = 'waiver' THEN a.interest ELSE 0 END) AS waived
        FROM {t["alloc"]} a JOIN {t["txn"]} x ON x.id = a.transaction_id
        WHERE x.reversed_at IS NULL AND a.superseded_at IS NULL GROUP BY x.loan_id"""
    return [
        (
            "schedule principal == loan principal, one row per installment",
            f"""SELECT l.id, l.number, 'principal ' || l.principal || ' scheduled '
                       || COALESCE(s.principal, 0) || ' rows ' || COALESCE(s.n, 0)
                       || ' of ' || l.installments
                FROM {t["loan"]} l LEFT JOIN ({inst_sums}) s ON s.loan_id = l.id
                WHERE l.status IN {DISBURSED} {scope}
                  AND (s.loan_id IS NULL OR ROUND(s.principal - l.principal, 2) <> 0
                       OR s.n <> l.installments)""",
        ),
        (
            "total_repayable == sum of installment amounts; total_waived == interest waived",
            f"""SELECT l.id, l.number, 'repayable ' || l.total_repayable || ' vs '
                       || COALESCE(s.amount, 0) || ', waived ' || l.total_waived || ' vs '
                       || COALESCE(s.waived, 0)
                FROM {t["loan"]} l LEFT JOIN ({inst_sums}) s ON s.loan_id = l.id
                WHERE l.status IN {DISBURSED} {scope}
                  AND (ROUND(COALESCE(s.amount, 0) - l.total_repayable, 2) <> 0
                       OR ROUND(COALESCE(s.waived, 0) - l.total_waived, 2) <> 0)""",
        ),
        (
            "total_paid == paid on the installments == allocations == repayments - overpaid",
            f"""SELECT l.id, l.number, 'total_paid ' || l.total_paid || ', installments '
                       || COALESCE(s.paid, 0) || ', repayments ' || COALESCE(r.paid, 0)
                       || ', allocations ' || COALESCE(a.paid, 0)
                FROM {t["loan"]} l
                LEFT JOIN ({inst_sums}) s ON s.loan_id = l.id
                LEFT JOIN ({rep_sums}) r ON r.loan_id = l.id
                LEFT JOIN ({alloc_sums}) a ON a.loan_id = l.id
                WHERE 1 = 1 {scope}
                  AND (ROUND(COALESCE(s.paid, 0) - l.total_paid, 2) <> 0
                       OR ROUND(COALESCE(r.paid, 0) - l.total_paid - l.overpaid, 2) <> 0
                       OR ROUND(COALESCE(a.paid, 0) - l.total_paid, 2) <> 0)""",
        ),
        (
            "total_waived == interest waived by the non-reversed waivers",
            f"""SELECT l.id, l.number, 'total_waived ' || l.total_waived || ', allocations '
                       || COALESCE(a.waived, 0)
                FROM {t["loan"]} l
                LEFT JOIN ({alloc_sums}) a ON a.loan_id = l.id
                WHERE 1 = 1 {scope}
                  AND ROUND(COALESCE(a.waived, 0) - l.total_waived, 2) <> 0""",
        ),
        (
            "outstanding == total_repayable - total_waived - total_paid >= 0",
            f"""SELECT l.id, l.number, 'outstanding ' || l.outstanding || ' repayable '
                       || l.total_repayable || ' waived ' || l.total_waived || ' paid '
                       || l.total_paid
                FROM {t["loan"]} l
                WHERE 1 = 1 {scope}
                  AND (ROUND(l.total_repayable - l.total_waived - l.total_paid
                             - l.outstanding, 2) <> 0
                       OR l.outstanding < 0)""",
        ),
        (
            "closed exactly when outstanding is zero (closed_on set)",
            f"""SELECT l.id, l.number, 'status ' || l.status || ' outstanding '
                       || l.outstanding || ' closed_on '
                       || CASE WHEN l.closed_on IS NULL THEN 'empty' ELSE 'set' END
                FROM {t["loan"]} l
                WHERE l.status IN {DISBURSED} {scope}
                  AND ((l.status = 'closed') <> (ROUND(l.outstanding, 2) = 0)
                       OR (l.status = 'closed') <> (l.closed_on IS NOT NULL))""",
        ),
        (
            "loans never disbursed have no schedule, repayments or money",
            f"""SELECT l.id, l.number, 'status ' || l.status || ' repayable '
                       || l.total_repayable || ' paid ' || l.total_paid
                FROM {t["loan"]} l
                WHERE l.status IN {UNDISBURSED} {scope}
                  AND (l.total_repayable <> 0 OR l.total_paid <> 0 OR l.outstanding <> 0
                       OR EXISTS (SELECT 1 FROM {t["inst"]} i WHERE i.loan_id = l.id)
                       OR EXISTS (SELECT 1 FROM {t["rep"]} r WHERE r.loan_id = l.id))""",
        ),
        (
            "installment components: none negative, none overpaid, status agrees",
            f"""SELECT l.id, l.number, 'installment ' || i.number || ' status ' || i.status
                FROM {t["inst"]} i JOIN {t["loan"]} l ON l.id = i.loan_id
                WHERE 1 = 1 {scope}
                  AND (i.principal < 0 OR i.interest < 0 OR i.fees < 0 OR i.penalties < 0
                       OR i.interest_waived < 0 OR i.principal_paid < 0
                       OR i.interest_paid < 0 OR i.fees_paid < 0 OR i.penalties_paid < 0
                       OR i.principal_paid > i.principal OR i.fees_paid > i.fees
                       OR i.penalties_paid > i.penalties
                       OR ROUND(i.interest_paid + i.interest_waived - i.interest, 2) > 0
                       OR (i.status = 'paid') <> (ROUND(i.principal + i.interest + i.fees
                            + i.penalties - i.interest_waived - i.principal_paid
                            - i.interest_paid - i.fees_paid - i.penalties_paid, 2) = 0
                            AND NOT (i.status = 'due' AND i.principal + i.interest + i.fees
                                     + i.penalties = 0))
                       OR (i.status = 'partial') <> (i.status <> 'paid'
                            AND ROUND(i.principal_paid + i.interest_paid + i.fees_paid
                                      + i.penalties_paid, 2) > 0)
                       OR (i.status = 'paid') <> (i.paid_on IS NOT NULL))""",
        ),
        (
            "each transaction's split == its allocations (+ overpaid), on its own loan",
            f"""SELECT l.id, l.number, x.kind || ' ' || x.id || ' amount ' || x.amount
                       || ' split ' || (x.principal + x.interest + x.fees + x.penalties)
                       || ' allocated ' || COALESCE(a.total, 0)
                       || ' foreign rows ' || COALESCE(a.foreign_rows, 0)
                FROM {t["txn"]} x JOIN {t["loan"]} l ON l.id = x.loan_id
                LEFT JOIN (
                    SELECT a.transaction_id,
                           SUM(a.principal + a.interest + a.fees + a.penalties) AS total,
                           SUM(CASE WHEN i.loan_id <> x2.loan_id THEN 1 ELSE 0 END)
                               AS foreign_rows
                    FROM {t["alloc"]} a
                    JOIN {t["inst"]} i ON i.id = a.installment_id
                    JOIN {t["txn"]} x2 ON x2.id = a.transaction_id
                    WHERE a.superseded_at IS NULL
                    GROUP BY a.transaction_id
                ) a ON a.transaction_id = x.id
                WHERE x.kind IN ('repayment', 'charge', 'waiver', 'write_off',
                                 'interest_credit') {scope}
                  AND (ROUND(COALESCE(a.total, 0) - (x.principal + x.interest + x.fees
                                                     + x.penalties), 2) <> 0
                       OR (x.kind <> 'interest_credit'
                           AND ROUND(x.principal + x.interest + x.fees + x.penalties
                                     + x.overpaid - x.amount, 2) <> 0)
                       OR COALESCE(a.foreign_rows, 0) > 0 OR x.amount <= 0)""",
        ),
        (
            "each repayment is one transaction of its amount, reversed exactly when it is",
            f"""SELECT l.id, l.number, 'repayment ' || r.id || ' amount ' || r.amount
                       || ' booked ' || COALESCE(SUM(x.amount), 0)
                FROM {t["rep"]} r JOIN {t["loan"]} l ON l.id = r.loan_id
                LEFT JOIN {t["txn"]} x ON x.repayment_id = r.id
                     AND x.kind = CASE WHEN r.is_recovery THEN 'recovery' ELSE 'repayment' END
                WHERE 1 = 1 {scope}
                GROUP BY l.id, l.number, r.id, r.amount, r.reversed_at
                HAVING COUNT(x.id) <> 1 OR ROUND(COALESCE(SUM(x.amount), 0) - r.amount, 2) <> 0
                    OR (r.reversed_at IS NULL) <> (MAX(x.reversed_at) IS NULL)""",
        ),
        (
            "one receipt per repayment, void exactly when reversed",
            f"""SELECT l.id, l.number, 'repayment ' || r.id || ' receipts '
                       || COUNT(c.id) || ' reversed '
                       || CASE WHEN r.reversed_at IS NULL THEN 'no' ELSE 'yes' END
                FROM {t["rep"]} r JOIN {t["loan"]} l ON l.id = r.loan_id
                LEFT JOIN {t["receipt"]} c ON c.repayment_id = r.id
                WHERE 1 = 1 {scope}
                GROUP BY l.id, l.number, r.id, r.reversed_at
                HAVING COUNT(c.id) <> 1
                    OR SUM(CASE WHEN c.voided_at IS NULL THEN 0 ELSE 1 END)
                       <> (CASE WHEN r.reversed_at IS NULL THEN 0 ELSE 1 END)""",
        ),
    ]


def _ledger_checks() -> list[tuple[str, str]]:
    """The general ledger agrees with the loans (DESIGN.md, "General ledger")."""
    t = _tables()

    def role_balance(role: str, sign: str = "", *, loans_only: bool = False) -> str:
        """The balance of the accounts playing `role`; with `loans_only`, of the entries
        lending booked (a fund source also moves by manual entries: capital paid in,
        expenses paid out)."""
        manual = (
            f"""AND j.entry_id NOT IN (SELECT id FROM {t["entry"]}
                                            WHERE source = 'manual')"""
            if loans_only
            else ""
        )
        return f"""COALESCE((SELECT {sign}SUM(j.debit - j.credit) FROM {t["line"]} j
                    WHERE j.account_id IN (SELECT account_id FROM {t["pa"]}
                                           WHERE role = '{role}') {manual}), 0)"""

    principal_out = f"""COALESCE((SELECT SUM(i.principal - i.principal_paid)
                         FROM {t["inst"]} i JOIN {t["loan"]} l ON l.id = i.loan_id
                         WHERE l.status IN ('active', 'closed')), 0)"""
    # Interest income: what cash-basis loans were paid, and what accrual-basis loans accrued.
    interest_earned = f"""COALESCE((SELECT SUM(x.interest) FROM {t["txn"]} x
                           JOIN {t["loan"]} l ON l.id = x.loan_id
                           WHERE x.reversed_at IS NULL AND (
                             (x.kind IN ('repayment', 'interest_credit')
                              AND l.accounting_basis = 'cash')
                             OR (x.kind = 'accrual' AND l.accounting_basis = 'accrual'))), 0)"""
    # Interest receivable: accrued and not yet paid on accrual loans still on the books.
    receivable = f"""COALESCE((SELECT SUM(l.interest_accrued - COALESCE(p.paid, 0))
                       FROM {t["loan"]} l LEFT JOIN (SELECT loan_id, SUM(interest_paid) AS paid
                                                     FROM {t["inst"]} GROUP BY loan_id) p
                         ON p.loan_id = l.id
                       WHERE l.accounting_basis = 'accrual' AND l.status IN ('active', 'closed')),
                      0)"""
    # Recoveries income: the money recovered on written-off loans (never paid to a loan).
    recovered = f"""COALESCE((SELECT SUM(x.amount) FROM {t["txn"]} x
                     WHERE x.kind = 'recovery' AND x.reversed_at IS NULL), 0)"""
    fund_checks = []
    for method in ("cash", "bank_transfer", "mobile_money", "cheque"):
        money = f"""COALESCE((SELECT SUM(CASE WHEN x.kind = 'disbursement'
                                           THEN x.fees - x.amount ELSE x.amount END)
                     FROM {t["txn"]} x WHERE x.method = '{method}' AND x.reversed_at IS NULL
                       AND x.kind IN ('disbursement', 'repayment', 'recovery')), 0)"""
        fund = role_balance(f"fund_{method}", loans_only=True)
        fund_checks.append(
            (
                f"fund source for {method.replace('_', ' ')} == loans' money in - money out",
                f"""SELECT NULL, '{method}', 'ledger ' || {fund} || ' loans ' || {money}
                    WHERE (SELECT COUNT(DISTINCT account_id) FROM {t["pa"]}
                           WHERE role LIKE 'fund_%') = 4
                      AND ROUND({fund} - {money}, 2) <> 0""",
            )
        )
    return [
        (
            "every journal entry balances (debits == credits)",
            f"""SELECT NULL, 'JE-' || entry_id, 'debits ' || SUM(debit) || ' credits '
                       || SUM(credit)
                FROM {t["line"]} GROUP BY entry_id
                HAVING ROUND(SUM(debit) - SUM(credit), 2) <> 0""",
        ),
        (
            "loan portfolio balance == principal outstanding of active loans",
            f"""SELECT NULL, 'portfolio', 'ledger ' || {role_balance("loan_portfolio")}
                       || ' loans ' || {principal_out}
                WHERE ROUND({role_balance("loan_portfolio")} - {principal_out}, 2) <> 0""",
        ),
        (
            "interest income == interest repaid (cash basis) + interest accrued (accrual basis)",
            f"""SELECT NULL, 'interest income', 'ledger ' || {role_balance("interest_income", "-")}
                       || ' loans ' || {interest_earned}
                WHERE ROUND({role_balance("interest_income", "-")} - {interest_earned}, 2) <> 0""",
        ),
        (
            "interest receivable == accrued - paid on accrual-basis loans",
            f"""SELECT NULL, 'interest receivable', 'ledger '
                       || {role_balance("interest_receivable")} || ' loans ' || {receivable}
                WHERE ROUND({role_balance("interest_receivable")} - {receivable}, 2) <> 0""",
        ),
        (
            "recoveries income == live recoveries, on written-off loans, within their write-off",
            f"""SELECT NULL, 'recoveries income', 'ledger '
                       || {role_balance("recoveries_income", "-")} || ' loans ' || {recovered}
                WHERE ROUND({role_balance("recoveries_income", "-")} - {recovered}, 2) <> 0
                UNION ALL
                SELECT l.id, l.number, 'recovered ' || SUM(x.amount) || ' status ' || l.status
                FROM {t["txn"]} x JOIN {t["loan"]} l ON l.id = x.loan_id
                WHERE x.kind = 'recovery' AND x.reversed_at IS NULL
                GROUP BY l.id, l.number, l.status
                HAVING l.status <> 'written_off' OR ROUND(SUM(x.amount) - COALESCE((
                    SELECT SUM(w.amount) FROM {t["txn"]} w WHERE w.loan_id = l.id
                      AND w.kind = 'write_off' AND w.reversed_at IS NULL), 0), 2) > 0""",
        ),
        *fund_checks,
    ]


def _global_checks() -> list[tuple[str, str]]:
    t = _tables()
    # RCT-2026-000123: the year at 5..8, the sequence number from 10.
    per_year = f"""
        SELECT SUBSTR(number, 5, 4) AS year, COUNT(*) AS n,
               COUNT(DISTINCT number) AS distinct_numbers,
               MIN(CAST(SUBSTR(number, 10) AS INTEGER)) AS low,
               MAX(CAST(SUBSTR(number, 10) AS INTEGER)) AS high
        FROM {t["receipt"]} GROUP BY SUBSTR(number, 5, 4)"""
    return [
        (
            "receipt numbers per year: 1..N, none missing or doubled, counter at N",
            f"""SELECT NULL, y.year, 'receipts ' || y.n || ' distinct ' || y.distinct_numbers
                       || ' numbered ' || y.low || '..' || y.high || ' counter '
                       || COALESCE(s.last_value, 0)
                FROM ({per_year}) y
                LEFT JOIN {t["seq"]} s ON s.key = 'receipt:' || y.year
                WHERE y.low <> 1 OR y.high <> y.n OR y.distinct_numbers <> y.n
                   OR COALESCE(s.last_value, 0) <> y.high""",
        ),
        (
            "loan number counters at or above the highest loan number of their year",
            f"""SELECT NULL, y.year, 'highest ' || y.high || ' counter '
                       || COALESCE(s.last_value, 0)
                FROM (SELECT SUBSTR(number, 3, 4) AS year,
                             MAX(CAST(SUBSTR(number, 8) AS INTEGER)) AS high
                      FROM {t["loan"]} GROUP BY SUBSTR(number, 3, 4)) y
                LEFT JOIN {t["seq"]} s ON s.key = 'loan:' || y.year
                WHERE COALESCE(s.last_value, 0) < y.high""",
        ),
        (
            "borrower counter at or above the highest borrower number",
            f"""SELECT NULL, 'borrower', 'highest ' || MAX(b.high) || ' counter '
                       || COALESCE(MAX(s.last_value), 0)
                FROM (SELECT MAX(CAST(SUBSTR(number, 3) AS INTEGER)) AS high
                      FROM {t["borrower"]}) b
                LEFT JOIN {t["seq"]} s ON s.key = 'borrower'
                HAVING COALESCE(MAX(s.last_value), 0) < COALESCE(MAX(b.high), 0)""",
        ),
    ]


class Command(BaseCommand):
    help = "Verify the money invariants (DESIGN.md) on every loan or a random sample."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--sample", type=int, default=0, help="check N random loans")
        parser.add_argument("--show", type=int, default=10, help="violations shown per check")
        parser.add_argument("--seed", type=int, default=None, help="random seed for --sample")

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        scope, checked = "", Loan.objects.count()
        if options["sample"] > 0:
            checked = self._make_sample(options["sample"], options["seed"])
            scope = f"AND l.id IN (SELECT id FROM {SAMPLE_TABLE})"
        show = max(options["show"], 0)
        failures = 0
        with connection.cursor() as cursor:
            for name, sql in _loan_checks(scope) + _global_checks() + _ledger_checks():
                cursor.execute(sql)
                rows = cursor.fetchall()
                failures += len(rows)
                mark = self.style.SUCCESS("ok  ") if not rows else self.style.ERROR("FAIL")
                self.stdout.write(f"{mark} {name}" + (f": {len(rows)}" if rows else ""))
                for _, number, detail in rows[:show]:
                    self.stdout.write(f"       {number}: {detail}")
            if scope:
                cursor.execute(f"DROP TABLE {SAMPLE_TABLE}")
        seconds = time.monotonic() - started
        summary = f"{checked:,} loans checked in {seconds:.1f} s"
        if failures:
            raise CommandError(f"{failures:,} money invariant violations; {summary}.")
        self.stdout.write(self.style.SUCCESS(f"All money invariants hold: {summary}."))

    def _make_sample(self, size: int, seed: int | None) -> int:
        ids = list(Loan.objects.values_list("id", flat=True))
        chosen = random.Random(seed).sample(ids, min(size, len(ids)))
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {SAMPLE_TABLE}")
            cursor.execute(f"CREATE TEMPORARY TABLE {SAMPLE_TABLE} (id bigint PRIMARY KEY)")
            cursor.executemany(
                f"INSERT INTO {SAMPLE_TABLE} (id) VALUES (%s)",
                [(pk,) for pk in chosen],
            )
        return len(chosen)
