import json
import re

from django.contrib import messages
from django.db.models import Exists, OuterRef
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from audio import review, selectors, services
from audio.forms import DictationUploadForm
from audio.models import RecordingSource, RecordingStatus, TranscriptSignature
from audio.uploads import SizeLimitedUploadHandler
from billy.middleware import client_ip
from billy.models import Role
from billy.selectors import require_membership
from billy.services import BillyError
from patients.selectors import patient_get

ANY_ROLE = (Role.PHYSICIAN, Role.BILLER, Role.ADMIN)
_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")
_CHUNK = 64 * 1024


def dictation_list(request):
    membership = require_membership(request, *ANY_ROLE)
    recordings = list(selectors.recordings_for(membership=membership).annotate(
        signed=Exists(TranscriptSignature.objects.filter(transcript__recording=OuterRef("pk"))))[:100])
    pending = any(r.status in (RecordingStatus.UPLOADED, RecordingStatus.TRANSCRIBING) for r in recordings)
    template = "audio/list.html#rows" if request.htmx else "audio/list.html"
    response = render(request, template, {"recordings": recordings, "pending": pending})
    response["Vary"] = "HX-Request"
    return response


@csrf_exempt  # the upload handler must be set before the body is read; CSRF is checked just below
@require_http_methods(["GET", "POST"])
def dictation_upload(request, patient_id: int):
    request.upload_handlers = [SizeLimitedUploadHandler(request)]
    return _dictation_upload(request, patient_id)


@csrf_protect
def _dictation_upload(request, patient_id: int):
    membership = require_membership(request, Role.PHYSICIAN)
    patient = patient_get(membership=membership, patient_id=patient_id)
    form = DictationUploadForm(request.POST or None, request.FILES or None)
    status, refused = 200, None
    if request.method == "POST":
        refused = getattr(request, "upload_refused", None)
        if refused:
            form, status = DictationUploadForm(), 413
        elif form.is_valid():
            audio = form.cleaned_data["audio"]
            try:
                recording = services.recording_upload(
                    membership=membership, patient=patient, date_of_service=form.cleaned_data["date_of_service"],
                    upload=audio, original_name=audio.name,
                    source=form.cleaned_data["source"] or RecordingSource.UPLOAD)
            except services.DuplicateRecording as exc:
                messages.info(request, str(exc))
                return redirect("dictation_detail", recording_id=exc.existing_id)
            except BillyError as exc:
                form.add_error("audio", str(exc))
                status = 400
            else:
                messages.success(request, "Dictation received: it is being transcribed.")
                return redirect("dictation_detail", recording_id=recording.pk)
        else:
            status = 400
    return render(request, "audio/upload.html", {"form": form, "patient": patient, "refused": refused},
                  status=status)


def dictation_detail(request, recording_id: int):
    membership = require_membership(request, *ANY_ROLE)
    recording = selectors.recording_get(membership=membership, recording_id=recording_id)
    transcript = getattr(recording, "transcript", None) if recording.status == RecordingStatus.TRANSCRIBED else None
    words = _timed_words(transcript) if transcript else []
    context = {"recording": recording, "transcript": transcript, "words": words,
               "working": recording.status in (RecordingStatus.UPLOADED, RecordingStatus.TRANSCRIBING),
               "is_author": recording.physician_id == request.user.pk and membership.role == Role.PHYSICIAN,
               "may_request_addendum": membership.role in (Role.BILLER, Role.ADMIN),
               **_review_context(recording, transcript)}
    template = "audio/detail.html#status" if request.htmx else "audio/detail.html"
    response = render(request, template, context)
    response["Vary"] = "HX-Request"
    return response


def _review_context(recording, transcript) -> dict:
    from claims.pipeline import latest_coding

    changes = json.loads(transcript.changes_json or "[]") if transcript else []
    coding = latest_coding(recording=recording) if transcript else None
    claim = json.loads(coding.claim_json) if coding else None
    return {"state": review.review_state(transcript) if transcript else None, "changes": changes,
            "coding": coding, "claim": claim}


def dictation_review(request, recording_id: int):
    """The dictating physician reads the transcript, corrects it and signs it; once signed, adds addenda."""
    membership = require_membership(request, Role.PHYSICIAN)
    recording = selectors.recording_get(membership=membership, recording_id=recording_id)
    transcript = getattr(recording, "transcript", None) if recording.status == RecordingStatus.TRANSCRIBED else None
    status = 200
    if request.method == "POST":
        if transcript is None:
            messages.error(request, "The transcript is not ready yet.")
            return redirect("dictation_detail", recording_id=recording.pk)
        try:
            review.transcript_correct(membership=membership, transcript=transcript,
                                      text=request.POST.get("text", ""), version=_int(request.POST.get("version")))
        except review.ReviewError as exc:
            messages.error(request, str(exc))
            status = 409 if isinstance(exc, review.StaleTranscript) else 400
        else:
            messages.success(request, "Corrections saved. Sign when the text is right.")
            return redirect("dictation_review", recording_id=recording.pk)
    context = {"recording": recording, "transcript": transcript,
               "words": _timed_words(transcript) if transcript else [],
               "draft": request.POST.get("text") if request.method == "POST" else None,
               "attestation": review.ATTESTATION, "addendum_attestation": review.ADDENDUM_ATTESTATION,
               **_review_context(recording, transcript)}
    return render(request, "audio/review.html", context, status=status)


