"""The payer's view of the coded lines: what its edits deny leaves the claim, with a finding saying why.

Today: the operating microscope (69990). CPT itself excludes it with 22551/22552 and 63075-63078, and
Medicare (NCCI) pays it only with the code ranges listed in the NCCI policy manual (chapter VIII; see
../shared/data/policy_text). Other payers follow CPT unless their rules (the scrubbing issue) say more.
The full NCCI/MUE/payer-rule scrubber builds on this in billing.scrub.
"""

from __future__ import annotations

from billing.results import Finding

# Medicare pays 69990 only with these primary code ranges (NCCI Policy Manual, Ch. VIII).
MEDICARE_69990_RANGES = [
    (61304, 61546), (61550, 61711), (62010, 62100), (63081, 63308), (63704, 63710), (64831, 64831),
    (64834, 64836), (64840, 64858), (64861, 64870), (64885, 64891), (64905, 64907),
]
# CPT's own instruction: 69990 is not reported with these (the microscope is part of the service).
CPT_69990_EXCLUDED = {"22551", "22552", "63075", "63076", "63077", "63078"}

SOURCE_NCCI = "NCCI Policy Manual for Medicare Services, Chapter VIII (operating microscope, CPT 69990)"


def _in_ranges(code: str, ranges: list[tuple[int, int]]) -> bool:
    return code.isdigit() and any(low <= int(code) <= high for low, high in ranges)


def apply(lines, context):
    """Split lines into (submitted, withheld with a finding, findings)."""
    submitted, withheld, findings = [], [], []
    codes = {line.cpt for line in lines}
    for line in lines:
        reason = None
        if line.cpt == "69990":
            if codes & CPT_69990_EXCLUDED:
                reason = ("CPT does not allow 69990 with " + ", ".join(sorted(codes & CPT_69990_EXCLUDED))
                          + ": the microscope is included in that procedure.")
            elif context.payer_type == "medicare" and not any(_in_ranges(c, MEDICARE_69990_RANGES) for c in codes):
                reason = ("Medicare pays the operating microscope (69990) only with intracranial, spinal canal "
                          "(63081-63308) and peripheral nerve procedures; "
                          f"not with {', '.join(sorted(c for c in codes if c != '69990'))}.")
        if reason:
            finding = Finding("PAYER-EDIT", "info", f"69990 documented but left off the claim: {reason}",
                              evidence=tuple(line.evidence[:1]), source_title=SOURCE_NCCI,
                              source_passage="Medicare allows separate payment for the operating microscope only "
                                             "with the listed CPT code ranges.")
            withheld.append((line, finding))
            findings.append(finding)
        else:
            submitted.append(line)
    return submitted, withheld, findings
