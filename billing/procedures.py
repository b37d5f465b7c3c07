"""The procedure reader: what the dictating surgeon documents as done, as facts with their evidence.

A coder reads the procedure list for what was done, and the description for how: levels, side, implants,
graft. This reader does the same:

1. Procedure statements come from the procedure section(s) (one item per numbered line, sentence or
   semicolon); a "Procedure:" section that is really the narrative (long, "the patient was …") counts as
   the description. Without a procedure section, every sentence outside the diagnosis sections is a
   statement.
2. In each statement, trigger phrases name the procedure kinds (TRIGGERS below, most specific first; a
   phrase claimed by one kind is not read again by a more general one). Spinal levels in the statement go
   to the nearest procedure before them, or else the one after them ("C4-C5, C5-C6 anterior cervical
   discectomy and fusion").
3. Details that the description often carries (implants, graft, microscope, imaging guidance) are read
   from the whole note.
4. medspaCy ConText drops what is negated ("no interbody fusion was performed"), hypothetical or
   uncertain.

Codes written in the note ("(63075)", "22851") are never read as procedures: the reader only sees words.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from billing import levels as lv
from billing.note import Note, assess
from billing.results import Evidence

# Kind -> trigger pattern. Order matters: specific phrases first, so "transforaminal lumbar interbody
# fusion" is a posterior interbody fusion and not a transforaminal injection plus a generic fusion.
_W = r"[\w\-/]*"  # the rest of a word
TRIGGERS: list[tuple[str, str]] = [
    # Cervical anterior
    ("acdf", r"\bACDF\b|anterior\s+cervical\s+(?:micro)?(?:discectomy|diskectomy|decompression)s?"
             r"(?:[^.;\n]{0,60}?)\b(?:and|with|&)\s+(?:interbody\s+|instrumented\s+)?(?:fusions?|arthrodes[ie]s)"
             r"|anterior\s+(?:micro)?(?:discectomy|diskectomy)s?\s+(?:and|with|&)\s+(?:interbody\s+)?fusions?"),
    ("cervical_arthroplasty", r"(?:cervical\s+)?(?:total\s+)?(?:disc|disk)\s+(?:arthroplasty|replacement)"
                              r"|artificial\s+(?:cervical\s+)?(?:disc|disk)"),
    ("corpectomy", r"\b(?:partial\s+|total\s+)?(?:corpectom(?:y|ies)|vertebrectom(?:y|ies))"),
    ("anterior_discectomy", r"anterior\s+(?:cervical\s+)?(?:micro)?(?:discectomy|diskectomy)s?"),
    ("laminoplasty", r"\blaminoplast(?:y|ies)\b"),
    # Fusions
    ("posterior_interbody", r"\bT\.?L\.?I\.?F\.?s?\b|\bP\.?L\.?I\.?F\.?s?\b|\bMIS[- ]TLIF\b"
                            r"|transforaminal\s+(?:lumbar\s+)?interbody\s+(?:fusion|arthrodesis)"
                            r"|posterior\s+(?:lumbar\s+)?interbody\s+(?:fusion|arthrodesis)"),
    ("anterior_interbody", r"\bA\.?L\.?I\.?F\.?s?\b|\b[XDO]LIF\b|\bLLIF\b"
                           r"|(?:anterior|lateral|oblique|direct\s+lateral|extreme\s+lateral|anterolateral)"
                           r"\s+(?:(?:lumbar|thoracic|retroperitoneal|transpsoas|trans-psoas|prepsoas|pre-psoas|"
                           r"antepsoas)\s+)*interbody\s+(?:fusion|arthrodesis)"),
    ("anterior_fusion", r"anterior\s+(?:spin(?:e|al)\s+|thoracolumbar\s+|lumbar\s+|thoracic\s+|cervical\s+)?"
                        r"(?:fusion|arthrodesis)"),
    ("posterolateral_fusion", r"(?:posterolateral|posterior|intertransverse|instrumented\s+posterior|posterior\s+spinal)"
                              r"(?:\s*\([^)]{0,30}\))?"  # "posterolateral (intertransverse) arthrodesis"
                              r"\s+(?:spin(?:e|al)\s+|lumbar\s+|cervical\s+|thoracic\s+|segmental\s+|instrumented\s+)*"
                              r"(?:fusions?|arthrodes[ie]s)|posterolateral\s+gutters?"),
    # Decompression
    ("re_exploration", r"re-?\s?exploration|\bredo\b[^.;\n]{0,40}?(?:laminotomy|laminectomy|dis[ck]ectomy|decompression)"
                       r"|revision\s+(?:lumbar\s+)?(?:laminotomy|laminectomy|dis[ck]ectomy|microdis[ck]ectomy)"
                       r"|recurrent\s+(?:disc\s+)?herniation[^.;\n]{0,40}?(?:discectomy|excision)"),
    # Through the pedicle to the disc or the canal (63055/63056); a vertebral augmentation's transpedicular
    # approach is only the way in for its needle and is not this.
    # Osteotomies for deformity: three-column (22206/22207) before posterior-element (22212/22214).
    ("three_column_osteotomy", r"pedicle\s+subtraction\s+osteotom(?:y|ies)|\bPSOs?\b|three[- ]column\s+osteotom(?:y|ies)"
                               r"|vertebral\s+column\s+resection|\bVCR\b"),
    ("posterior_osteotomy", r"smith[- ]petersen\s+osteotom(?:y|ies)|\bponte\s+osteotom(?:y|ies)|\bSPOs\b"
                            r"|posterior\s+column\s+osteotom(?:y|ies)|posterior\s+element\s+osteotom(?:y|ies)"),
    ("transpedicular", r"transpedicular\s+(?:approach\s+)?(?:(?:with|for|and)\s+(?:\w+\s+){0,2})?"
                       r"(?:decompression|dis[ck]ectomy)|costovertebral\s+(?:approach|decompression)"
                       r"|costotransversectomy|(?:decompression|dis[ck]ectomy)\s+(?:through|via)\s+the\s+pedicle"),
    ("laminectomy", r"(?:decompressive\s+|complete\s+|total\s+|full\s+|bilateral\s+|central\s+|wide\s+)*"
                    r"laminectom(?:y|ies)(?!\s+syndrome)"),
    ("laminotomy", r"(?:hemi-?)?laminotom(?:y|ies)|hemilaminectom(?:y|ies)|(?:micro-?)?(?:discectomy|diskectomy)"
                   r"|foraminotom(?:y|ies)|\bmicrodecompression\b"),
    ("hardware_removal", r"removal\s+of\s+(?:the\s+)?(?:spinal\s+|posterior\s+|anterior\s+|segmental\s+|pedicle\s+screw\s+)*"
                         r"(?:hardware|instrumentation|implants?)|hardware\s+removal"),
    # Instrumentation and implants (also read from the description)
    ("instrumentation_posterior", r"pedicle[- ]screws?|pedicular\s+screws?|transpedicular\s+screws?|lateral\s+mass\s+screws?"
                                  r"|screws?\s+and\s+rods?|rods?\s+and\s+screws?|posterior\s+(?:spin(?:e|al)\s+)?(?:segmental\s+)?instrumentation"
                                  r"|segmental\s+(?:spinal\s+)?instrumentation|pedicle\s+screw\s+instrumentation"
                                  r"|sublaminar\s+wires?|unit[- ]rod"),
    ("instrumentation_anterior", r"anterior\s+(?:cervical\s+)?(?:plate|plating|instrumentation)|(?<!end\s)(?<!end-)(?<!end)\bplates?\b"
                                 r"(?!\s+of\s+the)|\buniplate\b"),
    ("interbody_device", r"\bcages?\b|\bPEEK\b|interbody\s+(?:device|implant|spacer)s?|titanium\s+spacers?"
                         r"|synthetic\s+spacers?|expandable\s+(?:cage|device|spacer)s?"),
    ("fusion_exploration", r"exploration\s+of\s+(?:the\s+)?(?:prior\s+|previous\s+)?(?:spinal\s+)?fusion"),
    ("pelvic_fixation", r"iliac\s+(?:bolts?|screws?)|\bS2[- ]?AI\b|S2[- ]alar[- ]iliac|pelvic\s+fixation"
                        r"|(?:fixation|instrumentation|construct)\s+(?:extended\s+)?(?:in)?to\s+the\s+pelvis"),
    ("microscope", r"operating\s+microscope|\bmicroscop(?:e|ic|ically)\b"),
    ("navigation", r"\bnavigat(?:ion|ed)\b|\bO-arm\b|stereotactic|computer[- ]assisted|image[- ]guid(?:ed|ance)\s+navigation"),
    # Injections and pain procedures
    ("transforaminal_injection", r"transforaminal(?:ly)?(?:\s+(?:epidural|steroid|nerve|injections?|block|ESI)s?)*"
                                 r"|\bTFESIs?\b|selective\s+nerve\s+root\s+(?:block|injection)s?"),
    ("rfa", r"radio\s?-?frequency\s+(?:ablation|neurotomy|lesioning|denervation|rhizotomy)|\bRFA\b|rhizotomy"
            r"|\bRF\s+(?:ablation|neurotomy|lesioning|denervation)|\bRFN\b|medial\s+branch\s+(?:radio\s?frequency|RF)"
            r"|radiofrequency\s+(?:of|to)\s+the\s+medial\s+branch|facet\s+(?:joint\s+)?denervation"),
    ("si_fusion", r"sacroiliac\s+joint\s+(?:fusion|arthrodesis)|\bSI\s+joint\s+(?:fusion|arthrodesis)|\bSIJ\s+fusion"
                  r"|sacroiliac\s+(?:fusion|arthrodesis)"),
    ("si_injection", r"(?:sacroiliac|\bSI|\bSIJ)\s+(?:joint\s+)?(?:intra-?articular\s+)?(?:steroid\s+)?"
                     r"(?:injection|block|arthrogram)s?"),
    ("facet_injection", r"medial\s+branch(?:es)?(?:\s+nerves?)?(?:[^.;\n]{0,60}?\b(?:blocks?|injections?))|\bMBBs?\b"
                        r"|dorsal\s+ram(?:us|i)\s+blocks?|facet\s+(?:joint\s+)?(?:injection|block)s?"
                        r"|intra-?articular\s+(?:facet\s+)?(?:injection|block)s?|facet\s+arthrogram"),
    ("epidural", r"(?:interlaminar|caudal|translaminar|cervical|thoracic|lumbar|lumbosacral)?\s*"
                 r"epidural\s+(?:steroid\s+)?(?:injection|block)s?|\bI?L?ESIs?\b|caudal\s+(?:epidural|block|injection)"),
    ("kyphoplasty", r"(?:balloon\s+)?kyphoplast(?:y|ies)|vertebral\s+augmentation"),
    ("vertebroplasty", r"vertebroplast(?:y|ies)"),
    ("discography", r"discogra(?:m|phy|ms)|diskogra(?:m|phy)|provocative\s+discography"),
    ("scs_paddle", r"paddle\s+(?:lead|electrode)s?|laminotomy\s+(?:lead|electrode)"),
    ("scs_lead", r"(?:spinal\s+cord\s+)?stimulator\s+(?:trial|lead|electrode)s?|(?:epidural\s+)?electrode\s+arrays?"
                 r"|percutaneous\s+(?:placement\s+of\s+)?(?:[\w-]+\s+)?(?:leads?|electrodes?)|spinal\s+cord\s+stimulat"
                 r"|\bSCS\b(?:\s+(?:trial|leads?|implant(?:ation)?|placement|system))?"),
    ("scs_generator", r"(?:implantable\s+)?pulse\s+generator|\bIPG\b|neurostimulator\s+generator"),
    ("occipital_block", r"(?:greater\s+|lesser\s+)?occipital\s+nerve\s+(?:blocks?|injections?)|\bGONB?s?\b"
                        r"|occipital\s+(?:nerve\s+)?blocks?"),
    ("trigger_point", r"trigger\s+points?(?:\s+injections?)?|\bTPIs?\b"),
    # Generic words last: they only name what no specific phrase above has claimed.
    ("interbody_fusion", r"interbody\s+(?:fusion|arthrodesis)"),
    ("fusion", r"\b(?:spinal\s+)?(?:fusions?|arthrodes[ie]s)\b"),
    ("decompression", r"(?<!anterior\s)decompression"),
]
_COMPILED = [(kind, re.compile(pattern, re.IGNORECASE)) for kind, pattern in TRIGGERS]

# Kinds that are procedures in their own right (read from procedure statements); the others are details
# read from the whole note when a procedure they belong to is there.
DETAIL_KINDS = {"instrumentation_posterior", "instrumentation_anterior", "interbody_device", "microscope", "navigation",
                "pelvic_fixation"}

_REGION_WORDS = [
    ("cervical", r"\bcervical\b|\bneck\b"), ("thoracic", r"\bthoracic\b"),
    ("lumbar", r"\blumbar\b|\blumbosacral\b|\blow\s+back\b"), ("sacral", r"\bcaudal\b|\bsacral\b|\bsacroiliac\b"),
]
_SIDE = re.compile(r"\b(bilateral(?:ly)?|both\s+sides|left(?:-sided)?|right(?:-sided)?)\b", re.IGNORECASE)
_FLUORO = re.compile(r"fluoroscop\w*|\bfluoro\b|\bC-arm\b|\bCT[- ]guid\w*|computed\s+tomography\s+guid\w*", re.IGNORECASE)
_PAST = re.compile(r"\b(?:status\s+post|s/p|history\s+of|previous(?:ly)?|prior|had\s+(?:an?\s+|his\s+|her\s+)?|"
                   r"underwent|has\s+had|have\s+had)\b", re.IGNORECASE)
# "... laminectomy in 2019", "... fusion 3 years ago": dated, so not this session.
_DATED_AFTER = re.compile(r"^[^.;\n]{0,30}?\b(?:in\s+(?:19|20)\d\d|(?:\d+|a|one|two|three|four|five|several)\s+"
                          r"(?:years?|months?)\s+ago)\b", re.IGNORECASE)
# "We may do medial branch blocks down the road", "will consider RFA": a plan, not something done today.
_PLANNED = re.compile(r"\b(?:may|might|could|would|will|plan(?:s|ned|ning)?\s+to|consider(?:ing)?|schedul\w+|"
                      r"recommend(?:ed)?|candidate\s+for|if\s+(?:needed|indicated|this\s+fails))\b[^.;\n]{0,40}$",
                      re.IGNORECASE)
_PLANNED_AFTER = re.compile(r"^[^.;\n]{0,40}\b(?:down\s+the\s+road|in\s+the\s+future|at\s+a\s+later\s+date|"
                            r"next\s+(?:visit|time|month)|if\s+(?:needed|this\s+fails))\b", re.IGNORECASE)
_NARRATIVE = re.compile(r"\b(?:the\s+)?patient\s+was\b|\bwas\s+(?:taken|brought|placed)\b", re.IGNORECASE)


@dataclass
class ProcedureFact:
    kind: str
    start: int
    end: int
    region: str | None = None                      # cervical | thoracic | lumbar | sacral
    interspaces: list[lv.Interspace] = field(default_factory=list)
    vertebrae: list[lv.Vertebra] = field(default_factory=list)
    laterality: str | None = None                  # left | right | bilateral
    count: int | None = None                       # arrays, muscles: what a unit counts when not levels
    detail: dict = field(default_factory=dict)
    evidence: list[Evidence] = field(default_factory=list)
    from_statement: bool = True                    # named in the procedure list (vs. the description only)

    @property
    def level_names(self) -> list[str]:
        return [i.name for i in self.interspaces] or [v.name for v in self.vertebrae]


@dataclass
class ProcedureReading:
    facts: list[ProcedureFact]
    imaging_guidance: bool | None          # fluoroscopy/CT documented (None: not mentioned at all)
    negated: list[ProcedureFact]           # procedures the note says were not done ("no fusion")
    statements: list[tuple[int, int]]      # where the procedure list was read


def statements_of(note: Note) -> list[tuple[int, int]]:
    """Spans of the procedure statements: list items of the procedure section(s), or the whole note."""
    spans: list[tuple[int, int]] = []
    for section in note.bodies("procedure"):
        body = note.text[section.start : section.end]
        if len(body) > 700 and _NARRATIVE.search(body[:300]):
            continue  # a "PROCEDURE:" heading over the narrative: that is the description
        spans.extend(_split_items(note.text, section.start, section.end))
    if spans:
        return spans
    excluded = {"preoperative_diagnosis", "postoperative_diagnosis", "diagnosis", "indications"}
    return [
        (s, e) for s, e in note.sentences
        if (note.section_at(s) is None or note.section_at(s).name not in excluded)
    ]


def _split_items(text: str, start: int, end: int) -> list[tuple[int, int]]:
    # Numbered items ("1. …", "2) …"), lines, semicolons and sentences each stand alone.
    pieces, cursor = [], start
    for match in re.finditer(r"\n\s*(?:\d+[.)]|[-*•])\s+|\n|;|(?<=[a-z0-9)])\.\s+(?=[A-Z0-9])", text[start:end]):
        piece_end = start + match.start()
        if text[cursor:piece_end].strip():
            pieces.append((cursor, piece_end))
        cursor = start + match.end()
    if text[cursor:end].strip():
        pieces.append((cursor, end))
    # Item numbers and stray punctuation left between splits are not statements; a sub-item that only names a
    # level ("   a. L3-4") belongs to the item above it.
    kept: list[tuple[int, int]] = []
    for a, b in pieces:
        if re.search(r"[A-Za-z]{3}", text[a:b]):
            kept.append((a, b))
        elif kept and lv.find_levels(text[a:b]):
            kept[-1] = (kept[-1][0], b)
    return kept


def _triggers_in(text: str, start: int, end: int, kinds: Iterable[str] | None = None) -> list[tuple[str, int, int]]:
    """(kind, start, end) of every trigger in text[start:end]; a span claimed once is not matched again."""
    wanted = set(kinds) if kinds is not None else None
    taken: list[tuple[int, int]] = []
    found = []
    window = text[start:end]
    for kind, pattern in _COMPILED:
        if wanted is not None and kind not in wanted:
            continue
        for match in pattern.finditer(window):
            s, e = start + match.start(), start + match.end()
            if not window[match.start():match.end()].strip():
                continue
            if any(s < te and ts < e for ts, te in taken):
                continue
            taken.append((s, e))
            found.append((kind, s, e))
    found.sort(key=lambda t: t[1])
    return found


def _region_from_words(text: str) -> str | None:
    for region, pattern in _REGION_WORDS:
        if re.search(pattern, text, re.IGNORECASE):
            return region
    return None


def region_of_levels(interspaces: list[lv.Interspace], vertebrae: list[lv.Vertebra]) -> str | None:
    """The region a procedure's code family is chosen by: that of its most cephalad level."""
    if interspaces:
        first = min(interspaces)
        return {"cervical": "cervical", "cervicothoracic": "cervical", "thoracic": "thoracic",
                "thoracolumbar": "thoracic", "lumbar": "lumbar", "lumbosacral": "lumbar"}[first.region]
    if vertebrae:
        return {"C": "cervical", "T": "thoracic", "L": "lumbar", "S": "sacral"}[min(vertebrae).region]
    return None


