"""A dictated note, read the way a coder reads it: sections, sentences, and the context of each finding.

- Sections: dictations name their parts ("Preoperative diagnosis:", "PROCEDURES PERFORMED:", "Description
  of procedure:"), on their own line in typed notes and mid-paragraph in transcribed speech. A header is a
  known phrase followed by a colon (or, for speech, "… diagnosis is …"); its body runs to the next header.
- Sentences: a splitter that keeps "C5-6", "3.5 mm", "Dr. Smith" and "No. 10 blade" whole.
- Context (medspaCy ConText, offline): whether a finding is negated ("no dural tear"), historical
  ("history of"), hypothetical or uncertain ("possible", "rule out"), or about someone else (family).
  Our readers find their own terms with regular expressions and ask `assess()` about those spans.

Pure Python plus medspaCy; no Django. The medspaCy pipeline loads once per process (about 2.5 s).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, cached_property

# Canonical section names, each with the header phrases that open it (lower case, spaces collapsed).
SECTION_HEADERS: dict[str, tuple[str, ...]] = {
    "preoperative_diagnosis": (
        "preoperative diagnosis", "preoperative diagnoses", "pre-operative diagnosis", "pre-operative diagnoses",
        "preop diagnosis", "pre-procedure diagnosis", "preprocedure diagnosis", "preprocedural diagnosis",
        "pre-op dx", "preop dx", "pre op dx", "pre-procedure dx", "pre-op diagnosis", "pre op diagnosis",
    ),
    "postoperative_diagnosis": (
        "postoperative diagnosis", "postoperative diagnoses", "post-operative diagnosis",
        "post-operative diagnoses", "postop diagnosis", "post-procedure diagnosis", "postprocedure diagnosis",
        "postprocedural diagnosis", "post-op dx", "postop dx", "post op dx", "post-procedure dx",
        "post-op diagnosis", "post op diagnosis",
        # "Pre/post dx: ..." names one diagnosis for both: the postoperative one is what is coded.
        "pre/post dx", "pre/postop dx", "pre/post-op dx", "pre/post op dx", "pre/postoperative diagnosis",
        "pre- and postoperative diagnosis", "pre and postoperative diagnosis",
        "preoperative and postoperative diagnosis", "pre/post diagnosis",
    ),
    "diagnosis": ("diagnosis", "diagnoses", "dx", "dxs", "indication diagnosis", "indication/dx", "indications/dx",
                  "dx/indication", "diagnosis/indication", "indication/diagnosis", "procedure diagnosis",
                  "procedure diagnoses", "procedural diagnosis", "procedural diagnoses"),
    "procedure": (
        "procedure", "procedures", "procedure performed", "procedures performed", "operation",
        "operations", "operation performed", "operations performed", "name of procedure",
        "title of procedure", "title of operation", "name of operation", "surgery", "surgical procedure",
        "proc", "procs", "procedure done", "procedures done", "performed", "procedure(s) performed",
    ),
    "indications": (
        "indication", "indications", "indications for procedure", "indications for surgery",
        "indications for operation", "indication for procedure", "history", "history of present illness",
        "clinical history", "reason for procedure", "brief history",
    ),
    "findings": ("findings", "operative findings", "intraoperative findings"),
    # Templated pain-procedure notes give the levels and the side on lines of their own.
    "levels": ("levels", "level", "levels treated", "level treated", "target", "targets", "target levels"),
    "side": ("side", "laterality", "sides"),
    "description": (
        "description of procedure", "description of the procedure", "description of operation",
        "procedure in detail", "details of procedure", "details of the procedure", "operative technique",
        "technique", "tech", "operative procedure", "description", "procedure description", "operative note",
        "procedure note", "operative report", "narrative", "summary of procedure", "summary of surgery",
        "summary of surgery in detail", "surgery in detail", "procedure details", "procedure in detail",
        "operative description", "details of operation", "description of surgery", "procedure summary",
    ),
    "anesthesia": ("anesthesia", "anesthetic", "type of anesthesia"),
    "complications": ("complications", "complication"),
    "blood_loss": ("estimated blood loss", "blood loss", "ebl"),
    "implants": ("implants", "hardware", "instrumentation used"),
    "specimens": ("specimens", "specimen"),
    "other": (
        "surgeon", "assistant", "assistants", "attending", "drains", "fluids", "disposition",
        "condition", "plan", "planned", "medications", "medication", "consent", "position", "preparation",
        "anes", "meds", "disposition/plan", "follow-up", "f/u",
    ),
}
_PHRASE_TO_SECTION = {phrase: name for name, phrases in SECTION_HEADERS.items() for phrase in phrases}
# Every "... diagnosis" header also comes in the plural, and "pre-procedure" is also written "preprocedure".
for _phrase, _name in list(_PHRASE_TO_SECTION.items()):
    for _variant in (_phrase.replace("diagnosis", "diagnoses"), _phrase.replace("-", ""), _phrase.replace("-", " ")):
        _PHRASE_TO_SECTION.setdefault(_variant, _name)
_HEADER = re.compile(
    r"(?:(?<=^)|(?<=[\n.;]\s)|(?<=[\n.;])|(?<=\n\s\s)|(?<=\s{2}))"   # start of text, line, or sentence
    r"\s*(?P<phrase>(?:" + "|".join(sorted((re.escape(p).replace(r"\ ", r"\s+") for p in _PHRASE_TO_SECTION),
                                           key=len, reverse=True)) + r"))"
    # "Targets (bilateral):", "Level(s) injected (fluoro):": a short qualifier in brackets before the colon.
    r"\s*(?:\(s\)|\([^()\n]{1,24}\)(?=\s*:))?\s*(?::|-\s|\s+(?:is|was|were)\s"
    # "The procedure was tolerated well", "procedure was explained": a sentence about it, not its header.
    r"(?!\s*(?:well\b|tolerated|uneventful|uncomplicated|completed|successful|without|then\b|explained|discussed|"
    r"terminated|aborted|stopped|difficult|performed\s+without|done\s+without)))",
    re.IGNORECASE,
)


# --- Spoken dictation ------------------------------------------------------------------------------------------
# A surgeon dictating says the punctuation ("... radiculopathy period post op diagnosis same period") and the
# layout ("new paragraph"); speech-to-text often writes those words out. They become the marks they stand
# for, padded with spaces to the same length, so every character offset still points into the transcript
# the physician and the audio timings know.
_SPOKEN_MARKS = re.compile(
    r"(?P<para>\b(?:new|next)\s+paragraph\b[.,]?)|(?P<line>\b(?:new|next)\s+line\b[.,]?)"
    r"|(?P<stop>(?<![\w-])(?:full\s+stop|period)(?=\s*(?:$|[.\n]|\s[A-Za-z\d(\"])))"
    r"|(?P<colon>(?<=\w)\s+colon\b(?=\s))|(?P<comma>(?<=\w)\s+comma\b(?=\s))",
    re.IGNORECASE,
)
# "period" is also a word: "the postoperative period", "a period of six weeks", "period of observation".
_PERIOD_AS_WORD_BEFORE = re.compile(
    r"(?:\b(?:the|this|that)\s+same\s+$|\b(?:the|a|this|that|each|trial|global|postoperative|post-operative|recovery|"
    r"waiting|washout|refractory|time|short|long|brief|follow-up|observation|perioperative|healing|latency)\s+)$",
    re.IGNORECASE)
_PERIOD_AS_WORD_AFTER = re.compile(r"\s+(?:of|in|after|before|during|was|is)\b", re.IGNORECASE)
# "... the diagnosis was the same period the procedure ...": after a verb, "the same" closes the sentence.
_SAME_THEN_STOP = re.compile(r"\b(?:was|is|were|are|remained|remains)\s+the\s+same\s+$", re.IGNORECASE)


# A surgeon corrects himself mid-sentence: "at C3-4, sorry, scratch that, at C4-5", "L3-4, no, L4-5", "a four-level,
# um, sorry, a three-level plate". The retracted words and the correction are blanked (same length), so nothing
# is coded from what was taken back and "no" does not read as a negation of what follows.
_LEVEL_WORD = (r"(?:[CTLS]\d{1,2}(?:\s*-\s*[CTLS]?\d{1,2})?|(?:one|two|three|four|five|six|seven|eight|\d)[- ]levels?"
               r"|left|right)")
_SELF_CORRECTION = re.compile(
    r"\b" + _LEVEL_WORD + r"(?:[,\s]+(?:(?:um|uh|er|ah)\b,?\s*)*"
    r"(?:no(?=\s*,)|sorry|I\s+mean|I'm\s+sorry|rather|correction|scratch\s+that|strike\s+that|make\s+that)\b[,.]?\s*)+"
    r"(?:(?:at|a|the|to)\s+)?(?=" + _LEVEL_WORD + r"\b)",
    re.IGNORECASE,
)
# A template's yes/no boxes: "Transforaminal performed: [ ] yes [X] no" says it was not done. The line is blanked.
_BOX_NO = re.compile(r"(?im)^[^\n:]{2,60}:[ \t]*(?:\[[ \t]?\][ \t]*yes[ \t]*\[[xX✓✔][ \t]?\][ \t]*no"
                     r"|\[[xX✓✔][ \t]?\][ \t]*no[ \t]*\[[ \t]?\][ \t]*yes)\b[^\n]*")


def _blank(match: re.Match[str]) -> str:
    return re.sub(r"[^\n]", " ", match.group(0))


def spoken_to_written(text: str) -> str:
    """Spoken punctuation and layout turned into marks, self-corrections and unticked template boxes blanked,
    keeping the text's length and offsets."""
    text = _BOX_NO.sub(_blank, _SELF_CORRECTION.sub(_blank, text))

    def mark(match: re.Match[str]) -> str:
        width = match.end() - match.start()
        if match.lastgroup == "stop":
            before = text[max(0, match.start() - 40):match.start()]
            as_word = _PERIOD_AS_WORD_BEFORE.search(before) or _PERIOD_AS_WORD_AFTER.match(text, match.end())
            if as_word and not _SAME_THEN_STOP.search(before):
                return match.group(0)
            return "." + " " * (width - 1)
        if match.lastgroup == "para":
            return ".\n\n" + " " * (width - 3) if width >= 3 else match.group(0)
        if match.lastgroup == "line":
            return ".\n" + " " * (width - 2)
        if match.lastgroup == "colon":
            return ":" + " " * (width - 1)
        return "," + " " * (width - 1)

    return _SPOKEN_MARKS.sub(mark, text)


