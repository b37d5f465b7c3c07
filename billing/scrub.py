"""Scrubbing a claim's lines against NCCI procedure-to-procedure (PTP) edits and medically unlikely edits (MUEs).

Plain data in, plain findings out (billing.results.Finding): no database. The edit tables are plain mappings;
today they come from the spine seed files that ship with IamBilly (billing/data/ncci_spine_seed.csv and
mue_spine_seed.csv, written from public CMS policy and marked "verify"); the CMS quarterly files load into the
same shape (billing.cms_files reads their published layouts).

The NCCI rules applied (NCCI Policy Manual for Medicare Services, ch. I, sections on modifiers and MUEs):
- A PTP edit pairs a column 1 code with a column 2 code that is not paid when both are billed for the same
  patient, same provider, same date. Its modifier indicator says whether a modifier can bypass it:
  0 never; 1 when the services are distinct (different site, level, session, incision) and a PTP-associated
  modifier says so (59, XE, XP, XS, XU, anatomic modifiers, 24, 25, 57, 58, 78, 79, 27, 91); 9 the edit no
  longer applies.
- An MUE is the most units of a code one provider reports for one patient on one date of service. Adjudication
  indicator 1 is a line edit (units per claim line); 2 (policy) and 3 (clinical) are date-of-service edits:
  the units of every line with the code on that date are added up.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from types import MappingProxyType

from billing.results import Finding

# Modifiers NCCI accepts as a reason to bypass an edit with modifier indicator 1 (NCCI Policy Manual ch. I).
PTP_ASSOCIATED_MODIFIERS = frozenset({
    "59", "XE", "XP", "XS", "XU", "LT", "RT", "E1", "E2", "E3", "E4", "FA", "F1", "F2", "F3", "F4", "F5", "F6",
    "F7", "F8", "F9", "TA", "T1", "T2", "T3", "T4", "T5", "T6", "T7", "T8", "T9", "LC", "LD", "LM", "RC", "RI",
    "24", "25", "27", "57", "58", "78", "79", "91",
})
SOURCE_PTP = "NCCI procedure-to-procedure edits (Medicare, practitioner services)"
SOURCE_MUE = "NCCI medically unlikely edits (Medicare, practitioner services)"
MUE_INDICATORS = {1: "line edit", 2: "date of service edit: policy", 3: "date of service edit: clinical"}


@dataclass(frozen=True)
class PtpRule:
    column1: str
    column2: str
    modifier_indicator: int  # 0, 1 or 9
    effective: dt.date
    deleted: dt.date | None = None
    rationale: str = ""
    source: str = ""
    reference: str = ""  # the row it came from ("ncci:123"), for the finding's source_ref

    def in_effect(self, day: dt.date) -> bool:
        return self.effective <= day and (self.deleted is None or day <= self.deleted)


@dataclass(frozen=True)
class MueRule:
    code: str
    units: int
    adjudication_indicator: int  # 1 line, 2 date of service (policy), 3 date of service (clinical)
    rationale: str = ""
    source: str = ""
    reference: str = ""  # the row it came from ("mue:45")


@dataclass(frozen=True)
class EditTables:
    ptp: Mapping[tuple[str, str], tuple[PtpRule, ...]] = field(default_factory=dict)  # (column1, column2) -> rows
    mue: Mapping[str, MueRule] = field(default_factory=dict)

    def ptp_between(self, first: str, second: str, day: dt.date) -> PtpRule | None:
        """The edit in effect on `day` pairing the two codes, in either column order."""
        for key in ((first, second), (second, first)):
            for rule in self.ptp.get(key, ()):
                if rule.in_effect(day):
                    return rule
        return None


@dataclass(frozen=True)
class ScrubLine:
    cpt: str
    units: int = 1
    modifiers: tuple[str, ...] = ()
    levels: tuple[str, ...] = ()  # interspaces or vertebrae the line treats ("L4-L5"), when known
    dx_pointers: tuple[str, ...] = ()  # letters into ScrubClaim.diagnoses ("A", "B"), in order
    place_of_service: str = ""  # blank: the claim's


@dataclass(frozen=True)
class PriorClaim:
    """One earlier claim of the same patient, for frequency limits and global periods (no PHI: codes and dates)."""

    date_of_service: dt.date
    lines: tuple[ScrubLine, ...]
    reference: str = ""  # how a biller finds it: the claim number ("IB00000012")
    same_provider: bool = True  # the same rendering provider (or group, same specialty) as this claim


@dataclass(frozen=True)
class ScrubClaim:
    lines: tuple[ScrubLine, ...]
    date_of_service: dt.date
    distinct_modifier: str = ""  # the payer's preference: "59", or "X" for XS/XU/XE/XP; blank: its modifier map
    diagnoses: tuple[str, ...] = ()  # ICD-10-CM with the dot, in item 21 order (pointer A first)
    payer_id: str = ""  # the EDI payer id; blank: unknown
    payer_type: str = ""  # patients.PayerType values: "medicare", "medicaid", "commercial", ...
    place_of_service: str = "22"
    patient_age: int | None = None  # whole years on the date of service
    patient_sex: str = "U"  # "F", "M", "U"
    bilateral: str = ""  # the payer's bilateral convention: "50" one line with 50, "LT-RT" two lines; blank: its map
    prior_claims: tuple[PriorClaim, ...] = ()  # the patient's earlier claims (not void, not this one)

    def diagnosis_of(self, pointer: str) -> str | None:
        index = "ABCDEFGHIJKL".find(pointer)
        return self.diagnoses[index] if 0 <= index < len(self.diagnoses) else None


def build_tables(ptp: Iterable[PtpRule], mue: Iterable[MueRule]) -> EditTables:
    by_pair: dict[tuple[str, str], list[PtpRule]] = {}
    for rule in ptp:
        by_pair.setdefault((rule.column1, rule.column2), []).append(rule)
    return EditTables(ptp=MappingProxyType({k: tuple(v) for k, v in by_pair.items()}),
                      mue=MappingProxyType({rule.code: rule for rule in mue}))


@cache
def seed_tables() -> EditTables:
    """The spine seed edits shipped with IamBilly, read once per process."""
    data = resources.files(__package__ or "billing") / "data"
    with (data / "ncci_spine_seed.csv").open(encoding="utf-8") as handle:
        ptp = [PtpRule(column1=row["column1"], column2=row["column2"],
                       modifier_indicator=int(row["modifier_indicator"]),
                       effective=dt.date.fromisoformat(row["effective"]),
                       deleted=dt.date.fromisoformat(row["deleted"]) if row["deleted"] else None,
                       rationale=row["rationale"], source=row["source"]) for row in csv.DictReader(handle)]
    with (data / "mue_spine_seed.csv").open(encoding="utf-8") as handle:
        mue = [MueRule(code=row["code"], units=int(row["units"]),
                       adjudication_indicator=int(row["adjudication_indicator"]),
                       rationale=row["rationale"], source=row["source"]) for row in csv.DictReader(handle)]
    return build_tables(ptp, mue)


def _distinct_modifier(claim: ScrubClaim) -> str:
    return "59" if claim.distinct_modifier == "59" else "XS"


def ptp_findings(claim: ScrubClaim, tables: EditTables) -> list[Finding]:
    findings: list[Finding] = []
    lines = claim.lines
    for i, first in enumerate(lines):
        for j in range(i + 1, len(lines)):
            second = lines[j]
            if first.cpt == second.cpt:
                continue
            rule = tables.ptp_between(first.cpt, second.cpt, claim.date_of_service)
            if rule is None or rule.modifier_indicator == 9:
                continue
            col1_index, col2_index = (i, j) if first.cpt == rule.column1 else (j, i)
            column2 = lines[col2_index]
            pair = f"{rule.column1} and {rule.column2}"
            passage = f"{rule.column1}/{rule.column2}, modifier indicator {rule.modifier_indicator}: {rule.rationale}"
            source = rule.source or SOURCE_PTP
            cite = {"source_title": source, "source_passage": passage, "source_ref": rule.reference}
            if rule.modifier_indicator == 0:
                findings.append(Finding(
                    "NCCI-PTP", "error",
                    f"{pair} are never paid together (NCCI edit, modifier indicator 0): remove {rule.column2}; "
                    "no modifier bypasses this edit.", fix=f"Remove {rule.column2}.",
                    lines=(col1_index, col2_index), **cite))
                continue
            used = [m for m in (*column2.modifiers, *lines[col1_index].modifiers) if m in PTP_ASSOCIATED_MODIFIERS]
            if used:
                findings.append(Finding(
                    "NCCI-PTP-BYPASSED", "info",
                    f"{pair}: the NCCI edit is bypassed by modifier {used[0]}; the note must show a distinct "
                    "service (another level, site or session).", lines=(col1_index, col2_index),
                    **cite))
                continue
            levels_1, levels_2 = set(lines[col1_index].levels), set(column2.levels)
            modifier = _distinct_modifier(claim)
            if levels_1 and levels_2 and not levels_1 & levels_2:
                findings.append(Finding(
                    "NCCI-PTP-MODIFIER", "error",
                    f"{pair} are bundled unless distinct: {rule.column2} is at {', '.join(sorted(levels_2))}, "
                    f"{rule.column1} at {', '.join(sorted(levels_1))}. Add {modifier} to {rule.column2}: a different "
                    "vertebral level.", fix=f"Add {modifier} to {rule.column2}: a different vertebral level.",
                    lines=(col1_index, col2_index), **cite))
            else:
                findings.append(Finding(
                    "NCCI-PTP", "error",
                    f"{pair} are not paid together at the same site (NCCI edit, modifier indicator 1): remove "
                    f"{rule.column2}, or add {modifier} if the note documents it at another level or site.",
                    fix=f"Remove {rule.column2}, or add {modifier} to it if it was at another level or site.",
                    lines=(col1_index, col2_index), **cite))
    return findings


def mue_findings(claim: ScrubClaim, tables: EditTables) -> list[Finding]:
    findings: list[Finding] = []
    by_code: dict[str, list[int]] = {}
    for i, line in enumerate(claim.lines):
        by_code.setdefault(line.cpt, []).append(i)
    for code, indexes in by_code.items():
        rule = tables.mue.get(code)
        if rule is None:
            continue
        kind = MUE_INDICATORS.get(rule.adjudication_indicator, f"indicator {rule.adjudication_indicator}")
        passage = f"{code}: MUE {rule.units} unit{'s' if rule.units != 1 else ''} ({kind}). {rule.rationale}"
        source = rule.source or SOURCE_MUE
        cite = {"source_title": source, "source_passage": passage, "source_ref": rule.reference}
        if rule.adjudication_indicator == 1:
            for i in indexes:
                if claim.lines[i].units > rule.units:
                    findings.append(Finding(
                        "MUE", "error", f"Line {i + 1}: {claim.lines[i].units} units of {code}; its MUE is "
                        f"{rule.units} per line. Reduce the units, or bill the rest on another line only if "
                        "it was a distinct service.", fix=f"Reduce line {i + 1} to {rule.units} unit"
                        f"{'s' if rule.units != 1 else ''}.", lines=(i,), **cite))
            continue
        total = sum(claim.lines[i].units for i in indexes)
        if total > rule.units:
            findings.append(Finding(
                "MUE", "error", f"{total} units of {code} on this date of service; its MUE is {rule.units} "
                f"({kind}): units above it are denied and cannot be bypassed with a modifier. Check the units, "
                "or the code (an add-on code may carry the additional levels).",
                fix=f"Bill at most {rule.units} unit{'s' if rule.units != 1 else ''} of {code}; report further "
                "levels with the add-on code where there is one.", lines=tuple(indexes),
                **cite))
    return findings


def scrub(claim: ScrubClaim, tables: EditTables | None = None) -> list[Finding]:
    """Every PTP and MUE finding for the claim's lines (seed tables when none are given)."""
    tables = tables if tables is not None else seed_tables()
    return [*ptp_findings(claim, tables), *mue_findings(claim, tables)]


