"""Reconciliation: the rule-based draft and the second reader compared, fact by fact.

The rule-based reader (billing.procedures, billing.diagnoses) wrote the draft; the local LLM read the same
transcript (billing.second_reader). Where both read a procedure or a diagnosis alike, the draft's fact is
"confirmed". Where they differ on whether a procedure was done, at which level, on which side, or whether a
condition is denied, a biller gets a review finding with both readers' words. The second reader never adds or
removes a code: it only raises findings (DESIGN.md, "Workers, models and scale").

Rule ids (all warnings):
- LLM-PROCEDURE-MISSED: the second reader found a procedure the draft does not code.
- LLM-LEVEL-DIFFERS: both read the procedure (or diagnosis), at different levels.
- LLM-SIDE-DIFFERS: both read the procedure, on different sides.
- LLM-NEGATION-DIFFERS: one reader reads it as done (present), the other as not done (denied).
- LLM-DIAGNOSIS-MISSED: the second reader found a diagnosis the draft does not code.
- LLM-IMPLANT-MISSED: the second reader found an implant (screws, a cage, a plate) the draft does not code.

Each finding's evidence is the rule reader's span(s) first, then the second reader's quote.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from dataclasses import dataclass, field

from billing import levels as lv
from billing.coding import CodingResult, group_facts
from billing.diagnoses import CONDITIONS, SYMPTOMS
from billing.procedures import DETAIL_KINDS, ProcedureFact
from billing.results import DiagnosisCode, Evidence, Finding
from billing.second_reader import IMPLANT_KINDS, Facts, GroundedDiagnosis, GroundedFacts, GroundedProcedure, grounded

SOURCE_TITLE = "IamBilly second reader (local language model)"

# A generic rule kind covers the specific ones: the rule reader says "fusion" where the note does not say which.
_COVERS: dict[str, frozenset[str]] = {
    "fusion": frozenset({"acdf", "posterior_interbody", "anterior_interbody", "interbody_fusion",
                         "posterolateral_fusion", "anterior_fusion"}),
    "interbody_fusion": frozenset({"acdf", "posterior_interbody", "anterior_interbody"}),
    "decompression": frozenset({"laminectomy", "laminotomy", "transpedicular", "re_exploration",
                                "anterior_discectomy", "laminoplasty"}),
    # An ACDF includes the discectomy at its interspace (22551).
    "acdf": frozenset({"anterior_discectomy"}),
    # A re-exploration (63042/63044) is the redo laminotomy, laminectomy or discectomy at that interspace.
    "re_exploration": frozenset({"laminotomy", "laminectomy", "decompression"}),
}

# The procedure in a biller's words, by the second reader's name and by the rule reader's kind.
_WORDS: dict[str, str] = {
    "acdf": "anterior cervical discectomy and fusion", "anterior_cervical_discectomy": "anterior cervical discectomy",
    "anterior_discectomy": "anterior discectomy", "cervical_disc_arthroplasty": "cervical disc arthroplasty",
    "cervical_arthroplasty": "cervical disc arthroplasty", "tlif": "TLIF", "plif": "PLIF",
    "posterior_interbody": "posterior interbody fusion", "alif": "ALIF",
    "lateral_interbody_fusion": "lateral interbody fusion", "anterior_interbody": "anterior/lateral interbody fusion",
    "posterolateral_fusion": "posterolateral fusion", "pedicle_subtraction_osteotomy": "pedicle subtraction osteotomy",
    "three_column_osteotomy": "three-column osteotomy", "posterior_column_osteotomy": "posterior column osteotomy",
    "posterior_osteotomy": "posterior column osteotomy", "transpedicular_decompression": "transpedicular decompression",
    "transpedicular": "transpedicular decompression", "revision_decompression": "revision decompression",
    "re_exploration": "revision decompression", "transforaminal_esi": "transforaminal epidural steroid injection",
    "selective_nerve_root_block": "selective nerve root block", "transforaminal_injection": "transforaminal injection",
    "interlaminar_esi": "interlaminar epidural steroid injection", "caudal_esi": "caudal epidural steroid injection",
    "epidural": "epidural injection", "medial_branch_block": "medial branch block", "rfa": "radiofrequency ablation",
    "si_joint_injection": "SI joint injection", "si_injection": "SI joint injection",
    "si_joint_fusion": "SI joint fusion", "si_fusion": "SI joint fusion",
    "scs_percutaneous_lead": "spinal cord stimulator lead", "scs_lead": "spinal cord stimulator lead",
    "scs_paddle_lead": "spinal cord stimulator paddle lead", "scs_paddle": "spinal cord stimulator paddle lead",
    "scs_pulse_generator": "stimulator pulse generator", "scs_generator": "stimulator pulse generator",
    "occipital_nerve_block": "occipital nerve block", "occipital_block": "occipital nerve block",
    "trigger_point_injection": "trigger point injection", "trigger_point": "trigger point injection",
    "instrumentation_posterior": "posterior instrumentation", "instrumentation_anterior": "anterior instrumentation",
    "interbody_device": "interbody device", "pelvic_fixation": "pelvic fixation",
}


def _words(kind: str) -> str:
    return _WORDS.get(kind, kind.replace("_", " "))


@dataclass(frozen=True)
class RuleFacts:
    """The rule-based reader's facts as coding sees them: one procedure fact per kind, the negated ones, the
    diagnosis codes."""

    procedures: dict[str, ProcedureFact]
    negated: dict[str, ProcedureFact]
    diagnoses: list[DiagnosisCode]

    @classmethod
    def of(cls, result: CodingResult) -> RuleFacts:
        reading = result.reading
        if reading is None:
            return cls({}, {}, list(result.diagnoses))
        # group_facts clears the narrative levels of facts the procedure list already places: work on copies so the
        # draft's reading is left as it was.
        return cls(group_facts(copy.deepcopy(reading.facts)), group_facts(copy.deepcopy(reading.negated)),
                   list(result.diagnoses))


@dataclass
class Reconciliation:
    findings: list[Finding] = field(default_factory=list)
    # "procedure:<rule kind>" / "diagnosis:<ICD code>" -> "confirmed" (both readers agree), "disputed" (a
    # finding says how they differ) or "unconfirmed" (the second reader did not mention it).
    confidence: dict[str, str] = field(default_factory=dict)
    second: GroundedFacts = field(default_factory=GroundedFacts)


def _confirm(out: Reconciliation, key: str) -> None:
    """Agreement raises a fact to "confirmed", unless another reading of it already disputes it."""
    if out.confidence.get(key) != "disputed":
        out.confidence[key] = "confirmed"


def _covers(rule_kind: str, second_kind: str) -> bool:
    return (rule_kind == second_kind or second_kind in _COVERS.get(rule_kind, ())
            or rule_kind in _COVERS.get(second_kind, ()))


def _matching(facts: dict[str, ProcedureFact], read: GroundedProcedure) -> ProcedureFact | None:
    same = facts.get(read.rule_kind)
    if same is not None:
        return same
    return next((f for kind, f in facts.items() if kind not in DETAIL_KINDS and _covers(kind, read.rule_kind)), None)


def _side_words(side: str | None) -> str:
    return {"left": "left-sided ", "right": "right-sided ", "bilateral": "bilateral "}.get(side or "", "")


def _described(read: GroundedProcedure) -> str:
    levels = " and ".join(read.level_names)
    return f"{_side_words(read.side)}{levels + ' ' if levels else ''}{_words(read.kind)}"


def _level_difference(fact_interspaces, fact_vertebrae, read_interspaces, read_vertebrae) -> tuple[list, list]:
    """(levels only the second reader names, levels only the draft names), or two empty lists when they agree.
    A lone vertebra agrees with an interspace it ends; nothing to compare when either names no level."""
    rule_i, rule_v = set(fact_interspaces), set(fact_vertebrae)
    rule_ends = {v for i in rule_i for v in (i.upper, i.lower)}
    if not (read_interspaces or read_vertebrae) or not (rule_i or rule_v):
        return [], []
    only_second: list[str] = []
    for interspace in read_interspaces:
        if interspace in rule_i or (not rule_i and {interspace.upper, interspace.lower} <= rule_v):
            continue
        only_second.append(interspace.name)
    only_second += [v.name for v in read_vertebrae if v not in rule_v and v not in rule_ends]
    # A draft interspace the second reader names by one of its vertebrae ("L5" for the L4-L5 and L5-S1 facets)
    # is not one it left out.
    read_v = set(read_vertebrae)
    only_rule = [i.name for i in sorted(rule_i - set(read_interspaces)) if not {i.upper, i.lower} & read_v] \
        if read_interspaces else []
    return only_second, only_rule


def _finding(rule: str, message: str, rule_evidence, read_evidence: Evidence, fix: str) -> Finding:
    return Finding(rule, "warning", message, evidence=(*rule_evidence, read_evidence), fix=fix,
                   source_title=SOURCE_TITLE)


_CHECK = "Read the note: if the work is documented, correct the draft; if not, dismiss this finding."


def _reconcile_procedure(rule: RuleFacts, read: GroundedProcedure, out: Reconciliation, group=()) -> None:
    quote = read.evidence
    fact = _matching(rule.procedures, read)
    if read.negated:
        if fact is not None:
            out.confidence[f"procedure:{fact.kind}"] = "disputed"
            out.findings.append(_finding(
                "LLM-NEGATION-DIFFERS",
                f"The draft codes a {_words(fact.kind)}, but the second reader reads the note as saying it was not "
                f'done.', fact.evidence, quote,
                "Query the physician or read the note: code it only if it was done."))
        return
    if fact is None:
        negated = _matching(rule.negated, read)
        if negated is not None:
            out.findings.append(_finding(
                "LLM-NEGATION-DIFFERS",
                f"The second reader found a {_described(read)} that the draft reads as not done and does not "
                "code.", negated.evidence, quote, _CHECK))
        else:
            out.findings.append(_finding(
                "LLM-PROCEDURE-MISSED",
                f"The second reader found a {_described(read)} that the draft does not code.",
                (), quote, _CHECK))
        return
    key = f"procedure:{fact.kind}"
    disputed = False
    only_second, only_rule = _level_difference(fact.interspaces, fact.vertebrae, read.interspaces, read.vertebrae)
    if only_second or only_rule:
        disputed = True
        said = " and ".join(read.level_names)
        drafted = " and ".join(fact.level_names)
        out.findings.append(_finding(
            "LLM-LEVEL-DIFFERS",
            f"The draft codes the {_words(fact.kind)} at {drafted}; the second reader reads it at {said}.",
            fact.evidence, _quote_naming(only_second, group, quote),
            "Check the levels in the note: units and add-on codes follow them."))
    if read.side and fact.laterality and read.side != fact.laterality:
        disputed = True
        out.findings.append(_finding(
            "LLM-SIDE-DIFFERS",
            f"The draft codes the {_words(fact.kind)} as {fact.laterality}; the second reader reads it as "
            f'{read.side}.', fact.evidence, quote,
            "Check the side in the note: it decides the LT/RT/50 modifier."))
    if disputed:
        out.confidence[key] = "disputed"
    else:
        _confirm(out, key)
    for implant in read.implants:
        if IMPLANT_KINDS[implant] not in rule.procedures:
            out.findings.append(_finding(
                "LLM-IMPLANT-MISSED",
                f"The second reader found {implant.replace('_', ' ')} with the {_words(read.kind)} that the draft "
                f'does not code.', fact.evidence, quote, _CHECK))


def _codes_for(condition: str, codes: list[DiagnosisCode]) -> list[DiagnosisCode]:
    """Diagnosis codes whose evidence names the condition (a combination code names two: M51.17 is a disc
    displacement with radiculopathy)."""
    pattern = re.compile(CONDITIONS[condition], re.IGNORECASE)
    return [code for code in codes if any(pattern.search(e.text) for e in code.evidence)]


def _reconcile_diagnosis(rule: RuleFacts, read: GroundedDiagnosis, out: Reconciliation, group=()) -> None:
    quote = read.evidence
    codes = _codes_for(read.condition, rule.diagnoses)
    condition = read.condition.replace("_", " ")
    if read.negated:
        # Only a code whose own words overlap the denial is contradicted: "no myelopathy" does not dispute a
        # disc herniation coded elsewhere.
        for code in codes:
            out.confidence[f"diagnosis:{code.code}"] = "disputed"
            out.findings.append(_finding(
                "LLM-NEGATION-DIFFERS",
                f"The draft codes {code.code} ({code.description}), but the second reader reads the note as denying "
                f'{condition}.', code.evidence, quote,
                "Read the note: a condition the physician rules out is not coded."))
        return
    if not codes:
        if read.condition in SYMPTOMS and rule.diagnoses:
            return  # a routine symptom of a coded diagnosis is not coded (ICD-10-CM Guidelines I.B.5)
        levels = " and ".join(read.level_names)
        out.findings.append(_finding(
            "LLM-DIAGNOSIS-MISSED",
            f"The second reader found {_side_words(read.side)}{levels + ' ' if levels else ''}{condition} that the "
            f'draft does not code.', (), quote,
            "Read the note: add the diagnosis if it is documented as a reason for the procedure."))
        return
    # The draft may code one condition at two levels with two codes (M50.122, M50.123) where the second reader
    # names both levels in one fact: compare the levels of all the codes for the condition together.
    interspaces, vertebrae = [], []
    for code in codes:
        for mentions in (lv.find_levels(name) for name in code.levels):
            interspaces += [i for m in mentions for i in m.interspaces]
            vertebrae += [v for m in mentions if m.form in ("vertebra", "list") for v in m.vertebrae]
    only_second, only_rule = _level_difference(interspaces, vertebrae, read.interspaces, read.vertebrae)
    if only_second or only_rule:
        for code in codes:
            out.confidence[f"diagnosis:{code.code}"] = "disputed"
        named = " and ".join(f"{code.code} ({code.description}) at {' and '.join(code.levels) or 'no level'}"
                             for code in codes)
        out.findings.append(_finding(
            "LLM-LEVEL-DIFFERS",
            f"The draft codes {named}; the second reader reads {condition} at {' and '.join(read.level_names)}.",
            tuple(e for code in codes for e in code.evidence), _quote_naming(only_second, group, quote),
            "Check the level in the note: it can change the code."))
    else:
        for code in codes:
            _confirm(out, f"diagnosis:{code.code}")


def _quote_naming(levels: list[str], group, fallback: Evidence) -> Evidence:
    """Of a merged fact's quotes, the one that names a level the draft does not: the words a biller must read."""
    return next((r.evidence for r in group if set(levels) & set(r.level_names)), fallback)


