"""Deterministic spine coding: procedure facts -> CPT service lines with units, add-ons and modifiers.

The rules are those of ../shared/CODING_GUIDE.md (CPT 2026, Medicare/NCCI conventions), written as small
functions, one per code family, each explaining its line in one sentence a coder can check:

- units count what the code counts: interspaces (ACDF, TLIF/PLIF, ALIF, laminotomy, cages), vertebral
  segments (posterolateral fusion, laminectomy, 63052), joints (facet codes), foraminal levels
  (transforaminal injections), vertebral bodies (kyphoplasty), arrays (stimulator leads);
- the first unit is the primary code and the rest its add-on ("each additional"), on separate lines;
- instrumentation is one line per construct, chosen by the vertebrae it spans; graft once per type;
- combined posterior interbody + posterolateral fusion at one interspace is 22633, and decompression
  beyond what a posterior interbody fusion needs is 63052/63053 instead of a separate laminectomy;
- modifiers only where the note supports them: 50 (bilateral injections), LT/RT (one side), 51 (second
  and later primary procedures).

What a payer's edits deny (69990 with most spine codes for Medicare) is decided in billing.payer_edits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from billing import cpt, payer_edits
from billing import levels as lv
from billing.note import Note, spoken_to_written
from billing.procedures import ProcedureFact, ProcedureReading, read_procedures, region_of_levels
from billing.results import DiagnosisCode, Evidence, Finding


@dataclass(frozen=True)
class CodingContext:
    payer_id: str = "MEDICARE"
    payer_type: str = "medicare"           # medicare | medicaid | commercial | workers_comp | auto | self_pay
    place_of_service: str = "22"
    date_of_service: date | None = None
    patient_age: int | None = None
    patient_sex: str | None = None


@dataclass
class ServiceLine:
    cpt: str
    units: int = 1
    modifiers: list[str] = field(default_factory=list)
    confidence: float = 0.9
    rationale: str = ""
    evidence: list[Evidence] = field(default_factory=list)
    levels: list[str] = field(default_factory=list)
    region: str | None = None
    dx_pointers: list[str] = field(default_factory=list)
    add_on: bool = False
    drug: dict | None = None               # J-codes: {"name", "mg", "ndc"}


@dataclass
class CodingResult:
    lines: list[ServiceLine]                                   # to submit to the claim's payer
    withheld: list[tuple[ServiceLine, Finding]]                # documented, but the payer's edits deny them
    diagnoses: list[DiagnosisCode]
    findings: list[Finding]
    reading: ProcedureReading | None = None


# ---------------------------------------------------------------------------------------------------------
# Grouping facts

def _merge(facts: list[ProcedureFact]) -> ProcedureFact:
    """One fact per kind: the union of levels, sides and evidence of every statement naming it."""
    first = facts[0]
    merged = ProcedureFact(kind=first.kind, start=first.start, end=first.end, from_statement=first.from_statement)
    sides = set()
    for fact in facts:
        for interspace in fact.interspaces:
            if interspace not in merged.interspaces:
                merged.interspaces.append(interspace)
        for vertebra in fact.vertebrae:
            if vertebra not in merged.vertebrae:
                merged.vertebrae.append(vertebra)
        if fact.laterality:
            sides.add(fact.laterality)
        for evidence in fact.evidence:
            if evidence not in merged.evidence:
                merged.evidence.append(evidence)
        for key, value in fact.detail.items():
            if key == "roots":
                merged.detail.setdefault("roots", [])
                merged.detail["roots"] += [v for v in value if v not in merged.detail["roots"]]
            else:
                merged.detail.setdefault(key, value)
        merged.from_statement = merged.from_statement or fact.from_statement
        merged.region = merged.region or fact.region
    merged.interspaces.sort()
    merged.vertebrae.sort()
    if "bilateral" in sides or {"left", "right"} <= sides:
        merged.laterality = "bilateral"
    elif sides:
        merged.laterality = sides.pop()
    merged.region = region_of_levels(merged.interspaces, merged.vertebrae) or merged.region
    return merged


def group_facts(facts: list[ProcedureFact]) -> dict[str, ProcedureFact]:
    by_kind: dict[str, list[ProcedureFact]] = {}
    for fact in facts:
        by_kind.setdefault(fact.kind, []).append(fact)
    for group in by_kind.values():
        # The procedure list names the levels; the narrative's levels of the same procedure only fill a gap.
        if any(f.from_statement and (f.interspaces or f.vertebrae) for f in group):
            listed = {i for f in group if f.from_statement for i in f.interspaces}
            listed_vertebrae = {v for f in group if f.from_statement for v in f.vertebrae} | {
                v for i in listed for v in (i.upper, i.lower)}
            for fact in group:
                if not fact.from_statement:
                    elsewhere = not (set(fact.interspaces) <= listed and set(fact.vertebrae) <= listed_vertebrae)
                    if elsewhere:
                        # "Right L5-S1 microdiscectomy" listed, "a left-sided L4-L5 hemilaminotomy" told after: the
                        # left side is L4-L5's, not the listed procedure's, and must not make it bilateral (50).
                        fact.laterality = None
                    fact.interspaces, fact.vertebrae = [], []
    return {kind: _merge(group) for kind, group in by_kind.items()}


# ---------------------------------------------------------------------------------------------------------
# Line builders

def _levels_text(interspaces: list[lv.Interspace], vertebrae: list[lv.Vertebra] | None = None) -> str:
    names = [i.name for i in interspaces] or [v.name for v in vertebrae or []]
    return ", ".join(names) if names else "level not documented"


def _primary_and_addon(primary: str, add_on: str | None, count: int, fact: ProcedureFact, what: str,
                       unit_word: str, confidence: float = 0.92) -> list[ServiceLine]:
    """The first unit on the primary code, the rest on its add-on ("each additional")."""
    levels = fact.level_names
    lines = [ServiceLine(cpt=primary, units=1, confidence=confidence, evidence=list(fact.evidence),
                         levels=levels[:1], region=fact.region,
                         rationale=f"{what} at {levels[0] if levels else 'the documented level'}: first {unit_word}.")]
    if add_on and count > 1:
        lines.append(ServiceLine(cpt=add_on, units=count - 1, confidence=confidence, evidence=list(fact.evidence),
                                 levels=levels[1:], region=fact.region, add_on=True,
                                 rationale=f"{what}: {count - 1} additional {unit_word}(s) ({', '.join(levels[1:])})."))
    return lines


def _count_units(fact: ProcedureFact, basis: str) -> int:
    if basis == "interspace":
        return len(fact.interspaces) or (max(len(fact.vertebrae) - 1, 1) if len(fact.vertebrae) > 1 else 1)
    if basis == "vertebra":
        return len(fact.vertebrae) or (len(fact.interspaces) + 1 if fact.interspaces else 1)
    return 1


def facet_joints(fact: ProcedureFact) -> list[str]:
    """Facet codes count joints, not nerves (CODING_GUIDE). Named joints count as they are; medial branch
    nerves are turned into the joints they supply: in the lumbar spine the L(n-1) and L(n) medial branches
    supply the L(n)-L(n+1) joint (the L5 dorsal ramus stands in for L5 at L5-S1); in the cervical spine the
    C(n) and C(n+1) medial branches supply C(n)-C(n+1)."""
    if fact.interspaces:
        return [i.name for i in fact.interspaces]
    nerves = sorted(set(fact.vertebrae))
    joints = []
    for upper, lower in zip(nerves, nerves[1:], strict=False):
        if lower != upper.next():
            continue
        if upper.region == "C":
            joints.append(lv.Interspace(upper, lower).name)
        elif lower.next() is not None:
            joints.append(lv.Interspace(lower, lower.next()).name)
    if not joints and nerves:
        joints = [v.name for v in nerves]
    return joints


def _side_modifiers(fact: ProcedureFact) -> list[str]:
    if fact.laterality == "bilateral":
        return ["50"]
    if fact.laterality == "left":
        return ["LT"]
    if fact.laterality == "right":
        return ["RT"]
    return []


def _per_level_family(fact: ProcedureFact, codes: tuple[str, ...], count: int, levels: list[str], what: str,
                      unit_word: str) -> list[ServiceLine]:
    """Injection families whose add-ons are one line per extra level (64490-64495: first, second, third+)."""
    lines = []
    for index in range(count):
        code = codes[min(index, len(codes) - 1)]
        if lines and lines[-1].cpt == code:
            lines[-1].units += 1
            lines[-1].levels.append(levels[index] if index < len(levels) else "")
            continue
        lines.append(ServiceLine(
            cpt=code, units=1, modifiers=_side_modifiers(fact), evidence=list(fact.evidence), region=fact.region,
            levels=[levels[index]] if index < len(levels) else [], add_on=index > 0,
            rationale=f"{what}, {('first' if index == 0 else 'additional')} {unit_word}"
                      f" ({levels[index] if index < len(levels) else 'level not documented'})"
                      f"{', ' + fact.laterality if fact.laterality else ''}.",
            confidence=0.9 if levels else 0.6))
    # A bilateral injection is one line with modifier 50 and 1 unit per level code (CODING_GUIDE).
    for line in lines:
        if "50" in line.modifiers:
            line.units = 1 if line.cpt in codes[:2] else line.units
    return lines


# ---------------------------------------------------------------------------------------------------------

_CERVICAL_PLATE = re.compile(r"plate", re.IGNORECASE)


# Operations whose code includes preparing the interspace: the discectomy (and any decompression told only in
# the narrative) done for an arthrodesis, a disc replacement, a corpectomy or a laminoplasty is part of it.
_STRUCTURAL_KINDS = {"acdf", "cervical_arthroplasty", "corpectomy", "laminoplasty", "posterior_interbody",
                     "anterior_interbody", "anterior_fusion", "interbody_fusion", "posterolateral_fusion", "si_fusion",
                     "three_column_osteotomy", "posterior_osteotomy"}
# Anterior cervical operations (and laminoplasty) include the foraminotomies and decompression done with them
# (22551, 22856, 63075, 63081: "decompression of spinal cord and/or nerve root(s)").
_INCLUDES_DECOMPRESSION = {"acdf", "cervical_arthroplasty", "corpectomy", "anterior_discectomy", "laminoplasty"}
_PREP_DISCECTOMY = re.compile(r"(?:dis[ck]ectom(?:y|ies))$", re.IGNORECASE)


def _without_fusion_preparation(facts: list[ProcedureFact], text: str) -> list[ProcedureFact]:
    listed = {f.kind for f in facts if f.from_statement}
    if "hardware_removal" in listed and not listed & _STRUCTURAL_KINDS:
        # Removing a construct: "fusion" there is the solid fusion found, not a new arthrodesis.
        facts = [f for f in facts if f.kind not in ("fusion", "instrumentation_posterior", "instrumentation_anterior",
                                                    "fusion_exploration")]
    if not listed & _STRUCTURAL_KINDS:
        return facts
    kept = []
    for fact in facts:
        statement = text[slice(*fact.detail["statement"])] if "statement" in fact.detail else ""
        if fact.kind == "laminotomy" and (not fact.from_statement or
                                          _PREP_DISCECTOMY.fullmatch(text[fact.start:fact.end].strip())):
            continue
        if (fact.kind in ("laminotomy", "decompression") and listed & _INCLUDES_DECOMPRESSION
                and not re.search(r"\bposterior", statement, re.IGNORECASE)):
            continue
        if fact.kind == "laminotomy" and "posterior_interbody" in listed:
            # 22630/22633 include the laminotomy, facetectomy and discectomy at their interspaces.
            fused = {i for f in facts if f.kind == "posterior_interbody" for i in f.interspaces}
            if not fact.interspaces or set(fact.interspaces) <= fused:
                continue
        if fact.kind == "anterior_discectomy" and "cervical_arthroplasty" in listed:
            continue  # 22856/22858 include the discectomy that prepares the disc space
        if (fact.kind in ("laminectomy", "decompression") and not fact.from_statement
                and listed & {"three_column_osteotomy", "posterior_osteotomy"}):
            continue  # the osteotomy removes the posterior elements: that decompression is part of it
        if fact.kind == "decompression" and not fact.from_statement:
            continue  # "decompression" in the narrative of a fusion: the indirect decompression the fusion gives
        kept.append(fact)
    return kept


def code_procedures(reading: ProcedureReading, note: Note, context: CodingContext) -> tuple[list[ServiceLine],
                                                                                           list[Finding]]:
    facts = group_facts(_without_fusion_preparation(reading.facts, note.text))
    lines: list[ServiceLine] = []
    findings: list[Finding] = []
    text = note.text

    def take(kind: str) -> ProcedureFact | None:
        return facts.pop(kind, None)

    # Anterior cervical: a discectomy and a fusion of the same interspaces, whether named in one phrase or
    # in separate list items ("anterior cervical discectomy C5-6" / "anterior interbody fusion C5-6"), is an
    # ACDF: 22551 includes the discectomy and decompression at its interspace.
    acdf, disc = take("acdf"), facts.get("anterior_discectomy")
    if acdf is None and disc and disc.region in (None, "cervical"):
        fusions = [facts[k] for k in ("anterior_fusion", "anterior_interbody", "interbody_fusion", "fusion")
                   if k in facts and facts[k].region in (None, "cervical")]
        if fusions:
            acdf = _merge([disc, *fusions])
            for fusion in fusions:
                facts.pop(fusion.kind, None)
        elif "instrumentation_anterior" in facts or "interbody_device" in facts or any(
            re.search(r"\bgraft|allograft|autograft", text[a:b], re.IGNORECASE) for a, b in reading.statements
        ):
            # A plate, a cage or a graft in the disc space means the interspace was fused, named or not.
            acdf = disc
    if acdf:
        facts.pop("anterior_discectomy", None)
        if acdf.region in (None, "cervical"):
            for kind in ("fusion", "interbody_fusion", "anterior_fusion", "anterior_interbody", "decompression",
                         "laminotomy"):
                # Fusion words and foraminal decompression at the ACDF interspaces are part of 22551.
                if kind in facts and facts[kind].region in (None, "cervical"):
                    facts.pop(kind)
        count = _count_units(acdf, "interspace")
        lines += _primary_and_addon("22551", "22552", count, acdf, "Anterior cervical discectomy and fusion",
                                    "interspace")
    elif disc:
        facts.pop("anterior_discectomy")
        count = _count_units(disc, "interspace")
        if disc.region in (None, "cervical"):
            lines += _primary_and_addon("63075", "63076", count, disc, "Anterior cervical discectomy without fusion",
                                        "interspace")

    arthroplasty = take("cervical_arthroplasty")
    if arthroplasty:
        count = _count_units(arthroplasty, "interspace")
        lines += _primary_and_addon("22856", "22858", min(count, 2), arthroplasty, "Cervical disc arthroplasty",
                                    "interspace")

    corpectomy = take("corpectomy")
    if corpectomy:
        bodies = corpectomy.vertebrae or []
        region = corpectomy.region or "cervical"
        primary, add_on = {"cervical": ("63081", "63082"), "thoracic": ("63085", "63086"),
                           "lumbar": ("63090", "63091")}.get(region, ("63081", "63082"))
        lines += _primary_and_addon(primary, add_on, max(len(bodies), 1), corpectomy, "Vertebral corpectomy",
                                    "vertebral body")

    laminoplasty = take("laminoplasty")
    if laminoplasty:
        lines.append(ServiceLine(cpt="63051" if _CERVICAL_PLATE.search(text) else "63050", evidence=laminoplasty.evidence,
                                 region="cervical", levels=laminoplasty.level_names,
                                 rationale="Cervical laminoplasty (one code for two or more segments)."))

    named = " ".join([text[a:b] for a, b in reading.statements]
                     + [note.section_text(s) for s in note.bodies("preoperative_diagnosis", "postoperative_diagnosis",
                                                                  "diagnosis")])
    lines += _code_osteotomies(facts)
    lines += _code_fusions(facts, named, findings, text)
    lines += _code_decompressions(facts, lines, findings)
    lines += _code_instrumentation(facts, lines, reading, note)
    lines += _code_graft(text, lines, note)
    lines += _code_injections(facts, reading, context, note, findings)
    lines += _code_other(facts, text, note, context.place_of_service)

    for kind in ("microscope", "navigation"):
        fact = facts.pop(kind, None)
        if fact and lines:
            code = "69990" if kind == "microscope" else "61783"
            what = "Operating microscope used" if kind == "microscope" else "Computer-assisted navigation used"
            lines.append(ServiceLine(cpt=code, evidence=fact.evidence[:1], add_on=True, confidence=0.85,
                                     rationale=f"{what} during the procedure (once per session)."))

    corpectomies = sum(line.units for line in lines if line.cpt in {"63081", "63082", "63085", "63086", "63090",
                                                                    "63091"})
    if corpectomies:
        # The arthrodesis across a corpectomy defect is one anterior interbody arthrodesis per defect, not one
        # per disc space the defect spans.
        for line in lines:
            if line.cpt == "22585":
                line.units = corpectomies - 1
        lines = [line for line in lines if line.units > 0]
    lines = _with_primaries_only(lines, findings)
    if _CO_SURGERY.search(text) and lines:
        first = next((line for line in lines if not line.add_on), None)
        if first is not None and "62" not in first.modifiers:
            first.modifiers.append("62")  # two surgeons, each doing a distinct part of this code
            first.rationale += " Co-surgeons documented: modifier 62."
    for line in lines:
        entry = cpt.get(line.cpt)
        if entry is None:
            findings.append(Finding("PX-UNKNOWN-CODE", "error", f"{line.cpt} is not in IamBilly's CPT catalogue: "
                                    "check the code before submitting."))
            continue
        line.add_on = entry.add_on  # the catalogue, not the rule, says which codes are add-ons
    _apply_multiple_procedure_modifier(lines)
    if not lines:
        findings.append(Finding("PX-NONE", "warning", "No billable procedure is documented in this note: "
                                "check the dictation or query the physician."))
    for line in lines:
        if not line.levels and line.cpt in _LEVEL_CODES:
            findings.append(Finding("PX-LEVEL-MISSING", "warning",
                                    f"{line.cpt}: the spinal level is not documented; coded at one unit. "
                                    "Query the physician for the level(s).", evidence=tuple(line.evidence[:1])))
    return lines, findings


# Co-surgery documented ("Co-surgeons: Dr. A (exposure), Dr. B"), not denied ("Co-surgeon: none", "no co-surgeon").
_CO_SURGERY = re.compile(r"(?<!\bno\s)\bco-?\s?surg(?:eons?|ery)\b(?!\s*:?\s*(?:none|n/?a|no\b|not\b))",
                         re.IGNORECASE)


def _primaries_text(primaries: tuple[str, ...]) -> str:
    shown = ", ".join(primaries[:8])
    return f"its primaries include {shown}{' and others' if len(primaries) > 8 else ''}"


def _with_primaries_only(lines: list[ServiceLine], findings: list[Finding]) -> list[ServiceLine]:
    """An add-on code is billed only with one of its primary codes on the same claim (CPT; NCCI add-on edits)."""
    codes = {line.cpt for line in lines}
    kept = []
    for line in lines:
        entry = cpt.get(line.cpt)
        if line.cpt == "69990" and codes & payer_edits.CPT_69990_EXCLUDED:
            kept.append(line)  # payer_edits withholds it with CPT's own reason and the NCCI manual as its source
            continue
        if entry and entry.add_on and entry.primaries and not codes & set(entry.primaries):
            findings.append(Finding("PX-ADDON-NO-PRIMARY", "warning",
                                    f"{line.cpt} is documented, but it is an add-on code that is reported only with "
                                    "certain primary procedures and none of them is on this claim, so it was left off "
                                    f"({_primaries_text(entry.primaries)}).",
                                    evidence=tuple(line.evidence[:1])))
            continue
        kept.append(line)
    return kept


_LEVEL_CODES = {"22551", "63030", "63047", "62321", "62323", "64483", "64479", "64493", "64490", "64635",
                "64633", "22514", "22513", "22612", "22633", "22630", "63042", "63020"}


def _fusion_primary(region: str | None, kind: str) -> tuple[str, str]:
    if kind == "posterolateral":
        return {"cervical": ("22600", "22614"), "thoracic": ("22610", "22614")}.get(region or "", ("22612", "22614"))
    if kind == "anterior_interbody":
        # Cervical anterior fusion without discectomy is 22554; thoracic 22556; lumbar (ALIF, XLIF) 22558.
        return {"cervical": ("22554", "22585"), "thoracic": ("22556", "22585")}.get(region or "", ("22558", "22585"))
    return ("22630", "22632")


def _code_osteotomies(facts: dict[str, ProcedureFact]) -> list[ServiceLine]:
    """Osteotomies for deformity, by vertebral segment: three-column 22206 (thoracic) / 22207 (lumbar) + 22208;
    posterior-element 22210 / 22212 / 22214 + 22216."""
    out = []
    for kind, table, add_on, what in (
        ("three_column_osteotomy", {"thoracic": "22206", "lumbar": "22207"}, "22208", "Three-column osteotomy"),
        ("posterior_osteotomy", {"cervical": "22210", "thoracic": "22212", "lumbar": "22214"}, "22216",
         "Posterior-element osteotomy"),
    ):
        fact = facts.pop(kind, None)
        if fact is None:
            continue
        segments = sorted(set(fact.vertebrae)) or sorted({i.upper for i in fact.interspaces})
        region = region_of_levels([], segments[:1]) or fact.region or "lumbar"
        primary = table.get(region, table.get("lumbar"))
        fact.vertebrae, fact.interspaces = segments, []
        out += _primary_and_addon(primary, add_on, max(len(segments), 1), fact, what, "vertebral segment")
    return out


def _code_fusions(facts: dict[str, ProcedureFact], named: str, findings: list[Finding], text: str) -> list[ServiceLine]:
    lines: list[ServiceLine] = []
    # Deformity fusion codes only when the deformity is what the operation is for: named in the procedure
    # list or the diagnoses ("mild kyphosis" in the history of a degenerative case is not it).
    deformity = re.search(r"scoliosis|kyphoscoliosis|deformity|(?<!loss of )kyphosis", named, re.IGNORECASE)
    posterior = facts.pop("posterolateral_fusion", None)
    interbody = facts.pop("posterior_interbody", None)
    anterior_ib = facts.pop("anterior_interbody", None)
    anterior = facts.pop("anterior_fusion", None)
    generic_ib = facts.pop("interbody_fusion", None)
    generic = facts.pop("fusion", None)
    if generic_ib and not (interbody or anterior_ib):
        # "interbody fusion" without approach words: posterior when screws/laminectomy, else anterior.
        if re.search(r"transforaminal|posterior|pedicle|laminectom|facetectom", text, re.IGNORECASE):
            interbody = generic_ib
        else:
            anterior_ib = generic_ib
    posterior_words = r"pedicle|posterior|posterolateral|transverse\s+process|lateral\s+mass"
    if generic and not (posterior or interbody or anterior_ib or anterior) and re.search(posterior_words, text, re.I):
        posterior = generic

    if deformity and (posterior or anterior) and _deformity_fusion(posterior, anterior, lines):
        return lines

    if anterior and not anterior_ib:
        anterior_ib = anterior  # anterior lumbar/thoracic arthrodesis through the disc space
    if anterior_ib:
        count = _count_units(anterior_ib, "interspace")
        primary, add_on = _fusion_primary(anterior_ib.region, "anterior_interbody")
        lines += _primary_and_addon(primary, add_on, count, anterior_ib, "Anterior interbody arthrodesis", "interspace")

    pl_spaces = set(posterior.interspaces) if posterior else set()
    ib_spaces = set(interbody.interspaces) if interbody else set()
    if posterior and not pl_spaces and posterior.vertebrae and len(posterior.vertebrae) > 1:
        pl_spaces = set(lv.interspaces_between(min(posterior.vertebrae), max(posterior.vertebrae)))
    if interbody and posterior and not ib_spaces:
        ib_spaces = set(pl_spaces) if len(pl_spaces) == 1 else ib_spaces
    if interbody and posterior and not pl_spaces:
        pl_spaces = set(ib_spaces)
    combined = sorted(pl_spaces & ib_spaces)
    only_pl = sorted(pl_spaces - ib_spaces)
    only_ib = sorted(ib_spaces - pl_spaces)
    evidence = (interbody.evidence if interbody else []) + (posterior.evidence if posterior else [])
    primary_done = False
    if combined:
        lines.append(ServiceLine("22633", evidence=evidence, levels=[combined[0].name], region="lumbar",
                                 rationale=f"Posterior interbody plus posterolateral fusion at the same interspace "
                                           f"({combined[0].name}) is the combined code."))
        if len(combined) > 1:
            lines.append(ServiceLine("22634", units=len(combined) - 1, evidence=evidence, add_on=True,
                                     levels=[c.name for c in combined[1:]], region="lumbar",
                                     rationale="Combined posterior interbody and posterolateral fusion, "
                                               f"{len(combined) - 1} additional interspace(s)."))
        primary_done = True
    if only_ib or (interbody and not ib_spaces and not combined):
        spaces = only_ib
        code = "22632" if primary_done else "22630"
        lines.append(ServiceLine(code, evidence=interbody.evidence, levels=[s.name for s in spaces[:1]] or [],
                                 add_on=primary_done, region="lumbar",
                                 rationale=f"Posterior interbody arthrodesis at {_levels_text(spaces[:1])}."))
        if len(spaces) > 1:
            lines.append(ServiceLine("22632", units=len(spaces) - 1, evidence=interbody.evidence, add_on=True,
                                     levels=[s.name for s in spaces[1:]], region="lumbar",
                                     rationale=f"Posterior interbody arthrodesis, {len(spaces) - 1} additional "
                                               "interspace(s)."))
        primary_done = True
    if only_pl or (posterior and not pl_spaces and not combined):
        spaces = only_pl
        region = region_of_levels(spaces, []) if spaces else posterior.region
        primary, add_on = _fusion_primary(region, "posterolateral")
        if primary_done:
            lines.append(ServiceLine("22614", units=max(len(spaces), 1), evidence=posterior.evidence, add_on=True,
                                     levels=[s.name for s in spaces], region=region,
                                     rationale=f"Posterolateral fusion at {_levels_text(spaces)}, additional "
                                               "segment(s) beyond the interbody fusion."))
        else:
            lines.append(ServiceLine(primary, evidence=posterior.evidence, levels=[s.name for s in spaces[:1]],
                                     region=region,
                                     rationale=f"Posterior/posterolateral fusion, first segment "
                                               f"({_levels_text(spaces[:1])})."))
            if len(spaces) > 1:
                lines.append(ServiceLine(add_on, units=len(spaces) - 1, evidence=posterior.evidence, add_on=True,
                                         levels=[s.name for s in spaces[1:]], region=region,
                                         rationale=f"Posterolateral fusion, {len(spaces) - 1} additional "
                                                   "segment(s)."))
    return lines


def _deformity_fusion(posterior: ProcedureFact | None, anterior: ProcedureFact | None,
                      lines: list[ServiceLine]) -> bool:
    """Fusion for scoliosis/kyphosis is coded by vertebral segments fused (22800-22812)."""
    made = False
    for fact, codes, where in ((posterior, (("22800", 6), ("22802", 12), ("22804", 99)), "Posterior"),
                               (anterior, (("22808", 3), ("22810", 7), ("22812", 99)), "Anterior")):
        if not fact:
            continue
        vertebrae = fact.vertebrae or ([fact.interspaces[0].upper] + [i.lower for i in fact.interspaces]
                                       if fact.interspaces else [])
        segments = len(set(vertebrae))
        if segments < 2:
            continue
        code = next(c for c, limit in codes if segments <= limit)
        lines.append(ServiceLine(code, evidence=fact.evidence, region=fact.region,
                                 levels=[f"{min(vertebrae).name}-{max(vertebrae).name}"],
                                 rationale=f"{where} arthrodesis for spinal deformity over {segments} vertebral "
                                           "segments."))
        made = True
    return made


def _code_decompressions(facts: dict[str, ProcedureFact], lines: list[ServiceLine],
                         findings: list[Finding]) -> list[ServiceLine]:
    out: list[ServiceLine] = []
    fusion_codes = {line.cpt for line in lines}
    interbody_spaces = {lvl for line in lines if line.cpt in {"22630", "22632", "22633", "22634"} for lvl in line.levels}
    lami, lamino, redo = facts.pop("laminectomy", None), facts.pop("laminotomy", None), facts.pop("re_exploration", None)
    decompression = facts.pop("decompression", None)
    transpedicular = facts.pop("transpedicular", None)
    if transpedicular:
        # A discectomy or decompression reached through the pedicle or the costovertebral joint: 63055
        # (thoracic) or 63056 (lumbar), 63057 per further segment. The discectomy named with it is the same act.
        region = transpedicular.region or (lamino.region if lamino else None) or "thoracic"
        merged = _merge([f for f in (transpedicular, lamino, decompression) if f])
        primary = "63056" if region == "lumbar" else "63055"
        return _primary_and_addon(primary, "63057", _count_units(merged, "interspace"), merged,
                                  "Transpedicular or costovertebral decompression", "segment")
    if lami is None and decompression and not lamino and not (fusion_codes & {"22551", "22552"}):
        lami = decompression
    if lami and lamino:
        # Foraminotomy and facetectomy named with a laminectomy are part of it (63045-63048 include them):
        # their levels are the laminectomy's ("laminectomy with foraminotomies at L3-L4 and L4-L5").
        same_statement = any(e in lami.evidence for e in lamino.evidence)
        if same_statement or not lamino.interspaces or set(lamino.interspaces) <= set(lami.interspaces):
            lami = _merge([lami, lamino])
            lamino = None

    # 63052/63053 are for decompression at the interbody fusion's own interspaces; any other level, even the
    # next one up, is a laminectomy of its own.
    distinct = [i for i in (lami.interspaces if lami else []) if i.name not in interbody_spaces]
    if lami and not lami.interspaces and lami.vertebrae and interbody_spaces:
        # "Laminectomy of L3" beside an L4-L5 fusion: the lamina of a vertebra outside the fused interspaces.
        fused_vertebrae = {v for name in interbody_spaces for v in re.findall(r"[CTLS]\d{1,2}", name)}
        outside = sorted(v for v in set(lami.vertebrae) if v.name not in fused_vertebrae)
        distinct = [lv.Interspace(v, v.next()) for v in outside if v.next() is not None]
    if lami and (fusion_codes & {"22630", "22633"}) and interbody_spaces and distinct:
        # A laminectomy at levels away from the interbody fusion is a separate procedure at a distinct level:
        # 63045-63048 with XS (NCCI pairs 63047 with 22633; the distinct-level modifier lets it pay).
        apart = ProcedureFact(kind="laminectomy", start=lami.start, end=lami.end, interspaces=distinct,
                              region=region_of_levels(distinct, []), evidence=list(lami.evidence))
        primary = {"cervical": "63045", "thoracic": "63046"}.get(apart.region or "lumbar", "63047")
        apart_lines = _primary_and_addon(primary, "63048", len(distinct), apart,
                                         "Laminectomy at a level apart from the fusion", "segment")
        apart_lines[0].modifiers.append("XS")
        apart_lines[0].rationale += " Distinct level from the interbody fusion: modifier XS."
        out += apart_lines
        lami.interspaces = [i for i in lami.interspaces if i not in distinct]
        if not lami.interspaces:
            return out
    if lami and (fusion_codes & {"22630", "22633"}):
        # Decompression during posterior interbody fusion: 63052/63053 for work beyond what the fusion needs.
        laminae = [v.name for v in sorted(set(lami.detail.get("roots", [])))]
        spaces = [i.name for i in lami.interspaces] or (laminae if len(laminae) >= 2 else []) or sorted(interbody_spaces)
        count = max(len(spaces), 1)
        out.append(ServiceLine("63052", evidence=lami.evidence, add_on=True, levels=spaces[:1], region="lumbar",
                               rationale="Laminectomy/foraminotomy for decompression beyond the interbody fusion's "
                                         f"needs, first segment ({spaces[0] if spaces else 'level not documented'})."))
        if count > 1:
            out.append(ServiceLine("63053", units=count - 1, evidence=lami.evidence, add_on=True, levels=spaces[1:],
                                   region="lumbar", rationale=f"Decompression during interbody fusion, {count - 1} "
                                                              "additional segment(s)."))
        return out

    if redo:
        region = redo.region or (lamino.region if lamino else None)
        primary, add_on = ("63040", "63043") if region == "cervical" else ("63042", "63044")
        out += _primary_and_addon(primary, add_on, _count_units(redo, "interspace"), redo,
                                  "Re-exploration laminotomy/discectomy (prior surgery at this interspace)", "interspace")
        return out
    if lami and (lami.region or "lumbar") in ("lumbar", "cervical", "thoracic", "sacral"):
        region = lami.region or "lumbar"
        primary = {"cervical": "63045", "thoracic": "63046"}.get(region, "63047")
        laminae = sorted(set(lami.detail.get("roots", [])))
        # "Laminectomy of C3, C4, C5 and C6" names four laminae: four segments. "L3-L5" names two interspaces.
        count = len(laminae) if not lami.interspaces and len(laminae) >= 2 else _count_units(lami, "interspace")
        out += _primary_and_addon(primary, "63048", count, lami, "Laminectomy with facetectomy and foraminotomy",
                                  "segment")
        return out
    if lamino:
        region = lamino.region or "lumbar"
        if region == "thoracic":
            # No thoracic laminotomy code: a posterior thoracic decompression is a laminectomy segment.
            return _primary_and_addon("63046", "63048", _count_units(lamino, "interspace"), lamino,
                                      "Thoracic laminectomy with decompression", "segment")
        primary = "63020" if region == "cervical" else "63030"
        count = _count_units(lamino, "interspace")
        made = _primary_and_addon(primary, "63035", count, lamino,
                                  "Laminotomy with decompression of nerve root(s) and/or discectomy", "interspace")
        if lamino.laterality == "bilateral":
            # Both sides of the same interspace: modifier 50 (the codes' bilateral indicator is 1).
            for line in made:
                line.modifiers.append("50")
                line.rationale += " Both sides: modifier 50."
        out += made
    return out


def _vertebrae_of(fact: ProcedureFact | None) -> list[lv.Vertebra]:
    if fact is None:
        return []
    vertebrae = set(fact.vertebrae)
    for interspace in fact.interspaces:
        vertebrae.update((interspace.upper, interspace.lower))
    if len(vertebrae) >= 2:
        return sorted(vertebrae)
    return sorted(vertebrae)


def _code_instrumentation(facts: dict[str, ProcedureFact], lines: list[ServiceLine], reading: ProcedureReading,
                          note: Note) -> list[ServiceLine]:
    out = []
    codes = {line.cpt for line in lines}
    # Posterior screws go with any arthrodesis of the session: percutaneous screws after a lateral or anterior
    # interbody fusion are 22840-22844 too (their primaries include 22554-22558).
    posterior_fusion = codes & {"22600", "22610", "22612", "22630", "22633", "22800", "22802", "22804", "22551",
                                "22554", "22556", "22558", "22206", "22207", "22212", "22214"}
    anterior_fusion = codes & {"22551", "22554", "22556", "22558", "22808", "22810", "22812", "63081", "63085",
                               "63090"}
    fusion_levels = [lvl for line in lines if line.cpt[:3] in {"225", "226"} for lvl in line.levels]

    post = facts.pop("instrumentation_posterior", None)
    if post and posterior_fusion:
        vertebrae = _vertebrae_of(post)
        if len(vertebrae) < 2:
            vertebrae = _span_from_level_names(fusion_levels) or vertebrae
        spanned = _span_count(vertebrae)
        if spanned:
            code = "22840" if spanned <= 2 else "22842" if spanned <= 6 else "22843" if spanned <= 12 else "22844"
            out.append(ServiceLine(code, add_on=True, evidence=post.evidence[:2],
                                   levels=[f"{min(vertebrae).name}-{max(vertebrae).name}"],
                                   rationale=f"Posterior instrumentation spanning {spanned} vertebrae "
                                             f"({min(vertebrae).name} to {max(vertebrae).name})."))
    anterior = facts.pop("instrumentation_anterior", None)
    if anterior and anterior_fusion:
        vertebrae = _vertebrae_of(anterior)
        if len(vertebrae) < 2:
            vertebrae = _span_from_level_names([lvl for line in lines if line.cpt in
                                                {"22551", "22552", "22554", "22585", "22556", "22558"}
                                                for lvl in line.levels]) or vertebrae
        spanned = _span_count(vertebrae)
        if spanned >= 2:
            code = "22845" if spanned <= 3 else "22846" if spanned <= 7 else "22847"
            out.append(ServiceLine(code, add_on=True, evidence=anterior.evidence[:2],
                                   levels=[f"{min(vertebrae).name}-{max(vertebrae).name}"],
                                   rationale=f"Anterior instrumentation (plate) spanning {spanned} vertebrae "
                                             f"({min(vertebrae).name} to {max(vertebrae).name})."))
    device = facts.pop("interbody_device", None)
    interbody_lines = [line for line in lines if line.cpt in {"22551", "22552", "22630", "22632", "22633", "22634",
                                                               "22558", "22585", "22556"}]
    corpectomies = sum(line.units for line in lines if line.cpt in {"63081", "63082", "63085", "63086", "63087",
                                                                    "63088", "63090", "63091"})
    if device and corpectomies:
        # A cage or mesh in the gap a corpectomy leaves: 22854, one per contiguous defect.
        out.append(ServiceLine("22854", units=1, add_on=True, evidence=device.evidence[:2],
                               rationale="Interbody device (cage/mesh) placed in the corpectomy defect: one defect."))
    elif device and interbody_lines and not _only_bone_spacers(note.text, device):
        spaces = {i.name for i in device.interspaces}
        fused = sum(line.units for line in interbody_lines)
        words = " ".join(e.text for e in device.evidence)
        several = re.search(r"\bcages\b|\bdevices\b|\bspacers\b|\bimplants\b|each\s+(?:level|interspace|disc)"
                            r"|both\s+levels|at\s+each", words, re.IGNORECASE)
        statements = len({(e.start, e.end) for e in device.evidence})
        # Cages named at some interspaces, or in several places of the note: never more than were fused.
        count = min(fused, max(len(spaces), statements)) if spaces and not (several and len(spaces) < fused) else fused
        out.append(ServiceLine("22853", units=count, add_on=True, evidence=device.evidence[:2],
                               levels=sorted(spaces) or [lvl for line in interbody_lines for lvl in line.levels],
                               rationale=f"Synthetic interbody device (cage), one per interspace: {count}."))
    pelvis = facts.pop("pelvic_fixation", None)
    if pelvis and (out and out[0].cpt in {"22840", "22842", "22843", "22844"}):
        out.append(ServiceLine("22848", add_on=True, evidence=pelvis.evidence[:1],
                               rationale="Pelvic fixation (iliac or S2-alar-iliac screws) beyond the sacrum."))
    return out


def _only_bone_spacers(text: str, device: ProcedureFact) -> bool:
    """A 'spacer' made of bone is structural allograft (20931), not a device (22853)."""
    words = " ".join(e.text for e in device.evidence).lower()
    return "cage" not in words and "peek" not in words and bool(re.search(r"allograft|bone|cortical|fibula", words))


def _span_from_level_names(names: list[str]) -> list[lv.Vertebra]:
    vertebrae = set()
    for name in names:
        for part in re.findall(r"[CTLS]\d{1,2}", name):
            try:
                vertebrae.add(lv.Vertebra.parse(part))
            except ValueError:
                continue
    return sorted(vertebrae)


def _span_count(vertebrae: list[lv.Vertebra]) -> int:
    if not vertebrae:
        return 0
    return max(vertebrae).index - min(vertebrae).index + 1


_GRAFT_RULES: list[tuple[str, str, str]] = [
    # (code, pattern, what) - read in the whole note, each type once per session. More specific first.
    ("20938", r"(?:structural|tricortical|bicortical)\s+(?:iliac\s+crest\s+)?autograft"
              r"|tricortical\s+(?:iliac\s+crest\s+)?(?:bone\s+)?graft", "Structural autograft through a separate incision"),
    ("20937", r"iliac\s+crest\s+(?:bone\s+)?(?:autograft|graft|harvest|bone)|autograft\s+(?:was\s+)?harvested\s+from\s+the\s+"
              r"(?:left|right)?\s*(?:posterior\s+|anterior\s+)?iliac|separate\s+(?:fascial\s+)?incision(?:(?!\blocal\b)[^.]){0,60}?graft",
     "Morselized autograft through a separate incision"),
    ("20931", r"structural\s+allograft|allograft\s+(?:bone\s+)?(?:spacers?|wedges?|rings?|blocks?|dowels?)|"
              r"(?:cortical|cortico-?\s?cancellous|cortical\s+cancellous|fibular?|tricortical|machined|lordotic|bone[- ]bank)"
              r"\s+(?:bone\s+)?(?:allografts?|spacers?|wedges?|grafts?)|cornerstone|interbody\s+(?:bone\s+)?allograft"
              r"|fibula\s+(?:allograft|strut)|fibular\s+allograft", "Structural allograft"),
    ("20939", r"bone\s+marrow\s+aspirat\w*|\bBMA\b|marrow\s+(?:was\s+)?aspirated", "Bone marrow aspirate for graft"),
    ("20930", r"morcell?ized\s+(?:cancellous\s+)?allograft|rh-?BMP(?:-?2)?|BMP-?2|cancellous\s+(?:allograft\s+)?chips|allograft\s+chips"
              r"|crushed\s+cancellous|demineralized\s+bone|\bDBM\b|\bBMP\b|bone\s+morphogenetic|\bInfuse\b|\bVitoss\b"
              r"|\bGrafton\b|bone\s+graft\s+(?:substitute|extender)|osteo(?:promotive|biologic|inductive)|putty",
     "Morselized allograft or osteopromotive material"),
    ("20936", r"local\s+(?:bone\s+)?(?:auto)?graft|local(?:ly)?\s+(?:harvested\s+)?(?:autologous\s+)?bone|bone\s+(?:dust|shavings)"
              r"|morcell?ized\s+(?:rib\s+)?autograft|(?:rib|spinous\s+process|laminectomy|lamina|osteophyte)s?\s+(?:bone\s+)?"
              r"(?:was|were)?\s*(?:used\s+as\s+)?(?:auto)?graft|autograft\s+(?:from|obtained\s+from)\s+the\s+"
              r"(?:decompression|laminectomy|spinous|lamina|osteophyte|vertebral|rib)|osteophytes?[^.]{0,60}?(?:graft|packed)"
              r"|vertebral[- ]body\s+bone|autologous\s+(?:bone|vertebral)|patient'?s\s+own\s+bone|\bautograft\b"
              r"|bone\s+(?:removed|obtained|harvested|saved)\s+(?:during|from|in)\s+the\s+(?:decompression|laminectom\w+|"
              r"dis[ck]ectom\w+|facetectom\w+|osteotom\w+)|(?:laminectomy|decompression|facetectomy)\s+bone\s+was\s+"
              r"(?:saved|morcell?ized|used|kept)",
     "Local autograft from the same incision"),
    # A bare "allograft": structural in a disc space (ACDF), morselized on the posterolateral gutters; only
    # counted when no typed allograft above already covers it.
    ("allograft", r"\ballografts?\b", "Allograft"),
]
_GRAFT_PRIMARIES = {"22551", "22554", "22556", "22558", "22590", "22595", "22600", "22610", "22612", "22630",
                    "22633", "22800", "22802", "22804", "22808", "22810", "22812", "27279", "27280", "22856"}


def _code_graft(text: str, lines: list[ServiceLine], note: Note) -> list[ServiceLine]:
    """Bone graft add-ons, once per operative session by type, only with an arthrodesis (their primaries)."""
    if not any(line.cpt in _GRAFT_PRIMARIES for line in lines):
        return []
    if any(line.cpt in {"27279", "27280"} for line in lines) and not re.search(r"graft", text, re.IGNORECASE):
        return []
    from billing.note import assess

    found: dict[str, tuple[int, int]] = {}
    claimed: list[tuple[int, int]] = []
    for code, pattern, _ in _GRAFT_RULES:
        for match in re.finditer(pattern, text, re.IGNORECASE):
            if any(match.start() < e and s < match.end() for s, e in claimed):
                continue
            section = note.section_at(match.start())
            if section and section.name in {"preoperative_diagnosis", "postoperative_diagnosis", "diagnosis",
                                            "indications"}:
                continue
            claimed.append((match.start(), match.end()))
            found.setdefault(code, (match.start(), match.end()))
    if not found:
        return []
    contexts = dict(zip(found, assess(text, list(found.values())), strict=True))
    anterior_cervical = any(line.cpt in {"22551", "22554"} for line in lines)
    affirmed = {code: span for code, span in found.items() if contexts[code].affirmed}
    if "allograft" in affirmed:
        span = affirmed.pop("allograft")
        caged = any(line.cpt == "22853" for line in lines)
        if anterior_cervical and not caged:
            affirmed.setdefault("20931", span)  # the bone in an ACDF disc space is the structural spacer
        elif not ({"20930", "20931"} & set(affirmed)):
            affirmed["20930"] = span  # packed in a cage or laid on the gutters: morselized
    what = {code: label for code, _, label in _GRAFT_RULES}
    out = []
    for code, (start, end) in sorted(affirmed.items()):
        sentence = note.sentence_at(start)
        out.append(ServiceLine(code, add_on=True, confidence=0.85,
                               evidence=[Evidence(sentence[0], sentence[1], text[sentence[0]:sentence[1]].strip())],
                               rationale=f"{what[code]} documented ({text[start:end]!r}); reported once per session."))
    return out


_DRUGS = [
    # (HCPCS, pattern, mg per unit) - supplied drug in an office (POS 11) only.
    ("J1040", r"(?:methylprednisolone|depo-?medrol)[^.]{0,30}?\b80\s*(?:mg|milligrams?)", 80),
    ("J1030", r"(?:methylprednisolone|depo-?medrol)[^.]{0,30}?\b40\s*(?:mg|milligrams?)", 40),
    ("J3301", r"(?:triamcinolone|kenalog)[^.]{0,30}?\b(\d+)\s*(?:mg|milligrams?)", 10),
    ("J1100", r"(?:dexamethasone|decadron)[^.]{0,30}?\b(\d+)\s*(?:mg|milligrams?)", 1),
]


def _code_injections(facts: dict[str, ProcedureFact], reading: ProcedureReading, context: CodingContext, note: Note,
                     findings: list[Finding]) -> list[ServiceLine]:
    out: list[ServiceLine] = []
    text = note.text
    imaging = bool(reading.imaging_guidance)

    epidural = facts.pop("epidural", None)
    transforaminal = facts.pop("transforaminal_injection", None)
    if epidural and not transforaminal:
        region = epidural.region
        if region is None and re.search(r"caudal", text, re.IGNORECASE):
            region = "sacral"
        cervical = region in ("cervical", "thoracic")
        code = ("62321" if imaging else "62320") if cervical else ("62323" if imaging else "62322")
        where = "cervical/thoracic" if cervical else "lumbar/sacral"
        out.append(ServiceLine(code, evidence=epidural.evidence, region=region, levels=epidural.level_names[:1],
                               confidence=0.9 if region else 0.7,
                               rationale=f"Interlaminar/caudal epidural injection, {where}, "
                                         f"{'with' if imaging else 'without'} imaging guidance (one per session)."))
        if region is None:
            findings.append(Finding("PX-REGION-MISSING", "warning", "The epidural's spinal region is not documented; "
                                    "coded as lumbar/sacral.", evidence=tuple(epidural.evidence[:1])))
    if transforaminal:
        levels = _foramina(transforaminal)
        count = len(levels) or 1
        cervical = transforaminal.region in ("cervical", "thoracic")
        codes = ("64479", "64480") if cervical else ("64483", "64484")
        out += _per_level_family(transforaminal, codes, count, levels, "Transforaminal epidural injection with imaging",
                                 "foraminal level")
        for line in out:
            if line.cpt in codes[1:] and "50" not in line.modifiers:
                line.units = max(count - 1, 1)
    facet = facts.pop("facet_injection", None)
    rfa = facts.pop("rfa", None)
    if rfa and re.search(r"sacroiliac|\bSI\b|\bSIJ\b|lateral\s+branch", " ".join(e.text for e in rfa.evidence),
                         re.IGNORECASE):
        # The lateral branches (S1-S3 and L5 dorsal ramus) supplying the SI joint: 64625, one per joint (50 both).
        out.append(ServiceLine("64625", modifiers=_side_modifiers(rfa), evidence=rfa.evidence, region="sacral",
                               rationale="Radiofrequency ablation of the nerves supplying the sacroiliac joint"
                                         f"{', ' + rfa.laterality if rfa.laterality else ''}."))
        rfa = None
        facet = None if facet and not facet.from_statement else facet
    if rfa:
        joints = facet_joints(rfa)
        cervical = rfa.region in ("cervical", "thoracic")
        codes = ("64633", "64634") if cervical else ("64635", "64636")
        out += _joint_lines(rfa, codes, joints, "Radiofrequency ablation of facet joint nerves")
    elif facet:
        joints = facet_joints(facet)
        cervical = facet.region in ("cervical", "thoracic")
        codes = ("64490", "64491", "64492") if cervical else ("64493", "64494", "64495")
        out += _per_level_family(facet, codes, max(len(joints), 1), joints,
                                 "Facet joint injection / medial branch block with imaging", "joint")
    occipital = facts.pop("occipital_block", None)
    if occipital:
        out.append(ServiceLine("64405", modifiers=_side_modifiers(occipital), evidence=occipital.evidence,
                               region="cervical", rationale="Greater occipital nerve injection"
                               f"{', ' + occipital.laterality if occipital.laterality else ''}."))
    si_injection = facts.pop("si_injection", None)
    if si_injection:
        # CPT: 27096 needs imaging guidance; without it the injection is reported as 20552.
        out.append(ServiceLine("27096" if imaging else "20552", modifiers=["50"] if si_injection.laterality == "bilateral"
                               else [], evidence=si_injection.evidence, region="sacral",
                               rationale="Sacroiliac joint injection" + (" with imaging guidance." if imaging else ".")))
    si_fusion = facts.pop("si_fusion", None)
    if si_fusion:
        open_fusion = re.search(r"\bopen\b", text[si_fusion.start - 80:si_fusion.end + 80], re.IGNORECASE)
        code = "27280" if open_fusion else "27279"
        mods = _side_modifiers(si_fusion) if code == "27279" else []
        out.append(ServiceLine(code, modifiers=mods, evidence=si_fusion.evidence, region="sacral",
                               rationale="Sacroiliac joint arthrodesis, "
                                         f"{'open' if open_fusion else 'percutaneous/minimally invasive with implants'}"
                                         f"{', ' + si_fusion.laterality if si_fusion.laterality else ''}."))

    if context.place_of_service == "11" and out:
        out += _drug_lines(text)
    return out


def _foramina(fact: ProcedureFact) -> list[str]:
    """Foraminal levels of a transforaminal injection: interspaces named, plus foramina named by their nerve root
    (a lumbar or thoracic root exits below its pedicle, "L5" = L5-S1; a cervical root above it, "C6" = C5-C6;
    "S1" is the S1 foramen)."""
    foramina = [i.name for i in fact.interspaces]
    for root in fact.detail.get("roots", []):
        if root.region == "S":
            name = root.name
        elif root.region == "C":
            above = root.prev()
            name = lv.Interspace(above, root).name if above is not None else root.name
        else:
            below = root.next()
            name = lv.Interspace(root, below).name if below is not None else root.name
        if name not in foramina:
            foramina.append(name)
    return foramina or [v.name for v in fact.vertebrae]


def _joint_lines(fact: ProcedureFact, codes: tuple[str, str], joints: list[str], what: str) -> list[ServiceLine]:
    lines = [ServiceLine(codes[0], modifiers=_side_modifiers(fact), evidence=fact.evidence, region=fact.region,
                         levels=joints[:1], confidence=0.9 if joints else 0.6,
                         rationale=f"{what}, first joint ({joints[0] if joints else 'level not documented'})"
                                   f"{', ' + fact.laterality if fact.laterality else ''}.")]
    if len(joints) > 1:
        bilateral = "50" in lines[0].modifiers
        lines.append(ServiceLine(codes[1], units=1 if bilateral else len(joints) - 1, modifiers=_side_modifiers(fact),
                                 evidence=fact.evidence, region=fact.region, levels=joints[1:], add_on=True,
                                 rationale=f"{what}, each additional joint ({', '.join(joints[1:])})."))
    return lines


def _drug_lines(text: str) -> list[ServiceLine]:
    out = []
    for code, pattern, mg_per_unit in _DRUGS:
        match = re.search(pattern, text, re.IGNORECASE)
        if not match:
            continue
        mg = int(match.group(1)) if match.groups() else mg_per_unit
        units = max(1, round(mg / mg_per_unit))
        out.append(ServiceLine(code, units=units, evidence=[Evidence(match.start(), match.end(), match.group(0))],
                               drug={"mg": mg, "ndc": None}, confidence=0.8,
                               rationale=f"Drug supplied in the office: {mg} mg = {units} unit(s) of {code}."))
        if code in ("J1040", "J1030"):
            break
    return out


def _code_other(facts: dict[str, ProcedureFact], text: str, note: Note, place_of_service: str) -> list[ServiceLine]:
    out: list[ServiceLine] = []
    kypho, vertebro = facts.pop("kyphoplasty", None), facts.pop("vertebroplasty", None)
    for fact, table, what in ((kypho, {"thoracic": ("22513", "22515"), "lumbar": ("22514", "22515")}, "Kyphoplasty"),
                              (vertebro, {"thoracic": ("22510", "22512"), "cervical": ("22510", "22512"),
                                          "lumbar": ("22511", "22512"), "sacral": ("22511", "22512")},
                               "Vertebroplasty")):
        if not fact:
            continue
        bodies = sorted(set(fact.vertebrae)) or sorted({i.upper for i in fact.interspaces})
        region = region_of_levels([], bodies[:1]) or fact.region or "lumbar"
        primary, add_on = table.get(region, table.get("lumbar", ("22514", "22515")))
        fact.vertebrae = bodies
        fact.interspaces = []
        out += _primary_and_addon(primary, add_on, max(len(bodies), 1), fact, what, "vertebral body")
    disco = facts.pop("discography", None)
    if disco:
        count = max(len(disco.interspaces), 1)
        code = "62291" if disco.region in ("cervical", "thoracic") else "62290"
        out.append(ServiceLine(code, units=count, evidence=disco.evidence, levels=disco.level_names,
                               rationale=f"Discography injection, {count} level(s)."))
        # The physician who injects also supervises and reads the discogram (72295 lumbar, 72285 cervical/
        # thoracic, per level); in a facility only the professional component is theirs (modifier 26).
        reading_code = "72285" if code == "62291" else "72295"
        out.append(ServiceLine(reading_code, units=count, evidence=disco.evidence, levels=disco.level_names,
                               modifiers=[] if place_of_service == "11" else ["26"],
                               rationale=f"Radiological supervision and interpretation of the discogram, {count} "
                                         "level(s)."))
    paddle = facts.pop("scs_paddle", None)
    lead = facts.pop("scs_lead", None)
    if paddle:
        out.append(ServiceLine("63655", evidence=paddle.evidence, rationale="Paddle electrode placed through a "
                               "laminotomy/laminectomy."))
    elif lead:
        arrays = _array_count(text)
        out.append(ServiceLine("63650", units=arrays, evidence=lead.evidence,
                               rationale=f"Percutaneous epidural electrode array(s): {arrays} documented."))
    generator = facts.pop("scs_generator", None)
    if generator and not re.search(r"external\s+(?:trial\s+)?(?:generator|stimulator)|trial\s+generator", text, re.IGNORECASE):
        out.append(ServiceLine("63685", evidence=generator.evidence,
                               rationale="Implanted pulse generator placed and connected."))
    trigger = facts.pop("trigger_point", None)
    if trigger:
        muscles = _muscle_count(text)
        code = "20553" if muscles >= 3 else "20552"
        out.append(ServiceLine(code, evidence=trigger.evidence,
                               rationale=f"Trigger point injections in {muscles if muscles else 'one or two'} "
                                         f"muscle(s) ({'3 or more' if code == '20553' else '1-2'} muscles)."))
    removal = facts.pop("hardware_removal", None)
    if removal:
        anterior = re.search(r"anterior\s+(?:cervical\s+)?plate|anterior\s+instrumentation", text, re.IGNORECASE)
        segmental = re.search(r"pedicle|segmental|rods?", text, re.IGNORECASE)
        code = "22855" if anterior else "22852" if segmental else "22850"
        out.append(ServiceLine(code, evidence=removal.evidence, rationale="Removal of spinal instrumentation."))
    explore = facts.pop("fusion_exploration", None)
    if explore:
        out.append(ServiceLine("22830", evidence=explore.evidence, rationale="Exploration of a prior spinal fusion."))
    return out


_NUMBER_WORDS = {"one": 1, "single": 1, "two": 2, "dual": 2, "both": 2, "three": 3, "four": 4, "pair": 2}


def _array_count(text: str) -> int:
    match = re.search(r"\b(one|single|two|dual|three|four|\d)\s+(?:\w+[- ]contact\s+|\w+\s+){0,3}?"
                      r"(?:percutaneous\s+)?(?:epidural\s+)?(?:electrode\s+)?(?:arrays?|leads?|electrodes?)",
                      text, re.IGNORECASE)
    if match:
        word = match.group(1).lower()
        return int(word) if word.isdigit() else _NUMBER_WORDS.get(word, 1)
    if re.search(r"bilateral\s+leads|leads\s+were|both\s+leads|second\s+lead", text, re.IGNORECASE):
        return 2
    return 1


_MUSCLES = r"trapezius|rhomboids?|levator\s+scapulae|splenius|semispinalis|paraspinal|supraspinatus|infraspinatus|" \
           r"quadratus\s+lumborum|gluteus\s+(?:medius|maximus|minimus)|piriformis|erector\s+spinae|sternocleidomastoid|" \
           r"scalenes?|latissimus|multifidus|teres"


def _muscle_count(text: str) -> int:
    explicit = re.search(r"(\d+|three|four|five|six)\s+(?:or\s+more\s+)?(?:different\s+)?muscles", text, re.IGNORECASE)
    if explicit:
        word = explicit.group(1).lower()
        return int(word) if word.isdigit() else {"three": 3, "four": 4, "five": 5, "six": 6}[word]
    names = {re.sub(r"\s+", " ", m.group(0).lower()).rstrip("s") for m in re.finditer(_MUSCLES, text, re.IGNORECASE)}
    return len(names)


def _apply_multiple_procedure_modifier(lines: list[ServiceLine]) -> None:
    """Modifier 51 on the second and later primary (non-add-on) procedures of the session."""
    # Radiology (7xxxx) and drug (J) codes are exempt from the multiple-procedure rule.
    primaries = [line for line in lines if not line.add_on and not line.cpt.startswith(("J", "7"))]
    rvus = [cpt.work_rvu(line.cpt) for line in primaries]
    if None not in rvus:
        # The procedure worth most is the one paid in full: rank by work RVU (stable, so ties keep their order).
        primaries = [line for _, line in sorted(zip(rvus, primaries, strict=True), key=lambda pair: -pair[0])]
    for line in primaries[1:]:
        if "51" not in line.modifiers and "50" not in line.modifiers:
            line.modifiers.append("51")


def code_note(text: str, *, context: CodingContext | None = None) -> CodingResult:
    """The whole engine for one transcript: procedures, diagnoses, pointers, the payer's edits."""
    from billing import diagnoses, payer_edits

    context = context or CodingContext()
    note = Note(spoken_to_written(text))
    findings: list[Finding] = []
    if not text.strip():
        findings.append(Finding("PX-NONE", "warning", "The transcript is empty: nothing to code."))
        return CodingResult([], [], [], findings)
    reading = read_procedures(note)
    lines, px_findings = code_procedures(reading, note, context)
    findings += px_findings
    dx = diagnoses.code_diagnoses(note, date_of_service=context.date_of_service)
    findings += dx.findings
    findings += _codes_in_text(text)
    findings += _side_contradictions(reading, note)
    lines, withheld, edit_findings = payer_edits.apply(lines, context)
    findings += edit_findings
    _link_diagnoses(lines, dx.codes)
    return CodingResult(lines=lines, withheld=withheld, diagnoses=dx.codes, findings=findings, reading=reading)