@dataclass(frozen=True)
class Section:
    name: str          # canonical name (SECTION_HEADERS); "preamble" for text before the first header
    header: str        # the header as written
    start: int         # body start (after the colon)
    end: int           # body end (next header, or end of text)


@dataclass(frozen=True)
class Context:
    negated: bool = False
    historical: bool = False
    hypothetical: bool = False
    uncertain: bool = False
    family: bool = False

    @property
    def affirmed(self) -> bool:
        """Documented as present and done now: what a claim may rest on."""
        return not (self.negated or self.hypothetical or self.uncertain or self.family)


@dataclass
class Note:
    text: str

    @cached_property
    def sections(self) -> list[Section]:
        return find_sections(self.text)

    def section_at(self, position: int) -> Section | None:
        for section in self.sections:
            if section.start <= position < section.end:
                return section
        return None

    def bodies(self, *names: str) -> list[Section]:
        return [s for s in self.sections if s.name in names]

    def section_text(self, section: Section) -> str:
        return self.text[section.start : section.end]

    @cached_property
    def sentences(self) -> list[tuple[int, int]]:
        return split_sentences(self.text)

    def sentence_at(self, position: int) -> tuple[int, int]:
        for start, end in self.sentences:
            if start <= position < end:
                return start, end
        return position, position