def _merged(reads: list) -> list:
    """The second reader's facts of one kind, side and negation as one fact at all their levels, each with the facts
    it was made of: a model that writes "L4-L5" and "L5-S1" as two facts of one injection reads the same thing as
    the draft's two levels."""
    groups: dict[tuple, list] = {}
    for read in reads:
        kind = read.rule_kind if isinstance(read, GroundedProcedure) else read.condition
        groups.setdefault((kind, read.side, read.negated), []).append(read)
    merged = []
    for group in groups.values():
        first = group[0]
        interspaces = tuple(dict.fromkeys(i for r in group for i in r.interspaces))
        vertebrae = tuple(dict.fromkeys(v for r in group for v in r.vertebrae))
        changes = {"interspaces": interspaces, "vertebrae": vertebrae}
        if isinstance(first, GroundedProcedure):
            changes["implants"] = tuple(dict.fromkeys(i for r in group for i in r.implants))
        merged.append((dataclasses.replace(first, **changes), tuple(group)))
    return merged


def reconcile(rule_reading: CodingResult | RuleFacts, second: Facts, *, transcript: str) -> Reconciliation:
    """Findings where the second reader's facts differ from the draft's, and which draft facts it confirms.

    `second` is grounded in `transcript` first (billing.second_reader.grounded): facts without words in the
    transcript never raise a finding. Never adds or removes a code."""
    rule = rule_reading if isinstance(rule_reading, RuleFacts) else RuleFacts.of(rule_reading)
    out = Reconciliation(second=grounded(second, transcript))
    for kind in rule.procedures:
        if kind not in DETAIL_KINDS:
            out.confidence[f"procedure:{kind}"] = "unconfirmed"
    for code in rule.diagnoses:
        out.confidence[f"diagnosis:{code.code}"] = "unconfirmed"
    for read, group in _merged(out.second.procedures):
        _reconcile_procedure(rule, read, out, group)
    for read, group in _merged(out.second.diagnoses):
        _reconcile_diagnosis(rule, read, out, group)
    # One finding per difference: two facts of the model can say the same thing of one draft fact.
    out.findings = list({(f.rule, f.message): f for f in out.findings}.values())
    return out
