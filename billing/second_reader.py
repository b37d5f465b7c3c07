"""The second reader's pure parts: the fact schema a local LLM fills, its prompt, and checking its reply.

A language model reads the same transcript as the rule-based reader (billing.procedures, billing.diagnoses)
and returns the same kinds of facts as JSON. Nothing here loads a model; this module only:

1. states the schema (`Facts`, pydantic v2, strict: unknown keys and values outside the vocabularies are
   refused) and builds the chat prompt for it (`build_prompt`), in chunks when a transcript is longer than
   the model's context (`split_for_context`: by section, never silently cut);
2. reads a reply (`parse_reply`): JSON inside code fences or prose is found, anything else raises
   `SecondReaderError` saying what is wrong, which `retry_messages` turns into the one retry;
3. grounds the facts in the transcript (`grounded`): levels and sides are normalised in code (billing.levels),
   and a fact whose quote is not in the transcript is discarded, each discard recorded with its reason. A
   small model invents words, splits "L4-L5" into "L4", "L5" and copies a side onto midline work
   (../shared/RECIPES.md): only what the text shows survives.

What the facts mean for the claim is billing.reconcile's question; the second reader never adds or removes
a code by itself (DESIGN.md, "Workers, models and scale").
"""

from __future__ import annotations

import functools
import json
import re
import time
import typing
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from billing import levels as lv
from billing.note import Note, split_sentences
from billing.results import Evidence

# --- vocabularies --------------------------------------------------------------------------------------------

# The second reader's procedure names -> the rule reader's fact kind (billing.procedures.TRIGGERS), so the
# two readers' facts can be compared. The names are the ones surgeons and coders use, which a small model
# knows better than our internal kinds; several map to one kind where CPT codes them alike (a
# microdiscectomy, a hemilaminotomy and a foraminotomy are all the 63030/63047-family "laminotomy" kind).
PROCEDURE_KINDS: dict[str, str] = {
    "acdf": "acdf",
    "anterior_cervical_discectomy": "anterior_discectomy",
    "cervical_disc_arthroplasty": "cervical_arthroplasty",
    "corpectomy": "corpectomy",
    "laminoplasty": "laminoplasty",
    "tlif": "posterior_interbody",
    "plif": "posterior_interbody",
    "alif": "anterior_interbody",
    "lateral_interbody_fusion": "anterior_interbody",   # XLIF, DLIF, OLIF, LLIF
    "anterior_fusion": "anterior_fusion",
    "posterolateral_fusion": "posterolateral_fusion",
    "interbody_fusion": "interbody_fusion",
    "fusion": "fusion",
    "pedicle_subtraction_osteotomy": "three_column_osteotomy",
    "posterior_column_osteotomy": "posterior_osteotomy",  # Smith-Petersen, Ponte
    "transpedicular_decompression": "transpedicular",
    "laminectomy": "laminectomy",
    "laminotomy": "laminotomy",
    "hemilaminotomy": "laminotomy",
    "microdiscectomy": "laminotomy",
    "discectomy": "laminotomy",
    "foraminotomy": "laminotomy",
    "revision_decompression": "re_exploration",
    "decompression": "decompression",
    "hardware_removal": "hardware_removal",
    "fusion_exploration": "fusion_exploration",
    "transforaminal_esi": "transforaminal_injection",
    "selective_nerve_root_block": "transforaminal_injection",
    "interlaminar_esi": "epidural",
    "caudal_esi": "epidural",
    "facet_injection": "facet_injection",
    "medial_branch_block": "facet_injection",
    "rfa": "rfa",
    "si_joint_injection": "si_injection",
    "si_joint_fusion": "si_fusion",
    "kyphoplasty": "kyphoplasty",
    "vertebroplasty": "vertebroplasty",
    "discography": "discography",
    "scs_percutaneous_lead": "scs_lead",
    "scs_paddle_lead": "scs_paddle",
    "scs_pulse_generator": "scs_generator",
    "occipital_nerve_block": "occipital_block",
    "trigger_point_injection": "trigger_point",
}

# Implants a procedure places -> the rule reader's detail kind that codes them (22840-22842, 22845-22847,
# 22853/22854, 22848).
IMPLANT_KINDS: dict[str, str] = {
    "pedicle_screws": "instrumentation_posterior",
    "lateral_mass_screws": "instrumentation_posterior",
    "rods": "instrumentation_posterior",
    "sublaminar_wires": "instrumentation_posterior",
    "anterior_plate": "instrumentation_anterior",
    "interbody_cage": "interbody_device",
    "iliac_screws": "pelvic_fixation",
}

