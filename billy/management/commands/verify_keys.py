from django.core.management.base import BaseCommand, CommandError

from billy.keycheck import KeyCheckError, check_phi_key


class Command(BaseCommand):
    help = "Check that BILLY_PHI_KEYS decrypts this database's PHI (run before starting web or workers)."

    def handle(self, *args, **options):
        try:
            self.stdout.write(check_phi_key())
        except KeyCheckError as exc:
            raise CommandError(str(exc)) from None
