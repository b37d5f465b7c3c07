"""The transcript cut into pieces for highlighting: each piece knows which codes rest on it.

Evidence spans (character offsets the engine gave each line and diagnosis) may overlap ("left L4-L5
microdiscectomy" supports both 63030 and M51.16). The text is cut at every span boundary, so each piece
carries the set of codes whose evidence covers it; the claim page marks those pieces, and a click on a code
lights its pieces (and a click on a piece, its codes).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    key: str  # "L0" (service line 1), "D1" (diagnosis B)
    audio_start_s: float | None = None


@dataclass(frozen=True)
class Piece:
    text: str
    keys: tuple[str, ...]  # empty: no code rests on this piece
    audio_start_s: float | None = None


def pieces(text: str, spans: Iterable[Span]) -> list[Piece]:
    """`text` cut at every boundary of the spans that fall inside it; spans outside the text are ignored
    (an edited transcript may be shorter than the one the evidence was read from)."""
    valid = [s for s in spans if 0 <= s.start < s.end <= len(text)]
    cuts = sorted({0, len(text), *(s.start for s in valid), *(s.end for s in valid)})
    out: list[Piece] = []
    for start, end in zip(cuts, cuts[1:], strict=False):
        covering = [s for s in valid if s.start <= start and end <= s.end]
        keys = tuple(sorted({s.key for s in covering}))
        audio = min((s.audio_start_s for s in covering if s.audio_start_s is not None), default=None)
        if out and out[-1].keys == keys == ():
            out[-1] = Piece(out[-1].text + text[start:end], ())
        else:
            out.append(Piece(text[start:end], keys, audio))
    return out


def spans_of(key: str, evidence: Iterable[dict]) -> list[Span]:
    return [Span(int(e["start"]), int(e["end"]), key, e.get("audio_start_s")) for e in evidence
            if e.get("start") is not None and e.get("end") is not None]
