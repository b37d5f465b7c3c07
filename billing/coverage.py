"""Medical necessity: does a line's diagnosis support its service under the payer's coverage policy?

A Medicare local coverage determination (LCD) says when a service is reasonable and necessary; its billing and
coding article lists the ICD-10-CM codes that support each CPT code ("Group 1 codes"). A claim line whose CPT
code a policy in scope covers, and none of whose diagnoses is on the policy's list, is denied as not medically
necessary. For Medicare the patient is liable only if they signed an Advance Beneficiary Notice (ABN) before the
service, and the line then carries modifier GA (Medicare Claims Processing Manual, ch. 30, sec. 50: limitation
on liability).

Plain data in, plain findings out: `CoveragePolicy` rows come from whatever loaded them (the MCD download an
admin imports, a commercial payer's policy typed in); this module never reads a database.

Which diagnoses a line claims: the ones its pointers (item 24E, letters into item 21) name; a line without
pointers is read against every diagnosis of the claim. A covered-diagnosis pattern is an exact code or a prefix:
"M54.1" (or "M54.1-", as the articles write it) is M54.1 and every code below it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from billing import icd
from billing.results import Finding
from billing.scrub import ScrubClaim, ScrubLine

# patients.PayerType, as words for messages (this module imports no Django model).
PAYER_TYPE_LABELS = {
    "medicare": "Medicare", "medicaid": "Medicaid", "commercial": "the commercial payer",
    "workers_comp": "workers' compensation", "auto": "the auto insurer", "self_pay": "self-pay",
}
_SHOWN_COVERED = 8  # covered patterns named in a fix; policies list dozens
# GA (an ABN is on file), GZ (expected to be denied, no ABN), GX (a voluntary notice): the line already says the
# service may not be covered, so a not-covered finding has nothing left to tell.
_LIABILITY_MODIFIERS = frozenset({"GA", "GZ", "GX"})


def diagnosis_matches(pattern: str, code: str) -> bool:
    """Whether an ICD-10-CM pattern (an exact code, or a prefix: "M54.1", "M54.1-") covers `code`."""
    compact_pattern = pattern.strip().rstrip("-").rstrip(".").replace(".", "").upper()
    return bool(compact_pattern) and code.strip().replace(".", "").upper().startswith(compact_pattern)


def in_payer_scope(claim: ScrubClaim, *, payer_types: frozenset[str], payer_ids: frozenset[str],
                   effective: dt.date | None, ends: dt.date | None) -> bool:
    """The claim's payer is in scope (empty sets: every payer) and its date of service within the dates."""
    if payer_types and claim.payer_type not in payer_types:
        return False
    if payer_ids and claim.payer_id.strip() not in payer_ids:
        return False
    if effective is not None and claim.date_of_service < effective:
        return False
    return ends is None or claim.date_of_service <= ends


@dataclass(frozen=True)
class CoveragePolicy:
    """One coverage policy (an LCD with its billing article, or a payer's medical policy) for a set of codes."""

    policy_id: str  # "L39242", or the payer's own policy number
    title: str
    cpt_codes: frozenset[str]
    covered_diagnoses: tuple[str, ...]  # exact codes or prefixes ("M54.1" = M54.1 and below)
    payer_types: frozenset[str] = frozenset()  # empty: every payer
    payer_ids: frozenset[str] = frozenset()  # empty: every payer (an LCD binds one MAC's jurisdictions)
    effective: dt.date | None = None
    ends: dt.date | None = None
    document_title: str = ""  # the document cited: "Billing and Coding: Epidural Steroid Injections (A56651)"
    section: str = ""  # where in it: "ICD-10-CM Codes that Support Medical Necessity, Group 1"
    passage: str = ""
    source_ref: str = ""  # IamBilly's own pointer to the stored text ("policy-chunk:42")

    def __post_init__(self) -> None:
        # Callers build policies from lists; keep the stored forms fixed so matching never depends on the caller.
        object.__setattr__(self, "cpt_codes", frozenset(c.strip().upper() for c in self.cpt_codes))
        object.__setattr__(self, "covered_diagnoses", tuple(self.covered_diagnoses))
        object.__setattr__(self, "payer_types", frozenset(self.payer_types))
        object.__setattr__(self, "payer_ids", frozenset(p.strip() for p in self.payer_ids))

    def in_scope(self, claim: ScrubClaim) -> bool:
        return in_payer_scope(claim, payer_types=self.payer_types, payer_ids=self.payer_ids,
                              effective=self.effective, ends=self.ends)

    def supports(self, diagnosis: str) -> bool:
        return any(diagnosis_matches(pattern, diagnosis) for pattern in self.covered_diagnoses)