# Words a sentence must hold for the second reader's name of a procedure or implant to stand: a small model puts a
# wrong name on a right quote ("interlaminar_esi" on a TLIF sentence), and a name the sentence does not say is
# a fact without evidence, discarded like a quote that is not in the transcript.
KIND_WORDS: dict[str, str] = {
    "acdf": r"\bACDF\b|anterior\s+cervical|(?:discectom|diskectom)[^.;]{0,60}(?:fusion|arthrodes)",
    "anterior_cervical_discectomy": r"anterior[^.;]{0,40}(?:discectom|diskectom)|\bACDF?\b",
    "cervical_disc_arthroplasty": r"arthroplast|(?:disc|disk)\s+replacement|artificial\s+(?:disc|disk)",
    "corpectomy": r"corpectom|vertebrectom",
    "laminoplasty": r"laminoplast",
    "tlif": r"\bT\.?LIF|transforaminal[^.;]{0,30}interbody",
    "plif": r"\bP\.?LIF|posterior\s+lumbar\s+interbody",
    "alif": r"\bA\.?LIF|anterior\s+lumbar\s+interbody",
    "lateral_interbody_fusion": r"\b[XDOL]\.?LIF|lateral[^.;]{0,30}interbody",
    "anterior_fusion": r"anterior[^.;]{0,60}(?:fusion|arthrodes)",
    "posterolateral_fusion": r"posterolateral|intertransverse|posterior[^.;]{0,30}(?:fusion|arthrodes)",
    "interbody_fusion": r"interbody|\b[TPAXDOL]LIF\b|\bACDF\b",
    "fusion": r"fusion|arthrodes|\b[TPAXDOL]LIF\b|\bACDF\b",
    "pedicle_subtraction_osteotomy": r"pedicle\s+subtraction|\bPSO\b",
    "posterior_column_osteotomy": r"smith[- ]petersen|\bponte\b|posterior\s+column\s+osteotom",
    "transpedicular_decompression": r"transpedicular|costotransversectom",
    "laminectomy": r"laminectom",
    "laminotomy": r"laminotom",
    "hemilaminotomy": r"hemi-?\s?laminotom|laminotom",
    "microdiscectomy": r"micro-?\s?(?:discectom|diskectom)|(?:discectom|diskectom)",
    "discectomy": r"discectom|diskectom",
    "foraminotomy": r"foraminotom",
    "revision_decompression": r"revision|re-?exploration|\bredo\b|re-?do\b",
    "decompression": r"decompress",
    "hardware_removal": r"remov[^.;]{0,40}(?:hardware|instrumentation|screws?|rods?)|(?:hardware|instrumentation)"
                        r"[^.;]{0,30}remov",
    "fusion_exploration": r"explor",
    "transforaminal_esi": r"transforaminal|\bTF\s?ESI",
    "selective_nerve_root_block": r"selective\s+nerve\s+root|nerve\s+root\s+block|\bSNRB",
    "interlaminar_esi": r"interlaminar|\bIL\s?ESI",
    "caudal_esi": r"caudal",
    "facet_injection": r"(?:facet(?!ectom)|zygapophys)[^.;]{0,40}(?:inject|block)|(?:inject|block)[^.;]{0,40}"
                       r"(?:facet(?!ectom)|zygapophys)",
    "medial_branch_block": r"medial\s+branch",
    "rfa": r"radiofrequency|\bRFA\b|ablat|neurotom|rhizotom",
    "si_joint_injection": r"sacroiliac|\bSI\b",
    "si_joint_fusion": r"(?:sacroiliac|\bSI\b)[^.;]{0,60}(?:fusion|arthrodes)|(?:fusion|arthrodes)[^.;]{0,60}"
                       r"(?:sacroiliac|\bSI\b)",
    "kyphoplasty": r"kyphoplast",
    "vertebroplasty": r"vertebroplast",
    "discography": r"discogra|diskogra",
    "scs_percutaneous_lead": r"\blead|electrode",
    "scs_paddle_lead": r"paddle|plate\s+electrode|surgical\s+lead",
    "scs_pulse_generator": r"generator|\bIPG\b|battery|receiver",
    "occipital_nerve_block": r"occipital",
    "trigger_point_injection": r"trigger\s+points?",
}
IMPLANT_WORDS: dict[str, str] = {
    "pedicle_screws": r"pedicle|screw", "lateral_mass_screws": r"lateral\s+mass", "rods": r"\brods?\b",
    "sublaminar_wires": r"sublaminar|wir(?:e|ing)", "anterior_plate": r"\bplat(?:e|ing)\b",
    "interbody_cage": r"cage|spacer|interbody\s+(?:device|implant|graft)|\bPEEK\b|titanium",
    "iliac_screws": r"iliac|\bS2AI\b|sacral[- ]?alar",
}
# The same for a diagnosis: the words its sentence must hold for the condition the model named (a model that reads
# "low back pain" and answers disc_displacement states a fact the note does not).
CONDITION_WORDS: dict[str, str] = {
    "disc_displacement": r"herniat|protru|extru|bulg|\bHNPs?\b|prolaps|sequest|free\s+fragment|displace",
    "disc_degeneration": r"degenerat|\bDDD\b|desiccat|disc\s+disease|disk\s+disease",
    "annular_tear": r"annul|fissur",
    "stenosis": r"stenos|stenotic",
    "spondylolisthesis": r"listhes",
    "spondylolysis": r"spondylolys|pars\b",
    "spondylosis": r"spondylos|osteophyt|arthrit|degenerat",
    "facet_arthropathy": r"facet|zygapophys",
    "facet_syndrome": r"facet|zygapophys",
    "radiculopathy": r"radicul|nerve\s+root|radiat|sciatica",
    "myelopathy": r"myelopath",
    "cord_compression": r"cord",
    "neurogenic_claudication": r"claudica",
    "sciatica": r"sciatic",
    "neck_pain": r"neck|cervicalgia|cervical\s+pain",
    "low_back_pain": r"back|lumbago|lumbar\s+pain",
    "back_pain": r"back|dorsalgia",
    "thoracic_pain": r"thoracic|mid-?back|upper\s+back",
    "leg_pain": r"\blegs?\b|lower\s+extremit|thigh|calf|buttock",
    "arm_pain": r"\barms?\b|upper\s+extremit|shoulder|forearm|hand",
    "sacroiliitis": r"sacroili",
    "si_instability": r"instab",
    "instability": r"instab|hypermobil",
    "si_joint_pain": r"sacroiliac|\bSI\b",
    "postlaminectomy": r"post-?\s?laminectomy|failed\s+back|prior\s+\w*\s*(?:laminectomy|surgery|fusion|decompression)",
    "pseudarthrosis": r"pseud\w*arthros|non-?union",
    "fracture": r"fractur|\bfx\b",
    "scoliosis": r"scolio",
    "kyphosis": r"kypho",
    "myofascial_pain": r"myofascial",
    "myalgia": r"myalg|muscle|spasm",
    "cervical_dystonia": r"dystoni",
    "torticollis": r"torticollis",
    "occipital_neuralgia": r"occipital",
    "cervicogenic_headache": r"headache|cervicogenic",
    "painful_hardware": r"hardware|instrumentation|implant|screw|\brods?\b",
    "hardware_failure": r"hardware|instrumentation|implant|screw|\brods?\b|loosen|broken",
    "crps": r"\bCRPS\b|complex\s+regional|reflex\s+sympathetic|\bRSD\b",
    "myeloma": r"myeloma",
    "bone_metastasis": r"metasta",
}
_KIND_RES = {name: re.compile(pattern, re.IGNORECASE) for name, pattern in (KIND_WORDS | IMPLANT_WORDS).items()}
_CONDITION_RES = {name: re.compile(pattern, re.IGNORECASE) for name, pattern in CONDITION_WORDS.items()}

