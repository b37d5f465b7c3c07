from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from billy.audit import audit_record
from billy.backup import backup_create
from billy.services import BillyError


class Command(BaseCommand):
    help = "Write an encrypted backup (database dump + encrypted files + manifest). Keys are not included."

    def add_arguments(self, parser):
        parser.add_argument("--out", type=Path, help="archive path (default: .data/backups/<time>.ibk)")

    def handle(self, *args, out=None, **options):
        from django.conf import settings

        out = out or settings.DATA_DIR / "backups" / f"iambilly-{timezone.now():%Y%m%d-%H%M%S}.ibk"
        try:
            manifest = backup_create(out)
        except BillyError as exc:
            raise CommandError(str(exc)) from None
        audit_record(action="backup.create", detail={"media_files": manifest["media_files"],
                                                     "audit_head": manifest["audit_head"]})
        self.stdout.write(f"Backup written: {out}")
        self.stdout.write(f"  {manifest['media_files']} file(s), audit head {manifest['audit_head']}")
        self.stdout.write("  Keep BILLY_PHI_KEYS, BILLY_FILE_MASTER_KEYS and BILLY_AUDIT_KEY safe elsewhere: "
                          "the backup is unreadable without them.")