# Clinic shorthand: "b/l", "bilat", "L>R", "lt", "rt", and a lone capital L or R before a level or a procedure
# ("L L5-S1 TFESI", "R C5-6 MBB"); "L5" and "L>R" are not sides of one.
_SIDE_SHORT = re.compile(
    r"(?P<bilateral>\b(?i:b/l|bilat)\b|\b[LR]\s*>\s*[LR]\b)|(?P<left>\b(?i:lt)\b\.?|(?<![\w/>-])L(?=\s+(?!{numbers})(?:[CTLS]\d|side|"
    r"sided|[a-z]{3,}|[A-Z]{3,})))|(?P<right>\b(?i:rt)\b\.?|(?<![\w/>-])R(?=\s+(?!{numbers})(?:[CTLS]\d|side|sided|[a-z]{3,}|[A-Z]{3,})))"
    # "L four L five" is a spoken level, not "left four".
    .replace("{numbers}", r"(?i:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)\b"),
)


def _side(text: str) -> str | None:
    sides = {m.group(1).lower().split("-")[0].replace("bilaterally", "bilateral").replace("both sides", "bilateral")
             for m in _SIDE.finditer(text)}
    sides.update(match.lastgroup for match in _SIDE_SHORT.finditer(text))
    if "bilateral" in sides or {"left", "right"} <= sides:
        return "bilateral"
    if sides:
        return sides.pop()
    return None


