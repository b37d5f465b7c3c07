from django.conf import settings
from django.core.management.base import BaseCommand

from billy import rotation
from billy.audit import audit_record
from billy.keys import file_keyring, phi_keyring


class Command(BaseCommand):
    help = (
        "Re-encrypt every PHI column under the first key of BILLY_PHI_KEYS, re-wrap every stored file's key "
        "under the first key of BILLY_FILE_MASTER_KEYS, and (with --blind-indexes) recompute lookup indexes "
        "under BILLY_BLIND_INDEX_KEY. Safe to interrupt and run again. See docs/keys.md."
    )

    def add_arguments(self, parser):
        parser.add_argument("--blind-indexes", action="store_true",
                            help="recompute blind indexes (after changing BILLY_BLIND_INDEX_KEY)")

    def handle(self, *args, blind_indexes=False, **options):
        report = rotation.RotationReport()
        rotation.reencrypt_rows(report)
        rotation.rewrap_files(settings.MEDIA_ROOT, report)
        if blind_indexes:
            rotation.recompute_blind_indexes(report)
        audit_record(action="keys.rotate", detail={
            "phi_key": phi_keyring().current_id, "file_key": file_keyring().current_id,
            "rows": report.rows_reencrypted, "files_rewrapped": report.files_rewrapped,
            "indexes": report.indexes_recomputed,
        })
        for label, count in report.rows_reencrypted.items():
            self.stdout.write(f"{label}: {count} row(s) re-encrypted under {phi_keyring().current_id}")
        self.stdout.write(f"files: {report.files_rewrapped} re-wrapped under {file_keyring().current_id}, "
                          f"{report.files_current} already current")
        for label, count in report.indexes_recomputed.items():
            self.stdout.write(f"{label}: {count} row(s) with recomputed blind indexes")