ProcedureKind = Literal[tuple(PROCEDURE_KINDS)]
ImplantKind = Literal[tuple(IMPLANT_KINDS)]
# Bone graft as the 2093x add-ons tell them apart (local vs separate-incision autograft, morselized vs structural
# allograft) plus the biologics that are not coded but often dictated.
GraftKind = Literal["local_autograft", "iliac_crest_autograft", "morselized_allograft", "structural_allograft",
                    "demineralized_bone_matrix", "bmp", "bone_marrow_aspirate"]
Side = Literal["left", "right", "bilateral", "none"]
# The rule-based diagnosis reader's condition kinds (billing.diagnoses.CONDITIONS), written out so that the
# schema a model is shown does not change when a pattern table is reordered.
ConditionKind = Literal[
    "disc_displacement", "disc_degeneration", "annular_tear", "stenosis", "spondylolisthesis", "spondylolysis",
    "spondylosis", "facet_arthropathy", "facet_syndrome", "radiculopathy", "myelopathy", "cord_compression",
    "neurogenic_claudication", "sciatica", "neck_pain", "low_back_pain", "back_pain", "thoracic_pain", "leg_pain",
    "arm_pain", "sacroiliitis", "si_instability", "instability", "si_joint_pain", "postlaminectomy",
    "pseudarthrosis", "fracture", "scoliosis", "kyphosis", "myofascial_pain", "myalgia", "cervical_dystonia",
    "torticollis", "occipital_neuralgia", "cervicogenic_headache", "painful_hardware", "hardware_failure", "crps",
    "myeloma", "bone_metastasis",
]

# Sides as models write them; anything else is refused by the schema.
_SIDE_WORDS = {"left": "left", "lt": "left", "l": "left", "left-sided": "left", "right": "right", "rt": "right",
               "r": "right", "right-sided": "right", "bilateral": "bilateral", "bilaterally": "bilateral",
               "bilat": "bilateral", "b/l": "bilateral", "both": "bilateral", "none": "none", "midline": "none",
               "n/a": "none", "": "none"}


class SecondReaderError(ValueError):
    """The second reader's reply cannot be used; the message says what is wrong (and goes back to the model)."""


def _readable_level(value: str) -> str:
    value = value.strip()
    mentions = lv.find_levels(value)
    rest = value
    for mention in reversed(mentions):
        rest = rest[: mention.start] + rest[mention.end :]
    if not mentions or re.search(r"[A-Za-z0-9]", re.sub(r"\b(?:and|to|through)\b", "", rest)):
        raise ValueError(f"{value!r} is not a spinal level; write an interspace like 'L4-L5' or a vertebra like 'L4'")
    return value


_LEVELS_HELP = "Interspaces like 'L4-L5' or vertebrae like 'L4'"
_NEGATED_HELP = "True when the text says it was NOT done / is NOT present"
_QUOTE_HELP = "The exact words of the transcript this rests on"


