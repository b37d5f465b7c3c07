"""Runs the demo EMR for `make run`: the local FHIR R4 server on loopback, filled with the demo EMR's invented
patients (integrations.demo_emr), until it is stopped."""

import signal
import time

from django.core.management.base import BaseCommand

from integrations.demo_emr import seed
from integrations.fhir_testing import fhir_server


class Command(BaseCommand):
    help = "Start the demo EMR (a local FHIR R4 server with invented patients) and keep it running."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8010)

    def handle(self, *args, port: int, **options):
        stop = []
        signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
        with fhir_server(port) as base_url:
            made = seed(base_url)
            counts = ", ".join(f"{n} {kind}" for kind, n in made.items())
            self.stdout.write(f"demo EMR (FHIR R4) at {base_url}: {counts}")
            self.stdout.flush()
            try:
                while not stop:
                    time.sleep(0.5)
            except KeyboardInterrupt:
                pass