# A header alone on its line, without a colon, as typed notes often have ("OPERATIONS PERFORMED\n1. ...").
# "Diagnosis. Pathologic fractures of T8 and T9 ...": a dictated header with its spoken period, at a line start.
_DOTTED_HEADER = re.compile(
    r"(?m)^[ \t]*(?P<phrase>(?:" + "|".join(sorted((re.escape(p).replace(r"\ ", r"\s+") for p in _PHRASE_TO_SECTION),
                                                 key=len, reverse=True)) + r"))\.[ \t]+(?=[A-Z])",
    re.IGNORECASE,
)
_SENTENCE_FORM = re.compile(r"\s(?:is|was|were)\s$", re.IGNORECASE)

_LINE_HEADER = re.compile(
    r"(?m)^[ \t]*(?P<phrase>(?:" + "|".join(sorted((re.escape(p).replace(r"\ ", r"\s+") for p in _PHRASE_TO_SECTION),
                                                 key=len, reverse=True)) + r"))[ \t]*:?[ \t]*$",
    re.IGNORECASE,
)


# Any other capitalised heading at the start of a line ("TUBES AND DRAINS:") still ends the section before it.
_OTHER_HEADER = re.compile(r"(?m)^[ \t]*(?P<phrase>[A-Z][A-Z0-9 /&,()'-]{2,60}?)[ \t]*:")


