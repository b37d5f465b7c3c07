from django.core.management.base import BaseCommand

from billing.scrub_reference import load_seed


class Command(BaseCommand):
    help = ("Write IamBilly's spine seed (billing/data: NCCI pairs, MUEs, payer rules, modifier conventions, coverage "
            "policies) over the previous seed rows. CMS-imported and admin-entered rows are not touched. Idempotent.")

    def handle(self, *args, **options):
        counts = load_seed()
        loaded = ", ".join(f"{n} {what.replace('_', ' ')}" for what, n in counts.items())
        self.stdout.write(f"Scrub seed loaded: {loaded}.")
