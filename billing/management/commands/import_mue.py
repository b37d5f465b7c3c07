from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from billing.cms_files import CmsFileError
from billing.scrub_reference import import_mue_file


class Command(BaseCommand):
    help = (
        "Load CMS's quarterly practitioner services MUE table (MCR_MUE_PractitionerServices_Eff_<date>.csv or "
        "its tab-delimited text, as published) in place of the CMS MUEs loaded before. All or nothing: a "
        "malformed line stops the import, names its line, and leaves the table as it was. Seed and admin MUEs "
        "are kept (an admin's MUE wins over CMS's for the same code)."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, metavar="FILE", help="the MUE file")
        parser.add_argument("--quarter", default="", help='cited on every finding, e.g. "2026 Q4"')

    def handle(self, *args, file, quarter, **options):
        if not file.is_file():
            raise CommandError(f"{file}: no such file.")
        try:
            result = import_mue_file(file, quarter=quarter)
        except CmsFileError as exc:
            raise CommandError(f"{exc} Nothing was imported.") from None
        self.stdout.write(result.summary("MUEs"))