# Headers as surgeons say them, without a colon: "pre op diagnosis ...", "post-op diagnosis same", and, at the
# start of a sentence, "procedure today was ...", "procedures performed ...". A spoken section ends at the
# next header or the next paragraph break, whichever comes first.
_SPOKEN_HEADER = re.compile(
    r"(?P<pre>\bpre[- ]?op(?:erative)?\s+diagnos[ie]s\b)|(?P<post>\bpost[- ]?op(?:erative)?\s+diagnos[ie]s\b"
    r"|\bpost[- ]?op(?:erative)?(?=\s+(?:is\s+|was\s+)?(?:the\s+)?same\b))"
    # Unpunctuated speech runs the headers together: "postoperative diagnosis same procedure right L4-5 ...".
    r"|(?P<proc>(?:(?<=^)|(?<=[\n.;:]\s)|(?<=[\n.;:])|(?<=\s{2})|(?<=\bokay\s)|(?<=\bso\s)|(?<=\bsame\s))[ \t]*"
    r"(?:the\s+)?(?:procedures?|operations?)(?:\s+(?:performed|done))?(?:\s+today)?(?:\s+(?:was|were|is|are))?"
    r"(?=\s+(?!was\b|were\b|is\b|note\b|tolerated\b|went\b|itself\b|in\s+detail\b)[a-z]))"
    r"|(?P<ind>(?:(?<=^)|(?<=[\n.;:]\s)|(?<=[\n.;:])|(?<=\s{2})|(?<=\bgeneral\s)|(?<=\blocal\s)|(?<=\bsedation\s))"
    r"[ \t]*(?:the\s+)?indications?"
    r"(?:\s+for\s+(?:the\s+)?(?:surgery|procedure|operation))?(?:\s+(?:was|were|is|are))?(?=\s+[a-z]))"
    # Words that open the next part of a dictation even without punctuation: they end the procedure list.
    r"|(?P<anesthesia>\banesthesia\s+(?=general|local|monitored|mac\b|spinal|regional|iv\b|sedation))"
    r"|(?P<description>\bdescription\s+of\s+(?:the\s+)?(?:procedure|operation)\b|\bestimated\s+blood\s+loss\b)"
    r"|(?P<proc_today>\bprocedures?\s+(?:(?:performed|done)\s+)?today\s+(?:was|were|is)\b"
    r"|\bprocedures?\s+(?:performed|done)\s+(?:was|were|is)\b)",
    re.IGNORECASE,
)
_SPOKEN_NAMES = {"pre": "preoperative_diagnosis", "post": "postoperative_diagnosis", "proc": "procedure",
                 "proc_today": "procedure", "ind": "indications", "anesthesia": "anesthesia",
                 "description": "description"}


