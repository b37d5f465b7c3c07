"""manage.py voice_to_claim FILE... : the whole pipeline from the command line (DESIGN.md contract).

Each FILE is a dictation (audio, validated by its content and transcribed by the worker's engine) or a UTF-8
transcript (.txt). It is coded and scrubbed, and written as claim JSON (JSON Lines, the default), as one 837P
interchange holding every claim (--format x12), or as CMS-1500 PDFs (--format pdf). The help text below is the
user's documentation: keep it in step with the code.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, DjangoHelpFormatter
from django.utils import timezone

from billing.coding import CodingContext, code_note
from claims.claim_document import (
    ClaimBatch,
    ClaimDocument,
    DiagnosisEntry,
    DrugInfo,
    ServiceLineEntry,
    claim_problems,
)
from claims.claim_json import PatientInfo, PayerInfo, claim_json, time_evidence
from claims.demo_parties import ClaimParties, demo_charge, demo_envelope, demo_parties
from claims.scrubbing import age_on, draft_findings, patient_history
from claims.second_reading import second_read_json

# The containers the upload accepts (audio.validation): the suffix only says a FILE is meant as audio; its
# content decides whether it is (a text file named .mp3 is refused as "not audio").
AUDIO_SUFFIXES = {".wav", ".mp3", ".m4a", ".mp4", ".ogg", ".oga", ".opus", ".webm", ".flac", ".aac"}
# Payers known before practice data exists: id -> (name, type). The payers table (practice data) extends this.
BUILTIN_PAYERS = {
    "MEDICARE": ("Medicare", "medicare"),
    "MEDICAID": ("Medicaid", "medicaid"),
    "COMMERCIAL": ("Commercial payer", "commercial"),
}
EXIT_LEFT_OUT = 2  # --format x12|pdf: a FILE's claim could not be written (it is named on standard error)

HELP = """\
Transcribe (audio), extract, code and scrub each FILE, and write its claim.

FILE is a dictation in WAV, MP3, M4A, Ogg, WebM or FLAC (checked by its content: an empty, damaged or
non-audio file stops the command with its name and the reason), a UTF-8 text transcript (.txt), or a claim
JSON (.json: this command's output, edited), whose lines are scrubbed again as they stand. Audio is
transcribed by the worker's engine: the Whisper model of the WHISPER_MODEL setting (base, or tiny.en, faster and
less accurate), loaded once for all FILEs, with the spine normaliser; evidence then carries audio_start_s, the
second at which its words are said.