class _Fact(BaseModel):
    """What procedures and diagnoses share. Fields are declared in each subclass, in the order a model writes
    them: the name, then the quote it rests on, then what the quote says (levels, side, negation)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("levels", check_fields=False)
    @classmethod
    def _levels_are_levels(cls, values: list[str]) -> list[str]:
        return [_readable_level(v) for v in values]

    @field_validator("side", mode="before", check_fields=False)
    @classmethod
    def _side_word(cls, value: object) -> object:
        if value is None:
            return "none"
        if isinstance(value, str):
            return _SIDE_WORDS.get(value.strip().lower(), value)
        return value


class ProcedureRead(_Fact):
    kind: ProcedureKind
    quote: str = Field(min_length=3, max_length=400, description=_QUOTE_HELP)
    levels: list[str] = Field(default_factory=list, description=_LEVELS_HELP)
    side: Side = "none"
    negated: bool = Field(False, description=_NEGATED_HELP)
    implants: list[ImplantKind] = Field(default_factory=list)
    graft: list[GraftKind] = Field(default_factory=list)


class DiagnosisRead(_Fact):
    condition: ConditionKind
    quote: str = Field(min_length=3, max_length=400, description=_QUOTE_HELP)
    levels: list[str] = Field(default_factory=list, description=_LEVELS_HELP)
    side: Side = "none"
    negated: bool = Field(False, description=_NEGATED_HELP)


class Facts(BaseModel):
    """What the second reader returns: the procedures done in this session and the diagnoses treated."""

    model_config = ConfigDict(extra="forbid")

    procedures: list[ProcedureRead]
    diagnoses: list[DiagnosisRead]


def merge(parts: list[Facts]) -> Facts:
    """The facts of a transcript read in chunks, in chunk order."""
    return Facts(procedures=[p for part in parts for p in part.procedures],
                 diagnoses=[d for part in parts for d in part.diagnoses])


# --- the prompt ----------------------------------------------------------------------------------------------

_RULES = """\
Rules:
- Report only what the text says was done in THIS session, and the diagnoses it names. Never guess.
- "quote": the few exact words of the transcript the fact rests on (3 to 10 words), copied character for
  character. Report each procedure and each diagnosis once, and never name a kind the quoted words do not say.
- "levels": interspaces as "L4-L5", "C5-C6", "L5-S1"; single vertebrae as "L4". One disc space is ONE
  interspace ("L4-L5"), never two vertebrae. Two levels are two interspaces: ["L3-L4", "L4-L5"].
- "side" is "left", "right" or "bilateral" only when the text says so; otherwise "none".
- Procedures or diagnoses the text says were not done or are absent ("no fusion", "no myelopathy") are
  reported with "negated": true; leave "negated" out otherwise.