def _spoken_sections(text: str, typed: list[re.Match[str]]) -> list[Section]:
    found = []
    for match in _SPOKEN_HEADER.finditer(text):
        if any(t.start("phrase") <= match.start() < t.end() or match.start() <= t.start("phrase") < match.end()
               for t in typed):
            continue
        if match.lastgroup.startswith("proc") and re.match(r"\s*(?:note|report)\b", text[match.end():], re.IGNORECASE):
            continue
        paragraph = text.find("\n\n", match.end())
        found.append((match.start(), match.end(), paragraph if paragraph != -1 else len(text),
                      _SPOKEN_NAMES[match.lastgroup], match.group(0).strip()))
    return found


def find_sections(text: str) -> list[Section]:
    sections = _typed_sections(text)
    typed_names = {s.name for s in sections}
    if "procedure" in typed_names and typed_names & {"preoperative_diagnosis", "postoperative_diagnosis"}:
        return sections
    # Headers a coder needs are not typed: read the ones a surgeon says.
    spoken = [found for found in _spoken_sections(text, []) if found[3] not in typed_names]
    if not spoken:
        return sections
    out: list[Section] = []
    # A spoken section ends at its paragraph's end or at the next header, spoken or typed.
    header_starts = sorted([found[0] for found in spoken] + [s.start - len(s.header) - 1 for s in sections
                                                             if s.name != "preamble"])
    for start, body_start, paragraph_end, name, header in spoken:
        next_start = next((h for h in header_starts if h > start), len(text))
        out.append(Section(name, header, body_start, min(paragraph_end, next_start)))
    # Typed sections that do not overlap a spoken one keep their place (a "Findings:" after the dictation).
    for section in sections:
        if section.name != "preamble" and not any(o.start <= section.start < o.end for o in out):
            out.append(section)
    out.sort(key=lambda s: s.start)
    return [Section(s.name, s.header, s.start, min(s.end, out[i + 1].start) if i + 1 < len(out) else s.end)
            for i, s in enumerate(out)]


def _typed_sections(text: str) -> list[Section]:
    known = list(_HEADER.finditer(text))
    starts = {m.start("phrase") for m in known}
    known += [m for m in _LINE_HEADER.finditer(text) if m.start("phrase") not in starts]
    starts = {m.start("phrase") for m in known}
    known += [m for m in _DOTTED_HEADER.finditer(text) if m.start("phrase") not in starts]
    starts = {m.start("phrase") for m in known}
    others = [m for m in _OTHER_HEADER.finditer(text)
              if not any(k.start("phrase") <= m.start("phrase") < k.end() for k in known)]
    headers = sorted(known + others, key=lambda m: m.start("phrase"))
    sections: list[Section] = []
    if not headers or headers[0].start("phrase") > 0:
        first = headers[0].start("phrase") if headers else len(text)
        if text[:first].strip():
            sections.append(Section("preamble", "", 0, first))
    for i, match in enumerate(headers):
        phrase = " ".join(match.group("phrase").lower().split())
        end = headers[i + 1].start("phrase") if i + 1 < len(headers) else len(text)
        if match.re is _DOTTED_HEADER or (match.re is _HEADER and _SENTENCE_FORM.search(match.group(0))):
            # "Procedure was a two level arthroplasty ...": a header said as a sentence ends with its paragraph,
            # as a spoken one does, not at a next typed header the dictation may never have.
            paragraph = text.find("\n\n", match.end())
            end = min(end, paragraph) if paragraph != -1 else end
        sections.append(Section(_PHRASE_TO_SECTION.get(phrase, "other"), match.group("phrase"), match.end(), end))
    return sections


# A period ends a sentence unless it sits in a number (3.5), an abbreviation, or a level written "C5."
_ABBREVIATIONS = {"dr", "mr", "mrs", "ms", "no", "vs", "approx", "st", "fig", "e.g", "i.e", "etc", "inc", "cc", "mg"}
# Transcribed speech is often all lower case: a period followed by a lower-case word ends a sentence too,
# unless the word before it is an abbreviation.
_SENTENCE_END = re.compile(r"[.!?](?=\s+[\"'(]?[A-Za-z0-9])|[.!?]$|\n\s*\n|\n(?=\s*[A-Z][A-Z ]{3,}:)")


