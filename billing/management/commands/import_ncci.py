from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from billing.cms_files import CmsFileError
from billing.scrub_reference import import_ptp_files


class Command(BaseCommand):
    help = (
        "Load CMS's quarterly NCCI procedure-to-procedure edits for practitioner services (all parts of one "
        "quarter: ccipra-v<version>-f1.txt ... f4, tab-delimited or CSV, as published) in place of the CMS rows "
        "loaded before. All or nothing: a malformed line stops the import, names its file and line, and leaves "
        "the table as it was. Seed and admin-entered edits are kept. Running it again with the same files gives "
        "the same table."
    )

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="the quarter's PTP files")
        parser.add_argument("--quarter", default="", help='cited on every finding, e.g. "2026 Q4"')

    def handle(self, *args, files, quarter, **options):
        for path in files:
            if not path.is_file():
                raise CommandError(f"{path}: no such file.")
        try:
            result = import_ptp_files(files, quarter=quarter)
        except CmsFileError as exc:
            raise CommandError(f"{exc} Nothing was imported.") from None
        self.stdout.write(result.summary("PTP edits"))
