"""Writes of the claims workflow: drafting a claim from the engine's reading, the biller's edits, checks,
approval, rejection back to the physician, corrections and voids.

Every status change is a conditional update on (status, version) (STYLE.md): zero rows means someone else acted
first, and the caller gets a StaleClaim that says so while the person's input stays on their screen. Every
write is atomic, leaves a ClaimRevision (who, when, what, why) and an audit event that names no one.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from audio.review import signed_text, text_digest
from billing import icd
from billing.results import Finding
from billy.audit import audit_record
from billy.models import Membership, Role
from billy.services import BillyError
from claims import line_checks, revisions, scrubbing
from claims.export_837 import sendable_problems
from claims.models import (
    Claim,
    ClaimDiagnosis,
    ClaimFinding,
    ClaimFrequency,
    ClaimLine,
    ClaimRevision,
    ClaimStatus,
    CodedTranscript,
    FindingOrigin,
)
from claims.selectors import claims_changed

log = logging.getLogger(__name__)

EDITABLE = (ClaimStatus.NEEDS_REVIEW, ClaimStatus.REJECTED)
MAX_REASON_CHARS = 1_000  # audio.review keeps the same limit for the note it forwards


class ClaimError(BillyError):
    """A claims-workflow error with a message for the biller."""


class StaleClaim(ClaimError):
    """Someone else changed the claim after this page was opened."""


STALE_MESSAGE = ("Another biller changed this claim after you opened it: your change was not saved. Your input is "
                 "still below; reload the claim to see their change, then make yours again.")


# --- plain inputs -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LineEdit:
    cpt: str
    units: int = 1
    modifiers: tuple[str, ...] = ()
    dx_pointers: tuple[str, ...] = ()
    charge: Decimal | None = None  # None: priced from the fee schedule
    place_of_service: str = ""  # blank: the claim's


@dataclass(frozen=True)
class ClaimEdit:
    """What the code editor saves: the diagnoses in order (item 21) and the service lines (item 24)."""

    diagnoses: tuple[str, ...]
    lines: tuple[LineEdit, ...]


@dataclass
class HeaderEdit:
    """CMS-1500 claim-level items the biller may change (parties by id, checked against the practice)."""

    values: dict = field(default_factory=dict)


# --- the pipeline's draft -----------------------------------------------------------------------------------

def claim_from_coding(*, coded: CodedTranscript) -> Claim:
    """The dictation's claim drafted, or brought up to date, from the engine's reading of one text.

    Idempotent: the one original claim per recording is found (a unique constraint), never made twice. A claim
    the biller has not edited takes the new reading (a signed text replaces the preview); a claim the biller
    edited keeps their lines and gets a finding that a newer reading exists. A claim sent back to the physician
    returns to review when the signed text changes (the addendum arrived).
    """
    recording = coded.recording
    with transaction.atomic():
        claim = (Claim.objects.select_for_update().filter(recording=recording, frequency_code=ClaimFrequency.ORIGINAL)
                 .first())
        if claim is None:
            try:
                with transaction.atomic():
                    claim = _claim_create(coded)
            except IntegrityError:  # a concurrent run made it first
                claim = Claim.objects.select_for_update().get(recording=recording,
                                                              frequency_code=ClaimFrequency.ORIGINAL)
            else:
                return claim
        if claim.status not in (ClaimStatus.PROCESSING, ClaimStatus.NEEDS_REVIEW, ClaimStatus.REJECTED):
            log.info("claim already approved: new reading not applied", extra={"claim_id": claim.pk})
            return claim
        if claim.coding_id == coded.pk:
            return claim
        edited = claim.revisions.filter(author__isnull=False, action="edited").exists()
        if not edited:
            _apply_reading(claim, coded)
            claim.coding = coded
            claim.save(update_fields=["coding", "updated_at"])
        if claim.status == ClaimStatus.REJECTED and coded.signed:
            Claim.objects.filter(pk=claim.pk).update(status=ClaimStatus.NEEDS_REVIEW, version=F("version") + 1)
            claim.refresh_from_db()
        elif claim.status == ClaimStatus.PROCESSING:
            Claim.objects.filter(pk=claim.pk).update(status=ClaimStatus.NEEDS_REVIEW, pipeline_error="",
                                                     version=F("version") + 1)
            claim.refresh_from_db()
        claim_check(claim=claim, newer_reading=coded if edited else None)
        _record(claim, action="newer_reading" if edited else "recoded", author=None, reason=None)
        return claim


def claim_pipeline_failed(*, recording_id: int, message: str) -> Claim | None:
    """A pipeline step failed on this dictation: its claim (made in `processing` if need be) says why."""
    from audio.models import Recording

    recording = Recording.objects.filter(pk=recording_id).first()
    if recording is None:
        return None
    with transaction.atomic():
        claim = Claim.objects.filter(recording=recording, frequency_code=ClaimFrequency.ORIGINAL).first()
        if claim is None:
            claim = Claim.objects.create(**_claim_defaults(recording), status=ClaimStatus.PROCESSING)
        Claim.objects.filter(pk=claim.pk).update(pipeline_error=message[:300])
        claims_changed(practice_id=claim.practice_id)
        audit_record(action="claim.pipeline_failed", practice_id=claim.practice_id, obj=claim)
    claim.refresh_from_db()
    return claim


def _claim_defaults(recording) -> dict:
    from billy.selectors import facilities_for, provider_for_user, providers_for
    from patients.selectors import coverage_in_force

    practice_id = recording.practice_id
    primary = coverage_in_force(patient=recording.patient, date_of_service=recording.date_of_service).primary
    facility = facilities_for(practice_id=practice_id).order_by("pk").first()
    rendering = provider_for_user(user=recording.physician, practice_id=practice_id)
    billing = providers_for(practice_id=practice_id).filter(is_billing=True).order_by("pk").first()
    return {
        "practice_id": practice_id, "recording": recording, "patient_id": recording.patient_id,
        "physician_id": recording.physician_id, "date_of_service": recording.date_of_service,
        "place_of_service": facility.default_place_of_service if facility else "22",
        "coverage": primary, "payer": primary.payer if primary else None,
        "billing_provider": billing or rendering, "rendering_provider": rendering, "facility": facility,
    }


def _claim_create(coded: CodedTranscript) -> Claim:
    claim = Claim.objects.create(**_claim_defaults(coded.recording), coding=coded, status=ClaimStatus.NEEDS_REVIEW)
    _apply_reading(claim, coded)
    claim_check(claim=claim)
    _record(claim, action="created", author=None, reason=None)
    audit_record(action="claim.drafted", practice_id=claim.practice_id, obj=claim,
                 detail={"coding_id": coded.pk, "signed": coded.signed})
    return claim


def _apply_reading(claim: Claim, coded: CodedTranscript) -> None:
    """Replace the claim's diagnoses, lines and coding findings with the engine's reading."""
    data = json.loads(coded.claim_json)
    claim.diagnoses.all().delete()
    claim.lines.all().delete()
    # The second reader's findings were about the old reading; the new one gets its own (claims.second_reading).
    claim.findings.filter(origin__in=[FindingOrigin.CODING, FindingOrigin.SECOND_READER]).delete()
    ClaimDiagnosis.objects.bulk_create([
        ClaimDiagnosis(claim=claim, position=i, code=dx["code"], description=dx.get("description", "")[:300],
                       confidence=dx.get("confidence"), rationale=(dx.get("rationale") or "")[:400],
                       evidence_json=json.dumps(dx.get("evidence") or []))
        for i, dx in enumerate(data["diagnoses"][:12])])
    price = _pricer(claim)
    ClaimLine.objects.bulk_create([
        ClaimLine(claim=claim, position=i, cpt=line["cpt"], modifiers=",".join(line.get("modifiers") or [])[:11],
                  units=line["units"], charge=_charge(price, line["cpt"], line.get("modifiers") or [], line["units"]),
                  dx_pointers="".join(line.get("dx_pointers") or [])[:4], place_of_service=claim.place_of_service,
                  confidence=line.get("confidence"), rationale=(line.get("rationale") or "")[:400],
                  evidence_json=json.dumps(line.get("evidence") or []), drug_json=line.get("drug"),
                  levels=",".join(line.get("levels") or [])[:80])
        for i, line in enumerate(data["service_lines"][:50])])
    ClaimFinding.objects.bulk_create([
        ClaimFinding(claim=claim, origin=FindingOrigin.CODING, rule=f["rule"][:40], severity=f["severity"],
                     message=f["message"][:600], lines=f.get("lines") or [],
                     source_title=(f.get("source") or {}).get("title", "")[:200],
                     source_passage=(f.get("source") or {}).get("passage", ""),
                     source_section=(f.get("source") or {}).get("section", "")[:200],
                     source_ref=(f.get("source") or {}).get("ref", "")[:80], fix=(f.get("fix") or "")[:400],
                     evidence_json=json.dumps(f.get("evidence") or []))
        for f in data["findings"] if f.get("origin", FindingOrigin.CODING) == FindingOrigin.CODING])


def _pricer(claim: Claim):
    from billing.selectors import fee_schedule_on

    return fee_schedule_on(practice_id=claim.practice_id, date_of_service=claim.date_of_service).charge


def _charge(price, code: str, modifiers: Sequence[str], units: int) -> Decimal:
    per_unit = price(code, list(modifiers))
    return (per_unit if per_unit is not None else Decimal("0.00")) * units


# --- checks -------------------------------------------------------------------------------------------------

def claim_check(*, claim: Claim, newer_reading: CodedTranscript | None = None) -> list[ClaimFinding]:
    """Check the claim as it stands and store the findings (the engine's own are kept); update the queue figures.

    Run after every change, so the findings panel never describes an older version of the claim.
    """
    from claims.documents import claim_document

    # The engine's own findings, the payer's answer and the second reader's (about the reading, not the edit) stay.
    claim.findings.exclude(origin__in=[FindingOrigin.CODING, FindingOrigin.PAYER, FindingOrigin.SECOND_READER]).delete()
    lines = list(claim.lines.all())
    diagnoses = [dx.code for dx in claim.diagnoses.all()]
    new: list[ClaimFinding] = [_finding_row(claim, finding, FindingOrigin.SCRUB)
                               for finding in scrubbing.stored_claim_findings(claim, lines, diagnoses)]
    document = claim_document(claim)
    for problem in sendable_problems(document):
        new.append(ClaimFinding(claim=claim, origin=FindingOrigin.COMPLETENESS, rule="CLAIM-DATA", severity="error",
                                message=f"Item {problem.item}: {problem.message}"[:600], item=problem.item[:10],
                                lines=[problem.line] if problem.line is not None else []))
    if claim.recording_id and not _signed_reading_exists(claim):
        new.append(ClaimFinding(claim=claim, origin=FindingOrigin.COMPLETENESS, rule="NOT-SIGNED", severity="warning",
                                message="The physician has not signed this transcript yet: the claim cannot be "
                                        "approved until they do (it is in their To sign inbox)."))
    if newer_reading is not None:
        new.append(ClaimFinding(
            claim=claim, origin=FindingOrigin.COMPLETENESS, rule="NEWER-READING", severity="warning",
            message=("The physician's " + ("signed " if newer_reading.signed else "") + "text changed after your "
                     f"edits; the engine now reads {newer_reading.cpt_summary or 'no lines'}. Your lines are kept: "
                     "compare, or re-code from the new text.")[:600]))
    ClaimFinding.objects.bulk_create(new)
    return claim_figures_refresh(claim=claim, lines=lines)


def claim_figures_refresh(*, claim: Claim, lines: list[ClaimLine] | None = None) -> list[ClaimFinding]:
    """The queue's figures of the claim (counts, charge, confidence) from its findings and lines as they stand."""
    lines = list(claim.lines.all()) if lines is None else lines
    claims_changed(practice_id=claim.practice_id)
    findings = list(claim.findings.all())
    Claim.objects.filter(pk=claim.pk).update(
        error_count=sum(f.severity == "error" for f in findings),
        warning_count=sum(f.severity == "warning" for f in findings),
        line_count=len(lines), total_charge=sum((line.charge for line in lines), Decimal("0.00")),
        min_confidence=min((line.confidence for line in lines if line.confidence is not None), default=None),
        cpt_summary=", ".join(line.label for line in lines)[:400])
    claim.refresh_from_db(fields=["error_count", "warning_count", "line_count", "total_charge", "min_confidence",
                                  "cpt_summary"])
    return findings


def _finding_row(claim: Claim, finding: Finding, origin: str) -> ClaimFinding:
    return ClaimFinding(claim=claim, origin=origin, rule=finding.rule[:40], severity=finding.severity,
                        message=finding.message[:600], lines=list(finding.lines),
                        item="21" if finding.rule.startswith("ICD-") else "",
                        source_title=finding.source_title[:200], source_passage=finding.source_passage,
                        source_section=finding.source_section[:200], source_ref=finding.source_ref[:80],
                        fix=finding.fix[:400])


def _signed_reading_exists(claim: Claim) -> bool:
    """The transcript is signed and the signed text (as last signed) has been coded."""
    transcript = getattr(claim.recording, "transcript", None) if claim.recording else None
    text = signed_text(transcript) if transcript else None
    if text is None:
        return False
    return CodedTranscript.objects.filter(recording_id=claim.recording_id, signed=True,
                                          text_sha256=text_digest(text)).exists()


# --- the biller's edits -------------------------------------------------------------------------------------

def _require_biller(membership: Membership, claim: Claim) -> None:
    if claim.practice_id != membership.practice_id:
        raise ClaimError("This claim belongs to another practice.")
    if membership.role not in (Role.BILLER, Role.ADMIN):
        raise ClaimError("Only a biller or an admin of the practice works claims.")


def _locked(claim: Claim, version: int | None, *, statuses: Sequence[str] = EDITABLE) -> Claim:
    current = Claim.objects.select_for_update().get(pk=claim.pk)
    if version is not None and current.version != version:
        raise StaleClaim(STALE_MESSAGE)
    if current.status not in statuses:
        raise ClaimError(f"This claim is {current.get_status_display().lower()}: it cannot be changed now.")
    return current


def _bump(claim: Claim, version: int, **changes) -> None:
    """The conditional update every write ends with: zero rows means a concurrent write won."""
    updated = Claim.objects.filter(pk=claim.pk, version=version).update(version=version + 1, **changes)
    if updated != 1:
        raise StaleClaim(STALE_MESSAGE)
    claims_changed(practice_id=claim.practice_id)
    claim.refresh_from_db()


def parse_line_edit(*, cpt: str, units: str | int, modifiers: str, dx_pointers: str, charge: str = "",
                    place_of_service: str = "") -> LineEdit:
    """One editor row as typed ("63030", "1", "LT 59", "A,B", "1,250.00") to a LineEdit; ClaimError says what is
    wrong with it."""
    code = (cpt or "").strip().upper()
    try:
        count = int(str(units).strip() or "1")
    except ValueError:
        raise ClaimError(f"{code}: units must be a whole number.")
    if not 1 <= count <= 999:
        raise ClaimError(f"{code}: units must be between 1 and 999.")
    mods = tuple(m for m in modifiers.replace(",", " ").upper().split() if m)
    pointers = tuple(p for p in dx_pointers.replace(",", " ").replace(" ", "").upper())
    amount = None
    if (charge or "").strip():
        try:
            amount = Decimal(charge.replace(",", "").replace("$", "").strip()).quantize(Decimal("0.01"))
        except InvalidOperation:
            raise ClaimError(f"{code}: the charge {charge!r} is not an amount.")
        if amount < 0:
            raise ClaimError(f"{code}: a charge cannot be negative.")
    return LineEdit(cpt=code, units=count, modifiers=mods, dx_pointers=pointers, charge=amount,
                    place_of_service=(place_of_service or "").strip())


def _validate_edit(edit: ClaimEdit, *, date_of_service: dt.date) -> ClaimEdit:
    problems = []
    diagnoses = []
    for code in edit.diagnoses:
        if not code.strip():
            continue
        if problem := line_checks.diagnosis_problem(code, on=date_of_service):
            problems.append(problem)
        else:
            diagnoses.append(icd.normalize(code))
    if len(diagnoses) > 12:
        problems.append("A claim carries at most 12 diagnoses (item 21 A-L).")
    if len(set(diagnoses)) != len(diagnoses):
        problems.append("A diagnosis is listed twice.")
    if not edit.lines:
        problems.append("A claim needs at least one service line.")
    if len(edit.lines) > 50:
        problems.append("A claim carries at most 50 service lines.")
    letters = "ABCDEFGHIJKL"[: len(diagnoses)]
    for i, line in enumerate(edit.lines, 1):
        if problem := line_checks.code_problem(line.cpt):
            problems.append(f"Line {i}: {problem}")
        if len(line.modifiers) > 4:
            problems.append(f"Line {i}: at most 4 modifiers.")
        if any(len(m) != 2 or not m.isalnum() for m in line.modifiers):
            problems.append(f"Line {i}: a modifier is two letters or digits (LT, 59, XS).")
        if len(line.dx_pointers) > 4:
            problems.append(f"Line {i}: at most 4 diagnosis pointers.")
        if bad := [p for p in line.dx_pointers if p not in letters]:
            problems.append(f"Line {i}: pointer {', '.join(bad)} names no diagnosis on the claim.")
        if line.place_of_service and not (len(line.place_of_service) == 2 and line.place_of_service.isdigit()):
            problems.append(f"Line {i}: the place of service is two digits.")
    if problems:
        raise ClaimError(" ".join(problems))
    return ClaimEdit(diagnoses=tuple(diagnoses), lines=edit.lines)


def claim_update_codes(*, membership: Membership, claim: Claim, version: int, edit: ClaimEdit,
                       reason: str = "") -> Claim:
    """The biller's save of the code editor: diagnoses and lines replaced as given, re-priced where no charge
    was typed, checked again, one revision. Refused whole (nothing saved) when any code is wrong."""
    _require_biller(membership, claim)
    edit = _validate_edit(edit, date_of_service=claim.date_of_service)
    with transaction.atomic():
        current = _locked(claim, version)
        before = revisions.snapshot(current)
        # What the engine knew of a code the biller kept (evidence, confidence, rationale) stays with it, even when
        # its modifiers, units or place in the list changed.
        old_dx = {dx.code: dx for dx in current.diagnoses.all()}
        current.diagnoses.all().delete()
        ClaimDiagnosis.objects.bulk_create([
            ClaimDiagnosis(claim=current, position=i, code=code, description=_describe(code, current.date_of_service),
                           confidence=old_dx[code].confidence if code in old_dx else None,
                           rationale=old_dx[code].rationale if code in old_dx else "",
                           evidence_json=old_dx[code].evidence_json if code in old_dx else None)
            for i, code in enumerate(edit.diagnoses)])
        unused = list(current.lines.all())
        current.lines.all().delete()
        price = _pricer(current)
        rows = []
        for i, line in enumerate(edit.lines):
            kept = next((old for old in unused if old.cpt == line.cpt and old.position == i), None) or next(
                (old for old in unused if old.cpt == line.cpt), None)
            if kept is not None:
                unused.remove(kept)
            rows.append(ClaimLine(
                claim=current, position=i, cpt=line.cpt, modifiers=",".join(line.modifiers), units=line.units,
                charge=line.charge if line.charge is not None else _charge(price, line.cpt, line.modifiers,
                                                                           line.units),
                dx_pointers="".join(line.dx_pointers),
                place_of_service=line.place_of_service or current.place_of_service,
                confidence=kept.confidence if kept else None, rationale=kept.rationale if kept else "",
                evidence_json=kept.evidence_json if kept else None, drug_json=kept.drug_json if kept else None,
                levels=kept.levels if kept else "", added_by_biller=kept is None or kept.added_by_biller))
        ClaimLine.objects.bulk_create(rows)
        _bump(current, version)
        claim_check(claim=current)
        _record(current, action="edited", author=membership.user, reason=reason, before=before)
    return current


def _describe(code: str, on: dt.date) -> str:
    try:
        return icd.describe(code, on=on)[:300]
    except KeyError:
        return ""


HEADER_TEXT = ("place_of_service", "prior_authorization", "auto_accident_state", "additional_information",
               "payer_claim_number")
HEADER_FLAGS = ("accept_assignment", "related_to_employment", "related_to_auto_accident",
                "related_to_other_accident")
HEADER_PARTIES = ("billing_provider", "rendering_provider", "referring_provider", "facility", "coverage")


def claim_update_header(*, membership: Membership, claim: Claim, version: int, values: dict,
                        reason: str = "") -> Claim:
    """The CMS-1500 editor's claim-level items (the form has validated shapes; this checks the parties belong to
    the practice and the combinations make sense)."""
    from billy.models import Facility, Provider
    from patients.models import Coverage

    _require_biller(membership, claim)
    changes: dict = {}
    for name in HEADER_TEXT:
        if name in values:
            changes[name] = (values[name] or "").strip()
    for name in HEADER_FLAGS:
        if name in values:
            changes[name] = bool(values[name])
    for name in ("onset_date", "accident_date"):
        if name in values:
            changes[name] = values[name]
    if "amount_paid" in values:
        changes["amount_paid"] = values["amount_paid"] or Decimal("0.00")
    models_by_field = {"billing_provider": Provider, "rendering_provider": Provider, "referring_provider": Provider,
                       "facility": Facility}
    for name in HEADER_PARTIES:
        if name not in values:
            continue
        pk = values[name]
        if pk in (None, ""):
            changes[f"{name}_id"] = None
            continue
        if name == "coverage":
            found = Coverage.objects.filter(pk=pk, patient_id=claim.patient_id).select_related("payer").first()
            if found is None:
                raise ClaimError("That coverage is not this patient's.")
            changes["coverage_id"], changes["payer_id"] = found.pk, found.payer_id
        else:
            if not models_by_field[name].objects.filter(pk=pk, practice_id=claim.practice_id).exists():
                raise ClaimError(f"That {name.replace('_', ' ')} is not one of this practice's.")
            changes[f"{name}_id"] = int(pk)
    pos = changes.get("place_of_service", claim.place_of_service)
    if not (len(pos) == 2 and pos.isdigit()):
        raise ClaimError("The place of service is two digits (item 24B), e.g. 22 or 24.")
    if changes.get("related_to_auto_accident", claim.related_to_auto_accident) and not changes.get(
            "auto_accident_state", claim.auto_accident_state):
        raise ClaimError("An auto accident needs the state where it happened (item 10b).")
    with transaction.atomic():
        current = _locked(claim, version)
        before = revisions.snapshot(current)
        if "place_of_service" in changes and changes["place_of_service"] != current.place_of_service:
            current.lines.filter(place_of_service=current.place_of_service).update(
                place_of_service=changes["place_of_service"])
        _bump(current, version, **changes)
        claim_check(claim=current)
        _record(current, action="edited", author=membership.user, reason=reason, before=before)
    return current


def claim_recode(*, membership: Membership, claim: Claim, version: int) -> Claim:
    """Replace the biller's lines with the engine's reading of the latest text (signed when there is one)."""
    _require_biller(membership, claim)
    coded = (CodedTranscript.objects.filter(recording_id=claim.recording_id)
             .order_by("-signed", "-created_at", "-pk").first()) if claim.recording_id else None
    if coded is None:
        raise ClaimError("There is no reading of this dictation to re-code from.")
    with transaction.atomic():
        current = _locked(claim, version)
        before = revisions.snapshot(current)
        _apply_reading(current, coded)
        _bump(current, version, coding_id=coded.pk)
        claim_check(claim=current)
        _record(current, action="recoded", author=membership.user, reason="Re-coded from the dictation.",
                before=before)
    return current


# --- decisions ----------------------------------------------------------------------------------------------

def approval_blockers(claim: Claim) -> list[str]:
    """Why the claim cannot be approved as it stands (an override reason lifts error findings, nothing else)."""
    blockers = []
    if claim.status != ClaimStatus.NEEDS_REVIEW:
        blockers.append(f"The claim is {claim.get_status_display().lower()}.")
    if claim.recording_id and not _signed_reading_exists(claim):
        blockers.append("The physician has not signed the transcript this claim rests on.")
    if claim.findings.filter(origin=FindingOrigin.COMPLETENESS, rule="CLAIM-DATA").exists():
        blockers.append("Required claim data is missing (see the findings marked with a CMS-1500 item).")
    return blockers


def claim_approve(*, membership: Membership, claim: Claim, version: int, override_reason: str = "") -> Claim:
    """Approve for export. Refused while the transcript is unsigned or claim data is missing; while other error
    findings stand, only with an override reason, which is kept with the claim and its revision."""
    _require_biller(membership, claim)
    override_reason = (override_reason or "").strip()[:MAX_REASON_CHARS]
    with transaction.atomic():
        current = _locked(claim, version, statuses=(ClaimStatus.NEEDS_REVIEW,))
        claim_check(claim=current)
        if blockers := approval_blockers(current):
            raise ClaimError("Not approved: " + " ".join(blockers))
        errors = current.findings.filter(severity="error").count()
        if errors and not override_reason:
            raise ClaimError(f"Not approved: {errors} error finding{'s' if errors != 1 else ''} stand. Fix them, "
                             "or record why the claim is right as it is (override reason).")
        before = revisions.snapshot(current)
        _bump(current, version, status=ClaimStatus.APPROVED, reviewed_by=membership.user,
              reviewed_at=timezone.now(), override_reason=override_reason or None)
        _record(current, action="approved", author=membership.user, reason=override_reason, before=before)
        audit_record(action="claim.approve", actor=membership.user, role=membership.role,
                     practice_id=current.practice_id, obj=current, detail={"overridden_errors": errors})
    return current


def claim_reject(*, membership: Membership, claim: Claim, version: int, reason: str) -> Claim:
    """Send the claim back to the physician ("addendum needed"): it lands in their inbox with the reason."""
    from audio.review import ReviewError, transcript_note_before_signing, transcript_request_addendum

    _require_biller(membership, claim)
    reason = (reason or "").strip()
    if not reason:
        raise ClaimError("Say what the physician must add or correct: the reason goes to their inbox.")
    if len(reason) > MAX_REASON_CHARS:
        raise ClaimError(f"The reason is limited to {MAX_REASON_CHARS:,} characters.")
    with transaction.atomic():
        current = _locked(claim, version, statuses=(ClaimStatus.NEEDS_REVIEW,))
        before = revisions.snapshot(current)
        transcript = getattr(current.recording, "transcript", None) if current.recording_id else None
        if transcript is not None:
            # Signed: an addendum request. Not signed yet: a note on the physician's To sign row.
            request = transcript_request_addendum if transcript.signatures.exists() else transcript_note_before_signing
            with contextlib.suppress(ReviewError):
                request(membership=membership, transcript=transcript, reason=reason)
        _bump(current, version, status=ClaimStatus.REJECTED, rejection_reason=reason, reviewed_by=membership.user,
              reviewed_at=timezone.now())
        _record(current, action="rejected", author=membership.user, reason=reason, before=before)
        audit_record(action="claim.reject", actor=membership.user, role=membership.role,
                     practice_id=current.practice_id, obj=current)
    return current


def claim_reopen(*, membership: Membership, claim: Claim, version: int) -> Claim:
    """An approved claim (not yet exported) goes back to review, e.g. to fix a code the biller spotted late."""
    _require_biller(membership, claim)
    with transaction.atomic():
        current = _locked(claim, version, statuses=(ClaimStatus.APPROVED, ClaimStatus.REJECTED))
        before = revisions.snapshot(current)
        _bump(current, version, status=ClaimStatus.NEEDS_REVIEW)
        _record(current, action="reopened", author=membership.user, reason=None, before=before)
    return current


def claim_void(*, membership: Membership, claim: Claim, version: int, reason: str) -> Claim:
    """A claim never sent is voided in place; an exported one needs a void claim to the payer (frequency 8)."""
    _require_biller(membership, claim)
    reason = (reason or "").strip()
    if not reason:
        raise ClaimError("Say why the claim is void.")
    with transaction.atomic():
        current = _locked(claim, version, statuses=(ClaimStatus.PROCESSING, ClaimStatus.NEEDS_REVIEW,
                                                    ClaimStatus.APPROVED, ClaimStatus.REJECTED))
        before = revisions.snapshot(current)
        _bump(current, version, status=ClaimStatus.VOID)
        _record(current, action="voided", author=membership.user, reason=reason, before=before)
    return current


def claim_correction_create(*, membership: Membership, claim: Claim, frequency_code: str) -> Claim:
    """A replacement (7) or void (8) of an exported claim: a new claim in review, copying the original's lines,
    naming it, and carrying the payer's claim number (REF*F8) when the acknowledgement gave one."""
    _require_biller(membership, claim)
    if frequency_code not in (ClaimFrequency.REPLACEMENT, ClaimFrequency.VOID):
        raise ClaimError("A correction is a replacement (7) or a void (8).")
    if claim.status != ClaimStatus.EXPORTED:
        raise ClaimError("Only an exported claim is corrected with a replacement or void; change this one directly.")
    with transaction.atomic():
        original = Claim.objects.select_for_update().get(pk=claim.pk)
        if original.corrections.exclude(status=ClaimStatus.VOID).filter(
                status__in=[ClaimStatus.NEEDS_REVIEW, ClaimStatus.APPROVED]).exists():
            raise ClaimError("A correction of this claim is already being worked: open it from the claim's history.")
        copy_fields = {f.attname: getattr(original, f.attname) for f in Claim._meta.concrete_fields
                       if f.attname not in ("id", "status", "version", "created_at", "updated_at", "exported_at",
                                            "reviewed_by_id", "reviewed_at", "ack_outcome", "ack_message", "ack_at",
                                            "override_reason", "rejection_reason", "pipeline_error", "recording_id")}
        correction = Claim.objects.create(**{**copy_fields, "frequency_code": frequency_code,
                                             "original_claim_id": original.pk, "recording_id": original.recording_id,
                                             "status": ClaimStatus.NEEDS_REVIEW})
        ClaimDiagnosis.objects.bulk_create([ClaimDiagnosis(claim=correction, position=d.position, code=d.code,
                                                           description=d.description, confidence=d.confidence,
                                                           rationale=d.rationale, evidence_json=d.evidence_json)
                                            for d in original.diagnoses.all()])
        ClaimLine.objects.bulk_create([ClaimLine(claim=correction, position=line.position, cpt=line.cpt,
                                                 modifiers=line.modifiers, units=line.units, charge=line.charge,
                                                 dx_pointers=line.dx_pointers, place_of_service=line.place_of_service,
                                                 confidence=line.confidence, rationale=line.rationale,
                                                 evidence_json=line.evidence_json, drug_json=line.drug_json,
                                                 levels=line.levels)
                                       for line in original.lines.all()])
        claim_check(claim=correction)
        _record(correction, action="created", author=membership.user,
                reason=f"{'Replacement' if frequency_code == '7' else 'Void'} of claim {original.number}.")
        audit_record(action="claim.correction", actor=membership.user, role=membership.role,
                     practice_id=correction.practice_id, obj=correction,
                     detail={"original": original.pk, "frequency": frequency_code})
    return correction


# --- history ------------------------------------------------------------------------------------------------

def _record(claim: Claim, *, action: str, author, reason: str | None, before: dict | None = None) -> ClaimRevision:
    after = revisions.snapshot(claim)
    last = claim.revisions.order_by("-number").first()
    if before is None and last is not None:
        before = json.loads(last.snapshot_json)
    number = (last.number if last else 0) + 1
    revision = ClaimRevision.objects.create(
        claim=claim, number=number, author=author, action=action, reason=reason or None,
        snapshot_json=json.dumps(after), changed_fields=", ".join(revisions.changed_fields(
            before if last is not None else None, after))[:400])
    if author is not None:
        audit_record(action=f"claim.{action}", actor=author, practice_id=claim.practice_id, obj=claim,
                     detail={"revision": number, "fields": revisions.changed_fields(before, after)})
    return revision


def revision_history(*, claim: Claim) -> list[dict]:
    """Each revision with its changes against the one before, newest first (for the history panel)."""
    rows = list(claim.revisions.select_related("author").order_by("number"))
    history, previous = [], None
    for row in rows:
        snap = json.loads(row.snapshot_json)
        history.append({"revision": row, "changes": revisions.diff(previous, snap)})
        previous = snap
    return list(reversed(history))
