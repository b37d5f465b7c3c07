"""Transcription of uploaded dictations with the real Whisper model, in the service and through a real worker."""

import json
import shutil
import subprocess

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from audio import services
from audio.models import Recording, RecordingStatus, Transcript
from billy.models import AuditEvent
from billy.testing.processes import running_cluster, wait_for

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")

# Said the way surgeons say levels ("L four L five"); the normaliser must write it back as L4-L5.
SPOKEN = ("Procedure: decompressive laminectomy, L four L five, with bilateral foraminotomies. "
          "No fusion was performed. There was no dural tear.")


@pytest.fixture(scope="module")
def wav_bytes(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("speech") / "dictation.wav"
    subprocess.run(["espeak-ng", "-s", "150", "-w", str(path), SPOKEN], check=True)
    return path.read_bytes()


def _upload(world, data: bytes) -> Recording:
    membership = world.physician.memberships.get()
    import datetime as dt

    return services.recording_upload(membership=membership, patient=world.patient,
                                     date_of_service=dt.date(2026, 6, 1),
                                     upload=SimpleUploadedFile("d.wav", data), original_name="d.wav")


@pytest.mark.django_db
def test_the_service_transcribes_once_with_timed_words_and_levels_written_canonically(world, wav_bytes, settings,
                                                                                      monkeypatch):
    settings.WHISPER_MODEL = "base"  # the default model, once; the other tests use tiny.en for speed
    monkeypatch.setattr("audio.services.recording_enqueue", lambda *, recording_id: None)
    recording = _upload(world, wav_bytes)
    assert services.recording_transcribe(recording_id=recording.pk) is True
    assert services.recording_transcribe(recording_id=recording.pk) is False  # a second delivery changes nothing
    recording.refresh_from_db()
    transcript = Transcript.objects.get(recording=recording)
    assert recording.status == RecordingStatus.TRANSCRIBED and recording.progress_percent == 100
    text = transcript.text.lower()
    assert "laminectomy" in text and "l4-l5" in text and "fusion" in text
    words = [w for segment in json.loads(transcript.segments_json) for w in segment["words"]]
    starts = [w["start"] for w in words]
    assert starts == sorted(starts) and starts[0] >= 0 and words[-1]["end"] <= recording.duration_s + 0.5
    assert transcript.model_name == "base"
    assert AuditEvent.objects.filter(action="recording.transcribed", object_id=str(recording.pk)).count() == 1


@pytest.mark.django_db
def test_a_transcription_that_cannot_decrypt_fails_with_a_reason_and_can_be_retried(world, wav_bytes, settings,
                                                                                    monkeypatch):
    from pathlib import Path

    settings.WHISPER_MODEL = "tiny.en"
    queued = []
    monkeypatch.setattr("audio.services.recording_enqueue", lambda *, recording_id: queued.append(recording_id))
    recording = _upload(world, wav_bytes)
    path = Path(recording.audio.path)
    original = path.read_bytes()
    damaged = bytearray(original)
    damaged[len(damaged) // 2] ^= 0xFF
    path.write_bytes(bytes(damaged))
    assert services.recording_transcribe(recording_id=recording.pk) is False
    recording.refresh_from_db()
    assert recording.status == RecordingStatus.FAILED and "retry" in recording.status_message
    assert not Transcript.objects.filter(recording=recording).exists()
    path.write_bytes(original)  # the admin restores the file from backup
    services.recording_retry(membership=world.biller.memberships.get(), recording=recording)
    assert services.recording_transcribe(recording_id=recording.pk) is True


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_an_uploaded_dictation_is_transcribed_by_the_inference_worker(transactional_world, wav_bytes, client):
    world = transactional_world
    client.force_login(world.physician)
    response = client.post(f"/dictations/new/{world.patient.pk}/", {
        "date_of_service": "2026-06-01", "audio": SimpleUploadedFile("d.wav", wav_bytes, content_type="audio/wav")})
    recording = Recording.objects.exclude(pk=world.recording.pk).get()
    assert response["Location"] == f"/dictations/{recording.pk}/"
    with running_cluster("inference", WHISPER_MODEL="tiny.en"):
        wait_for(lambda: Recording.objects.filter(pk=recording.pk, status__in=["transcribed", "failed"]).exists(),
                 timeout=120)
    recording.refresh_from_db()
    assert recording.status == RecordingStatus.TRANSCRIBED, recording.status_message
    page = client.get(f"/dictations/{recording.pk}/").content.decode()
    assert "laminectomy" in page.lower() and 'class="word' in page


@pytest.mark.django_db
def test_a_practice_can_give_its_own_hotwords_and_blank_means_the_spine_vocabulary(world):
    from audio.models import PracticeSpeechSettings

    assert services.hotwords_for(practice_id=world.practice.pk) is None
    PracticeSpeechSettings.objects.create(practice=world.practice, hotwords="  Mazor,\n  Globus Creo,  Okafor ")
    assert services.hotwords_for(practice_id=world.practice.pk) == "Mazor, Globus Creo, Okafor"
    assert services.hotwords_for(practice_id=world.other_practice.pk) is None


LONG_DICTATION = " ".join([
    "Procedure: decompressive laminectomy, L three L four and L four L five, with bilateral foraminotomies.",
    "The patient was placed prone on the Jackson table and the back was prepped and draped.",
    "A midline incision was made and the paraspinal muscles were elevated off the laminae.",
    "The levels were confirmed with fluoroscopy.",
    "The laminae of L three and L four were removed with the drill and Kerrison rongeurs.",
    "The ligamentum flavum was resected and the thecal sac was decompressed.",
    "Foraminotomies were performed bilaterally at both levels and the nerve roots were free.",
    "There was no dural tear. Hemostasis was obtained and the wound was irrigated.",
    "The fascia was closed with interrupted sutures and the skin with staples.",
] * 3)


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_a_worker_killed_mid_transcription_is_redelivered_and_finishes_once(transactional_world, tmp_path):
    from billy.testing.processes import kill_cluster

    path = tmp_path / "long.wav"
    subprocess.run(["espeak-ng", "-s", "150", "-w", str(path), LONG_DICTATION], check=True)
    recording = _upload(transactional_world, path.read_bytes())
    assert recording.duration_s > 60
    fast_redelivery = {"WHISPER_MODEL": "tiny.en", "BILLY_INFERENCE_TIMEOUT_S": "20", "BILLY_INFERENCE_RETRY_S": "25"}
    services.recording_enqueue(recording_id=recording.pk)
    with running_cluster("inference", **fast_redelivery) as cluster:
        # Killed while it works: the first progress report is written after 5 s of audio, long before the end.
        wait_for(lambda: Recording.objects.filter(pk=recording.pk, progress_s__gt=0).exists(), timeout=120,
                 interval=0.05)
        kill_cluster(cluster)
    recording.refresh_from_db()
    assert recording.status == RecordingStatus.TRANSCRIBING and recording.attempts == 1
    assert not Transcript.objects.filter(recording=recording).exists()

    with running_cluster("inference", **fast_redelivery):
        # The broker hands the unacknowledged task out again after the retry time; the status guard takes it.
        wait_for(lambda: Recording.objects.filter(pk=recording.pk, status="transcribed").exists(), timeout=150)
    recording.refresh_from_db()
    assert recording.attempts == 2 and recording.status == RecordingStatus.TRANSCRIBED
    [transcript] = Transcript.objects.filter(recording=recording)
    assert "laminectomy" in transcript.text.lower() and "L4-L5" in transcript.text
