from django.core.management.base import BaseCommand

from billing.scrub_reference import link_coverage_passages, load_seed


class Command(BaseCommand):
    help = ("Write IamBilly's spine seed (billing/data: NCCI pairs, MUEs, payer rules, modifier conventions, coverage "
            "policies) over the previous seed rows. CMS-imported and admin-entered rows are not touched. Idempotent. "
            "Coverage policies are then linked to the passages of the policy library they cite (load_policies).")

    def handle(self, *args, **options):
        counts = load_seed()
        loaded = ", ".join(f"{n} {what.replace('_', ' ')}" for what, n in counts.items())
        linked = link_coverage_passages()
        self.stdout.write(f"Scrub seed loaded: {loaded}; {linked} coverage policies linked to library passages.")