_CPT_IN_TEXT = re.compile(r"(?<![\d.-])\(?\b(2[0-9]{4}|6[0-9]{4})\b\)?(?![\d.])")
# Codes that dictations still name although CPT deleted them.
DELETED_CPT = {"22851": "deleted in 2017; interbody devices are 22853/22854/22859"}


def _codes_in_text(text: str) -> list[Finding]:
    """CPT codes written in the dictation are evidence of intent only; say that they were not copied."""
    written = sorted({m.group(1) for m in _CPT_IN_TEXT.finditer(text)
                      if re.search(r"\b(?:CPT|code|procedure)|\(", text[max(0, m.start() - 30):m.start() + 1],
                                   re.IGNORECASE)})
    if not written:
        return []
    notes = []
    for code in written:
        if code in DELETED_CPT:
            notes.append(f"{code} ({DELETED_CPT[code]})")
        elif cpt.get(code) is None:
            notes.append(f"{code} (not a code IamBilly knows)")
        else:
            notes.append(code)
    return [Finding("PX-CODE-IN-TEXT", "info", f"The dictation names code(s) {', '.join(notes)}; IamBilly coded the "
                    "documented work instead of copying them.")]


_SIDED_KINDS = {"transforaminal_injection", "facet_injection", "rfa", "si_fusion", "si_injection", "laminotomy",
                "re_exploration"}