def line_diagnoses(claim: ScrubClaim, line: ScrubLine) -> list[str]:
    """The diagnoses a line claims: its pointers' codes, or every claim diagnosis when it has no pointers."""
    if not line.dx_pointers:
        return list(claim.diagnoses)
    pointed = (claim.diagnosis_of(pointer) for pointer in line.dx_pointers)
    return [code for code in pointed if code]


def coverage_findings(claim: ScrubClaim, policies: Sequence[CoveragePolicy]) -> list[Finding]:
    """COVERAGE-DX for each line a policy in scope covers whose diagnoses the policy does not list;
    COVERAGE-NO-POLICY (info) when no policy is loaded at all, so the biller knows nothing was checked."""
    if not policies:
        return [Finding(
            "COVERAGE-NO-POLICY", "info",
            "No coverage policy (LCD, billing article or payer medical policy) is loaded, so medical necessity "
            "was not checked: nothing here says whether the diagnoses support the services.",
            fix="An admin imports the payer's coverage policies (for Medicare, the LCDs and billing articles "
                "of the MAC's jurisdiction); until then check the diagnoses against the policy by hand.",
            source_title="IamBilly coverage policies")]
    findings = []
    for index, line in enumerate(claim.lines):
        code = line.cpt.strip().upper()
        diagnoses = line_diagnoses(claim, line)
        for policy in policies:
            if code not in policy.cpt_codes or not policy.in_scope(claim):
                continue
            if any(policy.supports(diagnosis) for diagnosis in diagnoses):
                continue
            if _LIABILITY_MODIFIERS & set(line.modifiers):  # the practice already says it is not covered
                continue
            findings.append(_not_covered(claim, index, code, diagnoses, policy))
    return findings


def _not_covered(claim: ScrubClaim, index: int, code: str, diagnoses: Iterable[str],
                 policy: CoveragePolicy) -> Finding:
    diagnoses = list(diagnoses)
    claimed = f"its diagnoses ({', '.join(diagnoses)}) are" if diagnoses else "it points to no diagnosis, which is"
    message = (f"Line {index + 1} ({code}): {claimed} not among the covered indications of {policy.policy_id} "
               f"{policy.title}; the payer will deny it as not medically necessary.")
    shown = ", ".join(policy.covered_diagnoses[:_SHOWN_COVERED])
    more = len(policy.covered_diagnoses) - _SHOWN_COVERED
    covered = f" Covered: {shown}{f' and {more} more' if more > 0 else ''}." if shown else ""
    if claim.payer_type == "medicare":
        not_covered = ("if none, the service is not covered: the patient signs an ABN before the service and the "
                       "line carries modifier GA (GZ when no ABN was signed: the practice bears the cost)")
    else:
        not_covered = ("if none, the service is not covered by this policy: follow the payer's rules for "
                       "patient-liability notices before billing the patient")
    fix = f"Point the line to a covered diagnosis the note supports; {not_covered}.{covered}"
    return Finding(
        "COVERAGE-DX", "error", message, lines=(index,), fix=fix,
        source_title=policy.document_title or f"{policy.policy_id} {policy.title}",
        source_passage=policy.passage, source_section=policy.section, source_ref=policy.source_ref)


def normalized_diagnoses(claim: ScrubClaim) -> list[str]:
    """The claim's diagnoses written the one IamBilly way (unreadable ones dropped: diagnosis_edits flags them)."""
    out = []
    for code in claim.diagnoses:
        try:
            out.append(icd.normalize(code))
        except ValueError:
            continue
    return out
