"""What an uploaded dictation really is, learned from its content, never from its name.

PyAV (FFmpeg, which faster-whisper brings) opens the file and decodes it: the container and codec it finds,
the duration, and whether there is any sound. Every refusal says what is wrong in words a physician
understands, and what to do. Pure module: a path in, an `AudioCheck` or an `AudioRejected` out.

Size is enforced while the upload streams (`copy_limited`), so a 2 GB file is refused after the first
200 MB, not after it has filled the disk.
"""

from __future__ import annotations

import hashlib
import math
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

# Containers a browser or a phone records, as FFmpeg names them, and the label we show.
ACCEPTED_FORMATS = {
    "wav": "WAV", "mp3": "MP3", "mov,mp4,m4a,3gp,3g2,mj2": "M4A/MP4", "ogg": "Ogg", "matroska,webm": "WebM",
    "flac": "FLAC", "aac": "AAC",
}
ACCEPTED_SUFFIXES = (".wav", ".mp3", ".m4a", ".mp4", ".ogg", ".oga", ".opus", ".webm", ".flac", ".aac")
# Below this RMS (in full scale, about -60 dBFS) over the whole file, nothing was said.
SILENCE_RMS = 0.001


class AudioRejected(ValueError):
    """The upload is not a dictation we can transcribe; `reason` is a stable code, the message is for people."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class AudioCheck:
    format_name: str        # what FFmpeg found: "wav", "mp3", "matroska,webm" ...
    format_label: str       # "WAV", "WebM" ...
    codec: str              # "pcm_s16le", "opus", "aac" ...
    duration_s: float
    sample_rate: int
    channels: int
    size_bytes: int
    sha256: str
    rms: float              # loudness over the decoded audio, 0..1 full scale


def copy_limited(source: BinaryIO, target: BinaryIO, *, max_bytes: int, chunk: int = 1 << 20) -> tuple[int, str]:
    """Copy an upload while counting: refuse as soon as it passes `max_bytes`. Returns (size, sha256)."""
    digest = hashlib.sha256()
    size = 0
    while True:
        block = source.read(chunk)
        if not block:
            break
        size += len(block)
        if size > max_bytes:
            raise AudioRejected("too_large", f"The file is larger than {max_bytes // (1024 * 1024)} MB. Split the "
                                             "dictation, or record it again at a lower quality.")
        digest.update(block)
        target.write(block)
    return size, digest.hexdigest()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def inspect_audio(path: Path, *, max_seconds: float = 1800.0, max_bytes: int = 200 * 1024 * 1024) -> AudioCheck:
    """Open and decode the whole file; refuse what is empty, not audio, damaged, silent or too long."""
    import av

    size = path.stat().st_size
    if size == 0:
        raise AudioRejected("empty", "The file is empty: nothing was recorded. Record or choose the file again.")
    if size > max_bytes:
        raise AudioRejected("too_large", f"The file is larger than {max_bytes // (1024 * 1024)} MB.")
    try:
        container = av.open(str(path), mode="r")
    except av.error.FFmpegError as exc:
        raise AudioRejected("not_audio", "This file is not audio we can read (its content is not a known sound "
                                         "format, whatever its name says). Upload WAV, MP3, M4A, Ogg, WebM or "
                                         "FLAC.") from exc
    with container:
        format_name = container.format.name
        streams = [s for s in container.streams if s.type == "audio"]
        if not streams:
            raise AudioRejected("no_audio_stream", "The file holds no sound track (a video or an image?). Upload "
                                                   "the dictation's audio.")
        if format_name not in ACCEPTED_FORMATS:
            raise AudioRejected("wrong_format", f"The file is {container.format.long_name}, not a dictation format. "
                                                "Upload WAV, MP3, M4A, Ogg, WebM or FLAC.")
        stream = streams[0]
        declared = _wav_header_duration(path) if format_name == "wav" else _declared_duration(container, stream)
        if declared is not None and declared > max_seconds:
            raise AudioRejected("too_long", _too_long(declared, max_seconds))
        decoded_s, rms = _decode(container, stream, max_seconds=max_seconds)
    duration = max(decoded_s, 0.0)
    if duration < 0.3:
        raise AudioRejected("truncated" if size > 4096 else "empty",
                            "The recording holds no usable sound (it may have been cut off while saving). Record or "
                            "upload it again.")
    if declared is not None and declared > 2.0 and decoded_s < declared * 0.5:
        raise AudioRejected("truncated", f"The file stops after {decoded_s:.0f} s although it says it lasts "
                                         f"{declared:.0f} s: it was cut off. Upload the complete file.")
    if rms < SILENCE_RMS:
        raise AudioRejected("silent", "The recording is silent: check the microphone and record again.")
    return AudioCheck(format_name=format_name, format_label=ACCEPTED_FORMATS[format_name],
                      codec=stream.codec_context.name, duration_s=round(duration, 2),
                      sample_rate=stream.codec_context.sample_rate or 0, channels=stream.codec_context.channels or 0,
                      size_bytes=size, sha256=sha256_of(path), rms=round(rms, 5))


def _too_long(seconds: float, limit: float) -> str:
    return (f"The recording lasts {seconds / 60:.0f} minutes; the limit is {limit / 60:.0f} minutes. Split it into "
            "shorter dictations.")


def _wav_header_duration(path: Path) -> float | None:
    """A WAV header states its length; FFmpeg instead trusts the file size, so a cut file looks whole to it."""
    import wave

    try:
        with wave.open(str(path), "rb") as header:
            return header.getnframes() / header.getframerate() if header.getframerate() else None
    except (wave.Error, EOFError):
        return None  # a WAV codec the wave module does not read (float, ADPCM): rely on decoding


def _declared_duration(container, stream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000
    return None


def _decode(container, stream, *, max_seconds: float) -> tuple[float, float]:
    """Decode every frame: the real duration (a damaged file stops early) and the RMS loudness."""
    import av

    total_samples = 0
    sum_squares = 0.0
    rate = stream.codec_context.sample_rate or 16000
    resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
    try:
        for frame in container.decode(stream):
            for mono in resampler.resample(frame):
                samples = array("f", bytes(mono.planes[0])[: mono.samples * 4])
                total_samples += len(samples)
                sum_squares += sum(s * s for s in samples[::8]) * 8  # every 8th sample is plenty for loudness
            if total_samples / rate > max_seconds:
                raise AudioRejected("too_long", _too_long(total_samples / rate, max_seconds))
    except (av.error.InvalidDataError, av.error.EOFError):
        pass  # decoding stopped at damage: what was decoded is what the file holds
    if not total_samples:
        return 0.0, 0.0
    return total_samples / rate, math.sqrt(sum_squares / total_samples)
