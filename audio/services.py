"""Writes for dictations: upload (validated by content, deduplicated, stored encrypted), transcription, retry.

Every service checks the practice, writes its audit entry, and leaves nothing half-written: a failed upload
removes what it stored; a failed transcription leaves the recording in "failed" with a reason, ready to retry.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import tempfile
import uuid
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.core.files import File
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django_q.tasks import async_task

from audio.models import PracticeSpeechSettings, Recording, RecordingSource, RecordingStatus, Transcript
from audio.validation import AudioRejected, copy_limited, inspect_audio
from billy.audit import audit_record
from billy.models import Membership, Role
from billy.services import BillyError
from patients.models import Patient

log = logging.getLogger(__name__)


class DuplicateRecording(BillyError):
    """This very file was already uploaded for this patient and date of service."""

    def __init__(self, message: str, *, existing_id: int) -> None:
        super().__init__(message)
        self.existing_id = existing_id


def _temp_dir() -> Path:
    folder = Path(settings.DATA_DIR) / "tmp"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def recording_upload(*, membership: Membership, patient: Patient, date_of_service: dt.date, upload: BinaryIO,
                     original_name: str, source: str = RecordingSource.UPLOAD) -> Recording:
    """Store a physician's dictation: decoded to learn what it really is, refused with a reason if it is not a
    usable recording, recognised if it was uploaded before, encrypted at rest, then queued for transcription."""
    if membership.role != Role.PHYSICIAN:
        raise BillyError("Only physicians upload dictations.")
    if patient.practice_id != membership.practice_id:
        raise BillyError("This patient belongs to another practice.")
    if date_of_service > timezone.localdate():
        raise BillyError("The date of service is in the future: check the date.")
    with tempfile.NamedTemporaryFile(dir=_temp_dir(), suffix=".upload") as spooled:
        try:
            copy_limited(upload, spooled, max_bytes=settings.BILLY_MAX_UPLOAD_MB * 1024 * 1024)
            spooled.flush()
            check = inspect_audio(Path(spooled.name), max_seconds=settings.BILLY_MAX_AUDIO_MINUTES * 60,
                                  max_bytes=settings.BILLY_MAX_UPLOAD_MB * 1024 * 1024)
        except AudioRejected as exc:
            audit_record(action="recording.refused", actor=membership.user, role=membership.role,
                         practice_id=membership.practice_id, obj=patient, detail={"reason": exc.reason})
            raise BillyError(str(exc)) from exc
        existing = Recording.objects.filter(patient=patient, date_of_service=date_of_service,
                                            sha256=check.sha256).first()
        if existing is not None:
            raise DuplicateRecording("This recording was already uploaded for this patient and date of service: "
                                     "it is the dictation below, not a new one.", existing_id=existing.pk)
        recording = Recording(uuid=uuid.uuid4(), practice_id=membership.practice_id, patient=patient,
                              physician=membership.user, date_of_service=date_of_service, source=source,
                              original_name=(original_name or "")[:255] or None, sha256=check.sha256,
                              size_bytes=check.size_bytes, format_label=check.format_label, codec=check.codec,
                              duration_s=check.duration_s)
        spooled.seek(0)
        stored_name = None
        try:
            with transaction.atomic():
                recording.audio.save(f"{recording.uuid.hex}.audio", File(spooled), save=False)
                stored_name = recording.audio.name
                recording.save()
                audit_record(action="recording.upload", actor=membership.user, role=membership.role,
                             practice_id=membership.practice_id, obj=recording,
                             detail={"seconds": check.duration_s, "format": check.format_label})
        except IntegrityError as exc:  # the same file, uploaded twice at once: the other one won
            _remove(stored_name)
            twin = Recording.objects.filter(patient=patient, date_of_service=date_of_service,
                                            sha256=check.sha256).first()
            raise DuplicateRecording("This recording was just uploaded (twice at once): the first copy is kept.",
                                     existing_id=twin.pk if twin else 0) from exc
        except OSError as exc:
            _remove(stored_name)  # disk full, a read-only folder: nothing half-written stays behind
            log.error("dictation not stored", extra={"error": exc.__class__.__name__, "errno": exc.errno})
            raise BillyError("The dictation could not be stored: the server's disk is full or cannot be written. "
                             "Nothing was kept; upload it again later, or tell the practice admin.") from exc
        except Exception:
            _remove(stored_name)  # a key problem, a database error: nothing half-written stays behind
            raise
    transaction.on_commit(lambda: recording_enqueue(recording_id=recording.pk))
    return recording


def _remove(name: str | None) -> None:
    if name:
        from audio.models import encrypted_storage

        encrypted_storage.delete(name)


def recording_enqueue(*, recording_id: int) -> None:
    """Queue the transcription on the inference cluster. The task takes the id only (no PHI in task tables)."""
    async_task("audio.tasks.recording_transcribe", recording_id, cluster="inference",
               task_name=f"transcribe-{recording_id}-{uuid.uuid4().hex[:8]}")


def recording_retry(*, membership: Membership, recording: Recording) -> None:
    """A failed transcription is queued again by a physician or a biller of the practice."""
    if recording.practice_id != membership.practice_id:
        raise BillyError("This dictation belongs to another practice.")
    moved = Recording.objects.filter(pk=recording.pk, status=RecordingStatus.FAILED).update(
        status=RecordingStatus.UPLOADED, status_message="", progress_s=0, version=F("version") + 1)
    if not moved:
        raise BillyError("Only a failed transcription can be retried; this one is "
                         f"{recording.get_status_display().lower()}.")
    audit_record(action="recording.retry", actor=membership.user, role=membership.role,
                 practice_id=membership.practice_id, obj=recording)
    transaction.on_commit(lambda: recording_enqueue(recording_id=recording.pk))


# --- transcription --------------------------------------------------------------------------------------------

MAX_ATTEMPTS = 3


def recording_transcribe(*, recording_id: int) -> bool:
    """Transcribe one recording; safe to run twice. Returns whether a transcript was made by this call.

    The status guard is a conditional update: an uploaded or failed recording, or one left "transcribing" by a
    worker that died (the broker re-delivers the task), moves to "transcribing"; a transcribed one is left alone.
    """
    claimed = Recording.objects.filter(
        pk=recording_id, status__in=[RecordingStatus.UPLOADED, RecordingStatus.TRANSCRIBING, RecordingStatus.FAILED],
        attempts__lt=MAX_ATTEMPTS,
    ).update(status=RecordingStatus.TRANSCRIBING, attempts=F("attempts") + 1, progress_s=0, status_message="")
    if not claimed:
        return False
    recording = Recording.objects.get(pk=recording_id)
    try:
        result = _transcribe_audio(recording)
    except Exception as exc:  # the reason is for people; the traceback stays in the worker log without PHI
        log.exception("transcription failed", extra={"recording_id": recording_id})
        Recording.objects.filter(pk=recording_id).update(
            status=RecordingStatus.FAILED, status_message=_failure_message(exc))
        return False
    with transaction.atomic():
        Transcript.objects.update_or_create(recording=recording, defaults={
            "text": result.text, "machine_text": result.text, "segments_json": json.dumps(result.segments_as_json()),
            "changes_json": json.dumps(result.changes_as_json()), "model_name": result.model_name,
            "device": result.device,
            "real_time_factor": result.real_time_factor})
        Recording.objects.filter(pk=recording_id).update(status=RecordingStatus.TRANSCRIBED,
                                                         progress_s=recording.duration_s, status_message="")
        audit_record(action="recording.transcribed", practice_id=recording.practice_id, obj=recording,
                     detail={"model": result.model_name, "seconds": recording.duration_s})
    recording_transcribed(recording_id=recording_id)
    return True


def _transcribe_audio(recording: Recording):
    """Decrypt to a private temporary file, transcribe with progress; the spine normaliser runs inside."""
    from audio import speech

    last = [0.0]

    def progress(done_s: float, total_s: float) -> None:
        if done_s - last[0] >= 5 or done_s >= total_s:  # a write every few seconds of audio, not every word
            last[0] = done_s
            Recording.objects.filter(pk=recording.pk).update(progress_s=min(done_s, recording.duration_s))

    with tempfile.NamedTemporaryFile(dir=_temp_dir(), suffix=".audio") as plain:
        with recording.audio.open("rb") as decrypted:
            for block in iter(lambda: decrypted.read(1 << 20), b""):
                plain.write(block)
        plain.flush()
        return speech.transcribe(Path(plain.name), on_progress=progress,
                                 hotwords=hotwords_for(practice_id=recording.practice_id))


def hotwords_for(*, practice_id: int) -> str | None:
    """The practice's own hotwords from the admin, or None for IamBilly's spine vocabulary."""
    own = PracticeSpeechSettings.objects.filter(practice_id=practice_id).first()
    words = " ".join((own.hotwords if own else "").split())
    return words or None


def _failure_message(exc: Exception) -> str:
    name = exc.__class__.__name__
    if "Decrypt" in name or "Crypto" in name:
        return ("The stored audio could not be decrypted: the file is damaged or a key is wrong. Ask the practice "
                "admin to restore it from the backup or check BILLY_FILE_MASTER_KEYS, then retry. Nothing was changed.")
    if isinstance(exc, MemoryError):
        return "The transcription ran out of memory: retry later, or ask the admin to add memory to the worker."
    return f"The transcription stopped ({name}). Retry it; if it fails again, ask the practice admin."


def recording_transcribed(*, recording_id: int) -> None:
    """The hand-off point of the pipeline: a transcript is ready, or its text was signed or amended. The coding
    step (claims.pipeline) is queued with the recording's id; it codes the signed text when there is one."""
    from claims.pipeline import recording_code_enqueue

    log.info("transcript ready", extra={"recording_id": recording_id})
    transaction.on_commit(lambda: recording_code_enqueue(recording_id=recording_id))


def recording_played(*, membership: Membership, recording: Recording, ip_address: str | None) -> None:
    audit_record(action="recording.play", actor=membership.user, role=membership.role,
                 practice_id=membership.practice_id, obj=recording, ip_address=ip_address)