- Never write a CPT or ICD-10 code, and never add a key the schema does not have.
- Reply with one JSON object and nothing else."""

_EXAMPLE_NOTE = ("Preoperative diagnosis: Left L4-5 disc herniation with left L5 radiculopathy.\n"
                 "Procedure: Left L4-L5 hemilaminotomy and microdiscectomy. No fusion was performed.")
_EXAMPLE_REPLY = {
    "procedures": [
        {"kind": "microdiscectomy", "quote": "Left L4-L5 hemilaminotomy and microdiscectomy", "levels": ["L4-L5"],
         "side": "left"},
        {"kind": "fusion", "quote": "No fusion was performed", "levels": [], "side": "none", "negated": True}],
    "diagnoses": [
        {"condition": "disc_displacement", "quote": "Left L4-5 disc herniation", "levels": ["L4-L5"],
         "side": "left"},
        {"condition": "radiculopathy", "quote": "left L5 radiculopathy", "levels": ["L5"], "side": "left"}]}


def build_prompt(transcript: str, *, section: str | None = None) -> list[dict]:
    """Chat messages asking for `Facts` as JSON; `section` says which part of a longer note this is.

    The schema is told in words (the vocabularies listed once) and by one worked example, not as JSON Schema:
    a third of the tokens, so a 2-core host reads the prompt in a few seconds (the runtime's grammar, `schema()`,
    holds the model to the exact shape)."""
    system = _system_prompt()
    intro = "Transcript:"
    if section:
        intro = f"This is {section} of a longer transcript; report only what this part says.\nTranscript:"
    return [{"role": "system", "content": system}, {"role": "user", "content": f"{intro}\n{transcript}"}]


@functools.cache
def _system_prompt() -> str:
    """The same for every transcript (so llama.cpp reuses its evaluated prefix from one read to the next)."""
    fields = ('{"procedures": [{"kind", "quote", "levels", "side", "negated", "implants", "graft"}], '
              '"diagnoses": [{"condition", "quote", "levels", "side", "negated"}]}')
    kinds, conditions, implants, graft = (", ".join(typing.get_args(t)) for t in (
        ProcedureKind, ConditionKind, ImplantKind, GraftKind))
    return ("You read spine surgery and pain procedure dictations for a medical biller. Extract the procedures "
            f"performed and the diagnoses as JSON of this shape:\n{fields}\n"
            f"kind is one of: {kinds}.\n"
            f"condition is one of: {conditions}.\n"
            f"Optional, only when the text names them: implants placed, a list of {implants}; graft, a list of "
            f"{graft}.\n"
            f"{_RULES}\n\nExample.\nTranscript:\n{_EXAMPLE_NOTE}\nReply:\n"
            f"{json.dumps(_EXAMPLE_REPLY, separators=(',', ':'))}")


def retry_messages(messages: list[dict], reply: str, error: SecondReaderError | str) -> list[dict]:
    """The conversation for the one retry: the bad reply, then what was wrong with it."""
    return [*messages, {"role": "assistant", "content": reply},
            {"role": "user", "content": f"That reply cannot be used: {error}\nReply again with only the corrected "
                                        "JSON object, following the schema and the rules."}]


# A line that opens a section ("Procedure:", "FINDINGS:", "Preoperative diagnosis:") or a blank line: where a
# long transcript may be cut without parting a sentence from its section.
_SECTION_START = re.compile(r"\n[ \t]*\n|\n(?=[ \t]*[A-Za-z][A-Za-z /&()'-]{2,60}:)")


def split_for_context(transcript: str, *, max_chars: int) -> list[str]:
    """Chunks of at most max_chars that join back to the whole transcript: cut between sections (headings,
    blank-line paragraphs), a section longer than max_chars between sentences, a sentence longer than that
    between words. Nothing is dropped: "".join(chunks) == transcript."""
    if max_chars < 1:
        raise ValueError("max_chars must be positive")
    if len(transcript) <= max_chars:
        return [transcript] if transcript else []
    # After a blank line; before a heading (after the newline that ends the line above it).
    cuts = sorted({0, len(transcript), *(m.end() if m.group().count("\n") > 1 else m.start() + 1
                                         for m in _SECTION_START.finditer(transcript))})
    pieces: list[str] = []
    for start, end in zip(cuts, cuts[1:], strict=False):
        pieces.extend(_fit(transcript[start:end], max_chars))
    chunks: list[str] = []
    for piece in pieces:
        if chunks and len(chunks[-1]) + len(piece) <= max_chars:
            chunks[-1] += piece
        else:
            chunks.append(piece)
    return chunks


def _fit(text: str, max_chars: int) -> list[str]:
    if len(text) <= max_chars:
        return [text]
    spans = split_sentences(text)
    cuts = sorted({0, len(text), *(s for s, _ in spans)})
    parts = [text[a:b] for a, b in zip(cuts, cuts[1:], strict=False)]
    if len(parts) > 1:
        out: list[str] = []
        for part in parts:
            for fitted in _fit(part, max_chars):
                if out and len(out[-1]) + len(fitted) <= max_chars:
                    out[-1] += fitted
                else:
                    out.append(fitted)
        return out
    # One sentence longer than the context: between words, and a word longer than that in pieces.
    out = []
    for word in re.findall(r"\S*\s*", text):
        while len(word) > max_chars:
            out.append(word[:max_chars])
            word = word[max_chars:]
        if not word:
            continue
        if out and len(out[-1]) + len(word) <= max_chars:
            out[-1] += word
        else:
            out.append(word)
    return out


# --- the reply -----------------------------------------------------------------------------------------------

_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)


def _first_object(text: str) -> str | None:
    """The first balanced {...} in text, braces inside JSON strings not counted."""
    start = text.find("{")
    while start != -1:
        depth, in_string, escaped = 0, False, False
        for i in range(start, len(text)):
            ch = text[i]
            if in_string:
                if escaped:
                    escaped = False
                elif ch == "\\":
                    escaped = True
                elif ch == '"':
                    in_string = False
            elif ch == '"':
                in_string = True
            elif ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    return text[start : i + 1]
        start = text.find("{", start + 1)
    return None


def _describe(error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        where = "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else str(p))
                        for i, p in enumerate(item["loc"])) or "reply"
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "is not a key of the schema"
        elif item["type"] == "missing":
            message = "is missing"
        elif item["type"] in ("literal_error", "enum") and isinstance(item.get("input"), str) \
                and len(item["input"]) <= 40:
            # Only a vocabulary value is shown (the model needs it to correct itself); free text such as a quote
            # is transcript words, which are PHI, and a failed read's message is stored and may be logged.
            message += f" (got {item['input']!r})"
        problems.append(f"{where}: {message}")
    return "; ".join(problems)


def parse_reply(text: str) -> Facts:
    """The facts in a model's reply: bare JSON, JSON in ``` fences, or the first JSON object amid prose."""
    if not text or not text.strip():
        raise SecondReaderError("the reply is empty: expected one JSON object")
    candidates = [m.group(1).strip() for m in _FENCE.finditer(text)]
    candidates.append(text.strip())
    data = None
    for candidate in candidates:
        try:
            data = json.loads(candidate)
            break
        except json.JSONDecodeError:
            found = _first_object(candidate)
            if found is None:
                continue
            try:
                data = json.loads(found)
                break
            except json.JSONDecodeError as error:
                raise SecondReaderError(f"the reply is not valid JSON: {error.msg} at character {error.pos} "
                                        "of its JSON object") from None
    if data is None:
        raise SecondReaderError("the reply is not JSON: no JSON object found")
    if not isinstance(data, dict):
        raise SecondReaderError(f"the reply is JSON but not an object (got a {type(data).__name__})")
    try:
        return Facts.model_validate(data)
    except ValidationError as error:
        raise SecondReaderError(f"the reply does not match the schema: {_describe(error)}") from None


# --- grounding -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GroundedProcedure:
    kind: str                                   # the second reader's name ("foraminotomy")
    rule_kind: str                              # the rule reader's kind it compares with ("laminotomy")
    interspaces: tuple[lv.Interspace, ...]
    vertebrae: tuple[lv.Vertebra, ...]          # vertebrae named alone (not the ends of an interspace)
    side: str | None                            # left | right | bilateral | None
    negated: bool
    evidence: Evidence
    implants: tuple[str, ...] = ()
    graft: tuple[str, ...] = ()

    @property
    def level_names(self) -> list[str]:
        return [i.name for i in self.interspaces] + [v.name for v in self.vertebrae]


@dataclass(frozen=True)
class GroundedDiagnosis:
    condition: str
    interspaces: tuple[lv.Interspace, ...]
    vertebrae: tuple[lv.Vertebra, ...]
    side: str | None
    negated: bool
    evidence: Evidence

    @property
    def level_names(self) -> list[str]:
        return [i.name for i in self.interspaces] + [v.name for v in self.vertebrae]


