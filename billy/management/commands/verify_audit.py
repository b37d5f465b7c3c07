from django.core.management.base import BaseCommand, CommandError

from billy.audit import verify_audit_table


class Command(BaseCommand):
    help = (
        "Verify the hash chain of the audit trail; print the head to keep outside the database. "
        "With --expect-head SEQ:HASH (a head printed earlier), also detect deletion of the newest entries."
    )

    def add_arguments(self, parser):
        parser.add_argument("--expect-head", metavar="SEQ:HASH", help="a head printed by an earlier run")

    def handle(self, *args, expect_head=None, **options):
        expected = None
        if expect_head:
            seq, _, digest = expect_head.partition(":")
            if not seq.isdigit() or len(digest) != 64:
                raise CommandError("--expect-head must look like 1234:<64 hex characters>.")
            expected = (int(seq), digest)
        report = verify_audit_table(expect_head=expected)
        for problem in report.problems:
            self.stderr.write(f"BROKEN: {problem}")
        if not report.ok:
            raise CommandError(f"The audit trail does not verify: {len(report.problems)} problem(s).")
        self.stdout.write(f"Audit trail OK: {report.count} entries.")
        self.stdout.write(f"Head: {report.head_sequence}:{report.head_hash}")