def scrub_lines(lines: Sequence[ScrubLine], *, date_of_service: dt.date, distinct_modifier: str = "X",
                tables: EditTables | None = None) -> list[Finding]:
    return scrub(ScrubClaim(lines=tuple(lines), date_of_service=date_of_service,
                            distinct_modifier=distinct_modifier), tables)


def tables_from_cms_files(ptp_edits: Iterable, mue_edits: Iterable) -> EditTables:
    """Edit tables from the rows billing.cms_files reads out of CMS's quarterly files."""
    return build_tables(
        (PtpRule(column1=e.column1, column2=e.column2, modifier_indicator=e.modifier_indicator, effective=e.effective,
                 deleted=e.deleted, rationale=e.rationale, source=f"{SOURCE_PTP}: {e.source}, line {e.line}")
         for e in ptp_edits),
        (MueRule(code=e.code, units=e.units, adjudication_indicator=e.adjudication_indicator, rationale=e.rationale,
                 source=f"{SOURCE_MUE}: {e.source}, line {e.line}") for e in mue_edits))


# --- the whole scrub -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ScrubReference:
    """Everything one claim is scrubbed against: its edit tables, the payer's rules, the coverage policies in scope.

    `coverage_policies` holds every policy loaded (scope is checked per claim), so an empty tuple means the library
    is empty and the scrub says so rather than passing claims it never checked."""

    tables: EditTables = field(default_factory=EditTables)
    payer_rules: tuple = ()  # billing.payer_rules.PayerRule
    coverage_policies: tuple = ()  # billing.coverage.CoveragePolicy