@dataclass(frozen=True)
class Dropped:
    """Something the second reader said that the transcript does not show: the whole fact, a level or a side."""

    fact: ProcedureRead | DiagnosisRead
    part: str      # "fact", "side" or "level"
    reason: str


@dataclass
class GroundedFacts:
    procedures: list[GroundedProcedure] = field(default_factory=list)
    diagnoses: list[GroundedDiagnosis] = field(default_factory=list)
    dropped: list[Dropped] = field(default_factory=list)


def _folded(text: str) -> tuple[str, list[int]]:
    """Letters and digits only, lower case, with each one's offset in text: quotes match across the model's
    changes of case, spacing and punctuation ("L4/5" for "L4-5", a dropped comma)."""
    kept, offsets = [], []
    for i, ch in enumerate(text):
        if ch.isalnum():
            kept.append(ch.lower())
            offsets.append(i)
    return "".join(kept), offsets


# A quote shorter than this (letters and digits) is found almost anywhere and proves nothing.
_MIN_QUOTE_CHARS = 6
# "...", "…": the model skipping words inside its quote; each part must be found, in order, close together.
_ELLIPSIS = re.compile(r"\.\.\.+|…")
_PART_GAP = 200


def find_quote(quote: str, transcript: str, *, near: list[str] = ()) -> tuple[int, int] | None:
    """(start, end) of quote in transcript, or None. Among several places, the first whose sentence names one
    of the `near` levels."""
    folded, offsets = _folded(transcript)
    parts = [_folded(p)[0] for p in _ELLIPSIS.split(quote)]
    parts = [p for p in parts if p]
    if not parts or sum(len(p) for p in parts) < _MIN_QUOTE_CHARS:
        return None
    places = []
    position = folded.find(parts[0])
    while position != -1:
        cursor, end = position + len(parts[0]), position + len(parts[0])
        for part in parts[1:]:
            found = folded.find(part, cursor, cursor + _PART_GAP + len(part))
            if found == -1:
                end = None
                break
            cursor = end = found + len(part)
        if end is not None:
            places.append((offsets[position], offsets[end - 1] + 1))
        position = folded.find(parts[0], position + 1)
    if not places:
        return None
    if near:
        wanted = {n for name in near for n in _names(lv.find_levels(name))}
        for start, end in places:
            s, e = _sentence(transcript, start, end)
            if wanted & set(_names(lv.find_levels(transcript[s:e]))):
                return start, end
    return places[0]


def _names(mentions: list[lv.LevelMention]) -> list[str]:
    return [i.name for m in mentions for i in m.interspaces] + [v.name for m in mentions for v in m.vertebrae]


def _sentence(transcript: str, start: int, end: int) -> tuple[int, int]:
    spans = split_sentences(transcript)
    first = next((s for s, e in spans if s <= start < e), start)
    last = next((e for s, e in spans if s < end <= e), end)
    return first, last


def _window(note: Note, start: int, end: int) -> str:
    """Where a fact's levels and side may be said: its sentence, its section, and a templated LEVELS/SIDE line."""
    s, e = _sentence(note.text, start, end)
    parts = [note.text[s:e]]
    section = note.section_at(start)
    if section is not None:
        parts.append(note.section_text(section))
    parts += [note.section_text(b) for b in note.bodies("levels", "side")]
    return "\n".join(parts)


# Words that deny or rule out: a fact the model calls negated must stand in a sentence that holds one.
_DENIAL = re.compile(r"\b(?:no|not|non|without|denie[sd]|deny|negative|never|none|neither|nor|absent|free\s+of|"
                     r"ruled\s+out|rules\s+out|deferred|declined|cancel(?:l?ed)?|abort(?:ed)?|instead\s+of|"
                     r"rather\s+than)\b|n't\b", re.IGNORECASE)


def _sentence_denies(note: Note, start: int, end: int) -> bool:
    s, e = _sentence(note.text, start, end)
    return bool(_DENIAL.search(note.text[s:e]))


def _sentence_names(words: re.Pattern, note: Note, start: int, end: int) -> bool:
    """The quote's sentence holds the words of what the model named (KIND_WORDS, CONDITION_WORDS)."""
    s, e = _sentence(note.text, start, end)
    return bool(words.search(note.text[s:e]))


def _implant_named(implant: str, fact: ProcedureRead, note: Note, dropped: list[Dropped]) -> bool:
    """An implant is often told apart from its procedure ("Rods were secured."): the note must name it somewhere."""
    if _KIND_RES[implant].search(note.text):
        return True
    dropped.append(Dropped(fact, "implant", f"the note does not name {implant.replace('_', ' ')}"))
    return False


