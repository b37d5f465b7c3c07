"""Uploads are judged by their content: real speech made here with espeak-ng, re-encoded with PyAV."""

import io
import shutil
import subprocess
import wave
from pathlib import Path

import pytest

from audio.validation import AudioRejected, copy_limited, inspect_audio

DICTATION = "Procedure: left L4 L5 laminectomy with foraminotomy. No fusion was performed. Blood loss was minimal."

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                reason="espeak-ng is not installed (bin/bootstrap installs it)")


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("speech") / "dictation.wav"
    subprocess.run(["espeak-ng", "-s", "150", "-w", str(path), DICTATION], check=True)
    return path


def reencode(source: Path, target: Path, container: str, codec: str, rate: int = 48000) -> Path:
    import av

    with av.open(str(source)) as inp, av.open(str(target), "w", format=container) as out:
        stream = out.add_stream(codec, rate=rate)
        resampler = av.AudioResampler(format=stream.codec_context.format or "fltp", layout="mono", rate=rate)
        for frame in inp.decode(audio=0):
            for piece in resampler.resample(frame):
                for packet in stream.encode(piece):
                    out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return target


@pytest.mark.parametrize(("name", "container", "codec", "label"), [
    ("note.mp3", "mp3", "mp3", "MP3"),
    ("note.ogg", "ogg", "libopus", "Ogg"),
    ("note.webm", "webm", "libopus", "WebM"),
    ("note.flac", "flac", "flac", "FLAC"),
    ("note.m4a", "ipod", "aac", "M4A/MP4"),
])
def test_every_recording_format_is_read_with_its_real_duration(speech, tmp_path, name, container, codec, label):
    original = inspect_audio(speech)
    check = inspect_audio(reencode(speech, tmp_path / name, container, codec))
    assert check.format_label == label
    assert abs(check.duration_s - original.duration_s) < 0.2
    assert check.rms > 0.01


def test_a_wav_reports_its_codec_rate_size_and_hash(speech):
    check = inspect_audio(speech)
    assert (check.format_label, check.codec, check.channels) == ("WAV", "pcm_s16le", 1)
    assert 3.0 < check.duration_s < 12.0 and check.sample_rate == 22050
    assert check.size_bytes == speech.stat().st_size and len(check.sha256) == 64


def test_a_pdf_renamed_mp3_is_refused_as_not_audio(tmp_path):
    fake = tmp_path / "dictation.mp3"
    fake.write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n" + b"x" * 5000)
    with pytest.raises(AudioRejected) as caught:
        inspect_audio(fake)
    assert caught.value.reason == "not_audio" and "whatever its name says" in str(caught.value)


def test_an_empty_file_is_refused(tmp_path):
    empty = tmp_path / "empty.webm"
    empty.write_bytes(b"")
    with pytest.raises(AudioRejected, match="empty"):
        inspect_audio(empty)


def test_a_cut_off_file_is_called_truncated(speech, tmp_path):
    data = speech.read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(data[: len(data) // 3])  # the header still says the full length
    with pytest.raises(AudioRejected) as caught:
        inspect_audio(cut)
    assert caught.value.reason == "truncated" and "cut off" in str(caught.value)


def test_a_silent_recording_is_refused(tmp_path):
    silent = tmp_path / "silent.wav"
    with wave.open(str(silent), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(b"\x00\x00" * 16000 * 5)
    with pytest.raises(AudioRejected) as caught:
        inspect_audio(silent)
    assert caught.value.reason == "silent" and "microphone" in str(caught.value)


def test_a_recording_over_the_length_limit_is_refused(speech):
    with pytest.raises(AudioRejected) as caught:
        inspect_audio(speech, max_seconds=2)
    assert caught.value.reason == "too_long" and "limit is 0 minutes" in str(caught.value)


def test_an_oversized_upload_is_stopped_while_it_streams():
    source = io.BytesIO(b"\x01" * (3 * 1024 * 1024))
    target = io.BytesIO()
    with pytest.raises(AudioRejected) as caught:
        copy_limited(source, target, max_bytes=2 * 1024 * 1024, chunk=512 * 1024)
    assert caught.value.reason == "too_large"
    assert len(target.getvalue()) <= 2 * 1024 * 1024  # it never wrote past the limit


def test_the_streamed_copy_hashes_what_it_wrote(speech):
    target = io.BytesIO()
    size, digest = copy_limited(speech.open("rb"), target, max_bytes=10 * 1024 * 1024)
    assert size == speech.stat().st_size and target.getvalue() == speech.read_bytes()
    assert digest == inspect_audio(speech).sha256
