"""Physician review and signature of a transcript: billing from text the physician never saw is a compliance
problem, so the text a claim rests on is the text its physician read, corrected and signed.

- The dictating physician corrects the transcript (optimistic locking: an edit made from a page older than the
  last change is refused, never merged silently) and signs it: an attestation with the printed name, the time
  and the exact text, confirmed with the physician's password. Signature rows are immutable (a database trigger
  refuses UPDATE and DELETE).
- A signed text is not edited again. A later change is an addendum: the new whole text, the reason, signed the
  same way; the transcript's text becomes the addendum's.
- A biller or admin who finds the signed text wrong or short asks for an addendum; the request waits in the
  physician's inbox until an addendum is signed.

Audit entries name the transcript and counts, never the text.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone

from audio.models import Recording, RecordingStatus, SignatureKind, Transcript, TranscriptSignature
from audio.selectors import recordings_for
from billy.audit import audit_record
from billy.models import Membership, Role
from billy.services import BillyError

MAX_TEXT_CHARS = 60_000  # a long operative note is ~15 000 characters; this refuses pastes of whole charts
MAX_REASON_CHARS = 1_000
ATTESTATION = ("I have reviewed this transcript of my dictation and attest that it accurately documents the "
               "services I performed on the date of service.")
ADDENDUM_ATTESTATION = ("I have reviewed this addendum to my signed transcript and attest that the text as amended "
                        "accurately documents the services I performed on the date of service.")


class ReviewError(BillyError):
    """A review or signing step that cannot be done; the message says why and what to do."""


class StaleTranscript(ReviewError):
    """The transcript changed after the page was opened (another tab, an addendum)."""


@dataclass(frozen=True)
class ReviewState:
    signed: bool
    signature: TranscriptSignature | None      # the first signature
    addenda: list[TranscriptSignature]
    addendum_requested: bool

    @property
    def label(self) -> str:
        if self.addendum_requested:
            return "Addendum requested" if self.signed else "Waiting for the signature; the biller sent a note"
        if self.addenda:
            return f"Signed, {len(self.addenda)} addend{'um' if len(self.addenda) == 1 else 'a'}"
        return "Signed" if self.signed else "Waiting for the physician's signature"


def review_state(transcript: Transcript) -> ReviewState:
    signatures = list(transcript.signatures.all())
    first = next((s for s in signatures if s.kind == SignatureKind.SIGNATURE), None)
    return ReviewState(signed=first is not None, signature=first,
                       addenda=[s for s in signatures if s.kind == SignatureKind.ADDENDUM],
                       addendum_requested=transcript.addendum_requested_at is not None)


def is_signed(transcript: Transcript) -> bool:
    return transcript.signatures.exists()


def signed_text(transcript: Transcript) -> str | None:
    """The text as last signed (signature or latest addendum): what a claim may rest on. None if unsigned."""
    latest = transcript.signatures.order_by("-sequence").first()
    return latest.text if latest else None


def text_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- who may do what ------------------------------------------------------------------------------------------

def _own_transcript(membership: Membership, transcript: Transcript) -> Recording:
    recording = transcript.recording
    if recording.practice_id != membership.practice_id:
        raise ReviewError("This dictation belongs to another practice.")
    if membership.role != Role.PHYSICIAN or recording.physician_id != membership.user_id:
        raise ReviewError("Only the physician who dictated this note may correct or sign its transcript.")
    if recording.status != RecordingStatus.TRANSCRIBED:
        raise ReviewError("The transcript is not ready yet.")
    return recording


def _clean_text(text: str) -> str:
    text = (text or "").replace("\r\n", "\n").strip()
    if not text:
        raise ReviewError("The transcript cannot be empty: dictate again if the recording is unusable.")
    if len(text) > MAX_TEXT_CHARS:
        raise ReviewError(f"The transcript is {len(text):,} characters long; the limit is {MAX_TEXT_CHARS:,}.")
    return text


def _check_version(transcript: Transcript, version: int) -> None:
    if transcript.version != version:
        raise StaleTranscript("The transcript changed after you opened it (in another tab or window). Your text "
                              "was not saved: reload the page, then make your change again.")


def _confirm(membership: Membership, *, password: str, attested: bool) -> None:
    if not attested:
        raise ReviewError("Tick the attestation to sign.")
    if not password or not membership.user.check_password(password):
        raise ReviewError("The password is not right: the signature was not made.")


def _locked(transcript: Transcript) -> Transcript:
    return Transcript.objects.select_for_update().select_related("recording").get(pk=transcript.pk)


# --- the physician's steps ------------------------------------------------------------------------------------

def transcript_correct(*, membership: Membership, transcript: Transcript, text: str, version: int) -> Transcript:
    """Save the physician's corrections to an unsigned transcript."""
    text = _clean_text(text)
    with transaction.atomic():
        current = _locked(transcript)
        _own_transcript(membership, current)
        _check_version(current, version)
        if current.signatures.exists():
            raise ReviewError("This transcript is signed: a change now needs a signed addendum.")
        if text == current.text:
            return current
        changed = sum(1 for a, b in zip(current.text.split(), text.split(), strict=False) if a != b) + abs(
            len(current.text.split()) - len(text.split()))
        Transcript.objects.filter(pk=current.pk).update(text=text, edited_by=membership.user,
                                                        edited_at=timezone.now(), version=F("version") + 1)
        audit_record(action="transcript.corrected", actor=membership.user, role=membership.role,
                     practice_id=membership.practice_id, obj=current, detail={"words_changed": changed})
    current.refresh_from_db()
    return current


