"""Rules that read the patient's earlier claims: the global surgical period.

Medicare pays a surgery as a package (Medicare Claims Processing Manual, IOM 100-04, ch. 12, sec. 40): the fee
for a procedure with a 010 (minor) or 090 (major) global period covers the surgeon's related care for 10 or 90
days after the day of surgery (a major surgery also covers the day before). A service the same surgeon (or a
surgeon of the same group and specialty) bills in that window is taken as part of the package and denied,
unless a modifier says why it is not:

- 58: staged or related, planned at the first surgery (or more extensive, or therapy after a diagnostic
  procedure); a new global period starts.
- 78: unplanned return to the operating room for a complication of the first surgery; no new global period.
- 79: an unrelated procedure; a new global period starts.
- E/M visits: 24 (unrelated to the surgery), 25 (significant, separately identifiable, on the day of a minor
  procedure), 57 (the visit that decided a major surgery, the day before or the day of it).

Plain data in (billing.scrub.ScrubClaim with its PriorClaim history), plain findings out. The global days of
each code come from the spine catalogue (billing.cpt global_days).
"""

from __future__ import annotations

import datetime as dt

from billing import cpt
from billing.results import Finding
from billing.scrub import PriorClaim, ScrubClaim, ScrubLine

PROCEDURE_MODIFIERS = frozenset({"58", "78", "79"})
EM_MODIFIERS = frozenset({"24", "25", "57"})
POSTOPERATIVE_VISIT = "99024"  # reported inside a global period for tracking; never paid, never needs a modifier
SOURCE_TITLE = "Medicare Claims Processing Manual (IOM 100-04), ch. 12, sec. 40 (surgeons and global surgery)"
SOURCE_PASSAGE = ("Summary in our words: a 090 procedure's payment covers the day before, the day of and 90 days "
                  "after the surgery; a 010 procedure's the day of and 10 days after. The same surgeon's services "
                  "in that window are part of the package unless modifier 24, 25, 57, 58, 78 or 79 shows they "
                  "are not.")


def is_evaluation_and_management(code: str) -> bool:
    return code.isdigit() and 99202 <= int(code) <= 99499


def _global_surgery(prior: PriorClaim) -> tuple[ScrubLine, int] | None:
    """The line of an earlier claim that carries the longest 010/090 global period, with its days."""
    best: tuple[ScrubLine, int] | None = None
    for line in prior.lines:
        entry = cpt.get(line.cpt)
        if entry is None or entry.global_days not in ("010", "090"):
            continue
        days = int(entry.global_days)
        if best is None or days > best[1]:
            best = (line, days)
    return best


def global_period_findings(claim: ScrubClaim) -> list[Finding]:
    """GLOBAL-PERIOD (warning) for each line of this claim, billed after an earlier surgery by the same provider
    and inside its global period, that carries no modifier saying why it is separately payable."""
    findings = []
    for prior in claim.prior_claims:
        if not prior.same_provider:
            continue
        surgery = _global_surgery(prior)
        if surgery is None:
            continue
        surgery_line, days = surgery
        last_day = prior.date_of_service + dt.timedelta(days=days)
        if not prior.date_of_service < claim.date_of_service <= last_day:
            continue
        earlier = (f"{prior.reference or 'an earlier claim'} ({surgery_line.cpt.strip().upper()} on "
                   f"{prior.date_of_service.isoformat()}, {days}-day global period through {last_day.isoformat()})")
        for index, line in enumerate(claim.lines):
            finding = _line_in_global(index, line, earlier)
            if finding is not None:
                findings.append(finding)
    return findings


def _line_in_global(index: int, line: ScrubLine, earlier: str) -> Finding | None:
    code = line.cpt.strip().upper()
    if code == POSTOPERATIVE_VISIT:
        return None
    modifiers = set(line.modifiers)
    if is_evaluation_and_management(code):
        if modifiers & EM_MODIFIERS:
            return None
        fix = ("If the visit is for a problem unrelated to the surgery, add 24; if it is the visit that decided a "
               "major surgery (the day before or of it), 57; 25 for a significant, separate visit on the day of a "
               "minor procedure. A routine follow-up visit is part of the surgery's fee: report 99024 or nothing.")
        kind = "visit"
    else:
        if modifiers & PROCEDURE_MODIFIERS:
            return None
        fix = ("Add 58 if this procedure was planned at the first surgery (staged), is more extensive, or is "
               "therapy after a diagnostic procedure; 78 if it is an unplanned return to the operating room for a "
               "complication of the first surgery; 79 if it is unrelated to it. The note must say which; with "
               "none of them the payer bundles it into the earlier surgery.")
        kind = "procedure"
    return Finding(
        "GLOBAL-PERIOD", "warning",
        f"Line {index + 1} ({code}): this {kind} falls in the global period of {earlier}; without a modifier it "
        "is taken as part of that surgery's payment and denied.",
        lines=(index,), fix=fix, source_title=SOURCE_TITLE, source_passage=SOURCE_PASSAGE,
        source_section="sec. 40.1 (global surgical package), sec. 40.2 (modifiers 24, 25, 57, 58, 78, 79)")