def _levels(fact: ProcedureRead | DiagnosisRead, window_mentions: list[lv.LevelMention], quote_mentions,
            dropped: list[Dropped]) -> tuple[tuple[lv.Interspace, ...], tuple[lv.Vertebra, ...]]:
    interspaces: list[lv.Interspace] = []
    vertebrae: list[lv.Vertebra] = []
    for written in fact.levels:
        for mention in lv.find_levels(written):
            if mention.form in ("interspace", "range"):
                interspaces += [i for i in mention.interspaces if i not in interspaces]
            else:
                vertebrae += [v for v in mention.vertebrae if v not in vertebrae]
    # "L4", "L5" for the disc the text calls "L4-5" (a small model splits interspaces): one interspace.
    for mention in quote_mentions:
        for interspace in mention.interspaces:
            if interspace.upper in vertebrae and interspace.lower in vertebrae:
                vertebrae = [v for v in vertebrae if v not in (interspace.upper, interspace.lower)]
                if interspace not in interspaces:
                    interspaces.append(interspace)
    said_interspaces = {i for m in window_mentions for i in m.interspaces}
    said_vertebrae = {v for m in window_mentions for v in m.vertebrae}
    kept_interspaces = []
    for interspace in interspaces:
        if interspace in said_interspaces:
            kept_interspaces.append(interspace)
        else:
            dropped.append(Dropped(fact, "level", f"{interspace.name} is not named near the quote"))
    kept_vertebrae = []
    for vertebra in vertebrae:
        if vertebra in said_vertebrae:
            kept_vertebrae.append(vertebra)
        else:
            dropped.append(Dropped(fact, "level", f"{vertebra.name} is not named near the quote"))
    return tuple(sorted(kept_interspaces)), tuple(sorted(kept_vertebrae))


def _side_window(note: Note, start: int, end: int) -> str:
    """Where a fact's side may be said: its own sentence and a templated SIDE line. Not its section: "Left-sided
    TLIF at L4-L5. A complete laminectomy and bilateral foraminotomies..." puts a side on the TLIF only, and a
    small model copies it onto the midline laminectomy beside it."""
    s, e = _sentence(note.text, start, end)
    return "\n".join([note.text[s:e], *(note.section_text(b) for b in note.bodies("side"))])


def _grounded_side(fact: ProcedureRead | DiagnosisRead, window: str, dropped: list[Dropped]) -> str | None:
    # billing.procedures._side is the rule reader's own side reader (private there): both readers then agree on
    # what counts as a side word ("b/l", "L>R", "rt").
    from billing.procedures import _side

    if fact.side == "none":
        return None
    said = _side(window)
    if said is None:
        dropped.append(Dropped(fact, "side", f"no side word in the quote's sentence for {fact.side!r}"))
        return None
    if said != fact.side:
        # "A complete laminectomy and bilateral foraminotomies", read as left: the words decide, not the model.
        dropped.append(Dropped(fact, "side", f"the quote's sentence says {said}, not {fact.side}"))
        return None
    return fact.side


def grounded(facts: Facts, transcript: str) -> GroundedFacts:
    """The facts the transcript shows, each with its Evidence span; levels and sides normalised, discards listed."""
    note = Note(transcript)
    out = GroundedFacts()
    for fact in [*facts.procedures, *facts.diagnoses]:
        span = find_quote(fact.quote, transcript, near=fact.levels)
        if span is None:
            out.dropped.append(Dropped(fact, "fact", "its quote is not in the transcript"))
            continue
        start, end = span
        evidence = Evidence(start, end, transcript[start:end])
        window = _window(note, start, end)
        if fact.negated and not _sentence_denies(note, start, end):
            out.dropped.append(Dropped(fact, "fact", "its sentence does not say it was not done or is absent"))
            continue
        if isinstance(fact, ProcedureRead) and not _sentence_names(_KIND_RES[fact.kind], note, start, end):
            out.dropped.append(Dropped(fact, "fact", f"its sentence does not name a {fact.kind.replace('_', ' ')}"))
            continue
        if isinstance(fact, DiagnosisRead) and not _sentence_names(_CONDITION_RES[fact.condition], note, start,
                                                                   end):
            out.dropped.append(Dropped(fact, "fact", f"its sentence does not name {fact.condition.replace('_', ' ')}"))
            continue
        interspaces, vertebrae = _levels(fact, lv.find_levels(window), lv.find_levels(evidence.text), out.dropped)
        side = _grounded_side(fact, _side_window(note, start, end), out.dropped)
        if isinstance(fact, ProcedureRead):
            out.procedures.append(GroundedProcedure(
                kind=fact.kind, rule_kind=PROCEDURE_KINDS[fact.kind], interspaces=interspaces, vertebrae=vertebrae,
                side=side, negated=fact.negated, evidence=evidence,
                implants=tuple(i for i in fact.implants if _implant_named(i, fact, note, out.dropped)),
                graft=tuple(fact.graft)))
        else:
            out.diagnoses.append(GroundedDiagnosis(
                condition=fact.condition, interspaces=interspaces, vertebrae=vertebrae, side=side,
                negated=fact.negated, evidence=evidence))
    return out


# --- one read, with a model ----------------------------------------------------------------------------------

# Room left in the context besides the prompt: the reply, and for the one retry the bad reply and the next one.
_MARGIN_TOKENS = 64
_CHARS_PER_TOKEN = 3  # English clinical text runs near 4; 3 keeps a chunk inside the budget before it is counted


@dataclass
class ReadOutcome:
    """One second read of one transcript: the merged facts when every chunk gave a valid reply, else the error.

    Counts are for the status page and the benchmark. `error` names the chunk and what was wrong, in the
    schema's vocabulary only (never transcript words: it is stored)."""

    facts: Facts | None = None
    chunks: int = 0
    replies: int = 0  # model calls
    valid_first: int = 0  # chunks whose first reply was valid
    retried: int = 0  # chunks that needed the retry
    error: str = ""
    seconds: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def ok(self) -> bool:
        return self.facts is not None


