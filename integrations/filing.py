"""Signed transcripts written back to the patient's chart in the EMR (where the connection files them).

A signature (or an addendum) of a patient imported from an EMR connection with `files_transcripts` on is queued
once (EMRDocument, after the signing transaction commits; the task gets the id only). The task files it as a
DocumentReference labelled as IamBilly's ("IamBilly signed dictation transcript"), LOINC 11504-8 (surgical
operation note), with the signer and the time of signing under the text. A temporary fault (timeout, 429,
5xx, open circuit) files again later, up to MAX_ATTEMPTS; a permanent one (the EMR refuses DocumentReference
writes, bad credentials) is recorded with its reason, for an admin to fix and file again.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django_q.models import Schedule
from django_q.tasks import async_task, schedule

from integrations.errors import EMRError
from integrations.models import EMRDocument, FilingStatus
from integrations.records import DocumentRecord
from integrations.services import adapter_for

logger = logging.getLogger(__name__)
MAX_ATTEMPTS = 4
RETRY_AFTER = (60, 300, 900)  # seconds before the 2nd, 3rd and 4th attempt
TITLE = "IamBilly signed dictation transcript"


def transcript_filing_enqueue(*, recording_id: int) -> list[int]:
    """Queue the latest signature of the recording for each EMR connection that files the patient's transcripts."""
    from audio.models import Recording, TranscriptSignature
    from patients.models import PatientEMRMap

    if not settings.USE_EMR:
        return []
    recording = Recording.objects.filter(pk=recording_id).select_related("patient").first()
    if recording is None:
        return []
    signature = TranscriptSignature.objects.filter(transcript__recording_id=recording_id).order_by("-sequence").first()
    if signature is None:
        return []
    maps = PatientEMRMap.objects.filter(patient_id=recording.patient_id, is_current=True,
                                        connection__is_enabled=True, connection__files_transcripts=True,
                                        connection__practice_id=recording.practice_id)
    queued = []
    for mapped in maps:
        document, created = EMRDocument.objects.get_or_create(connection_id=mapped.connection_id, signature=signature)
        if created:
            queued.append(document.pk)
            transaction.on_commit(lambda pk=document.pk: _enqueue(pk))
    return queued


def _enqueue(document_id: int, *, after_s: int = 0) -> None:
    if after_s:
        schedule("integrations.tasks.emr_document_file", document_id, schedule_type=Schedule.ONCE, repeats=1,
                 next_run=timezone.now() + dt.timedelta(seconds=after_s), name=f"emr-document-{document_id}-"
                 f"{timezone.now():%H%M%S%f}")
    else:
        async_task("integrations.tasks.emr_document_file", document_id, cluster="default",
                   task_name=f"emr-document-{document_id}-{timezone.now():%H%M%S%f}")


def document_record(signature) -> DocumentRecord:
    label = TITLE if signature.sequence == 1 else f"{TITLE} (addendum {signature.sequence - 1})"
    signed = timezone.localtime(signature.signed_at)
    text = (f"{signature.text}\n\n— Signed electronically by {signature.signer_name} on {signed:%Y-%m-%d %H:%M %Z}"
            f" in IamBilly ({signature.get_kind_display().lower()}; SHA-256 {signature.text_sha256[:16]}…).")
    return DocumentRecord(title=label, text=text, date=signature.signed_at, loinc_code="11504-8",
                          loinc_display="Surgical operation note")


def emr_document_file(*, document_id: int) -> str:
    """File one queued document; returns its status. Runs twice harmlessly (the start is a conditional update)."""
    from patients.models import PatientEMRMap

    started = EMRDocument.objects.filter(pk=document_id).filter(
        Q(status=FilingStatus.QUEUED) | Q(status=FilingStatus.FAILED)).update(status=FilingStatus.FILING)
    if not started:
        return "skipped"
    document = EMRDocument.objects.select_related("connection", "signature__transcript__recording").get(
        pk=document_id)
    recording = document.signature.transcript.recording
    mapped = PatientEMRMap.objects.filter(patient_id=recording.patient_id, connection=document.connection,
                                          is_current=True).first()
    attempts = document.attempts + 1
    try:
        if mapped is None:
            raise EMRError("The patient is no longer linked to a record in this EMR: import the patient again.",
                           permanent=True, reason="config")
        emr_id = adapter_for(document.connection).write_document(mapped.emr_id, document_record(document.signature))
    except EMRError as error:
        retry = not error.permanent and attempts < MAX_ATTEMPTS
        EMRDocument.objects.filter(pk=document_id).update(
            status=FilingStatus.QUEUED if retry else FilingStatus.FAILED, attempts=attempts,
            last_error=error.message[:500])
        logger.warning("emr document %s not filed (attempt %d, %s)", document_id, attempts, error.reason)
        if retry:
            _enqueue(document_id, after_s=RETRY_AFTER[attempts - 1])
            return "queued"
        return "failed"
    EMRDocument.objects.filter(pk=document_id).update(status=FilingStatus.FILED, attempts=attempts,
                                                      emr_document_id=emr_id[:200], last_error="",
                                                      filed_at=timezone.now())
    return "filed"


def emr_document_refile(*, document: EMRDocument) -> bool:
    """An admin files a failed document again (after fixing the connection)."""
    updated = EMRDocument.objects.filter(pk=document.pk, status=FilingStatus.FAILED).update(
        status=FilingStatus.QUEUED, attempts=0)
    if updated:
        transaction.on_commit(lambda: _enqueue(document.pk))
    return bool(updated)
