from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from billing import fees
from billing.management.commands.import_fees import practice_from_option
from billing.selectors import fee_schedule_rows


class Command(BaseCommand):
    help = "Write a practice's whole fee schedule (past and future charges) as CSV, in the format import_fees reads."

    def add_arguments(self, parser):
        parser.add_argument("--practice", type=int, required=True, metavar="ID", help="the practice's id")
        parser.add_argument("--out", type=Path, metavar="FILE", help="write here instead of to standard output")

    def handle(self, *args, practice, out=None, **options):
        target = practice_from_option(practice)
        rows = fee_schedule_rows(practice_id=target.pk)
        text = fees.write(rows)
        if out is None:
            self.stdout.write(text, ending="")
            return
        try:
            out.write_text(text, encoding="utf-8", newline="")
        except OSError as exc:
            raise CommandError(f"Cannot write {out}: {exc.strerror}.") from None
        self.stderr.write(f"{target.name}: {len(rows)} charge{'s' if len(rows) != 1 else ''} written to {out}.")
