"""Spinal level mentions in dictated spine notes.

CPT counts different things for different codes: interspaces (disc spaces) for ACDF, interbody fusion and
discectomy; levels/segments for posterior fusion and laminectomy; vertebrae spanned for instrumentation;
facet joints for facet injections; vertebral bodies for kyphoplasty and corpectomy. This module only finds
what the note names and what each name implies, with its character span, so that the coding rules can
count whichever unit their code needs. It never decides what was done at a level.

Notes are typed or come out of Whisper, so the same level is written many ways. The grammar, and why:

Vertebra token
    A region letter C/T/L/S then a number valid for that region (C1-C7, T1-T12, L1-L5, S1-S5), written as
    a digit ("L4", "L-4", "L 4", "c5") or, after an upper-case letter and a space or dash, as a spoken
    number word ("C five", "T-twelve"). Lower-case letters need a digit right after them ("c5", "l-4"):
    "patient's two children" must not read as S2. L6, C8 and T13 are not vertebrae here (no match).
    A token may not touch a letter or digit on its left ("ABC5", "HbA1c") or a letter/digit on its right
    ("T2W", "C7A.0"), and a digit may not run into a decimal ("M51.16", "S32.0", "T2.5").

Chain ("interspace" or "range")
    Tokens joined by a dash (-, en/em dash, slash) or by "to"/"through"/"thru" form one mention. After the
    first token the region letter may be dropped, and the bare number then belongs to the region of the
    token before it ("C5-6", "L4 to 5", "C4-5-6"). Adjacent endpoints make an "interspace" ("C5-C6",
    "L5/S1", "L4 to L5"); any wider span is a "range" ("C3-C6", "T10 to L2", "C4-6", "L4-L5-S1"), which
    implies every interspace and vertebra in between. Bare numbers must rise ("L5-4" is nothing); two
    full tokens may be written downwards ("from L5 to L3") and are put in order. A chain with any invalid
    part ("L5-6", "C7-9") yields nothing, rather than guessing which half the speaker meant.

Spoken pair
    "C five six", "L four five": an upper-case letter with two number words is one chain. If the pair is
    not rising ("L four two screws"), only the first vertebra is kept: the second word is ordinary speech.

Runs of lone vertebrae (Whisper drops the hyphen)
    Lone tokens separated by a comma, spaces, "and", "or", "&" form a run. The run is cut into segments
    at every "and"/"or"/"&". When each segment is a pair of adjacent vertebrae ("C5 C6", "C5, C6",
    "L4 L5 and L5 S1"; in a longer segment consecutive pairs must share a vertebra, "C5 C6, C6 C7"), each
    pair is an interspace. Otherwise the run is one "list" mention with its vertebrae and no interspace
    ("L3, L4 and L5", "T12 and L1", "L4, L5, S1"); a single token is a "vertebra" mention. Why "and"
    separates: surgeons say "T12 and L1" for two fractured bodies but "L4 L5" for the disc between them.
    A pair is also a list when the next words name vertebral parts rather than a disc ("T12, L1 compression
    fractures", "C5, C6 nerve roots", "L4 L5 pedicle screws").
    A run stops at a chain: "L4, L5 and L5-S1" is the interspace L4-L5 ("L4, L5") and the interspace L5-S1.
    A run also stops at any other word: "L3 and L4 medial branches and L5 dorsal ramus" is the list L3, L4
    and the vertebra L5 (facet coding turns nerves into joints; that is not this module's job).

Continuations
    A bare number chain ("5-6", "five six") right after a chain, joined by a comma, spaces or "and",
    continues its region: "C4-5, 5-6" is C4-C5 and C5-C6. On its own a bare "5-6" is never a level.

Not levels
    Anything followed by a unit ("L4-5 mm", "C5 to 7 days"), dates and suture sizes ("10/02/2007", "2-0"),
    codes ("63075", "M51.16"), "C-arm", and T1/T2 as MRI sequences (followed by weighted/images/signal/
    STIR/hyperintense..., or preceded by sagittal/axial/coronal; "T1 and T2 weighted" drops both).

Spans are character offsets into the text as given, so a reviewer can highlight the words. One compiled
regular expression scans the text once; the grouping afterwards only looks at the few short gaps between
tokens.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise

# First global index and size of each region: C1=0 ... C7=6, T1=7 ... T12=18, L1=19 ... L5=23, S1=24 ... S5=28.
_REGIONS: dict[str, tuple[int, int]] = {"C": (0, 7), "T": (7, 12), "L": (19, 5), "S": (24, 5)}
_LAST_INDEX = 28
_REGION_BY_INDEX = "".join(region * size for region, (_, size) in _REGIONS.items())

_NUMBER_WORDS: dict[str, int] = {
    word: n
    for n, word in enumerate(
        ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"), 1
    )
}

_INTERSPACE_REGIONS: dict[tuple[str, str], str] = {
    ("C", "C"): "cervical",
    ("C", "T"): "cervicothoracic",
    ("T", "T"): "thoracic",
    ("T", "L"): "thoracolumbar",
    ("L", "L"): "lumbar",
    ("L", "S"): "lumbosacral",
    ("S", "S"): "sacral",  # the sacrum is fused: no disc, but notes still name "S1-S2"
}


def _number(word_or_digits: str) -> int:
    """The value of "5" or "five"."""
    if word_or_digits.isdigit():
        return int(word_or_digits)
    return _NUMBER_WORDS[word_or_digits.lower()]


@dataclass(frozen=True, order=True)
class Vertebra:
    """One vertebra, ordered head to tail by its global index."""

    index: int

    def __post_init__(self) -> None:
        if not 0 <= self.index <= _LAST_INDEX:
            raise ValueError(f"no vertebra with index {self.index}")

    @classmethod
    def of(cls, region: str, number: int) -> Vertebra:
        """Vertebra.of("L", 4) is L4; a number outside the region (L6, C8) raises ValueError."""
        first, size = _REGIONS[region.upper()]
        if not 1 <= number <= size:
            raise ValueError(f"no vertebra {region.upper()}{number}")
        return cls(first + number - 1)

    @classmethod
    def parse(cls, s: str) -> Vertebra:
        """Read "L4", "l4", "L-4", "C 5" or "C five"; anything else raises ValueError."""
        match = _VERTEBRA_NAME.fullmatch(s)
        if match is None:
            raise ValueError(f"not a vertebra: {s!r}")
        return cls.of(match["region"], _number(match["number"]))

    @property
    def region(self) -> str:
        return _REGION_BY_INDEX[self.index]

    @property
    def number(self) -> int:
        return self.index - _REGIONS[self.region][0] + 1

    @property
    def name(self) -> str:
        return f"{self.region}{self.number}"

    def next(self) -> Vertebra | None:
        """The vertebra below, or None below S5."""
        return Vertebra(self.index + 1) if self.index < _LAST_INDEX else None

    def prev(self) -> Vertebra | None:
        """The vertebra above, or None above C1."""
        return Vertebra(self.index - 1) if self.index > 0 else None

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"Vertebra({self.name!r})"


@dataclass(frozen=True, order=True)
class Interspace:
    """The disc space (motion segment) between two adjacent vertebrae: what 22551 or 22633 count."""

    upper: Vertebra
    lower: Vertebra

    def __post_init__(self) -> None:
        if self.upper.next() != self.lower:
            raise ValueError(f"{self.upper.name} and {self.lower.name} are not adjacent")

    @property
    def name(self) -> str:
        return f"{self.upper.name}-{self.lower.name}"

    @property
    def region(self) -> str:
        return _INTERSPACE_REGIONS[(self.upper.region, self.lower.region)]

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"Interspace({self.name!r})"


def vertebrae_between(top: Vertebra, bottom: Vertebra) -> list[Vertebra]:
    """Every vertebra from top to bottom inclusive, head first, whichever order they are given in."""
    first, last = sorted((top, bottom))
    return [Vertebra(i) for i in range(first.index, last.index + 1)]


def interspaces_between(top: Vertebra, bottom: Vertebra) -> list[Interspace]:
    """Every interspace between top and bottom, head first: C5..C7 is C5-C6 and C6-C7."""
    spanned = vertebrae_between(top, bottom)
    return [Interspace(upper, lower) for upper, lower in pairwise(spanned)]


@dataclass(frozen=True)
class LevelMention:
    """One level phrase in a note: its span in the original text and the levels it names or implies."""

    start: int
    end: int
    text: str
    interspaces: tuple[Interspace, ...]
    vertebrae: tuple[Vertebra, ...]
    form: str  # "interspace", "range", "vertebra" or "list"


# --- the scanner -------------------------------------------------------------------------------------------

_DIGITS = r"(?:1[0-2]|[1-9])(?![0-9])(?!\.[0-9])"  # no leading zero: "L03.1" is an ICD code
_WORDS = r"(?i:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)(?![A-Za-z])"
_NUM = rf"(?:{_DIGITS}|{_WORDS})"
_LETTER_GAP = r"(?:[ \t]?[-‐‑–—][ \t]?|[ \t])"
# A number word needs a gap after its letter, or "Tone" and "Cone beam" would read as T1 and C1.
_V = rf"(?:[CTLS]{_LETTER_GAP}?{_DIGITS}|[CTLS]{_LETTER_GAP}{_WORDS}|[ctls]-?{_DIGITS})"
_DASH = r"[ \t]*[-‐‑‒–—/][ \t]*"
_TO = r"[ \t]+(?i:to|through|thru)[ \t]+"
_LINK = rf"(?:{_DASH}|{_TO})"
_START = r"(?<![A-Za-z0-9'’])"  # not inside a word ("ABC5") nor after an apostrophe ("patient's two")
_END = r"(?![A-Za-z0-9])"

_SCANNER = re.compile(
    rf"""
    (?P<spoken>{_START}(?P<spoken_first>[CTLS]{_LETTER_GAP}{_WORDS})[ \t]+{_WORDS}{_END})
    | (?P<chain>{_START}{_V}(?:{_LINK}(?:{_V}|{_NUM})|{_V})*{_END}(?!{_DASH}[0-9]))
    | (?P<bare>(?<![A-Za-z0-9./:‐‑‒–—-])(?:{_NUM}{_LINK}{_NUM}|{_WORDS}[ \t]+{_WORDS}){_END}(?![-/.:][0-9]))
    """,
    re.VERBOSE,
)
# Reads the parts of one scanned chain: full tokens and the bare numbers after them.
_ENDPOINT = re.compile(rf"(?P<v>{_V})|(?P<n>{_NUM})")
_VERTEBRA_NAME = re.compile(
    r"\s*(?P<region>[CTLSctls])\s*-?\s*(?P<number>[1-9][0-9]?|(?i:one|two|three|four|five|six|seven|eight|nine"
    r"|ten|eleven|twelve))\s*"
)

# Gaps between tokens that keep them in one run; "and"/"or"/"&" also cut the run into segments.
_PAIR_GAP = re.compile(r"[ \t]*,[ \t]*|[ \t]+")
_AND_GAP = re.compile(r"\s*,?\s*(?:(?i:and|or|as well as)\s+|&\s*)")

_UNIT_AFTER = re.compile(
    r"[ \t]*(?:(?:mm|cm|ml|cc|mg|mcg|kg|degrees?|days?|weeks?|months?|years?|hours?|hrs?|minutes?|mins?|times)"
    r"(?![A-Za-z])|%|°)",
    re.IGNORECASE,
)
_MRI_AFTER = re.compile(
    r"[ \t]*-?[ \t]*(?:(?:weighted|wi?|images?|imaging|signals?|sequences?|hyper\w*|hypo\w*|stir|flair|fat"
    r"|post-?contrast)(?![A-Za-z])|\*)",
    re.IGNORECASE,
)
_MRI_BEFORE = re.compile(r"(?:sagittal|axial|coronal)[ \t]+$", re.IGNORECASE)
# Words after a pair that name vertebral parts, not the disc between them.
_VERTEBRA_CONTEXT = re.compile(
    r"[ \t]+(?:[A-Za-z-]+[ \t]+){0,2}?(?:vertebrae?|vertebral|bod(?:y|ies)|fractures?|pedicles?|screws?|laminae?"
    r"|spinous|transverse|nerves?|roots?|medial|dorsal|rami|ramus|kyphoplasty|vertebroplasty)(?![A-Za-z])",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class _Token:
    """One scanner hit, read: a lone vertebra, a chain (two or more rising endpoints) or an unanchored pair."""

    start: int
    end: int
    kind: str  # "single", "chain" or "bare"
    vertebrae: tuple[Vertebra, ...] = ()
    numbers: tuple[int, ...] = ()  # only for "bare": region still unknown
    mri: bool = False


@lru_cache(maxsize=512)
def _parse_token(token: str) -> Vertebra:
    """Vertebra.parse, remembered: a note repeats the same few level names many times."""
    return Vertebra.parse(token)


def _chain_vertebrae(chain: str) -> tuple[Vertebra, ...] | None:
    """The endpoints of "C4-5-6", "T10 to L2", "L5/S1" in order, or None if any part is not a vertebra."""
    points: list[Vertebra] = []
    all_full = True
    try:
        for part in _ENDPOINT.finditer(chain):
            if part.lastgroup == "v":
                vertebra = _parse_token(part.group())
                if points and vertebra == points[-1]:
                    continue  # "C5-6/C6-7" names the shared C6 twice
            else:
                vertebra = Vertebra.of(points[-1].region, _number(part.group()))
                all_full = False
            points.append(vertebra)
    except ValueError:
        return None
    if all_full and len(points) == 2:
        points.sort()  # "from L5 to L3": both ends are explicit, so the direction is only the speaker's
    if any(upper >= lower for upper, lower in pairwise(points)):
        return None
    return tuple(points)


def _is_mri_sequence(text: str, start: int, end: int, vertebra: Vertebra) -> bool:
    """T1 and T2 are also MRI sequences; the words around them tell which."""
    if vertebra.region != "T" or vertebra.number > 2:
        return False
    return bool(_MRI_AFTER.match(text, end) or _MRI_BEFORE.search(text, max(0, start - 16), start))


def _read(text: str, hit: re.Match[str]) -> _Token | None:
    """Turn one scanner hit into a token, or None when it is not a level after all."""
    start, end = hit.span()
    if _UNIT_AFTER.match(text, end):
        return None
    if hit.lastgroup == "bare":
        numbers = tuple(_number(part.group()) for part in _ENDPOINT.finditer(hit.group()))
        return _Token(start, end, "bare", numbers=numbers)
    points = _chain_vertebrae(hit.group())
    if points is None and hit.lastgroup == "spoken":
        # "L four two screws": the second word is speech, the first is still a vertebra.
        end = hit.end("spoken_first")
        points = _chain_vertebrae(hit["spoken_first"])
    if points is None:
        return None
    if len(points) > 1:
        return _Token(start, end, "chain", points)
    return _Token(start, end, "single", points, mri=_is_mri_sequence(text, start, end, points[0]))


def _span_mention(text: str, start: int, end: int, top: Vertebra, bottom: Vertebra) -> LevelMention:
    form = "interspace" if top.next() == bottom else "range"
    return LevelMention(
        start,
        end,
        text[start:end],
        tuple(interspaces_between(top, bottom)),
        tuple(vertebrae_between(top, bottom)),
        form,
    )


def _in_list(text: str, before: _Token, after: _Token) -> bool:
    gap = (text, before.end, after.start)
    return bool(_PAIR_GAP.fullmatch(*gap) or _AND_GAP.fullmatch(*gap))


def _continuation(text: str, chain: LevelMention, bare: _Token) -> LevelMention | None:
    """ "5-6" after "C4-5": the bare numbers take the region of the level just named."""
    region = chain.vertebrae[-1].region
    try:
        top, bottom = (Vertebra.of(region, n) for n in bare.numbers)
    except ValueError:
        return None
    if top >= bottom:
        return None
    return _span_mention(text, bare.start, bare.end, top, bottom)


def _segments(text: str, run: list[_Token]) -> list[list[_Token]]:
    """Cut a run of lone vertebrae at every "and"/"or"/"&"."""
    segments = [[run[0]]]
    for before, after in pairwise(run):
        if _AND_GAP.fullmatch(text, before.end, after.start):
            segments.append([after])
        else:
            segments[-1].append(after)
    return segments


def _pairs(segment: list[_Token]) -> list[tuple[_Token, _Token]] | None:
    """ "C5 C6" or "C5 C6, C6 C7" as adjacent pairs; None if the segment is not made of them."""
    if len(segment) % 2:
        return None
    pairs = list(zip(segment[::2], segment[1::2], strict=True))
    if any(upper.vertebrae[0].next() != lower.vertebrae[0] for upper, lower in pairs):
        return None
    # In a longer segment the speaker repeats the shared vertebra; "L3, L4, L5, S1" is four screws.
    if any(first[1].vertebrae[0] != second[0].vertebrae[0] for first, second in pairwise(pairs)):
        return None
    return pairs


def _run_mentions(text: str, run: list[_Token]) -> list[LevelMention]:
    """Mentions from consecutive lone vertebrae: interspace pairs, one vertebra, or a list."""
    if any(token.mri for token in run):
        if all(token.vertebrae[0].region == "T" and token.vertebrae[0].number <= 2 for token in run):
            return []  # "T1 and T2 weighted images"
        run = [token for token in run if not token.mri]
    if not run:
        return []
    segment_pairs = [_pairs(segment) for segment in _segments(text, run)]
    if all(segment_pairs) and not _VERTEBRA_CONTEXT.match(text, run[-1].end):
        return [
            _span_mention(text, upper.start, lower.end, upper.vertebrae[0], lower.vertebrae[0])
            for pairs in segment_pairs
            for upper, lower in pairs or ()
        ]
    start, end = run[0].start, run[-1].end
    vertebrae = tuple(sorted({token.vertebrae[0] for token in run}))
    form = "vertebra" if len(run) == 1 else "list"
    return [LevelMention(start, end, text[start:end], (), vertebrae, form)]


def _mentions(text: str, tokens: list[_Token]) -> list[LevelMention]:
    mentions: list[LevelMention] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token.kind == "bare":
            i += 1  # "5-6" with no level before it is a date, a score or a count
        elif token.kind == "chain":
            mentions.append(_span_mention(text, token.start, token.end, token.vertebrae[0], token.vertebrae[-1]))
            i += 1
            while i < len(tokens) and tokens[i].kind == "bare" and _in_list(text, tokens[i - 1], tokens[i]):
                continued = _continuation(text, mentions[-1], tokens[i])
                if continued is None:
                    break
                mentions.append(continued)
                i += 1
        else:
            j = i + 1
            while j < len(tokens) and tokens[j].kind == "single" and _in_list(text, tokens[j - 1], tokens[j]):
                j += 1
            mentions.extend(_run_mentions(text, tokens[i:j]))
            i = j
    return mentions


# Compact interspaces typed without any separator ("L34, L45, L5S1", "C56"). Only the cervical and lumbar
# spine: "T12" is a vertebra, never T1-T2, and the digits must be adjacent vertebrae.
_COMPACT = re.compile(r"(?<![A-Za-z0-9])(?:(?P<region>[CL])(?P<a>[1-6])(?P<b>[2-7])|(?P<l5s1>L5S1))(?![A-Za-z0-9])")


def _compact_mentions(text: str) -> list[LevelMention]:
    found = []
    for hit in _COMPACT.finditer(text):
        if hit["l5s1"]:
            upper, lower = Vertebra.parse("L5"), Vertebra.parse("S1")
        else:
            try:
                upper, lower = Vertebra.parse(hit["region"] + hit["a"]), Vertebra.parse(hit["region"] + hit["b"])
            except ValueError:
                continue
            if lower != upper.next():
                continue
        found.append(LevelMention(start=hit.start(), end=hit.end(), text=hit.group(0),
                                  interspaces=(Interspace(upper, lower),), vertebrae=(upper, lower), form="interspace"))
    return found


# Interspaces as speech-to-text writes them, the second number standing alone: "C5 6", "L4 5", "C 4, 5".
_SPACED = re.compile(
    r"(?<![A-Za-z0-9])(?P<region>[CTL])[ \t]?(?P<a>1[0-2]|[1-9])(?:[ \t]*,[ \t]*|[ \t]+)(?P<b>1[0-2]|[1-9])"
    r"(?![0-9.]|[ \t]*(?:mm|cm|ml|cc|mg|%|x\b|times\b|screws?\b|levels?\b|years?\b|weeks?\b|days?\b|out\s+of\b))",
    re.IGNORECASE,
)


# Spoken interspaces with the second number alone: "c five six", "L four five" in lower-case speech.
_WORD_NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
                 "ten": 10, "eleven": 11, "twelve": 12}
_SPOKEN_SPACED = re.compile(
    r"(?<![A-Za-z0-9])(?P<region>[CTL])[ \t]+(?P<a>" + "|".join(_WORD_NUMBERS) + r")[ \t]+(?:(?P=region)[ \t]+)?"
    r"(?P<b>" + "|".join(_WORD_NUMBERS) + r")(?![A-Za-z])",
    re.IGNORECASE,
)


def _spaced_mentions(text: str) -> list[LevelMention]:
    found = []
    for hit in _SPOKEN_SPACED.finditer(text):
        region = hit["region"].upper()
        try:
            upper = Vertebra.parse(f"{region}{_WORD_NUMBERS[hit['a'].lower()]}")
            lower = Vertebra.parse(f"{region}{_WORD_NUMBERS[hit['b'].lower()]}")
        except ValueError:
            continue
        if lower == upper.next():
            found.append(_span_mention(text, hit.start(), hit.end(), upper, lower))
    for hit in _SPACED.finditer(text):
        try:
            upper = Vertebra.parse(hit["region"].upper() + hit["a"])
            lower = Vertebra.parse(hit["region"].upper() + hit["b"])
        except ValueError:
            continue
        if lower != upper.next():
            continue
        found.append(_span_mention(text, hit.start(), hit.end(), upper, lower))
    return found


def find_levels(text: str) -> list[LevelMention]:
    """Every spinal level named in text, in text order, without overlaps."""
    tokens = [token for hit in _SCANNER.finditer(text) if (token := _read(text, hit)) is not None]
    mentions = _mentions(text, tokens)
    spaced = _spaced_mentions(text)
    if spaced:
        # "C5 6" read as the lone vertebra C5: the spaced interspace wins over the vertebra it starts with.
        mentions = [m for m in mentions if not (m.form == "vertebra" and any(
            s.start <= m.start and m.end <= s.end for s in spaced))]
        spaced = [s for s in spaced if not any(s.start < m.end and m.start < s.end for m in mentions)]
        mentions = sorted(mentions + spaced, key=lambda m: m.start)
    compact = [m for m in _compact_mentions(text) if not any(m.start < o.end and o.start < m.end for o in mentions)]
    return sorted(mentions + compact, key=lambda m: m.start) if compact else mentions


# --- level counts --------------------------------------------------------------------------------------------

_LEVEL_COUNT = re.compile(
    r"(?<![A-Za-z0-9./‐‑‒–—-])(?P<count>1[0-2]|[1-9]|one|two|three|four|five|six|seven|eight|nine|ten|eleven"
    r"|twelve|single|multi(?:ple)?)[ \t]*[-‐‑–]?[ \t]*levels?(?![A-Za-z])"
    # "one level above" says where, not how many
    r"(?![ \t]+(?:above|below|up|down|higher|lower|cephalad|caudal))",
    re.IGNORECASE,
)


def find_level_count(text: str) -> list[tuple[int, int, int]]:
    """(start, end, count) for "two-level", "2 level", "single-level", "three levels"; "multilevel" has no count."""
    counts = []
    for hit in _LEVEL_COUNT.finditer(text):
        word = hit["count"].lower()
        if word.startswith("multi"):
            continue
        count = 1 if word == "single" else _number(word)
        counts.append((hit.start(), hit.end(), count))
    return counts
