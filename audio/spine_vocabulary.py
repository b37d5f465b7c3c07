"""Spine vocabulary for speech-to-text: the hotwords Whisper is biased with, and the normaliser run after it.

Whisper base on dictated operative notes gets most spine words right when it is given them as `hotwords`
(RECIPES.md, speech section: WER 21 % plain, 14-16 % with hotwords). The errors that remain are a small,
repeatable set: levels without their hyphen ("C5 C6"), levels as words ("L four five"), and a few terms
split or misheard ("pediculose crews", "dual tear"). `normalise_spine_terms` fixes those and nothing else.

Conservative on purpose: the biller and the physician see every change, so a rule that fires on correct
speech costs more trust than a missed fix. Each rule names one mishearing seen in output or listed in
RECIPES.md; the fuzzy rule only touches long words that look like a surgical term and are not one.

Level reading is not repeated here: `billing.levels.find_levels` is the one grammar of levels in IamBilly
(the coding engine counts with it), so the normaliser asks it what a phrase is and only rewrites the forms
that are unambiguous: one interspace written without a hyphen ("C5 C6", "c5c6", "L4 5", "L five S one") or
one vertebra spoken as a word ("L five"). Ranges ("C5 to C7"), lists ("L3, L4 and L5") and the vertebrae
that a pair of screws goes into ("L4 L5 pedicle screws") stay as spoken.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from billing.levels import find_levels

# Kept short: faster-whisper puts hotwords in the prompt, and a long prompt made tiny.en copy it into the
# transcript (RECIPES.md). Terms Whisper already spells right from plain speech are left out.
# The injectates and pain-procedure words were added after measuring base on espeak-ng speech: on the dev
# dictations WER 17.1 % -> 16.0 % and level recall 94 % -> 100 %; on twelve notes written apart from them
# (not in the project) WER 46.1 % -> 41.6 %. tiny.en still gets no hotwords (see speech._default_hotwords).
SPINE_HOTWORDS = (
    "ACDF, laminectomy, foraminotomy, discectomy, pedicle screws, interbody, PEEK cage, allograft, "
    "kyphoplasty, transforaminal, radiculopathy, spondylolisthesis, dural tear, fluoroscopy, "
    "triamcinolone, methylprednisolone, lidocaine, bupivacaine, interlaminar, claudication, herniated"
)


@dataclass(frozen=True)
class Replacement:
    """One change: `start`/`end` in the new text, `original_start`/`original_end` in the text given."""

    start: int
    end: int
    original_start: int
    original_end: int
    original: str
    replacement: str
    reason: str


@dataclass(frozen=True)
class _TermRule:
    pattern: re.Pattern[str]
    template: str  # re.Match.expand template
    reason: str


def _rule(pattern: str, template: str, reason: str) -> _TermRule:
    return _TermRule(re.compile(rf"(?<![A-Za-z]){pattern}(?![A-Za-z])", re.IGNORECASE), template, reason)


# Mishearings of multi-word or split terms. Each pattern matches only the wrong form and the right one
# (a rule that yields the text unchanged is no change).
TERM_RULES: tuple[_TermRule, ...] = (
    # RECIPES.md: base hears "pedicle screws" as "pediculose crews"; tiny.en and base also move the "s" of
    # "screws" onto the first word ("pedicles crew", "pedicules crew").
    _rule(r"pedic(?:ulose|ulous|ules|les|als|els)\s+s?crews?", "pedicle screws", "pedicle screws misheard"),
    # "pedical"/"pedicel" are spelling slips; "pedicle crew" the same lost "s".
    _rule(r"pedic(?:al|el|le)\s+s?crew(s?)", r"pedicle screw\1", "pedicle screw misheard"),
    # RECIPES.md: "dural tear" heard as "dual tear"; base also writes "dural tier". "dual" and "tier" are
    # ordinary English, so each is only changed next to the other word of the pair.
    _rule(r"dual\s+(tears?|sac|puncture)", r"dural \1", "dural misheard as dual"),
    _rule(r"dual\s+sack", "dural sac", "dural misheard as dual"),
    _rule(r"dur?al\s+tier(s?)", r"dural tear\1", "dural tear misheard"),
    # Issue 5: "disectomy" for "discectomy"; base writes "dysectomy", tiny.en "decectomy", and either may
    # split it into "disc ectomy". None of these is a word of its own.
    _rule(r"(micro)?(?:disectom|dysectom|decectom|dis[ck]\s+ectom)(y|ies)", r"\1discectom\2",
          "discectomy misheard"),
    # The -ectomy/-otomy/-plasty suffix split off as its own word ("lamina ectomy", "kypho plasty").
    _rule(r"(hemi)?lamina?\s+ectom(y|ies)", r"\1laminectom\2", "laminectomy split in two"),
    _rule(r"foramina?l?\s+(?:o?tom)(y|ies)", r"foraminotom\1", "foraminotomy split in two"),
    _rule(r"kypho\s+plast(y|ies)", r"kyphoplast\1", "kyphoplasty split in two"),
    _rule(r"vertebro\s+plast(y|ies)", r"vertebroplast\1", "vertebroplasty split in two"),
    _rule(r"spondylo\s+listhesis", "spondylolisthesis", "spondylolisthesis split in two"),
    _rule(r"trans\s+foraminal", "transforaminal", "transforaminal split in two"),
    # tiny.en writes "alla graft".
    _rule(r"all[oa]\s+graft", "allograft", "allograft split in two"),
    _rule(r"auto\s+graft", "autograft", "autograft split in two"),
    # ACDF spelled out letter by letter ("A C D F", "A.C.D.F.").
    _rule(r"A\.?\s?C\.?\s?D\.?\s?F\b\.?", "ACDF", "ACDF spelled out"),
    # Words split where they are not English apart: "by laterally", "into laminar", "my lopathy".
    _rule(r"by\s+lateral(ly)?", r"bilateral\1", "bilateral split in two"),
    _rule(r"in(?:to|ter)\s+laminar", "interlaminar", "interlaminar split in two"),
    _rule(r"my\s+e?lopath(y|ies)", r"myelopath\1", "myelopathy split in two"),
    _rule(r"sacro[\s-]?(?:ili|il|l[iy]|y)ac", "sacroiliac", "sacroiliac misheard"),
    # "posterior lateral fusion": the fusion's name is one word.
    _rule(r"posterior\s+lateral\s+(fusion|gutters?|arthrodesis)", r"posterolateral \1", "posterolateral split in two"),
    _rule(r"cl(?:o|or|ou|a)dication", "claudication", "claudication misheard"),
    _rule(r"post[\s-]+o?lateral", "posterolateral", "posterolateral split in two"),
    _rule(r"face\s+t?ectom(y|ies)", r"facetectom\1", "facetectomy split in two"),
    # A graft is never a signature: "local autograph", "allograph".
    _rule(r"auto\s?graph(s?)", r"autograft\1", "graft misheard as graph"),
    _rule(r"all[oa]\s?graph(s?)", r"allograft\1", "graft misheard as graph"),
    # "fecal sac" is only ever the thecal sac in a spine note.
    _rule(r"f[ae]cal\s+(sac|sack)", "thecal sac", "thecal misheard"),
    # The polymer is an acronym; "peek"/"peak" are only read as it before an implant word.
    _rule(r"pe[ae]k\s+(cages?|spacers?|interbody)", r"PEEK \1", "PEEK implant"),
)

# Single words the fuzzy rule may correct towards. Only long surgical and diagnostic terms: each ends in a
# suffix no everyday word near it shares, so a close miss ("laminectomie", "radiculapathy") is a mishearing.
SPINE_LEXICON: tuple[str, ...] = (
    "laminectomy", "hemilaminectomy", "laminotomy", "laminoplasty", "foraminotomy", "facetectomy",
    "discectomy", "microdiscectomy", "corpectomy", "kyphoplasty", "vertebroplasty", "arthrodesis",
    "radiculopathy", "myelopathy", "spondylolisthesis", "spondylosis", "transforaminal", "interbody",
    "allograft", "autograft", "fluoroscopy", "fluoroscopic", "osteophytes", "stenosis",
    "claudication", "postlaminectomy", "interlaminar", "transpedicular", "extravasation", "polymethylmethacrylate",
    "sacroiliac", "methylprednisolone", "triamcinolone", "dexamethasone", "bupivacaine", "paresthesia",
    "ligamentum",
)
_LEXICON = frozenset(SPINE_LEXICON)
# difflib ratio 0.88: "radiculapathy" (0.92) and "spondylolesthesis" (0.94) pass; "dissection" against
# "discectomy" (0.70) and "fluoroscopically" against "fluoroscopic" (0.86) do not.
_FUZZY_CUTOFF = 0.88
_FUZZY_MIN_LENGTH = 9
_WORD = re.compile(r"(?<![A-Za-z'’-])[A-Za-z]+(?![A-Za-z'’-])")


def _match_case(original: str, new: str) -> str:
    """Keep a capital at the start of a sentence: "Dual tear" becomes "Dural tear", not "dural tear"."""
    if original[:1].isupper() and new[:1].islower():
        return new[0].upper() + new[1:]
    return new


# Levels whose letter Whisper split off, glued on, or turned into a minus sign. Each form is only a level (no
# English word or dose reads this way), and each repair is checked against the level grammar before it is made.
_REGION_TOP = {"C": 8, "T": 12, "L": 5, "S": 5}
_JUNCTION = {"C7": "T1", "C8": "T1", "T12": "L1", "L5": "S1"}
# "l5s -1", "L5S -1", "c 5 c -6": two vertebrae, the second number after a spurious minus.
_SPLIT_PAIR = re.compile(r"(?<![A-Za-z0-9])([ctls])\s?(\d{1,2})\s?([ctls])\s?-\s?(\d{1,2})(?!\d|\.\d)", re.IGNORECASE)
# "atl 4l 5", "atl4l5", "atl4": the letter glued to the word before it, and the next letter to the number.
_GLUED = re.compile(r"\b(at|to|and|of|from|on|through)([ctl])\s?(\d{1,2})(?:\s?([ctls])\s?(\d{1,2}))?(?!\d|\.\d)",
                    re.IGNORECASE)
# "on t -8", "and l 5": a region letter standing alone before its number, where a level is said (after "at",
# "on", "and" ...), so "the patient s 2 ..." is left alone.
_LONE_LETTER = re.compile(r"(?:\b(?:at|to|of|on|and|from|through|the)|[,;:])\s(?P<letter>[ctls])(?:\s+-\s?|\s+)"
                          r"(?P<number>\d{1,2})(?!\d|\.\d)(?!\s*(?:mg|ml|mm|cc|%))", re.IGNORECASE)
# "C71", "L51", "T121": a junction level with the second letter lost ("C7-T1" heard as "C7 1").
_JUNCTION_GLUED = re.compile(r"\b([CTL])(7|8|12|5)1\b")


def _vertebra(region: str, number: str) -> str | None:
    region, value = region.upper(), int(number)
    return f"{region}{value}" if 1 <= value <= _REGION_TOP[region] else None


def _pair(first: str | None, second: str | None) -> str | None:
    """"L4-L5" when the two vertebrae bound one interspace, else None."""
    if not first or not second:
        return None
    mentions = find_levels(f"{first}-{second}")
    if len(mentions) == 1 and len(mentions[0].interspaces) == 1:
        return mentions[0].interspaces[0].name
    return None


def _repair_edits(text: str) -> list[tuple[int, int, str, str]]:
    edits: list[tuple[int, int, str, str]] = []

    def add(start: int, end: int, new: str | None, reason: str) -> None:
        if new and not any(start < e and s < end for s, e, _, _ in edits):
            edits.append((start, end, new, reason))

    for m in _SPLIT_PAIR.finditer(text):
        add(m.start(), m.end(), _pair(_vertebra(m[1], m[2]), _vertebra(m[3], m[4])),
            "interspace heard with a minus sign")
    for m in _GLUED.finditer(text):
        first = _vertebra(m[2], m[3])
        level = _pair(first, _vertebra(m[4], m[5])) if m[4] else first
        add(m.start(), m.end(), f"{m[1]} {level}" if level else None, "level glued to the word before it")
    for m in _JUNCTION_GLUED.finditer(text):
        upper = f"{m[1]}{m[2]}"
        if upper in _JUNCTION:
            add(m.start(), m.end(), f"{upper}-{_JUNCTION[upper]}", "junction level heard without its second letter")
    for m in _LONE_LETTER.finditer(text):
        add(m.start("letter"), m.end(), _vertebra(m["letter"], m["number"]), "level letter heard apart from its number")
    return edits


def _level_edits(text: str) -> list[tuple[int, int, str, str]]:
    edits = _repair_edits(text)
    for mention in find_levels(text):
        written = mention.text
        if mention.form == "interspace" and len(mention.interspaces) == 1:
            # A hyphen or "to" means the speaker or Whisper already chose a form: "C4-5" and "L4 to L5" stay.
            # Only spacing around the hyphen differs ("L4 -L5", Whisper's habit): that is the same form.
            if re.search(r"[-‐‑‒–—/]|\b(?i:to|through|thru)\b", written) and re.sub(r"\s", "", written) != (
                    mention.interspaces[0].name):
                continue
            canonical, reason = mention.interspaces[0].name, "interspace written without its hyphen"
        elif mention.form == "vertebra" and len(mention.vertebrae) == 1 and re.search(r"[a-z]{3}", written):
            canonical, reason = mention.vertebrae[0].name, "vertebra spoken as a word"
        else:
            continue
        if canonical != written and not any(mention.start < e and s < mention.end for s, e, _, _ in edits):
            edits.append((mention.start, mention.end, canonical, reason))
    return edits


def _term_edits(text: str) -> list[tuple[int, int, str, str]]:
    edits = []
    for rule in TERM_RULES:
        for hit in rule.pattern.finditer(text):
            new = _match_case(hit.group(0), hit.expand(rule.template))
            if new != hit.group(0):
                edits.append((hit.start(), hit.end(), new, rule.reason))
    return edits


def _fuzzy_edits(text: str) -> list[tuple[int, int, str, str]]:
    edits = []
    for hit in _WORD.finditer(text):
        word = hit.group(0)
        lowered = word.lower()
        if len(word) < _FUZZY_MIN_LENGTH or lowered in _LEXICON or word.isupper():
            continue
        # A plural or singular of a term ("autografts", "osteophyte") is the term, not a mishearing of it.
        if any(lowered.startswith(term) or term.startswith(lowered) for term in SPINE_LEXICON):
            continue
        close = difflib.get_close_matches(lowered, SPINE_LEXICON, n=2, cutoff=_FUZZY_CUTOFF)
        # One clear candidate (two means the word lies between terms) that starts the same way, or that
        # lost its first letter to the word before it: base heard "lumbar laminectomy" as "lumbar aminectomy".
        if len(close) == 1 and (close[0][:2] == lowered[:2] or close[0][1:] == lowered):
            edits.append((hit.start(), hit.end(), _match_case(word, close[0]), "close to spine term"))
    return edits


def normalise_spine_terms(text: str) -> tuple[str, list[Replacement]]:
    """Fix levels and spine terms that speech-to-text gets wrong; return the new text and every change.

    Level edits win over term edits, and term edits over fuzzy ones, where their spans overlap; the
    changes come back in text order with spans in both the new and the original text.
    """
    chosen: list[tuple[int, int, str, str]] = []
    for edits in (_level_edits(text), _term_edits(text), _fuzzy_edits(text)):
        for edit in sorted(edits):
            if not any(edit[0] < other[1] and other[0] < edit[1] for other in chosen):
                chosen.append(edit)
    chosen.sort()
    parts: list[str] = []
    replacements: list[Replacement] = []
    position = 0
    length = 0
    for start, end, new, reason in chosen:
        parts.append(text[position:start])
        length += start - position
        parts.append(new)
        replacements.append(Replacement(start=length, end=length + len(new), original_start=start,
                                        original_end=end, original=text[start:end], replacement=new,
                                        reason=reason))
        length += len(new)
        position = end
    parts.append(text[position:])
    return "".join(parts), replacements
