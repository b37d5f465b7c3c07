"""Checks of a claim's codes as a biller edits them: plain data in, findings out (billing.results.Finding).

These are the checks the claim editor needs on every save: each code exists and is billable, add-on codes
travel with a primary the catalogue names, pairs CPT excludes, pointers and modifiers. Payer policy (NCCI
PTP tables, MUEs, LCDs, payer rules) is the scrubber's (billing.scrub), which adds its findings beside these.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from billing import cpt, icd
from billing.results import Finding

_CPT_SHAPE = re.compile(r"^(?:\d{4}[0-9FTU]|[A-V]\d{4})$")
# Modifiers a spine and pain claim uses; others are accepted with a warning (a payer may know them).
KNOWN_MODIFIERS = {
    "22", "26", "50", "51", "52", "53", "58", "59", "62", "76", "77", "78", "79", "80", "82", "AS", "GA", "GX", "GY",
    "GZ", "KX", "LT", "RT", "TC", "XE", "XP", "XS", "XU", "JW", "JZ", "QZ", "25", "57", "24", "F1", "F2", "T1",
}
SOURCE_CPT = "IamBilly CPT catalogue (billing/data/cpt_spine.csv)"
SOURCE_ICD = "ICD-10-CM Official Guidelines I.B.1 (code to the highest specificity: billable codes only)"


@dataclass(frozen=True)
class LineCodes:
    cpt: str
    modifiers: tuple[str, ...]
    units: int
    dx_pointers: tuple[str, ...]


def code_problem(code: str) -> str | None:
    """Why a CPT/HCPCS code cannot be on a claim line, or None."""
    code = (code or "").strip().upper()
    if not _CPT_SHAPE.match(code):
        return f"{code or '(blank)'} is not a CPT or HCPCS code (five characters, e.g. 63030 or J3301)."
    return None


def diagnosis_problem(code: str, *, on=None) -> str | None:
    """Why an ICD-10-CM code cannot be on the claim, or None; names the billable codes below a header code."""
    try:
        dotted = icd.normalize(code)
    except ValueError:
        return f"{code or '(blank)'} is not an ICD-10-CM code."
    if not icd.is_valid(dotted, on=on):
        return f"{dotted} is not in the ICD-10-CM code set in effect on the date of service."
    if not icd.is_billable(dotted, on=on):
        below = icd.children(dotted, on=on)[:4]
        more = f": pick a more specific code, e.g. {', '.join(below)}" if below else ""
        return f"{dotted} is a category, not a billable code{more}."
    return None


def check_lines(lines: Sequence[LineCodes], *, diagnoses: Sequence[str]) -> list[Finding]:
    findings: list[Finding] = []
    letters = "ABCDEFGHIJKL"[: len(diagnoses)]
    codes = [line.cpt for line in lines]
    for i, line in enumerate(lines):
        entry = cpt.get(line.cpt)
        if entry is None and not line.cpt.startswith("J"):
            findings.append(Finding("CPT-UNLISTED", "warning", f"{line.cpt} is not in IamBilly's spine catalogue: "
                                    "check the code and its rules by hand.", lines=(i,), source_title=SOURCE_CPT))
        if entry is not None and entry.add_on:
            primaries = set(entry.primaries)
            if primaries and not primaries & set(codes):
                findings.append(Finding(
                    "ADDON-NO-PRIMARY", "error",
                    f"{line.cpt} is an add-on code: it is reported with {', '.join(sorted(primaries)[:6])}"
                    f"{'…' if len(primaries) > 6 else ''}, and none is on the claim.", lines=(i,),
                    source_title=SOURCE_CPT))
        for j in range(i + 1, len(lines)):
            if lines[j].cpt != line.cpt and cpt.excluded_together(line.cpt, lines[j].cpt):
                findings.append(Finding(
                    "CPT-EXCLUDED-PAIR", "error",
                    f"{line.cpt} and {lines[j].cpt} are not reported together at the same site: one includes "
                    "the other. A distinct site needs a modifier (59/XS) and documentation.", lines=(i, j),
                    source_title=SOURCE_CPT))
        if not line.dx_pointers:
            findings.append(Finding("DX-POINTER-MISSING", "error", f"Line {i + 1} ({line.cpt}) points to no diagnosis.",
                                    lines=(i,)))
        for pointer in line.dx_pointers:
            if pointer not in letters:
                findings.append(Finding("DX-POINTER-INVALID", "error",
                                        f"Line {i + 1} points to diagnosis {pointer}, which the claim does not have.",
                                        lines=(i,)))
        for modifier in line.modifiers:
            if modifier not in KNOWN_MODIFIERS:
                findings.append(Finding("MODIFIER-UNKNOWN", "warning",
                                        f"Line {i + 1}: modifier {modifier} is not one IamBilly knows; check it.",
                                        lines=(i,)))
        if "LT" in line.modifiers and "RT" in line.modifiers:
            findings.append(Finding("MODIFIER-SIDES", "error",
                                    f"Line {i + 1} has both LT and RT: a bilateral service is one line with 50.",
                                    lines=(i,)))
    seen: dict[tuple[str, tuple[str, ...]], int] = {}
    for i, line in enumerate(lines):
        key = (line.cpt, tuple(sorted(line.modifiers)))
        if key in seen:
            findings.append(Finding("LINE-DUPLICATE", "warning",
                                    f"Lines {seen[key] + 1} and {i + 1} are the same code with the same modifiers: "
                                    "report units on one line.", lines=(seen[key], i)))
        else:
            seen[key] = i
    return findings