# A finding another family makes redundant when that family's finding covers the same lines: an NCCI edit
# already says what the catalogue's "not together" pair, its add-on list or the payer rule on 69990 says, with
# its source ("remove 69990" once, not three times).
_NCCI = ("NCCI-PTP", "NCCI-PTP-MODIFIER", "NCCI-PTP-BYPASSED")
_SUPERSEDED_BY = {"CPT-EXCLUDED-PAIR": _NCCI, "MCR-69990-NOT-PAYABLE": ("NCCI-PTP",), "ADDON-NO-PRIMARY": ("NCCI-PTP",)}


def scrub_claim(claim: ScrubClaim, reference: ScrubReference) -> list[Finding]:
    """Every scrub finding for the claim, in the order a biller works them: code sets, NCCI, MUE, modifiers,
    coverage, payer rules, history. Plain data in and out; billing.scrub_reference reads the reference."""
    # Imported here: these modules build on the dataclasses above.
    from billing import coverage, diagnosis_edits, history_rules, payer_rules

    return [
        *diagnosis_edits.diagnosis_code_findings(claim),
        *diagnosis_edits.excludes1_findings(claim),
        *ptp_findings(claim, reference.tables),
        *mue_findings(claim, reference.tables),
        *diagnosis_edits.laterality_findings(claim),
        *coverage.coverage_findings(claim, reference.coverage_policies),
        *payer_rules.rule_findings(claim, reference.payer_rules),
        *history_rules.global_period_findings(claim),
    ]


def without_superseded(findings: Sequence[Finding]) -> list[Finding]:
    """Drop a finding another one already makes about the same lines (see _SUPERSEDED_BY)."""
    def superseded(finding: Finding) -> bool:
        lines = set(finding.lines)
        return any(other.rule in _SUPERSEDED_BY.get(finding.rule, ()) and lines <= set(other.lines)
                   for other in findings)

    return [f for f in findings if not superseded(f)]