# Speech-to-text without punctuation gives one "sentence" for a whole note, and a "no" at its end would then
# negate a procedure at its start. A run this long is cut before words that start a new thought in dictation.
_RUN_ON_WORDS = 45
_THOUGHT_STARTS = re.compile(
    r"\s(?=(?:we|she|he|they|i|then|next|after\s+that|at\s+this\s+point|following\s+this|there\s+was|there\s+were"
    r"|this\s+was|the\s+patient|patient|estimated\s+blood\s+loss|ebl|complications|no\s+complications"
    r"|preoperative|postoperative|procedure|procedures|indications|findings|anesthesia|description|plan)\b)",
    re.IGNORECASE,
)


def _cut_run_on(text: str, start: int, end: int) -> list[tuple[int, int]]:
    if len(text[start:end].split()) <= _RUN_ON_WORDS:
        return [(start, end)]
    pieces, cursor = [], start
    for match in _THOUGHT_STARTS.finditer(text, start, end):
        cut = match.end()
        if len(text[cursor:cut].split()) >= 4:
            pieces.append((cursor, cut))
            cursor = cut
    pieces.append((cursor, end))
    return pieces


def split_sentences(text: str) -> list[tuple[int, int]]:
    spans = []
    for start, end in _split_marked_sentences(text):
        spans.extend(_cut_run_on(text, start, end))
    return spans


def _split_marked_sentences(text: str) -> list[tuple[int, int]]:
    spans, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        end = match.end()
        word = re.search(r"([A-Za-z.]+)\.$", text[max(0, match.start() - 8) : match.start() + 1])
        if match.group(0) == "." and word and word.group(1).lower().rstrip(".") in _ABBREVIATIONS:
            continue
        if text[start:end].strip():
            spans.append((start, end))
        start = end
    if text[start:].strip():
        spans.append((start, len(text)))
    return spans


@cache
def _context_pipeline():
    import logging

    import medspacy

    logging.getLogger("medspacy").setLevel(logging.WARNING)
    # ConText only: sentence boundaries come from split_sentences (the same ones every reader here uses),
    # which is also much faster than PyRuSH on long operative notes.
    return medspacy.load(medspacy_enable=["medspacy_context"])


def assess(text: str, spans: list[tuple[int, int]]) -> list[Context]:
    """ConText for each (start, end) span of `text`: negated, historical, hypothetical, uncertain, family."""
    if not spans:
        return []
    from spacy.tokens import Span as SpacySpan
    from spacy.util import filter_spans

    nlp = _context_pipeline()
    doc = nlp.make_doc(text)
    starts = iter(start for start, _ in split_sentences(text))
    next_start = next(starts, None)
    for token in doc:
        boundary = token.i == 0
        while next_start is not None and token.idx >= next_start:
            boundary, next_start = True, next(starts, None)
        token.is_sent_start = boundary
    entities: dict[tuple[int, int], SpacySpan] = {}
    for start, end in spans:
        span = doc.char_span(start, end, label="FINDING", alignment_mode="expand")
        if span is not None:
            entities[(start, end)] = span
    doc.ents = filter_spans(list(entities.values()))
    doc = nlp.get_pipe("medspacy_context")(doc)
    flags = {(e.start_char, e.end_char): e for e in doc.ents}
    out = []
    for start, end in spans:
        span = entities.get((start, end))
        ent = flags.get((span.start_char, span.end_char)) if span is not None else None
        if ent is None:
            # Overlapping spans were merged by filter_spans: use the entity that covers this one.
            ent = next((e for e in doc.ents if e.start_char <= start and end <= e.end_char), None)
        if ent is None:
            out.append(Context())
            continue
        out.append(Context(negated=ent._.is_negated, historical=ent._.is_historical,
                           hypothetical=ent._.is_hypothetical, uncertain=ent._.is_uncertain,
                           family=ent._.is_family))
    return out
