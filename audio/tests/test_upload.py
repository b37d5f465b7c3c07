"""Uploading dictations: content checks, dedupe, encryption at rest, playback by ranges, who may do what."""

import datetime as dt
import shutil
import subprocess
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from audio.models import Recording, RecordingStatus
from billy.models import AuditEvent
from billy.testing.pytest_plugin import PHI_CANARY

pytestmark = [pytest.mark.django_db,
              pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")]

SPOKEN = "Procedure: right L5 S1 microdiscectomy. The S1 nerve root was decompressed. No fusion."


@pytest.fixture(scope="module")
def wav_bytes(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("upload") / "dictation.wav"
    subprocess.run(["espeak-ng", "-s", "160", "-w", str(path), SPOKEN], check=True)
    return path.read_bytes()


@pytest.fixture(autouse=True)
def no_queue(monkeypatch):
    """These tests stop at the upload: the transcription task is exercised in test_transcription."""
    queued = []
    monkeypatch.setattr("audio.services.recording_enqueue", lambda *, recording_id: queued.append(recording_id))
    return queued


def upload(client, world, data: bytes, name: str = f"{PHI_CANARY} dictation.wav", day: str = "2026-06-01"):
    return client.post(f"/dictations/new/{world.patient.pk}/", {
        "date_of_service": day, "audio": SimpleUploadedFile(name, data, content_type="audio/wav")})


def test_a_physician_uploads_a_dictation_and_it_is_queued_once(world, client, wav_bytes, no_queue,
                                                                django_capture_on_commit_callbacks):
    client.force_login(world.physician)
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(client, world, wav_bytes)
    recording = Recording.objects.exclude(pk=world.recording.pk).get()
    assert response.status_code == 302 and response["Location"] == f"/dictations/{recording.pk}/"
    assert (recording.status, recording.format_label, recording.physician_id) == (
        RecordingStatus.UPLOADED, "WAV", world.physician.pk)
    assert 3 < recording.duration_s < 15
    assert no_queue == [recording.pk]
    assert AuditEvent.objects.filter(action="recording.upload", object_id=str(recording.pk)).exists()


def test_the_audio_is_stored_only_encrypted_and_its_name_too(world, client, wav_bytes):
    client.force_login(world.physician)
    upload(client, world, wav_bytes)
    recording = Recording.objects.exclude(pk=world.recording.pk).get()
    raw = Path(recording.audio.path).read_bytes()
    assert raw != wav_bytes and wav_bytes[44:4000] not in raw and b"RIFF" not in raw[:64]
    assert PHI_CANARY not in recording.audio.name
    with connection.cursor() as cursor:
        cursor.execute("SELECT original_name FROM audio_recording WHERE id = %s", [recording.pk])
        assert PHI_CANARY.lower() not in cursor.fetchone()[0].lower()
    with recording.audio.open("rb") as plain:
        assert plain.read() == wav_bytes


def test_a_flipped_byte_in_storage_is_detected_not_played(world, client, wav_bytes):
    client.force_login(world.physician)
    upload(client, world, wav_bytes)
    recording = Recording.objects.exclude(pk=world.recording.pk).get()
    path = Path(recording.audio.path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    refused = pytest.raises(Exception, match="(?i)tamper|authenticat|decrypt|integrity")
    with refused, recording.audio.open("rb") as plain:
        plain.read()


def test_the_same_file_for_the_same_encounter_is_recognised(world, client, wav_bytes):
    client.force_login(world.physician)
    first = upload(client, world, wav_bytes)
    again = upload(client, world, wav_bytes, name="copy.wav")
    assert again.status_code == 302 and again["Location"] == first["Location"]
    assert Recording.objects.exclude(pk=world.recording.pk).count() == 1
    other_day = upload(client, world, wav_bytes, day="2026-06-02")
    assert other_day.status_code == 302 and Recording.objects.exclude(pk=world.recording.pk).count() == 2


@pytest.mark.parametrize(("content", "message", "audited"), [
    (b"", "empty", False),  # the form refuses it before any decoding
    (b"%PDF-1.7\n" + b"0" * 4000, "not audio we can read", True),
])
def test_bad_files_are_refused_with_the_reason_and_nothing_is_stored(world, client, settings, content, message,
                                                                       audited):
    client.force_login(world.physician)
    response = upload(client, world, content, name="dictation.mp3")
    assert response.status_code == 400
    assert message in response.content.decode()
    assert Recording.objects.exclude(pk=world.recording.pk).count() == 0
    assert not list((Path(settings.DATA_DIR) / "tmp").glob("*.upload"))  # the spooled copy is gone too
    assert AuditEvent.objects.filter(action="recording.refused").exists() is audited


def test_an_oversized_upload_is_refused_while_it_streams(world, client, settings, wav_bytes):
    settings.BILLY_MAX_UPLOAD_MB = 1
    client.force_login(world.physician)
    response = upload(client, world, wav_bytes * 8)  # about 1.7 MB
    assert response.status_code == 413
    assert "larger than 1 MB" in response.content.decode()
    assert Recording.objects.exclude(pk=world.recording.pk).count() == 0


def test_a_future_date_of_service_is_refused(world, client, wav_bytes):
    client.force_login(world.physician)
    tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    response = upload(client, world, wav_bytes, day=tomorrow)
    assert response.status_code == 400 and "in the future" in response.content.decode()


def test_playback_serves_byte_ranges_and_audits_the_start(world, client, wav_bytes):
    client.force_login(world.physician)
    upload(client, world, wav_bytes)
    recording = Recording.objects.exclude(pk=world.recording.pk).get()
    url = f"/dictations/{recording.pk}/audio/"
    part = client.get(url, headers={"Range": "bytes=100-1123"})
    assert part.status_code == 206 and part["Content-Range"] == f"bytes 100-1123/{len(wav_bytes)}"
    assert b"".join(part.streaming_content) == wav_bytes[100:1124]
    tail = client.get(url, headers={"Range": "bytes=-10"})
    assert b"".join(tail.streaming_content) == wav_bytes[-10:]
    whole = client.get(url)
    assert whole.status_code == 200 and b"".join(whole.streaming_content) == wav_bytes
    assert client.get(url, headers={"Range": f"bytes={len(wav_bytes) + 5}-"}).status_code == 416
    assert AuditEvent.objects.filter(action="recording.play", object_id=str(recording.pk)).count() == 1


def test_who_may_see_and_upload(world, client, wav_bytes):
    client.force_login(world.physician)
    upload(client, world, wav_bytes)
    recording = Recording.objects.exclude(pk=world.recording.pk).get()
    for user, detail, audio, upload_status in (
        (world.biller, 200, 200, 404),     # billers work the dictations, but do not dictate
        (world.outsider, 404, 404, 404),   # another practice learns nothing
    ):
        client.force_login(user)
        assert client.get(f"/dictations/{recording.pk}/").status_code == detail
        assert client.get(f"/dictations/{recording.pk}/audio/").status_code == audio
        assert client.get(f"/dictations/new/{world.patient.pk}/").status_code == upload_status


def test_a_full_disk_while_storing_fails_cleanly_and_the_same_upload_works_later(world, client, wav_bytes,
                                                                                 settings, no_queue):
    """The operating system refuses to grow any file past the plaintext's size (RLIMIT_FSIZE), as a full disk
    would: the spooled plaintext fits, the encrypted copy does not."""
    import resource
    import signal

    client.force_login(world.physician)
    media = Path(settings.MEDIA_ROOT)
    before = {p for p in media.rglob("*") if p.is_file()} if media.exists() else set()
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead of a signal
    resource.setrlimit(resource.RLIMIT_FSIZE, (len(wav_bytes) + 1, hard))
    try:
        response = upload(client, world, wav_bytes)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)
    assert response.status_code == 400
    assert "could not be stored" in response.content.decode()
    assert not Recording.objects.exclude(pk=world.recording.pk).exists()
    after = {p for p in media.rglob("*") if p.is_file()}
    assert after == before, f"left behind: {sorted(map(str, after - before))}"  # no partial, no .part file
    assert not no_queue

    again = upload(client, world, wav_bytes)
    assert again.status_code == 302
    assert Recording.objects.exclude(pk=world.recording.pk).count() == 1
