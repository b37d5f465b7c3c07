import datetime as dt
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from billing import policy_library
from billing.policy_models import PolicyDocument, PolicyKind, PolicyStatus
from billing.policy_services import PolicyDetails, policy_document_process, policy_document_upload
from billy.services import BillyError

SEED_DIR = Path(__file__).resolve().parents[2] / "data" / "policies"


def _files(paths: list[Path]) -> list[Path]:
    out = []
    for path in paths:
        if path.is_dir():
            out.extend(sorted(p for p in path.iterdir() if p.suffix.lower() in policy_library.SUPPORTED))
        elif path.is_file():
            out.append(path)
        else:
            raise CommandError(f"{path} is neither a file nor a folder.")
    return out


class Command(BaseCommand):
    help = (
        "Add policy documents (PDF, HTML, text, markdown) to the policy library and index them now, in this "
        "process (extract, chunk, embed). A folder loads every supported file in it; without PATH, the seed "
        f"summaries in {SEED_DIR.relative_to(SEED_DIR.parents[2])}. A document with the identifier of one already "
        "loaded becomes its next version (the old one is kept for audit); a file already loaded byte for byte "
        "is skipped. Details not given come from the file's front matter (--- title: ... ---) or first heading."
    )

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="*", type=Path, metavar="PATH")
        parser.add_argument("--title", default="")
        parser.add_argument("--identifier", default="", help="e.g. L33906 or A56651")
        parser.add_argument("--kind", default="", choices=["", *PolicyKind.values])
        parser.add_argument("--payer-type", default="", help="e.g. medicare; empty: every payer")
        parser.add_argument("--payer-ids", default="", help="space separated EDI payer ids")
        parser.add_argument("--source-url", default="")
        parser.add_argument("--effective-date", default=None, type=dt.date.fromisoformat, metavar="YYYY-MM-DD")

    def handle(self, *args, paths, **options):
        files = _files(paths or [SEED_DIR])
        if not files:
            raise CommandError("No policy files found (.pdf, .html, .htm, .txt, .md).")
        if len(files) > 1 and (options["title"] or options["identifier"]):
            raise CommandError("--title and --identifier name one document: give one file with them.")
        details = PolicyDetails(title=options["title"], kind=options["kind"], identifier=options["identifier"],
                                payer_type=options["payer_type"], payer_ids=options["payer_ids"],
                                source_url=options["source_url"], effective_date=options["effective_date"])
        failed = 0
        for path in files:
            data = path.read_bytes()
            try:
                document = policy_document_upload(filename=path.name, data=data, details=details, enqueue=False)
            except BillyError as exc:
                if "already in the policy library" in str(exc):
                    self.stdout.write(f"{path}: skipped, already loaded")
                    continue
                self.stderr.write(f"{path}: {exc}")
                failed += 1
                continue
            policy_document_process(document_id=document.pk)
            document.refresh_from_db()
            if document.status != PolicyStatus.READY:
                self.stderr.write(f"{path}: {document.status_message}")
                failed += 1
                continue
            chunks = document.chunks.count()
            self.stdout.write(f"{path}: {document} ready, {chunks} passages"
                              + ("" if document.is_current else " (a newer version is current)"))
        total = PolicyDocument.objects.current().count()
        self.stdout.write(f"{total} current documents in the policy library.")
        if failed:
            raise CommandError(f"{failed} of {len(files)} files were not loaded (reasons above).")