def _share_levels(text: str, triggers, assigned: dict[int, list]) -> None:
    """ "Laminectomy and fusion C3-C6": procedures joined by "and"/"with" share the levels named after the last."""
    for i in range(len(triggers) - 2, -1, -1):
        if assigned[i]:
            continue
        gap = text[triggers[i][2]:triggers[i + 1][1]]
        if assigned[i + 1] and re.fullmatch(r"\s*(?:,|and|with|&|plus)\s*(?:(?:posterior|anterior|instrumented|"
                                            r"spinal|lumbar|cervical|thoracic)\s+)*", gap, re.IGNORECASE):
            assigned[i] = list(assigned[i + 1])


def _assign_levels(triggers, mentions) -> dict[int, list]:
    """Each level mention goes to the nearest trigger before it, else the nearest after it."""
    out: dict[int, list] = {i: [] for i in range(len(triggers))}
    for mention in mentions:
        inside = [i for i, (_, s, e) in enumerate(triggers) if s <= mention.start and mention.end <= e]
        if inside:
            out[inside[0]].append(mention)
            continue
        before = [i for i, (_, s, e) in enumerate(triggers) if e <= mention.start]
        after = [i for i, (_, s, e) in enumerate(triggers) if s >= mention.end]
        if before:
            out[before[-1]].append(mention)
        elif after:
            out[after[0]].append(mention)
    return out


