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
    ),
    "postoperative_diagnosis": (
        "postoperative diagnosis", "postoperative diagnoses", "post-operative diagnosis",
        "post-operative diagnoses", "postop diagnosis", "post-procedure diagnosis", "postprocedure diagnosis",
        "postprocedural diagnosis",
    ),
    "diagnosis": ("diagnosis", "diagnoses", "indication diagnosis", "procedure diagnosis", "procedure diagnoses",
                  "procedural diagnosis", "procedural diagnoses"),
    "procedure": (
        "procedure", "procedures", "procedure performed", "procedures performed", "operation",
        "operations", "operation performed", "operations performed", "name of procedure",
        "title of procedure", "title of operation", "name of operation", "surgery", "surgical procedure",
    ),
    "indications": (
        "indication", "indications", "indications for procedure", "indications for surgery",
        "indications for operation", "indication for procedure", "history", "history of present illness",
        "clinical history", "reason for procedure", "brief history",
    ),
    "findings": ("findings", "operative findings", "intraoperative findings"),
    "description": (
        "description of procedure", "description of the procedure", "description of operation",
        "procedure in detail", "details of procedure", "details of the procedure", "operative technique",
        "technique", "operative procedure", "description", "procedure description", "operative note",
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
        "condition", "plan", "medications", "medication", "consent", "position", "preparation",
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
    r"\s*(?:\(s\))?\s*(?::|-\s|\s+(?:is|was|were)\s)",
    re.IGNORECASE,
)


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
_LINE_HEADER = re.compile(
    r"(?m)^[ \t]*(?P<phrase>(?:" + "|".join(sorted((re.escape(p).replace(r"\ ", r"\s+") for p in _PHRASE_TO_SECTION),
                                                 key=len, reverse=True)) + r"))[ \t]*:?[ \t]*$",
    re.IGNORECASE,
)


# Any other capitalised heading at the start of a line ("TUBES AND DRAINS:") still ends the section before it.
_OTHER_HEADER = re.compile(r"(?m)^[ \t]*(?P<phrase>[A-Z][A-Z0-9 /&,()'-]{2,60}?)[ \t]*:")


def find_sections(text: str) -> list[Section]:
    known = list(_HEADER.finditer(text))
    starts = {m.start("phrase") for m in known}
    known += [m for m in _LINE_HEADER.finditer(text) if m.start("phrase") not in starts]
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
        sections.append(Section(_PHRASE_TO_SECTION.get(phrase, "other"), match.group("phrase"), match.end(), end))
    return sections


# A period ends a sentence unless it sits in a number (3.5), an abbreviation, or a level written "C5."
_ABBREVIATIONS = {"dr", "mr", "mrs", "ms", "no", "vs", "approx", "st", "fig", "e.g", "i.e", "etc", "inc", "cc", "mg"}
_SENTENCE_END = re.compile(r"[.!?](?=\s+[\"'(]?[A-Z0-9])|[.!?]$|\n\s*\n|\n(?=\s*[A-Z][A-Z ]{3,}:)")


def split_sentences(text: str) -> list[tuple[int, int]]:
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
