from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from billing.services import FeeScheduleImportError, fee_schedule_import_as_operator
from billy.models import Practice
from billy.services import BillyError


def practice_from_option(practice_id: int) -> Practice:
    practice = Practice.objects.filter(pk=practice_id).first()
    if practice is None:
        known = ", ".join(f"{p.pk} ({p.name})" for p in Practice.objects.order_by("pk")[:20]) or "none yet"
        raise CommandError(f"No practice with id {practice_id}. Practices: {known}.")
    return practice


class Command(BaseCommand):
    help = (
        "Load a fee schedule CSV (code,modifier,charge,effective_from,effective_to) into a practice: all of it, "
        "or nothing and every bad line listed (exit status 1). Without --replace, each code's charges in the file "
        "take over from their first date; with --replace, the schedule from the file's earliest date on is exactly "
        "the file. billing/data/demo_fees.csv holds invented demo charges for every catalogue code: they are not "
        "real prices."
    )

    def add_arguments(self, parser):
        parser.add_argument("--practice", type=int, required=True, metavar="ID", help="the practice's id")
        parser.add_argument("file", type=Path, help="the CSV file")
        parser.add_argument("--replace", action="store_true",
                            help="the file replaces the schedule from its earliest effective date on")

    def handle(self, *args, practice, file, replace, **options):
        target = practice_from_option(practice)
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}.") from None
        try:
            result = fee_schedule_import_as_operator(practice=target, csv_bytes=data, replace=replace)
        except FeeScheduleImportError as exc:
            for error in exc.errors:
                self.stderr.write(f"{file}: {error}")
            raise CommandError(str(exc)) from None
        except BillyError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"{target.name}: {result.summary()}")