def read_procedures(note: Note) -> ProcedureReading:
    text = note.text
    statements = statements_of(note)
    candidates: list[ProcedureFact] = []
    for s_start, s_end in statements:
        triggers = [t for t in _triggers_in(text, s_start, s_end)]
        if not triggers:
            continue
        mentions = lv.find_levels(text[s_start:s_end])
        mentions = [_shift(m, s_start) for m in mentions]
        assigned = _assign_levels(triggers, mentions)
        _share_levels(text, triggers, assigned)
        statement_text = text[s_start:s_end]
        for i, (kind, start, end) in enumerate(triggers):
            if (_PAST.search(text[s_start:start]) or _DATED_AFTER.match(text[end:s_end])
                    or _planned(text, s_start, start, end, s_end)):
                continue  # "Status post C5-6 fusion", "will consider RFA": not done in this session
            fact = ProcedureFact(kind=kind, start=start, end=end)
            for mention in assigned[i]:
                fact.interspaces.extend(mention.interspaces)
                fact.vertebrae.extend(mention.vertebrae)
                if mention.form in ("vertebra", "list"):
                    fact.detail.setdefault("roots", []).extend(mention.vertebrae)
            clause = _clause(text, s_start, s_end, start, end)
            fact.laterality = _side(clause) or _side(statement_text)
            # "... with lateral mass screws C4 and C5, and C4 laminectomy": a level the nearest-trigger rule gave to
            # another procedure still places this one in its region.
            fact.region = region_of_levels(fact.interspaces, fact.vertebrae) or _region_from_words(clause) \
                or _region_from_words(statement_text) or region_of_levels(
                    [i for m in mentions for i in m.interspaces], [v for m in mentions for v in m.vertebrae])
            fact.evidence.append(Evidence(s_start, s_end, text[s_start:s_end].strip()))
            fact.detail["statement"] = (s_start, s_end)
            candidates.append(fact)

    _levels_and_side_from_template(note, candidates)

    # Details (implants, microscope, navigation) and decompressions the narrative adds.
    statement_spans = set(statements)
    for kind, start, end in _triggers_in(text, 0, len(text)):
        if kind not in DETAIL_KINDS | {"laminectomy", "laminotomy", "decompression"}:
            continue
        if any(s <= start < e for s, e in statement_spans) and any(
            c.start == start and c.kind == kind for c in candidates
        ):
            continue
        sentence = note.sentence_at(start)
        section = note.section_at(start)
        if section is not None and section.name in {"preoperative_diagnosis", "postoperative_diagnosis",
                                                     "diagnosis", "indications"}:
            continue
        if (_PAST.search(text[sentence[0]:start]) or _DATED_AFTER.match(text[end:sentence[1]])
                or _planned(text, sentence[0], start, end, sentence[1])):
            continue  # "she had an L4-S1 laminectomy in 2019", "we may do blocks later"
        fact = ProcedureFact(kind=kind, start=start, end=end, from_statement=False)
        sentence_text = text[sentence[0]:sentence[1]]
        sentence_triggers = _triggers_in(text, sentence[0], sentence[1])
        mentions = [_shift(m, sentence[0]) for m in lv.find_levels(sentence_text)]
        index = next((i for i, t in enumerate(sentence_triggers) if t[1] == start), None)
        if index is not None:
            for mention in _assign_levels(sentence_triggers, mentions)[index]:
                fact.interspaces.extend(mention.interspaces)
                fact.vertebrae.extend(mention.vertebrae)
        fact.laterality = _side(sentence_text)
        fact.region = region_of_levels(fact.interspaces, fact.vertebrae) or _region_from_words(sentence_text)
        fact.evidence.append(Evidence(sentence[0], sentence[1], sentence_text.strip()))
        candidates.append(fact)

    contexts = assess(text, [(f.start, f.end) for f in candidates])
    facts, negated = [], []
    for fact, context in zip(candidates, contexts, strict=True):
        if context.negated:
            negated.append(fact)
        elif context.affirmed and not context.historical:
            # "Status post C5-6 fusion", "history of laminectomy": done before, not in this session.
            facts.append(fact)

    imaging = None
    fluoro = [(m.start(), m.end()) for m in _FLUORO.finditer(text)]
    if fluoro:
        imaging = any(c.affirmed for c in assess(text, fluoro))
    return ProcedureReading(facts=facts, imaging_guidance=imaging, negated=negated, statements=statements)