@require_POST
def dictation_sign(request, recording_id: int):
    membership = require_membership(request, Role.PHYSICIAN)
    recording = selectors.recording_get(membership=membership, recording_id=recording_id)
    transcript = getattr(recording, "transcript", None)
    try:
        if transcript is None:
            raise review.ReviewError("The transcript is not ready yet.")
        review.transcript_sign(membership=membership, transcript=transcript,
                               version=_int(request.POST.get("version")), password=request.POST.get("password", ""),
                               attested=request.POST.get("attest") == "yes", text=request.POST.get("text"))
    except review.ReviewError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Transcript signed.")
    return redirect("dictation_review", recording_id=recording.pk)


@require_POST
def dictation_addendum(request, recording_id: int):
    membership = require_membership(request, Role.PHYSICIAN)
    recording = selectors.recording_get(membership=membership, recording_id=recording_id)
    transcript = getattr(recording, "transcript", None)
    try:
        if transcript is None:
            raise review.ReviewError("The transcript is not ready yet.")
        review.transcript_addend(membership=membership, transcript=transcript,
                                 version=_int(request.POST.get("version")), text=request.POST.get("text", ""),
                                 reason=request.POST.get("reason", ""), password=request.POST.get("password", ""),
                                 attested=request.POST.get("attest") == "yes")
    except review.ReviewError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Addendum signed.")
    return redirect("dictation_review", recording_id=recording.pk)


@require_POST
def dictation_request_addendum(request, recording_id: int):
    membership = require_membership(request, Role.BILLER, Role.ADMIN)
    recording = selectors.recording_get(membership=membership, recording_id=recording_id)
    transcript = getattr(recording, "transcript", None)
    try:
        if transcript is None:
            raise review.ReviewError("The transcript is not ready yet.")
        review.transcript_request_addendum(membership=membership, transcript=transcript,
                                           reason=request.POST.get("reason", ""))
    except review.ReviewError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Addendum requested: it waits in the physician's inbox.")
    return redirect("dictation_detail", recording_id=recording.pk)


@require_GET
def signing_inbox(request):
    membership = require_membership(request, Role.PHYSICIAN)
    inbox = review.signing_inbox(membership=membership)
    return render(request, "audio/inbox.html", {"to_sign": list(inbox["to_sign"][:200]),
                                                "addenda": list(inbox["addenda"][:200])})


def _int(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


def _timed_words(transcript) -> list[dict]:
    words = []
    for segment in json.loads(transcript.segments_json or "[]"):
        for word in segment.get("words", []):
            words.append({**word, "low": word.get("probability", 1.0) < 0.5})
    return words


@require_POST
def dictation_retry(request, recording_id: int):
    membership = require_membership(request, *ANY_ROLE)
    recording = selectors.recording_get(membership=membership, recording_id=recording_id)
    try:
        services.recording_retry(membership=membership, recording=recording)
    except BillyError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Transcription queued again.")
    return redirect("dictation_detail", recording_id=recording.pk)


@require_GET
def dictation_audio(request, recording_id: int):
    """The decrypted audio for the player, by byte ranges so it can seek; each playback start is audited."""
    membership = require_membership(request, *ANY_ROLE)
    recording = selectors.recording_get(membership=membership, recording_id=recording_id)
    storage, name = recording.audio.storage, recording.audio.name
    size = storage.plaintext_size(name)
    start, end = 0, size - 1
    match = _RANGE.match(request.headers.get("Range", ""))
    if match and (match.group(1) or match.group(2)):
        if match.group(1):
            start = int(match.group(1))
            end = min(int(match.group(2)), size - 1) if match.group(2) else size - 1
        else:  # "bytes=-500": the last 500 bytes
            start = max(size - int(match.group(2)), 0)
        if start >= size or start > end:
            response = HttpResponse(status=416)
            response["Content-Range"] = f"bytes */{size}"
            return response
    if start == 0:
        services.recording_played(membership=membership, recording=recording, ip_address=client_ip(request))

    def chunks():
        position = start
        while position <= end:
            length = min(_CHUNK, end - position + 1)
            yield storage.read_range(name, position, length)
            position += length

    response = StreamingHttpResponse(chunks(), status=206 if match else 200,
                                     content_type=_MIME.get(recording.format_label, "application/octet-stream"))
    response["Content-Length"] = str(end - start + 1)
    response["Accept-Ranges"] = "bytes"
    if match:
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
    response["Cache-Control"] = "no-store"
    return response


_MIME = {"WAV": "audio/wav", "MP3": "audio/mpeg", "M4A/MP4": "audio/mp4", "Ogg": "audio/ogg", "WebM": "audio/webm",
         "FLAC": "audio/flac", "AAC": "audio/aac"}
