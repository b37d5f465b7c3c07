"""Spine vocabulary for speech-to-text: the hotwords Whisper is biased with, and the normaliser run after it.

Whisper base on dictated operative notes gets most spine words right when it is given them as `hotwords`
(RECIPES.md, speech section: WER 21 % plain, 14-16 % with hotwords). The errors that remain are a small,
repeatable set: levels without their hyphen ("C5 C6"), levels as words ("L four five"), and a few terms
split or misheard ("pediculose crews", "dual tear"). `normalise_spine_terms` fixes those and nothing else.

Conservative on purpose: the biller and the physician see every change, so a rule that fires on correct
speech costs more trust than a missed fix. Each rule names one way Whisper mishears spine speech (a lost or
moved s, a voiced stop for a voiceless one, a homophone, a term split in two), and only fires where the wrong
form is no English a spine note would hold. The fuzzy rule only touches long words that are not a spine term:
it replaces one when its letters are close to exactly one term, or when it sounds like exactly one
(`_sound_key`); no word of ICD-10-CM's descriptions and no whole word of Whisper's own vocabulary is changed
by it (audio/tests/test_normaliser.py).

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
# Tried and left out: "diagnosis" first (espeak-ng's "Diagnosis:" is heard as "I have no sis"): dev WER fell
# to 13.0 %, but level recall fell to 94 % and base wrote "spondylolisthesis" for "spondylosis". The list
# pulls both ways: base also writes "spondylolisthesis" for "spondylosis" and "foraminotomy" for "foramen" on
# notes written apart from the dev set, so a biller must check a term the note's context does not support.
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
    # Whisper writes a comma wherever the voice pauses, also inside a term ("pedicals, crews", "final chord,
    # simulator"): where a rule's words are apart, a comma may come between them (the fix drops it).
    pattern = pattern.replace(r"\s+", r"[,\s]+")
    return _TermRule(re.compile(rf"(?<![A-Za-z]){pattern}(?![A-Za-z])", re.IGNORECASE), template, reason)


# Mishearings of multi-word or split terms. Each pattern matches only the wrong form and the right one
# (a rule that yields the text unchanged is no change).
TERM_RULES: tuple[_TermRule, ...] = (
    # A noun that names another is singular ("pedicle screw instrumentation", "pedicle screw fixation"), but
    # the hotwords say "pedicle screws", and base writes the plural there. First, so that where it and the
    # next rule read the same words it wins (the earlier rule wins a tie).
    _rule(r"pedic(?:ulose|ulous|ules|les|als|els|al|el|le)\s+s?crews?(?=\s+(?:instrumentation|fixation|constructs?|"
          r"systems?)(?![A-Za-z]))", "pedicle screw", "pedicle screw before the noun it names"),
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
    _rule(r"(micro)?(?:disectom|dysectom|decectom|diskectom|dis[ck]\s+ectom)(y|ies)", r"\1discectom\2",
          "discectomy misheard"),
    # Spine writing spells the intervertebral disc with a c (ICD-10-CM, CPT, NASS); Whisper writes either.
    # "disc case": the "s" of "space" joins the "c" sound of "disc" before it.
    _rule(r"dis[ck]\s+case", "disc space", "disc space misheard"),
    _rule(r"disk(s|ograms?|ography|ogenic)?", r"disc\1", "disc spelled with a k"),
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
    _rule(r"(?:by|bi|buy)\s+lateral(ly)?", r"bilateral\1", "bilateral split in two"),
    _rule(r"in(?:to|ter)\s+laminar", "interlaminar", "interlaminar split in two"),
    _rule(r"my\s+e?lopath(y|ies)", r"myelopath\1", "myelopathy split in two"),
    _rule(r"sacro[\s-]?(?:ili|il|l[iy]|y)ac", "sacroiliac", "sacroiliac misheard"),
    # "posterior lateral fusion": the fusion's name is one word.
    _rule(r"posterior\s+lateral\s+(fusion|gutters?|arthrodesis)", r"posterolateral \1", "posterolateral split in two"),
    _rule(r"cl(?:o|or|ou|a)dication", "claudication", "claudication misheard"),
    _rule(r"post[\s-]+o?lateral", "posterolateral", "posterolateral split in two"),
    _rule(r"face\s+t?ectom(y|ies)", r"facetectom\1", "facetectomy split in two"),
    # A graft is never a signature: "local autograph", "allograph". Its g is also heard as the other voiced
    # stops or v ("autobraft", "allodraft"), and "allo" as "ala".
    _rule(r"auto\s?(?:graph|[bdv]raft)(s?)", r"autograft\1", "graft misheard"),
    _rule(r"al?l[oa]\s?(?:graph|[bdv]raft)(s?)", r"allograft\1", "graft misheard"),
    # "fecal sac" is only ever the thecal sac in a spine note.
    _rule(r"f[ae]cal\s+(sac|sack)", "thecal sac", "thecal misheard"),
    # The polymer is an acronym; "peek"/"peak" are only read as it before an implant word.
    _rule(r"pe[ae]k\s+(cages?|spacers?|interbody)", r"PEEK \1", "PEEK implant"),
    # Laterality decides the RT/LT modifier, and "right" has a homophone. "write" is only read as "right"
    # right before a level or a part of the body that has a side.
    _rule(r"(?:write|rite|wright)(?=[\s-]+(?:sided?|[CTLS]\s?-?\d|lower|upper|leg|arm|knee|hip|shoulder|"
          r"sacroiliac|SI|facet|foramen|foraminal|paramedian|paraspinal|medial|lateral)(?![A-Za-z]))",
          "right", "right misheard as write"),
    # "spinal" loses its s ("final"): only where "final" makes no sense, before the cord, the canal, stenosis,
    # and the needle named by its gauge ("22 gauge final needle"; "final needle position" is English).
    # "chord" is music; the spinal one is a cord, and what is trialled on it is a stimulator, not a simulator.
    _rule(r"(?:spinal|final)\s+ch?ord\s+s?[ia]mulat(?:or|ion)(s?)", r"spinal cord stimulator\1",
          "spinal cord stimulator misheard"),
    _rule(r"(?:spinal|final)\s+chords?", "spinal cord", "spinal cord misheard"),
    _rule(r"final\s+(cord|canal|stenosis)", r"spinal \1", "spinal misheard as final"),
    _rule(r"gauge\s+final\s+needle(s?)", r"gauge spinal needle\1", "spinal misheard as final"),
    _rule(r"(cord|nerve)\s+simulator(s?)", r"\1 stimulator\2", "stimulator misheard as simulator"),
    _rule(r"simulator(?=\s+(?:trials?|leads?|implant|generator|battery|paddle)(?![A-Za-z]))", "stimulator",
          "stimulator misheard as simulator"),
    # "inter-" and "intra-" sound alike; "interoperative" is not a word, "intraoperative" is.
    _rule(r"inter[\s-]?operative(ly)?", r"intraoperative\1", "intraoperative misheard"),
    # The ligamentum is always the ligamentum flavum in a spine note ("flavin", "flavor").
    _rule(r"ligamentum\s+fla[a-z]*", "ligamentum flavum", "ligamentum flavum misheard"),
    # A medial branch block, never a lock: the b is lost after "branch".
    _rule(r"branch\s+lock(s?)", r"branch block\1", "medial branch block misheard"),
    # The bony processes are transverse; "transfer processes" is not anatomy.
    _rule(r"transfer\s+processes", "transverse processes", "transverse misheard as transfer"),
    # Estimated blood loss (EBL) is a figure; "blood lost" before it is the same word with a t.
    _rule(r"blood\s+lost(?=\s+(?:was|is|of|less|under|about|approximately|minimal|\d)(?![A-Za-z]))", "blood loss",
          "blood loss misheard"),
    # Diagnoses as ICD-10-CM names them: M96.1 "postlaminectomy syndrome", "failed back surgery syndrome".
    _rule(r"post[\s-]+laminectomy\s+syndrome", "postlaminectomy syndrome", "postlaminectomy split in two"),
    _rule(r"fail(?:ed)?[\s-]+back\s+surgery", "failed back surgery", "failed back surgery misheard"),
)

# Single words the fuzzy rule may correct towards. Only long surgical, diagnostic and drug terms: each ends in a
# suffix no everyday word near it shares, so a close miss ("laminectomie", "radiculapathy") is a mishearing.
SPINE_LEXICON: tuple[str, ...] = (
    "laminectomy", "hemilaminectomy", "laminotomy", "hemilaminotomy", "laminoplasty", "foraminotomy",
    "facetectomy", "discectomy", "microdiscectomy", "corpectomy", "vertebrectomy", "kyphoplasty", "vertebroplasty",
    "arthrodesis", "osteotomy", "neurotomy", "rhizotomy", "decompression", "decortication", "decorticated",
    "instrumentation", "radiculopathy", "radiculitis", "myelopathy", "arthropathy", "spondylolisthesis",
    "spondylosis", "spondylolysis", "spondylotic", "sacroiliitis", "stenosis", "claudication",
    "postlaminectomy", "paresthesia", "paresthesias", "osteophytes", "transforaminal", "interlaminar",
    "interbody", "intervertebral", "posterolateral", "transpedicular", "unipedicular", "bipedicular",
    "sacroiliac", "lumbosacral", "thoracolumbar", "cervicothoracic", "paraspinal", "ligamentum", "intrathecal",
    "allograft", "autograft", "polymethylmethacrylate", "extravasation", "fluoroscopy", "fluoroscopic",
    "radiofrequency", "neuromonitoring", "intraoperative", "discogenic", "discography", "methylprednisolone",
    "triamcinolone", "dexamethasone", "betamethasone", "bupivacaine", "ropivacaine",
)
_LEXICON = frozenset(SPINE_LEXICON)
# difflib ratio 0.88: "radiculapathy" (0.92) and "spondylolesthesis" (0.94) pass; "dissection" against
# "discectomy" (0.70) and "fluoroscopically" against "fluoroscopic" (0.86) do not.
_FUZZY_CUTOFF = 0.88
_FUZZY_MIN_LENGTH = 9
_WORD = re.compile(r"(?<![A-Za-z'’-])[A-Za-z]+(?![A-Za-z'’-])")

# A sound key for the second, phonetic test: Whisper mishears a long term it does not know by its sound, so the
# letters move but the consonants stay, give or take voicing ("transbidicular" for transpedicular, b for p and
# d for t) and the vowels between them ("polymythilmethocrylate"). The key spells each consonant sound one way,
# folds voiced stops and f/v into their voiceless pair, drops vowels, h, w and y, and merges doubles.
_SOUND_FOLDS = (("ph", "f"), ("th", "t"), ("sch", "sk"), ("ch", "k"), ("ck", "k"), ("qu", "k"), ("x", "ks"),
                ("c(?=[eiy])", "s"), ("c", "k"), ("q", "k"), ("z", "s"), ("b", "p"), ("d", "t"), ("g", "k"),
                ("v", "f"), ("[aeiouyhw]", ""), (r"(.)\1+", r"\1"))
# A sound match must still share most letters (difflib ratio 0.7) and keep six consonant sounds: a short key
# says too little ("stenosis" and "stances" both key to "stns").
_SOUND_MIN_RATIO = 0.7
_SOUND_MIN_KEY = 6


def _sound_key(word: str) -> str:
    key = word.lower()
    for pattern, replacement in _SOUND_FOLDS:
        key = re.sub(pattern, replacement, key)
    return key


_LEXICON_KEYS: dict[str, list[str]] = {}
for _term in SPINE_LEXICON:
    _LEXICON_KEYS.setdefault(_sound_key(_term), []).append(_term)


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
# "L45", "C56", "T1011": an interspace with its second letter and the hyphen lost, the two numbers run
# together. Read only when the run is no vertebra itself (T12 stays T12) and splits into n and n + 1.
_DIGITS_GLUED = re.compile(r"(?<![A-Za-z0-9])([CTL])(\d{2,4})(?![A-Za-z0-9]|\.\d)", re.IGNORECASE)


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
    for m in _DIGITS_GLUED.finditer(text):
        if _vertebra(m[1], m[2]):
            continue
        for cut in range(1, len(m[2])):
            upper, lower = m[2][:cut], m[2][cut:]
            if not lower.startswith("0") and int(lower) == int(upper) + 1:
                add(m.start(), m.end(), _pair(_vertebra(m[1], upper), _vertebra(m[1], lower)),
                    "interspace heard as one number")
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


# Endings that make another word of a term's stem: "osteotome" is an instrument, not a misheard osteotomy.
_ENDINGS = frozenset(("", "s", "es", "e", "ed", "ing", "ist", "ists", "ic", "ical", "ically", "ion", "ions", "ive",
                      "ate", "ated", "ates", "ating", "al", "ally", "y", "ies", "ia", "ias"))


def _is_form_of(word: str, term: str) -> bool:
    """A plural, singular or other form of a term ("autografts", "osteophyte", "decorticating", "fluoroscopist"),
    which is a word of its own and not a mishearing of the term."""
    if word.startswith(term) or term.startswith(word):
        return True
    return any(word.startswith(term[:-cut]) and word[len(term) - cut:] in _ENDINGS for cut in (1, 2, 3))


def _fuzzy_match(word: str) -> tuple[str, str] | None:
    """The one lexicon term a long out-of-lexicon word is a mishearing of, and why; None when it is not one."""
    lowered = word.lower()
    if len(word) < _FUZZY_MIN_LENGTH or lowered in _LEXICON or word.isupper():
        return None
    if any(_is_form_of(lowered, term) for term in SPINE_LEXICON):
        return None
    close = difflib.get_close_matches(lowered, SPINE_LEXICON, n=2, cutoff=_FUZZY_CUTOFF)
    # One clear candidate (two means the word lies between terms) that starts the same way, or that
    # lost its first letter to the word before it: base heard "lumbar laminectomy" as "lumbar aminectomy".
    if len(close) == 1 and (close[0][:2] == lowered[:2] or close[0][1:] == lowered):
        return close[0], "close to spine term"
    key = _sound_key(lowered)
    sounds = _LEXICON_KEYS.get(key, []) if len(key) >= _SOUND_MIN_KEY else []
    if not sounds:
        return None
    best = max(sounds, key=lambda term: difflib.SequenceMatcher(a=lowered, b=term).ratio())
    # Terms that share a key are either forms of one word ("paresthesia", "paresthesias": take the closer) or
    # different words ("spondylosis", "spondylolysis": the sound cannot tell them apart, so leave the word).
    if any(not term.startswith(best[:-2]) for term in sounds):
        return None
    if difflib.SequenceMatcher(a=lowered, b=best).ratio() >= _SOUND_MIN_RATIO:
        return best, "sounds like spine term"
    return None


def _fuzzy_edits(text: str) -> list[tuple[int, int, str, str]]:
    edits = []
    for hit in _WORD.finditer(text):
        match = _fuzzy_match(hit.group(0))
        if match:
            edits.append((hit.start(), hit.end(), _match_case(hit.group(0), match[0]), match[1]))
    return edits


Edit = tuple[int, int, str, str]  # start, end (in the text given), replacement, reason


def spine_edits(text: str) -> list[Edit]:
    """The level, term and fuzzy edits normalise_spine_terms makes, in text order, none overlapping.

    Level edits win over term edits, and term edits over fuzzy ones, where their spans overlap. Among edits of
    one kind the one that starts first wins, then the longest ("final chord, simulator" is one stimulator, not a
    cord), then the rule listed first.
    """
    chosen: list[Edit] = []
    for edits in (_level_edits(text), _term_edits(text), _fuzzy_edits(text)):
        for edit in sorted(edits, key=lambda edit: (edit[0], -edit[1])):  # stable: rule order breaks ties
            if not any(edit[0] < other[1] and other[0] < edit[1] for other in chosen):
                chosen.append(edit)
    return sorted(chosen)


def apply_edits(text: str, edits: list[Edit]) -> tuple[str, list[Replacement]]:
    """The text with non-overlapping edits made, and each as a Replacement with its span in both texts."""
    parts: list[str] = []
    replacements: list[Replacement] = []
    position = 0
    length = 0
    for start, end, new, reason in sorted(edits):
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


def normalise_spine_terms(text: str) -> tuple[str, list[Replacement]]:
    """Fix levels and spine terms that speech-to-text gets wrong; return the new text and every change.

    The changes come back in text order with spans in both the new and the original text (see spine_edits
    for which edit wins where two overlap).
    """
    return apply_edits(text, spine_edits(text))
