from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from lending.audit import audit_checkpoint, verify_audit_log
from lending.models import AuditCheckpoint


class Command(BaseCommand):
    help = (
        "Check every row of the audit log against its keyed chain and every signed checkpoint; "
        "list every bad row and missing range (exit status 1 if any). With --checkpoint, sign "
        "a new checkpoint (the log's row count and head) after a clean check."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--checkpoint",
            action="store_true",
            help="after a clean check, sign a checkpoint of the log as it is now",
        )
        parser.add_argument(
            "--expect",
            metavar="SEQUENCE:SIGNATURE",
            action="append",
            default=[],
            help="a checkpoint kept outside the database (the karo.audit log line): it must "
            "still be there, unchanged (repeatable)",
        )
        parser.add_argument(
            "--chunk-size", type=int, default=2000, help="rows read per query (default 2000)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        report = verify_audit_log(chunk_size=options["chunk_size"])
        for expected in options["expect"]:
            sequence, _, signature = expected.partition(":")
            if not sequence.isdigit() or not signature:
                raise CommandError(f"--expect takes SEQUENCE:SIGNATURE, not {expected!r}.")
            kept = AuditCheckpoint.objects.filter(sequence=int(sequence)).first()
            if kept is None or kept.signature != signature:
                report.bad(
                    f"checkpoint {sequence} recorded outside the database is "
                    + ("gone (deleted, with the rows after it?)" if kept is None else "different")
                )
        if not report.intact:
            for problem in report.problems:
                self.stderr.write(f"- {problem}")
            raise CommandError(
                f"Audit log tampered with: {len(report.problems)} problem(s) in {report.rows} "
                f"rows and {report.checkpoints} checkpoints (listed above)."
                + (" No checkpoint written." if options["checkpoint"] else "")
            )
        latest = report.latest
        self.stdout.write(
            self.style.SUCCESS(
                f"Audit log intact: {report.rows} rows verified "
                f"({report.legacy_rows} from before the keyed chain), "
                f"{report.checkpoints} checkpoints hold."
            )
        )
        if latest is not None:
            self.stdout.write(
                f"Latest checkpoint: {latest.sequence} at {latest.created_at:%Y-%m-%d %H:%M} "
                f"({latest.row_count} rows). Rows written after it could be deleted unnoticed."
            )
        if options["checkpoint"]:
            checkpoint = audit_checkpoint(kind=AuditCheckpoint.Kind.MANUAL, note="verify_audit_log")
            self.stdout.write(
                f"Checkpoint {checkpoint.sequence} written: {checkpoint.row_count} rows, "
                f"head row {checkpoint.head_id}, signature {checkpoint.signature}."
            )