Scrubbing: every claim is checked against the NCCI PTP edits and MUEs loaded (the spine seed until
`import_ncci` / `import_mue` load CMS's quarterly files), ICD-10-CM validity and Excludes1 pairs, modifiers
and laterality as the payer wants them, the coverage policies loaded, the payer rules, and the patient's earlier
claims (frequency limits, global periods; with --patient). Each finding names its rule, the lines, the fix
and the source it rests on, and carries "origin": "scrub".

Second reader (--llm): the local language model of the LLM_MODEL setting (default Qwen2.5-Coder-1.5B-Instruct
on llama.cpp, loaded once for all FILEs) reads each transcript again; where it reads a procedure, level, side,
negation or diagnosis otherwise than the draft, a warning with both readers' words joins the findings with
"origin": "llm". It never adds or removes a code. "second_read" says how the read went (status done, failed or
unavailable, the model, seconds, the facts both readers agree on). About half a minute a note on 2 cores.

Output (--format):
  json  (default, same as --json) one claim JSON object per FILE, in order, one per line (JSON Lines), to
        standard output or --out PATH. Lines no fee schedule prices say "0.00".
  x12   one 837P 005010X222A1 interchange holding every FILE's claim, checked with pyx12 and IamBilly's own
        837P checks, to --out PATH or standard output. If a check fails, the problems go to standard error,
        nothing is written and the exit status is 1.
  pdf   CMS-1500 (02/12) forms, one PDF per FILE. --out is required: a directory (created if need be) where
        each FILE gives FILE-STEM.pdf, or, for a single FILE, a path ending in .pdf. The paths written are
        printed, one per line.

For x12 and pdf the claim needs parties and charges:
  - with --patient (or --practice): the patient, their coverage in force and payer; the practice's billing
    provider, its only rendering provider (when it has exactly one), its first facility and its EDI settings.
    The envelope is a test interchange (ISA15 T) numbered 1: this command previews; exports from the claims
    queue number and record the interchanges a practice sends.
  - without: demo data, every name DEMO: a billing organisation DEMO SPINE PRACTICE (NPI with a valid check
    digit, taxonomy, EIN, street address with ZIP+4), surgeon DEMO, SURGEON MD, patient DEMO, PATIENT insured
    by the payer (member id in the payer's format), submitter and receiver DEMO, interchange 1, test usage,
    and the note "IAMBILLY DEMO DATA - NOT A REAL CLAIM" in item 19. Where data of the practice is missing
    (no billing provider, no EDI settings), the demo's stands in and standard error says so.
  - charges: the practice's fee schedule on the date of service; a line it does not price (or every line,
    without a practice) gets the DEMO charge per unit of billing/data/demo_fees.csv (invented amounts), and
    standard error names those lines. An 837P cannot carry a 0.00 line.
A FILE whose claim cannot go on the form (no diagnosis documented, nothing billable, a required item missing)
is named on standard error with the reason and left out; the others are written, and the exit status is 2.

Exit status: 0 written; 1 an error (a bad argument or FILE, a failed check: nothing written); 2 some FILEs
left out of the x12/pdf output (see standard error).
"""


class _HelpFormatter(DjangoHelpFormatter):
    """Keeps the line breaks of the description: the help above is laid out as a short manual."""

    def _fill_text(self, text, width, indent):
        return "".join(indent + line for line in text.splitlines(keepends=True))


class Command(BaseCommand):
    help = HELP

    def create_parser(self, prog_name, subcommand, **kwargs):
        return super().create_parser(prog_name, subcommand, formatter_class=_HelpFormatter, **kwargs)

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+", type=Path, metavar="FILE",
                            help="audio dictation or UTF-8 .txt transcript")
        parser.add_argument("--patient", help="patient id: their demographics, the coverage in force on the date of "
                                              "service (payer, member id) and their practice's fee schedule")
        parser.add_argument("--practice", help="practice id whose fee schedule prices the lines (default: the "
                                               "patient's practice; none: charges 0.00 in JSON, demo charges in "
                                               "x12/pdf)")
        parser.add_argument("--payer", default="MEDICARE", help="payer id (default MEDICARE)")
        parser.add_argument("--date-of-service", dest="dos", help="YYYY-MM-DD (default: today)")
        parser.add_argument("--place-of-service", dest="pos", default="22", help="two digits (default 22)")
        output = parser.add_mutually_exclusive_group()
        output.add_argument("--json", action="store_true", help="JSON Lines output (the default)")
        output.add_argument("--format", choices=["json", "x12", "pdf"], default="json",
                            help="json (default), x12 (one 837P) or pdf (CMS-1500, needs --out)")
        parser.add_argument("--llm", action="store_true",
                            help="also run the local LLM second reader on each transcript and wait for it: its "
                                 "findings (origin \"llm\") join the claim, and \"second_read\" says how it went")
        parser.add_argument("--out", type=Path, help="json, x12: write here instead of standard output; pdf: a "
                                                     "directory, or a .pdf path for a single FILE")

    def handle(self, *args, files, patient, payer, dos, pos, practice=None, json=False, format="json", out=None,
               llm=False, **options):
        if json and format != "json":
            raise CommandError(f"--json and --format {format} ask for two outputs: give one.")
        if not (len(pos) == 2 and pos.isdigit()):
            raise CommandError(f"--place-of-service must be two digits (e.g. 22, 11), not {pos!r}.")
        try:
            date_of_service = date.fromisoformat(dos) if dos else date.today()
        except ValueError:
            raise CommandError(f"--date-of-service must be YYYY-MM-DD, not {dos!r}.") from None
        pdf_targets = self._pdf_targets(files, out) if format == "pdf" else {}
        payer_name, payer_type = BUILTIN_PAYERS.get(payer.upper(), (payer, "commercial"))
        found_patient, primary = self._patient(patient, date_of_service)
        if primary is not None:  # the patient's primary coverage on that date decides the payer
            payer, payer_name = primary.payer.payer_id or payer, primary.payer.name
            payer_type = "medicare" if primary.payer.payer_type == "medicare" else "commercial"
        practice_id = self._practice_id(practice or (found_patient.practice_id if found_patient else None))
        context = CodingContext(payer_id=payer.upper(), payer_type=payer_type, place_of_service=pos,
                                date_of_service=date_of_service)
        practice_price = self._practice_price(practice_id, date_of_service)

        sources = [_Source.read(path) for path in files]  # every FILE checked before minutes of transcription
        model = self._speech_model() if any(source.audio for source in sources) else None
        hotwords = self._hotwords(practice_id) if model else None

        second_model = self._language_model() if llm and any(source.claim is None for source in sources) else None
        payer_info = PayerInfo(name=payer_name, payer_id=payer.upper())
        scrub_payer_type = primary.payer.payer_type if primary is not None else payer_type
        age = age_on(found_patient.birth_date, date_of_service) if found_patient else None
        history = patient_history(practice_id=found_patient.practice_id, patient_id=found_patient.pk,
                                  day=date_of_service) if found_patient else ()
        patient_info = _patient_info(found_patient, primary)
        sink = out.open("w", encoding="utf-8") if out and format == "json" else None
        drafts: list[_Draft] = []
        try:
            for source in sources:
                demo_priced: list[str] = []
                if source.claim is not None:  # an edited claim: its own lines, scrubbed again below
                    claim = source.claim
                else:
                    text, words = source.transcript(model=model, hotwords=hotwords)
                    price = practice_price if format == "json" else _with_demo_charges(
                        practice_price, date_of_service, demo_priced)
                    result = code_note(text, context=context)
                    claim = claim_json(result, transcript=text, context=context, patient=patient_info,
                                       payer=payer_info, price=price)
                    if words is not None:
                        time_evidence(claim, words)
                    if llm:
                        claim["second_read"], llm_findings = second_read_json(text, result, second_model)
                        claim["findings"].extend(llm_findings)
                claim["findings"].extend(
                    {**finding.as_json(), "origin": "scrub"} for finding in draft_findings(
                        claim, date_of_service=date_of_service, payer_type=scrub_payer_type, payer_id=payer.upper(),
                        place_of_service=pos, patient_age=age, patient_sex=found_patient.sex if found_patient else "U",
                        prior=history))
                if format == "json":
                    line = _dumps(claim)
                    if sink:
                        sink.write(line + "\n")
                    else:
                        self.stdout.write(line)
                else:
                    drafts.append(_Draft(source.path, claim, tuple(demo_priced)))
        finally:
            if sink:
                sink.close()
        if format == "json":
            return
        parties = self._parties(practice_id, found_patient, primary, payer_name=payer_name, payer_id=payer.upper(),
                                payer_type=payer_type)
        documents = self._documents(drafts, parties, date_of_service, for_837=format == "x12")
        if format == "x12":
            self._write_837p(documents, practice_id, out)
        else:
            self._write_pdfs(documents, pdf_targets)
        left_out = [draft.path.name for draft, document in zip(drafts, documents, strict=True) if document is None]
        if left_out:
            raise CommandError(f"{len(left_out)} of {len(drafts)} FILEs left out of the {format} output (reasons "
                               f"above): {', '.join(left_out)}.", returncode=EXIT_LEFT_OUT)

    # --- inputs ----------------------------------------------------------------------------------------------

    def _pdf_targets(self, files: list[Path], out: Path | None) -> dict[Path, Path]:
        if out is None:
            raise CommandError("--format pdf writes files: give --out DIRECTORY (one PDF per FILE, named after it) "
                               "or, for a single FILE, --out NAME.pdf.")
        if out.suffix.lower() == ".pdf":
            if len(files) != 1:
                raise CommandError(f"--out {out} is one PDF, but {len(files)} FILEs were given: give a directory "
                                   "for one PDF per FILE.")
            return {files[0]: out}
        if out.exists() and not out.is_dir():
            raise CommandError(f"--out {out} is a file: for --format pdf give a directory, or a path ending in .pdf.")
        targets: dict[Path, Path] = {}
        for path in files:
            target = out / f"{path.stem}.pdf"
            clash = next((other for other, t in targets.items() if t == target), None)
            if clash is not None:
                raise CommandError(f"{clash.name} and {path.name} would both be written to {target}: rename one.")
            targets[path] = target
        return targets

    def _patient(self, patient_id: str | None, date_of_service: date):
        if not patient_id:
            return None, None
        from patients.models import Patient
        from patients.selectors import coverage_in_force

        found = Patient.objects.filter(pk=patient_id).first() if patient_id.isdigit() else None
        if found is None:
            raise CommandError(f"No patient with id {patient_id}.")
        return found, coverage_in_force(patient=found, date_of_service=date_of_service).primary

    def _practice_id(self, practice_id) -> int | None:
        if not practice_id:
            return None
        from billy.models import Practice

        if not str(practice_id).isdigit() or not Practice.objects.filter(pk=practice_id).exists():
            raise CommandError(f"No practice with id {practice_id}.")
        return int(practice_id)

    def _practice_price(self, practice_id: int | None, date_of_service: date):
        if practice_id is None:
            return None
        from billing.selectors import fee_schedule_on

        return fee_schedule_on(practice_id=practice_id, date_of_service=date_of_service).charge

    def _speech_model(self):
        """The worker's Whisper model (settings.WHISPER_MODEL), loaded once for every FILE."""
        from audio import speech

        try:
            return speech.load_model()
        except speech.SpeechError as exc:
            raise CommandError(f"The speech model could not be loaded: {exc}") from exc

    def _language_model(self):
        """The second reader's model, loaded once for every FILE, or why there is none (said in each claim)."""
        from billy import llm

        try:
            return llm.load_model()
        except llm.ModelUnavailable as exc:
            self.stderr.write(f"The second reader is skipped: {exc}")
            return exc

    def _hotwords(self, practice_id: int | None) -> str | None:
        if practice_id is None:
            return None  # the engine's default vocabulary, as for a practice that set none
        from audio.services import hotwords_for

        return hotwords_for(practice_id=practice_id)

    # --- parties ---------------------------------------------------------------------------------------------

    def _parties(self, practice_id: int | None, patient, primary, *, payer_name: str, payer_id: str,
                 payer_type: str) -> ClaimParties:
        """The practice's data where it is given, the demo's where it is not (as --help says)."""
        demo = demo_parties(payer_name=payer_name, payer_id=payer_id, payer_type=payer_type)
        if practice_id is None and patient is None:
            return demo
        from billy.selectors import facilities_for, providers_for
        from claims.documents import facility_party, patient_party, payer_party, provider_party, subscriber_party

        parties = demo
        if patient is not None:
            parties = replace(parties, patient=patient_party(patient), subscriber=subscriber_party(primary),
                              payer=payer_party(primary.payer) if primary else demo.payer, note="", demo=False)
        if practice_id is not None:
            providers = providers_for(practice_id=practice_id)
            billing = providers.filter(is_billing=True).order_by("pk").first()
            # A practice with several surgeons: the command cannot know whose dictation it is, so it names none.
            rendering = list(providers.filter(is_rendering=True).order_by("pk")[:2])
            facility = facilities_for(practice_id=practice_id).order_by("pk").first()
            if billing is None:
                self.stderr.write(f"Practice {practice_id} has no billing provider: the claims carry the demo one "
                                  f"({demo.billing_provider.name}).")
            parties = replace(parties, billing_provider=provider_party(billing) or demo.billing_provider,
                              rendering_provider=provider_party(rendering[0]) if len(rendering) == 1 else None,
                              facility=facility_party(facility))
        return parties

    def _envelope(self, practice_id: int | None):
        created_at = timezone.localtime()
        if practice_id is not None:
            from billy.selectors import edi_settings_for
            from claims.documents import envelope_for

            edi = edi_settings_for(practice_id=practice_id)
            if edi is not None:
                # A preview, not an export: numbered 1 and marked test, so it can never pass for a sent batch.
                return replace(envelope_for(edi=edi, interchange_control_number=1, created_at=created_at,
                                            batch_reference="VOICE-TO-CLAIM"), usage_indicator="T")
            self.stderr.write(f"Practice {practice_id} has no EDI settings: the envelope is the demo one "
                              "(submitter and receiver DEMO).")
        return demo_envelope(created_at=created_at)

    # --- writing ---------------------------------------------------------------------------------------------

    def _documents(self, drafts: list[_Draft], parties: ClaimParties, date_of_service: date, *,
                   for_837: bool) -> list[ClaimDocument | None]:
        """Each draft as a ClaimDocument, or None (named on standard error, with why) when it cannot be written."""
        from claims.export_837 import export_problems

        form = "the 837P" if for_837 else "the CMS-1500"
        documents: list[ClaimDocument | None] = []
        for number, draft in enumerate(drafts, start=1):
            document = _claim_document(draft.claim, parties, number=f"V2C{number:04d}",
                                       date_of_service=date_of_service)
            if not document.diagnoses:
                reason = ("no diagnosis is documented (the engine coded none), and a claim needs at least one: "
                          "dictate the diagnosis, or add it in the claims queue")
            elif not document.lines:
                reason = "nothing billable is documented (no service line)"
            else:
                problems = claim_problems(document) + (export_problems(document) if for_837 else [])
                reason = "; ".join(f"item {p.item}: {p.message}" for p in problems)
            if reason:
                self.stderr.write(f"{draft.path.name}: left out of {form}: {reason}.")
                documents.append(None)
                continue
            if draft.demo_priced:
                self.stderr.write(f"{draft.path.name}: {', '.join(draft.demo_priced)} priced with the DEMO fee "
                                  "schedule (billing/data/demo_fees.csv): no practice fee schedule prices "
                                  f"{'it' if len(draft.demo_priced) == 1 else 'them'}.")
            documents.append(document)
        return documents

    def _write_837p(self, documents: list[ClaimDocument | None], practice_id: int | None, out: Path | None) -> None:
        from claims.export_837 import Export837Error, write_837p
        from claims.x12_checks import validate_837p

        claims = [document for document in documents if document is not None]
        if not claims:
            raise CommandError("No FILE gave a claim an 837P can carry (reasons above): nothing was written.",
                               returncode=EXIT_LEFT_OUT)
        try:
            text = write_837p(ClaimBatch(envelope=self._envelope(practice_id), claims=claims))
        except Export837Error as exc:
            raise CommandError(f"The 837P could not be written: {exc}") from exc
        problems = validate_837p(text)
        if problems:
            for problem in problems:
                self.stderr.write(problem)
            raise CommandError(f"The 837P failed validation ({len(problems)} problem"
                               f"{'s' if len(problems) != 1 else ''}, above): nothing was written.")
        if out:
            out.write_text(text, encoding="ascii")
        else:
            self.stdout.write(text, ending="" if text.endswith("\n") else "\n")

    def _write_pdfs(self, documents: list[ClaimDocument | None], targets: dict[Path, Path]) -> None:
        from claims.cms1500_pdf import render_cms1500

        for (_path, target), document in zip(targets.items(), documents, strict=True):
            if document is None:
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(render_cms1500([document], form_image=True))
            self.stdout.write(str(target))


@dataclass(frozen=True)
class _Source:
    """One FILE, checked: a transcript's text, or an audio file whose content was validated."""

    path: Path
    text: str | None = None
    audio: bool = False
    claim: dict | None = None  # a claim JSON given back (edited): scrubbed again, not coded

    @classmethod
    def read(cls, path: Path) -> _Source:
        if not path.exists():
            raise CommandError(f"No such file: {path}")
        if path.suffix.lower() == ".json":
            return cls(path, claim=_edited_claim(path))
        if path.suffix.lower() in AUDIO_SUFFIXES:
            from audio.validation import AudioRejected, inspect_audio

            try:  # the upload's own check, with its limits: what the web form refuses, the command refuses
                inspect_audio(path, max_seconds=settings.BILLY_MAX_AUDIO_MINUTES * 60,
                              max_bytes=settings.BILLY_MAX_UPLOAD_MB * 1024 * 1024)
            except AudioRejected as exc:
                raise CommandError(f"{path.name} cannot be transcribed ({exc.reason.replace('_', ' ')}): {exc}") \
                    from None
            return cls(path, audio=True)
        try:
            return cls(path, text=path.read_text(encoding="utf-8"))
        except UnicodeDecodeError:
            raise CommandError(f"{path.name} is not UTF-8 text: pass a UTF-8 transcript (.txt) or an audio file "
                               "(wav, mp3, m4a, ogg, webm, flac).") from None

    def transcript(self, *, model, hotwords: str | None):
        """The text to code and, for audio, its timed words (audio.evidence_time)."""
        if not self.audio:
            return self.text, None
        from audio import speech
        from audio.evidence_time import timed_words

        try:  # as the worker transcribes (audio.services): the spine normaliser runs inside, words re-timed
            result = speech.transcribe(self.path, model=model, hotwords=hotwords)
        except speech.SpeechError as exc:
            raise CommandError(f"{self.path.name} could not be transcribed: {exc}") from exc
        return result.text, timed_words(result.text, result.segments)


@dataclass(frozen=True)
class _Draft:
    """A FILE's claim JSON, waiting for the x12 or pdf writer; `demo_priced` names lines the demo schedule priced."""

    path: Path
    claim: dict
    demo_priced: tuple[str, ...] = ()


def _edited_claim(path: Path) -> dict:
    """A claim JSON (this command's output, edited by hand or by another program), checked enough to scrub: the
    engine's findings are kept, the scrubber's are dropped and made again from the lines as they now are."""
    try:
        claim = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CommandError(f"{path.name} is not a claim JSON object: {exc}.") from None
    if not isinstance(claim, dict) or not isinstance(claim.get("service_lines"), list) \
            or not isinstance(claim.get("diagnoses"), list):
        raise CommandError(f"{path.name}: a claim JSON needs service_lines and diagnoses lists (see DESIGN.md).")
    for i, line in enumerate(claim["service_lines"], start=1):
        units = line.get("units", 1) if isinstance(line, dict) else None
        if not isinstance(line, dict) or not isinstance(line.get("cpt"), str) \
                or isinstance(units, bool) or not isinstance(units, int) or units < 1:
            raise CommandError(f"{path.name}: service line {i} needs a cpt code and whole units of 1 or more.")
        line["units"] = units
        for key in ("modifiers", "dx_pointers", "levels"):
            if not isinstance(line.setdefault(key, []), list):
                raise CommandError(f"{path.name}: service line {i}: {key} must be a list.")
    for i, dx in enumerate(claim["diagnoses"], start=1):
        if not isinstance(dx, dict) or not isinstance(dx.get("code"), str):
            raise CommandError(f"{path.name}: diagnosis {i} needs a code.")
    claim["findings"] = [f for f in claim.get("findings") or [] if isinstance(f, dict) and f.get("origin") != "scrub"]
    claim.setdefault("transcript", "")
    return claim


def _patient_info(patient, primary) -> PatientInfo:
    if patient is None:
        return PatientInfo()
    return PatientInfo(name=patient.display_name, dob=patient.birth_date.isoformat() if patient.birth_date else None,
                       sex=patient.sex, member_id=(primary.member_id or "") if primary else "")


def _with_demo_charges(practice_price, date_of_service: date, demo_priced: list[str]):
    """The practice's charge per unit, else the DEMO schedule's (an 837P refuses a 0.00 line); notes the codes
    the demo priced, so the command says which charges are invented."""

    def price(code: str, modifiers: list[str]) -> Decimal | None:
        charge = practice_price(code, modifiers) if practice_price else None
        if charge is None:
            charge = demo_charge(code, modifiers, date_of_service=date_of_service)
            if charge is not None:
                demo_priced.append(code)
        return charge

    return price


def _claim_document(claim: dict, parties: ClaimParties, *, number: str, date_of_service: date) -> ClaimDocument:
    """The claim JSON with its parties, as the 837P writer and the CMS-1500 read it (claims.claim_document)."""
    lines = []
    for position, line in enumerate(claim["service_lines"], start=1):
        drug = line.get("drug") or {}
        ndc = "".join(ch for ch in str(drug.get("ndc") or "") if ch.isdigit())
        lines.append(ServiceLineEntry(
            cpt=line["cpt"], units=line["units"], charge=Decimal(line["charge"]),
            dx_pointers=tuple(line["dx_pointers"]), modifiers=tuple(line["modifiers"]),
            date_of_service=date_of_service, place_of_service=line["place_of_service"],
            line_control_number=f"{number}-{position}",
            drug=DrugInfo(ndc=ndc, quantity=Decimal(str(drug.get("ml") or 1))) if ndc else None))
    place = lines[0].place_of_service if lines else "22"
    return ClaimDocument(
        patient_control_number=number, billing_provider=parties.billing_provider, patient=parties.patient,
        subscriber=parties.subscriber, payer=parties.payer, rendering_provider=parties.rendering_provider,
        facility=parties.facility,
        diagnoses=tuple(DiagnosisEntry(pointer=dx["pointer"], code=dx["code"]) for dx in claim["diagnoses"]),
        lines=tuple(lines), place_of_service=place, additional_information=parties.note,
        physician_signature_date=dt.date.today())


def _dumps(obj) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


if __name__ == "__main__":  # pragma: no cover
    sys.exit("run through manage.py")
