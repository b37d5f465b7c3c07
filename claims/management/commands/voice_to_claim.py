"""manage.py voice_to_claim FILE... : the whole pipeline from the command line (DESIGN.md contract).

Prints one claim JSON object per FILE, in order, one per line (JSON Lines). Text transcripts (.txt, UTF-8)
today; audio files join through the same command with the dictation issue.
"""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from billing.coding import CodingContext, code_note
from claims.claim_json import PatientInfo, PayerInfo, claim_json

AUDIO_SUFFIXES = {".wav", ".mp3", ".m4a", ".ogg", ".webm", ".flac"}
# Payers known before practice data exists: id -> (name, type). The payers table (practice data) extends this.
BUILTIN_PAYERS = {
    "MEDICARE": ("Medicare", "medicare"),
    "MEDICAID": ("Medicaid", "medicaid"),
    "COMMERCIAL": ("Commercial payer", "commercial"),
}


class Command(BaseCommand):
    help = "Transcribe (audio), extract, code and scrub each FILE; print one claim JSON object per line."

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+", type=Path)
        parser.add_argument("--patient", help="patient id: their demographics, the coverage in force on the date of "
                                              "service (payer, member id) and their practice's fee schedule")
        parser.add_argument("--practice", help="practice id whose fee schedule prices the lines (default: the "
                                               "patient's practice; none: charges 0.00)")
        parser.add_argument("--payer", default="MEDICARE", help="payer id (default MEDICARE)")
        parser.add_argument("--date-of-service", dest="dos", help="YYYY-MM-DD (default: today)")
        parser.add_argument("--place-of-service", dest="pos", default="22", help="two digits (default 22)")
        parser.add_argument("--json", action="store_true", help="JSON Lines output (the default)")
        parser.add_argument("--format", choices=["json", "x12", "pdf"], default="json")
        parser.add_argument("--out", type=Path, help="write here instead of standard output")

    def handle(self, *args, files, patient, payer, dos, pos, practice=None, json=False, format="json", out=None,
               **options):
        if format != "json":
            raise CommandError(f"--format {format} is not available yet: the claims exports (837P, CMS-1500 PDF) "
                               "come with the claims workflow. Use --format json.")
        if not (len(pos) == 2 and pos.isdigit()):
            raise CommandError(f"--place-of-service must be two digits (e.g. 22, 11), not {pos!r}.")
        try:
            date_of_service = date.fromisoformat(dos) if dos else date.today()
        except ValueError:
            raise CommandError(f"--date-of-service must be YYYY-MM-DD, not {dos!r}.") from None
        payer_name, payer_type = BUILTIN_PAYERS.get(payer.upper(), (payer, "commercial"))
        patient_info, coverage_payer, practice_id = self._patient(patient, date_of_service)
        if coverage_payer is not None:  # the patient's primary coverage on that date decides the payer
            payer, payer_name = coverage_payer.payer_id or payer, coverage_payer.name
            payer_type = "medicare" if coverage_payer.payer_type == "medicare" else "commercial"
        context = CodingContext(payer_id=payer.upper(), payer_type=payer_type, place_of_service=pos,
                                date_of_service=date_of_service)
        price = self._price(practice or practice_id, date_of_service)
        sink = out.open("w", encoding="utf-8") if out else self.stdout
        try:
            for path in files:
                transcript = self._transcript(path)
                result = code_note(transcript, context=context)
                claim = claim_json(result, transcript=transcript, context=context, patient=patient_info,
                                   payer=PayerInfo(name=payer_name, payer_id=payer.upper()), price=price)
                line = _dumps(claim)
                if out:
                    sink.write(line + "\n")
                else:
                    self.stdout.write(line)
        finally:
            if out:
                sink.close()

    def _transcript(self, path: Path) -> str:
        if not path.exists():
            raise CommandError(f"No such file: {path}")
        if path.suffix.lower() in AUDIO_SUFFIXES:
            raise CommandError(f"{path.name}: audio transcription is not available yet (it comes with the "
                               "dictation issue). Pass a .txt transcript.")
        try:
            return path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise CommandError(f"{path.name} is not UTF-8 text: pass a UTF-8 transcript (.txt).") from None

    def _patient(self, patient_id: str | None, date_of_service: date):
        if not patient_id:
            return PatientInfo(), None, None
        from patients.models import Patient
        from patients.selectors import coverage_in_force

        found = Patient.objects.filter(pk=patient_id).first() if patient_id.isdigit() else None
        if found is None:
            raise CommandError(f"No patient with id {patient_id}.")
        primary = coverage_in_force(patient=found, date_of_service=date_of_service).primary
        info = PatientInfo(name=found.display_name, dob=found.birth_date.isoformat() if found.birth_date else None,
                           sex=found.sex, member_id=(primary.member_id or "") if primary else "")
        return info, (primary.payer if primary else None), found.practice_id

    def _price(self, practice_id, date_of_service: date):
        if not practice_id:
            return None
        from billing.selectors import fee_schedule_on
        from billy.models import Practice

        if not str(practice_id).isdigit() or not Practice.objects.filter(pk=practice_id).exists():
            raise CommandError(f"No practice with id {practice_id}.")
        return fee_schedule_on(practice_id=int(practice_id), date_of_service=date_of_service).charge


def _dumps(obj) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


if __name__ == "__main__":  # pragma: no cover
    sys.exit("run through manage.py")
