import json
import re

from django.contrib import messages
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from audio import selectors, services
from audio.forms import DictationUploadForm
from audio.models import RecordingSource, RecordingStatus
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
    recordings = list(selectors.recordings_for(membership=membership)[:100])
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
               "working": recording.status in (RecordingStatus.UPLOADED, RecordingStatus.TRANSCRIBING)}
    template = "audio/detail.html#status" if request.htmx else "audio/detail.html"
    response = render(request, template, context)
    response["Vary"] = "HX-Request"
    return response


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