def _side_contradictions(reading: ProcedureReading, note: Note) -> list[Finding]:
    """A procedure listed on one side but described on the other is a question for the physician."""
    from billing.procedures import _side, _triggers_in

    findings = []
    listed = {f.kind: f.laterality for f in reading.facts if f.from_statement and f.kind in _SIDED_KINDS
              and f.laterality in ("left", "right")}
    statements = reading.statements
    for kind, side in listed.items():
        for _, start, _end in _triggers_in(note.text, 0, len(note.text), [kind]):
            if any(a <= start < b for a, b in statements):
                continue
            s, e = note.sentence_at(start)
            other = _side(note.text[s:e])
            if other in ("left", "right") and other != side:
                findings.append(Finding("PX-CONTRADICTION", "warning",
                                        f"The procedure is listed on the {side} but the description says {other}: "
                                        "query the physician before submitting.",
                                        evidence=(Evidence(s, e, note.text[s:e].strip()),)))
                break
    return findings


def _link_diagnoses(lines: list[ServiceLine], dx_codes: list[DiagnosisCode]) -> None:
    """Each line points to up to four diagnoses: those of its region and levels first, then the main one."""
    if not dx_codes:
        return
    letters = "ABCDEFGHIJKL"
    for line in lines:
        if line.cpt.startswith("J"):
            continue
        ranked = []
        for index, dx in enumerate(dx_codes[:12]):
            score = 0
            if line.region and dx.region and _same_region(line.region, dx.region):
                score += 2
            if set(line.levels) & set(dx.levels):
                score += 3
            ranked.append((-score, index))
        ranked.sort()
        chosen = [letters[i] for s, i in ranked if s < 0][:4] or [letters[0]]
        line.dx_pointers = sorted(chosen, key=letters.index)


def _same_region(a: str, b: str) -> bool:
    group = {"cervical": "C", "cervicothoracic": "C", "thoracic": "T", "thoracolumbar": "T", "lumbar": "L",
             "lumbosacral": "L", "sacral": "L", "sacrococcygeal": "L"}
    return group.get(a, a) == group.get(b, b)