# What a grammar holds a reply to, beyond the schema: every fact names its kind, quote, levels and side
# (a small model skips optional keys it may skip, "levels" first); lists and quotes are bounded, so a model that
# starts to repeat itself stops at a bound instead of writing until its token limit.
# Greedy decoding of a 1.5B model falls into a loop on a long operative note (the same fact with the same quote
# until the list's bound); a mild penalty on what it just wrote breaks the loop (bench/second_reader.py, the TLIF
# note: 426 tokens of eight identical facts at 1.0, six different facts in 301 tokens at 1.15).
REPEAT_PENALTY = 1.1
_GRAMMAR_REQUIRED = ("kind", "condition", "quote", "levels", "side")  # "negated" is written when true
_GRAMMAR_MAX_ITEMS = {"procedures": 6, "diagnoses": 6, "levels": 8, "implants": 4, "graft": 3}
_GRAMMAR_QUOTE_CHARS = 90


@functools.cache
def schema() -> dict:
    """The JSON schema of `Facts` for a runtime that constrains its output to one (llama.cpp's grammar): the
    schema, with the facts' core fields required and every list and quote bounded (see above). `parse_reply`
    still takes a reply without the optional fields (their defaults). Built once: callers must not change it."""
    shape = Facts.model_json_schema()
    for definition in [shape, *shape["$defs"].values()]:
        properties = definition.get("properties", {})
        if "quote" in properties:
            definition["required"] = [name for name in properties if name in _GRAMMAR_REQUIRED]
            properties["quote"]["maxLength"] = _GRAMMAR_QUOTE_CHARS
        for name, bound in _GRAMMAR_MAX_ITEMS.items():
            if name in properties:
                properties[name]["maxItems"] = bound
    return shape


def prime(model) -> float:
    """Seconds to evaluate, once, the prompt every read begins with (the system prompt and the opening of the
    user turn). llama.cpp keeps the last prompt's evaluated tokens and reuses their longest common prefix, so
    only a worker's first read pays this (about 25 s on 2 cores, for some 1 150 tokens); the benchmark primes
    first, to time each note as a running worker reads it, and reports this once-per-worker cost apart."""
    started = time.perf_counter()
    model.chat(build_prompt(""), max_tokens=1)
    return time.perf_counter() - started


def chunks_for(transcript: str, model, *, max_tokens: int) -> list[str]:
    """The transcript in as few chunks as the model's context holds with room for the reply and one retry;
    each chunk's prompt is counted in the model's own tokens, and cut smaller until it fits."""
    budget = model.info.context_tokens - 2 * max_tokens - _MARGIN_TOKENS
    system_tokens = model.count_tokens(build_prompt("")[0]["content"]) + 32
    room = budget - system_tokens
    if room < 64:
        raise SecondReaderError(f"the model's context ({model.info.context_tokens} tokens) leaves no room for a "
                                f"transcript beside the prompt and a {max_tokens}-token reply")
    max_chars = room * _CHARS_PER_TOKEN
    while True:
        chunks = split_for_context(transcript, max_chars=max_chars)
        if all(model.count_tokens(chunk) <= room for chunk in chunks) or max_chars <= 64:
            return chunks
        max_chars = int(max_chars * 0.8)


def read_transcript(transcript: str, model, *, max_tokens: int = 1024, deadline: float | None = None) -> ReadOutcome:
    """Ask `model` (billy.llm.LanguageModel) for the transcript's facts, chunk by chunk when it is longer than
    the context; an invalid reply is retried once with what was wrong. billy.llm.GenerationFailed (out of memory,
    the deadline) is left to the caller, which fails the task so it is retried."""
    started = time.perf_counter()
    outcome = ReadOutcome()
    chunks = chunks_for(transcript, model, max_tokens=max_tokens)
    outcome.chunks = len(chunks)
    parts: list[Facts] = []
    for number, chunk in enumerate(chunks, start=1):
        section = f"part {number} of {len(chunks)}" if len(chunks) > 1 else None
        messages = build_prompt(chunk, section=section)
        facts, error = None, None
        for attempt in (1, 2):
            reply = model.chat(messages, json_schema=schema(), max_tokens=max_tokens, deadline=deadline,
                               repeat_penalty=REPEAT_PENALTY)
            outcome.replies += 1
            outcome.prompt_tokens += reply.prompt_tokens
            outcome.completion_tokens += reply.completion_tokens
            try:
                facts = parse_reply(reply.text)
            except SecondReaderError as exc:
                error = exc
                if reply.finish_reason == "length":
                    error = SecondReaderError(f"the reply was cut off at {max_tokens} tokens ({exc}); report each "
                                              "fact once, with a short quote")
                if attempt == 1:
                    outcome.retried += 1
                    messages = retry_messages(messages, reply.text, error)
                continue
            if attempt == 1:
                outcome.valid_first += 1
            break
        if facts is None:
            where = f"part {number} of {len(chunks)}: " if len(chunks) > 1 else ""
            outcome.error = f"{where}{error}; the retry was no better"[:500]
            outcome.seconds = time.perf_counter() - started
            return outcome
        parts.append(facts)
    outcome.facts = merge(parts) if parts else Facts(procedures=[], diagnoses=[])
    outcome.seconds = time.perf_counter() - started
    return outcome