def _planned(text: str, s_start: int, start: int, end: int, s_end: int) -> bool:
    return bool(_PLANNED.search(text[max(s_start, start - 60):start]) or _PLANNED_AFTER.match(text[end:min(s_end,
                                                                                                        end + 60)]))


def _levels_and_side_from_template(note: Note, facts: list[ProcedureFact]) -> None:
    """ "LEVELS: L3-4, L4-5" and "SIDE: Bilateral" lines of a templated note belong to its procedure."""
    text = note.text
    level_sections = note.bodies("levels")
    side_sections = note.bodies("side")
    if not level_sections and not side_sections:
        return
    mentions = [_shift(m, s.start) for s in level_sections for m in lv.find_levels(note.section_text(s))]
    side = next((found for s in side_sections if (found := _side(note.section_text(s)))), None)
    for fact in facts:
        if fact.kind in DETAIL_KINDS:
            continue
        if mentions and not fact.interspaces and not fact.vertebrae:
            for mention in mentions:
                fact.interspaces.extend(mention.interspaces)
                fact.vertebrae.extend(mention.vertebrae)
                if mention.form in ("vertebra", "list"):
                    fact.detail.setdefault("roots", []).extend(mention.vertebrae)
            fact.region = region_of_levels(fact.interspaces, fact.vertebrae) or fact.region
            start, end = level_sections[0].start, level_sections[0].end
            fact.evidence.append(Evidence(start, end, text[start:end].strip()))
        if side and not fact.laterality:
            fact.laterality = side


def _clause(text: str, s_start: int, s_end: int, start: int, end: int) -> str:
    """The comma-delimited clause around a trigger: where its own side and region words are."""
    left = max(text.rfind(",", s_start, start), text.rfind(" with ", s_start, start), s_start - 1) + 1
    right_candidates = [p for p in (text.find(",", end, s_end), text.find(" with ", end, s_end)) if p != -1]
    right = min(right_candidates) if right_candidates else s_end
    return text[left:right]


def _shift(mention: lv.LevelMention, offset: int) -> lv.LevelMention:
    return lv.LevelMention(start=mention.start + offset, end=mention.end + offset, text=mention.text,
                           interspaces=mention.interspaces, vertebrae=mention.vertebrae, form=mention.form)
