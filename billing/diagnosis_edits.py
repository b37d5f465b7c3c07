"""Diagnosis edits on a claim: code validity, Excludes1 pairs, and laterality against the modifiers.

Plain data in (billing.scrub.ScrubClaim), plain findings out; the ICD-10-CM answers come from billing.icd, which
reads the release in effect on the claim's date of service (the only module that touches simple-icd-10-cm).

- Validity. A claim carries only codes of the ICD-10-CM release in effect on its date of service (the HIPAA code
  set standard), and only billable ones: a category or subcategory that has codes below it is a header, not a
  code (ICD-10-CM Official Guidelines I.B.2: code to the highest number of characters available).
- Excludes1. "NOT CODED HERE": the two conditions are not reported together, except when they are unrelated
  (Guidelines I.A.12.a). A note written on a category or block applies to every code below it.
- Laterality. Modifier 50 says both sides in one line, LT/RT one side; a line cannot say both, and a side should
  agree with the diagnosis it points to. Whether 50 applies at all is the Medicare physician fee schedule's
  bilateral surgery indicator for the code (billing.cpt bilateral_rule; Medicare Claims Processing Manual
  ch. 12, sec. 40.7). Payers differ on how a bilateral service is written: one line with 50 and one unit, or two
  lines with LT and RT (ScrubClaim.bilateral).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from billing import cpt, icd
from billing.results import Finding
from billing.scrub import ScrubClaim

POINTER_LETTERS = "ABCDEFGHIJKL"
_ICD9_SHAPE = re.compile(r"^(?:\d{3}|V\d{2}|E\d{3})(?:\.\d{1,2})?$")
_SHOWN_CHILDREN = 8

SOURCE_VALIDITY = "ICD-10-CM Official Guidelines for Coding and Reporting; HIPAA code set standard"
SOURCE_EXCLUDES1 = "ICD-10-CM Official Guidelines for Coding and Reporting, I.A.12.a (Excludes1)"
SOURCE_BILATERAL = ("Medicare Claims Processing Manual (IOM 100-04), ch. 12, sec. 40.7 (bilateral surgery); "
                    "Medicare physician fee schedule bilateral surgery indicator")
# What the MPFS bilateral indicator means for modifier 50, for the codes where 50 is wrong.
_NO_BILATERAL = {
    "0": "Medicare's fee schedule does not allow the bilateral adjustment for it (indicator 0): bill it once, "
         "without 50; if the note documents both sides, the payer pays one",
    "2": "the code already describes both sides or is priced as bilateral (indicator 2): bill it once without 50",
    "9": "the bilateral concept does not apply to it (indicator 9): remove 50",
}
_BILATERAL_ALLOWED = frozenset({"1", "3"})


def _lines_pointing_to(claim: ScrubClaim, letter: str) -> tuple[int, ...]:
    return tuple(i for i, line in enumerate(claim.lines) if letter in line.dx_pointers)


def _letter(index: int) -> str:
    return POINTER_LETTERS[index] if index < len(POINTER_LETTERS) else f"#{index + 1}"


# --- validity ----------------------------------------------------------------------------------------------


def diagnosis_code_findings(claim: ScrubClaim) -> list[Finding]:
    """ICD-INVALID for a code that is not one of the release in effect on the date of service (or not a code at
    all); ICD-NOT-BILLABLE for a header, naming the billable codes below it."""
    dos = claim.date_of_service
    release = icd.code_set_for(dos).name
    findings = []
    for index, written in enumerate(claim.diagnoses):
        letter = _letter(index)
        lines = _lines_pointing_to(claim, letter)
        try:
            code = icd.normalize(written)
        except ValueError:
            hint = " It looks like an ICD-9 code, retired since October 2015." if _ICD9_SHAPE.match(
                written.strip()) else ""
            findings.append(Finding(
                "ICD-INVALID", "error", f"Diagnosis {letter} {written!r} is not an ICD-10-CM code.{hint}",
                lines=lines, fix="Code the diagnosis the note documents in ICD-10-CM; never copy a code from the note.",
                source_title=SOURCE_VALIDITY, source_section="I.A (conventions: code format)",
                source_passage="Summary in our words: a claim reports ICD-10-CM codes of the code set in effect "
                               "on the date of service."))
            continue
        if not icd.is_valid(code, on=dos):
            findings.append(Finding(
                "ICD-INVALID", "error",
                f"Diagnosis {letter} {code} is not a code of {release}, the ICD-10-CM release in effect on "
                f"{dos.isoformat()}: it was deleted, not yet in effect, or mistyped.",
                lines=lines, fix="Choose the code the note supports from the release in effect on the date of "
                                 "service (code search in IamBilly uses it).",
                source_title=SOURCE_VALIDITY, source_section="Code set in effect on the date of service",
                source_passage="Summary in our words: the code set in effect on the date of service is the one a "
                               "claim must use; codes change every October 1 and sometimes April 1.",
                source_ref=f"icd10cm:{code}"))
            continue
        if not icd.is_billable(code, on=dos):
            below = _billable_below(code, on=dos)
            shown = ", ".join(f"{child} ({icd.describe(child, on=dos)})" for child in below[:_SHOWN_CHILDREN])
            more = len(below) - _SHOWN_CHILDREN
            findings.append(Finding(
                "ICD-NOT-BILLABLE", "error",
                f"Diagnosis {letter} {code} ({icd.describe(code, on=dos)}) is a header with codes below it, "
                "not a billable code.",
                lines=lines,
                fix=f"Code to full specificity, choosing what the note documents: {shown}"
                    f"{f' and {more} more (code search lists them)' if more > 0 else ''}.",
                source_title=SOURCE_VALIDITY, source_section="I.B.2 (level of detail in coding)",
                source_passage="Summary in our words: a code is reported at the highest number of characters "
                               "available; a category or subcategory with codes below it is not a valid code.",
                source_ref=f"icd10cm:{code}"))
    return findings


def _billable_below(code: str, *, on) -> list[str]:
    """The billable codes under a header, nearest first (children, then grandchildren...)."""
    out, queue = [], [code]
    while queue and len(out) <= _SHOWN_CHILDREN * 4:
        parent = queue.pop(0)
        for child in icd.children(parent, on=on):
            if icd.is_billable(child, on=on):
                out.append(child)
            else:
                queue.append(child)
    return out


# --- Excludes1 ---------------------------------------------------------------------------------------------


def _note_references(note: str) -> tuple[str, ...]:
    # The codes, prefixes ("M50.0-") and ranges ("M50-M54") in a note's parentheses, parsed the one way
    # billing.icd parses them for excludes1()/conflicts().
    return icd.note_refs(note)


def excludes1_findings(claim: ScrubClaim) -> list[Finding]:
    """ICD-EXCLUDES1 for each pair of the claim's diagnoses that an Excludes1 note (on a code or any of its
    ancestors) puts out of reach of each other."""
    dos = claim.date_of_service
    codes: list[tuple[str, str]] = []  # (letter, code), valid codes only: the others are diagnosis_code_findings'
    for index, written in enumerate(claim.diagnoses):
        try:
            code = icd.normalize(written)
        except ValueError:
            continue
        if icd.is_valid(code, on=dos) and code not in (c for _, c in codes):
            codes.append((_letter(index), code))
    findings = []
    for i, (letter_a, a) in enumerate(codes):
        for letter_b, b in codes[i + 1:]:
            notes = _excluding_notes(a, b, on=dos) + _excluding_notes(b, a, on=dos)
            if not notes:
                continue
            owner, text, _ = notes[0]
            to_remove = {remove for _, _, remove in notes}
            if len(to_remove) == 1:
                (remove,) = to_remove
                keep = b if remove == a else a
                fix = (f"Remove {remove}: {keep} already codes that condition (the note sends it there). Keep both "
                       "only if the note documents two unrelated conditions.")
            else:
                fix = ("Keep the code that says more (a combination code includes its symptom) and remove the "
                       "other; keep both only if the note documents two unrelated conditions.")
            lines = tuple(sorted(set(_lines_pointing_to(claim, letter_a)) | set(_lines_pointing_to(claim, letter_b))))
            findings.append(Finding(
                "ICD-EXCLUDES1", "error",
                f"{a} ({icd.describe(a, on=dos)}) and {b} ({icd.describe(b, on=dos)}) are not coded together: "
                f"the Excludes1 note at {owner} excludes {text!r}.",
                lines=lines, fix=fix,
                source_title=SOURCE_EXCLUDES1, source_section=f"ICD-10-CM Tabular List, {owner}, Excludes1",
                source_passage=f"{owner} Excludes1: {text}", source_ref=f"icd10cm:{owner}:excludes1"))
    return findings


def _excluding_notes(code: str, other: str, *, on) -> list[tuple[str, str, str]]:
    """(owner, note text, code to remove) for each Excludes1 note of `code`'s lineage that covers `other`.

    A note usually sends the condition elsewhere ("radiculopathy with disc disorder (M51.1-)" on M54.1: code
    M51.1- instead, so M54.x goes); a note that names the other code as "NOS" says the other code is the
    unspecified form ("lumbar radiculitis NOS (M54.16)" on M51.1: M54.16 goes)."""
    found = []
    for owner, text in icd.excludes1_notes(code, on=on):
        if any(icd.covers(ref, other) for ref in _note_references(text)):
            found.append((owner, text, other if re.search(r"\bNOS\b", text) else code))
    return found


# --- laterality --------------------------------------------------------------------------------------------

_LEFT = re.compile(r"\bleft\b", re.IGNORECASE)
_RIGHT = re.compile(r"\bright\b", re.IGNORECASE)


def _sides_named(description: str) -> set[str]:
    sides = set()
    if _LEFT.search(description):
        sides.add("LT")
    if _RIGHT.search(description):
        sides.add("RT")
    return sides


def _pointed_codes(claim: ScrubClaim, pointers: Iterable[str]) -> list[str]:
    out = []
    for pointer in pointers:
        written = claim.diagnosis_of(pointer)
        if not written:
            continue
        try:
            code = icd.normalize(written)
        except ValueError:
            continue
        if icd.is_valid(code, on=claim.date_of_service):
            out.append(code)
    return out


def laterality_findings(claim: ScrubClaim) -> list[Finding]:
    """Modifier 50 against LT/RT, sides against the pointed diagnoses, the payer's bilateral convention, and 50
    on a code whose fee schedule bilateral indicator does not allow it."""
    findings: list[Finding] = []
    dos = claim.date_of_service
    for index, line in enumerate(claim.lines):
        modifiers = set(line.modifiers)
        sides = modifiers & {"LT", "RT"}
        code = line.cpt.strip().upper()
        entry = cpt.get(code)
        if "50" in modifiers and sides:
            findings.append(Finding(
                "LATERALITY-50-AND-SIDE", "error",
                f"Line {index + 1} ({code}) carries 50 (both sides) and {'/'.join(sorted(sides))} (one side).",
                lines=(index,),
                fix="Keep 50 if the note documents both sides, or the one side modifier it documents; not both.",
                source_title=SOURCE_BILATERAL, source_section="Bilateral procedures",
                source_passage="Summary in our words: modifier 50 reports a procedure done on both sides in one "
                               "session; LT and RT report one side."))
        if len(sides) == 1:
            (side,) = sides
            other = "RT" if side == "LT" else "LT"
            named = {dx: _sides_named(icd.describe(dx, on=dos)) for dx in _pointed_codes(claim, line.dx_pointers)}
            if named and not any(side in s for s in named.values()) and any(other in s for s in named.values()):
                words = {"LT": "left", "RT": "right"}
                against = ", ".join(f"{dx} ({icd.describe(dx, on=dos)})" for dx, s in named.items() if other in s)
                findings.append(Finding(
                    "LATERALITY-DX-MISMATCH", "error",
                    f"Line {index + 1} ({code}) is on the {words[side]} side ({side}) but its diagnosis names the "
                    f"{words[other]}: {against}.",
                    lines=(index,),
                    fix=f"Check the note: correct the modifier to {other}, or the diagnosis to the "
                        f"{words[side]}-side code.",
                    source_title="ICD-10-CM Official Guidelines for Coding and Reporting, I.B.13 (laterality)",
                    source_section="I.B.13",
                    source_passage="Summary in our words: where a code names a side, the side coded is the side "
                                   "documented; the procedure's side modifier should agree with it."))
        if "50" in modifiers and entry is not None and entry.bilateral_rule in _NO_BILATERAL:
            findings.append(Finding(
                "BILATERAL-NOT-ALLOWED", "error",
                f"Line {index + 1} ({code}) carries 50, but {_NO_BILATERAL[entry.bilateral_rule]}.",
                lines=(index,), fix=f"Remove 50 from {code}.",
                source_title=SOURCE_BILATERAL, source_section="Bilateral surgery indicator",
                source_passage="Summary in our words: indicator 1 allows 50 (paid at 150%), 3 pays each side in "
                               "full, 2 means the code is already bilateral, 0 and 9 allow no bilateral payment.",
                source_ref=f"cpt:{code}:bilateral_rule"))
        elif "50" in modifiers and claim.bilateral == "LT-RT" and (entry is None
                                                                   or entry.bilateral_rule in _BILATERAL_ALLOWED):
            findings.append(Finding(
                "BILATERAL-SPLIT", "warning",
                f"Line {index + 1} ({code}) is billed with 50; this payer wants a bilateral service on two lines, "
                "one with LT and one with RT.",
                lines=(index,),
                fix=f"Split the line into {code}-LT and {code}-RT, each with the units of one side, and drop 50.",
                source_title=SOURCE_BILATERAL, source_section="Payer convention for bilateral services",
                source_passage="Summary in our words: Medicare wants one line with 50 and one unit; some payers "
                               "want two lines with RT and LT instead."))
    if claim.bilateral == "50":
        findings.extend(_combine_sides(claim))
    return findings


def _combine_sides(claim: ScrubClaim) -> list[Finding]:
    """The same code on an LT line and an RT line at the same levels (or levels unknown): one line with 50."""
    findings = []
    for i, left in enumerate(claim.lines):
        if "LT" not in left.modifiers or "RT" in left.modifiers:
            continue
        code = left.cpt.strip().upper()
        entry = cpt.get(code)
        if entry is None or entry.bilateral_rule not in _BILATERAL_ALLOWED:
            continue
        for j, right in enumerate(claim.lines):
            if j == i or right.cpt.strip().upper() != code or "RT" not in right.modifiers or "LT" in right.modifiers:
                continue
            if left.levels and right.levels and set(left.levels) != set(right.levels):
                continue  # different levels on each side: two unilateral services, not one bilateral
            findings.append(Finding(
                "BILATERAL-COMBINE", "warning",
                f"Lines {min(i, j) + 1} and {max(i, j) + 1} bill {code} on the left and on the right; this payer "
                "wants a bilateral service as one line with modifier 50.",
                lines=tuple(sorted((i, j))),
                fix=f"Bill one line of {code} with 50 and 1 unit (the units of one side) in place of the LT and RT "
                    "lines.",
                source_title=SOURCE_BILATERAL, source_section="Payer convention for bilateral services",
                source_passage="Summary in our words: a bilateral procedure is reported to Medicare on one line "
                               "with modifier 50 and one unit; payment is 150% of one side for indicator 1."))
            break
    return findings
