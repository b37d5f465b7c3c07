"""Where in the audio a piece of the transcript was said: a character span of the text -> the second it starts.

The coding engine quotes its evidence as character offsets of the transcript text; Whisper times words. The text
a dictation's transcript holds is the normalised one (`speech.TranscriptResult.text`), and its words
(`segments[*].words`) are that text's words in order, re-timed by the normaliser ("L four five" became one word
"L4-L5" with the first word's start). So each timed word is found in the text by reading it forward, and a span
gets the start of the first timed word it overlaps: where a biller's player should seek to hear it.

Pure module: text and segments in (speech.Segment objects, or the dicts of `segments_as_json()` as stored on a
Transcript), numbers out.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class TimedWord:
    start: int  # character offsets of the word in the text, end excluded
    end: int
    start_s: float  # when it starts in the audio


def timed_words(text: str, segments: Iterable) -> list[TimedWord]:
    """Each timed word of `segments` located in `text`, in order.

    A word the text does not hold further on (a physician's correction removed it) is skipped and times nothing;
    the words after it are still found. Meant for the text as transcribed: an edited text may hold a removed
    word again later on, and then the words in between are timed from that later place.
    """
    out: list[TimedWord] = []
    cursor = 0
    for segment in segments:
        for word in _words(segment):
            spoken, start_s = _word_text_and_start(word)
            spoken = spoken.strip()
            if not spoken:
                continue
            at = text.find(spoken, cursor)
            if at < 0:
                continue
            out.append(TimedWord(start=at, end=at + len(spoken), start_s=float(start_s)))
            cursor = at + len(spoken)
    return out


def audio_start_s(words: Sequence[TimedWord], start: int, end: int) -> float | None:
    """When the span text[start:end] starts being said: the start of the first timed word it overlaps.

    None when it overlaps none (an empty span, a span inside the gap between two words, or a text with no timings).
    `words` must be in text order, as `timed_words` returns them.
    """
    if end <= start:
        return None
    first = bisect.bisect_right([word.end for word in words], start)  # first word ending after the span starts
    if first < len(words) and words[first].start < end:
        return round(words[first].start_s, 2)
    return None


def _words(segment) -> list:
    return segment["words"] if isinstance(segment, dict) else segment.words


def _word_text_and_start(word) -> tuple[str, float]:
    if isinstance(word, dict):
        return word["word"], word["start"]
    return word.word, word.start
