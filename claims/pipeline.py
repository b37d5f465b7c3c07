"""The pipeline after transcription: a transcript (and later its signed text) is coded into a claim draft.

`recording_code` is what the django-q2 task runs: it takes a recording id, reads the transcript's signed text
when there is one (else the text as transcribed, for a preview), and stores the engine's claim JSON once per
text. Safe to run twice: the second run finds the row for the same text and returns it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid

from django.db import IntegrityError, transaction
from django_q.tasks import async_task

from audio.evidence_time import timed_words
from audio.models import Recording, RecordingStatus
from audio.review import signed_text
from billing.coding import CodingContext, code_note
from billy.audit import audit_record
from claims.claim_json import PatientInfo, PayerInfo, claim_json, time_evidence
from claims.models import CodedTranscript
from claims.second_reading import second_read_enqueue
from claims.services import claim_from_coding, claim_pipeline_failed

log = logging.getLogger(__name__)


def recording_code_enqueue(*, recording_id: int) -> None:
    """Queue the coding on the default cluster; the task gets the id only (no PHI in task tables)."""
    async_task("claims.tasks.recording_code", recording_id,
               task_name=f"code-{recording_id}-{uuid.uuid4().hex[:8]}")


def recording_code(*, recording_id: int) -> CodedTranscript | None:
    """Code the recording's current text; None when there is no transcript to code."""
    recording = (Recording.objects.select_related("patient", "transcript").filter(pk=recording_id).first())
    if recording is None or recording.status != RecordingStatus.TRANSCRIBED or not hasattr(recording, "transcript"):
        return None
    transcript = recording.transcript
    signed = signed_text(transcript)
    text = signed if signed is not None else transcript.text
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    existing = CodedTranscript.objects.filter(recording=recording, text_sha256=digest,
                                              signed=signed is not None).first()
    if existing is not None:
        claim_from_coding(coded=existing)
        second_read_enqueue(coding=existing)  # once per text: a no-op when it was queued before
        return existing

    context, patient, payer, price = claim_parties(recording)
    started = time.perf_counter()
    try:
        result = code_note(text, context=context)
    except Exception as exc:  # the engine's bug must not lose the dictation: the claim says so, a biller retries
        log.exception("coding failed", extra={"recording_id": recording.pk})
        claim_pipeline_failed(recording_id=recording.pk,
                              message=f"The coding engine failed on this text ({type(exc).__name__}). Retry; if it "
                                      "fails again, code the claim by hand and report it.")
        return None
    elapsed_ms = int((time.perf_counter() - started) * 1000)
    claim = claim_json(result, transcript=text, context=context, patient=patient, payer=payer, price=price)
    claim["source"] = {"recording_id": recording.pk, "signed": signed is not None}
    # The words' times, found in the text coded (a physician's correction times what it kept).
    time_evidence(claim, timed_words(text, json.loads(transcript.segments_json or "[]")))
    try:
        with transaction.atomic():
            coded = CodedTranscript.objects.create(
                recording=recording, text_sha256=digest, signed=signed is not None,
                claim_json=json.dumps(claim, default=str),
                cpt_summary=", ".join(_line_label(line) for line in result.lines)[:400],
                icd_summary=", ".join(dx.code for dx in result.diagnoses)[:200],
                finding_count=len(result.findings), engine_ms=elapsed_ms)
            audit_record(action="recording.coded", practice_id=recording.practice_id, obj=recording,
                         detail={"coding_id": coded.pk, "lines": len(result.lines),
                                 "diagnoses": len(result.diagnoses), "signed": coded.signed})
            claim_from_coding(coded=coded)
            second_read_enqueue(coding=coded)  # the LLM second reader, after the draft exists (on commit)
    except IntegrityError:  # the same text coded by a concurrent run: keep the first
        return CodedTranscript.objects.get(recording=recording, text_sha256=digest, signed=signed is not None)
    log.info("recording coded", extra={"recording_id": recording.pk, "coding_id": coded.pk, "ms": elapsed_ms})
    return coded


def _line_label(line) -> str:
    label = line.cpt + "".join(f"-{m}" for m in line.modifiers)
    return f"{label} x{line.units}" if line.units > 1 else label


def claim_parties(recording: Recording):
    """The coding context and claim parties from the patient's coverage in force and the practice's fees."""
    from billing.selectors import fee_schedule_on
    from patients.selectors import coverage_in_force

    patient = recording.patient
    dos = recording.date_of_service
    primary = coverage_in_force(patient=patient, date_of_service=dos).primary
    payer_model = primary.payer if primary else None
    payer_type = "medicare" if payer_model and payer_model.payer_type == "medicare" else (
        "commercial" if payer_model else "medicare")
    payer_id = (payer_model.payer_id if payer_model and payer_model.payer_id else "MEDICARE").upper()
    context = CodingContext(payer_id=payer_id, payer_type=payer_type, place_of_service="22", date_of_service=dos)
    info = PatientInfo(name=patient.display_name, dob=patient.birth_date.isoformat() if patient.birth_date else None,
                       sex=patient.sex, member_id=(primary.member_id or "") if primary else "")
    payer = PayerInfo(name=payer_model.name if payer_model else "Medicare", payer_id=payer_id)
    price = fee_schedule_on(practice_id=recording.practice_id, date_of_service=dos).charge
    return context, info, payer, price


def latest_coding(*, recording: Recording) -> CodedTranscript | None:
    return recording.codings.order_by("-created_at", "-pk").first()
