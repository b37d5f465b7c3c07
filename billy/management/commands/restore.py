from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from billy.audit import verify_audit_table
from billy.backup import backup_restore
from billy.keycheck import KeyCheckError, check_phi_key
from billy.services import BillyError


class Command(BaseCommand):
    help = "Restore an encrypted backup into an empty database and media folder, then verify keys and audit."

    def add_arguments(self, parser):
        parser.add_argument("archive", type=Path)

    def handle(self, *args, archive, **options):
        if not archive.exists():
            raise CommandError(f"No such backup: {archive}")
        try:
            manifest = backup_restore(archive)
            key_line = check_phi_key()
        except (BillyError, KeyCheckError) as exc:
            raise CommandError(str(exc)) from None
        seq, _, digest = manifest["audit_head"].partition(":")
        report = verify_audit_table(expect_head=(int(seq), digest) if int(seq) else None)
        if not report.ok:
            raise CommandError("Restored, but the audit trail does not verify: " + "; ".join(report.problems))
        self.stdout.write(f"Restored backup of {manifest['created_at']}: {manifest['media_files']} file(s).")
        self.stdout.write(key_line)
        self.stdout.write(f"Audit trail OK: {report.count} entries, head {report.head_sequence}:{report.head_hash}")