def transcript_sign(*, membership: Membership, transcript: Transcript, version: int, password: str,
                    attested: bool, text: str | None = None) -> TranscriptSignature:
    """Sign the transcript as it stands (with the corrections in `text`, if given, saved first)."""
    _confirm(membership, password=password, attested=attested)
    if text is not None:
        transcript = transcript_correct(membership=membership, transcript=transcript, text=text, version=version)
        version = transcript.version
    with transaction.atomic():
        current = _locked(transcript)
        _own_transcript(membership, current)
        _check_version(current, version)
        if current.signatures.exists():
            raise ReviewError("This transcript is already signed: a change now needs a signed addendum.")
        signature = TranscriptSignature.objects.create(
            transcript=current, sequence=1, kind=SignatureKind.SIGNATURE, text=current.text,
            text_sha256=text_digest(current.text), signer=membership.user,
            signer_name=membership.user.get_full_name(), attestation=ATTESTATION)
        # A biller's note before signing has been read and answered by the signed text.
        Transcript.objects.filter(pk=current.pk).update(addendum_requested_by=None, addendum_requested_at=None,
                                                        addendum_request_reason=None)
        audit_record(action="transcript.signed", actor=membership.user, role=membership.role,
                     practice_id=membership.practice_id, obj=current, detail={"signature_id": signature.pk})
        recording_id = current.recording_id
        transaction.on_commit(lambda: transcript_signed(recording_id=recording_id))
    return signature


def transcript_addend(*, membership: Membership, transcript: Transcript, version: int, text: str, reason: str,
                      password: str, attested: bool) -> TranscriptSignature:
    """A signed addendum: the whole amended text and why; it becomes the transcript's text."""
    text = _clean_text(text)
    reason = (reason or "").strip()
    if not reason:
        raise ReviewError("Say why the signed transcript is amended (the reason is kept with the addendum).")
    if len(reason) > MAX_REASON_CHARS:
        raise ReviewError(f"The reason is limited to {MAX_REASON_CHARS:,} characters.")
    _confirm(membership, password=password, attested=attested)
    with transaction.atomic():
        current = _locked(transcript)
        _own_transcript(membership, current)
        _check_version(current, version)
        last = current.signatures.order_by("-sequence").first()
        if last is None:
            raise ReviewError("This transcript is not signed yet: correct it and sign it instead.")
        if text == last.text:
            raise ReviewError("The addendum text is the same as the signed text: change the text, then sign.")
        signature = TranscriptSignature.objects.create(
            transcript=current, sequence=last.sequence + 1, kind=SignatureKind.ADDENDUM, text=text,
            text_sha256=text_digest(text), reason=reason, signer=membership.user,
            signer_name=membership.user.get_full_name(), attestation=ADDENDUM_ATTESTATION)
        Transcript.objects.filter(pk=current.pk).update(
            text=text, edited_by=membership.user, edited_at=timezone.now(), version=F("version") + 1,
            addendum_requested_by=None, addendum_requested_at=None, addendum_request_reason=None)
        audit_record(action="transcript.addendum_signed", actor=membership.user, role=membership.role,
                     practice_id=membership.practice_id, obj=current,
                     detail={"signature_id": signature.pk, "sequence": signature.sequence})
        recording_id = current.recording_id
        transaction.on_commit(lambda: transcript_signed(recording_id=recording_id))
    return signature


# --- the biller's step ----------------------------------------------------------------------------------------

def transcript_request_addendum(*, membership: Membership, transcript: Transcript, reason: str) -> None:
    """A biller or admin asks the physician to amend a signed transcript (e.g. a level or side not stated)."""
    recording = transcript.recording
    if recording.practice_id != membership.practice_id:
        raise ReviewError("This dictation belongs to another practice.")
    if membership.role not in (Role.BILLER, Role.ADMIN):
        raise ReviewError("Only a biller or an admin of the practice asks for an addendum.")
    reason = (reason or "").strip()
    if not reason:
        raise ReviewError("Say what the physician should add or correct.")
    if len(reason) > MAX_REASON_CHARS:
        raise ReviewError(f"The request is limited to {MAX_REASON_CHARS:,} characters.")
    with transaction.atomic():
        current = _locked(transcript)
        if not current.signatures.exists():
            raise ReviewError("The transcript is not signed yet: the physician can still correct it before "
                              "signing; no addendum is needed.")
        Transcript.objects.filter(pk=current.pk).update(
            addendum_requested_by=membership.user, addendum_requested_at=timezone.now(),
            addendum_request_reason=reason)
        audit_record(action="transcript.addendum_requested", actor=membership.user, role=membership.role,
                     practice_id=membership.practice_id, obj=current)


def transcript_note_before_signing(*, membership: Membership, transcript: Transcript, reason: str) -> None:
    """A biller sends a claim back before the physician signed: their reason waits on the To sign row, so the
    physician corrects the text before signing it (the signature clears the note)."""
    recording = transcript.recording
    if recording.practice_id != membership.practice_id or membership.role not in (Role.BILLER, Role.ADMIN):
        raise ReviewError("Only a biller or an admin of the practice writes to the physician about a transcript.")
    reason = (reason or "").strip()
    if not reason or len(reason) > MAX_REASON_CHARS:
        raise ReviewError(f"Say what the physician should check (at most {MAX_REASON_CHARS:,} characters).")
    with transaction.atomic():
        current = _locked(transcript)
        if current.signatures.exists():
            raise ReviewError("The transcript is signed: ask for an addendum instead.")
        Transcript.objects.filter(pk=current.pk).update(
            addendum_requested_by=membership.user, addendum_requested_at=timezone.now(),
            addendum_request_reason=reason)
        audit_record(action="transcript.note_before_signing", actor=membership.user, role=membership.role,
                     practice_id=membership.practice_id, obj=current)


# --- the pipeline and the inbox -------------------------------------------------------------------------------

def transcript_signed(*, recording_id: int) -> None:
    """The hand-off point after a signature or an addendum: the signed text is what the claim rests on."""
    from audio.services import recording_transcribed
    from integrations.filing import transcript_filing_enqueue

    recording_transcribed(recording_id=recording_id)
    # The signed text goes to the patient's chart too, where the practice's EMR connection files transcripts.
    transcript_filing_enqueue(recording_id=recording_id)


def signing_inbox(*, membership: Membership) -> dict[str, QuerySet[Recording]]:
    """A physician's work: transcripts to sign, and signed ones a biller sent back for an addendum."""
    if membership.role != Role.PHYSICIAN:
        return {"to_sign": Recording.objects.none(), "addenda": Recording.objects.none()}
    signed = TranscriptSignature.objects.filter(transcript__recording=OuterRef("pk"))
    own = recordings_for(membership=membership).filter(status=RecordingStatus.TRANSCRIBED).select_related(
        "transcript")
    return {
        "to_sign": own.filter(~Exists(signed)).order_by("date_of_service", "created_at"),
        "addenda": own.filter(Exists(signed), Q(transcript__addendum_requested_at__isnull=False)).order_by(
            "transcript__addendum_requested_at"),
    }
