"""A claim, stored or drafted, as the plain data the scrubber reads (billing.scrub.ScrubClaim), and the patient's
earlier claims it needs for frequency limits and global periods.

The scrubber itself knows no Claim or Patient (DESIGN.md): this module is the one place that turns them into
codes, dates, units, levels, the payer's type and id, the patient's age and sex. No PHI leaves it: the earlier
claims are codes, dates and claim numbers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from billing import scrub
from billing.results import Finding
from billing.scrub_reference import scrub_findings
from claims import line_checks
from claims.models import Claim, ClaimLine, ClaimStatus

HISTORY_DAYS = 366  # frequency limits look back a rolling 12 months; global periods at most 90 days
_NOT_BILLED = (ClaimStatus.VOID, ClaimStatus.REJECTED)
# The practice's Payer.bilateral_convention in the scrubber's words (blank: the payer's modifier map decides).
_BILATERAL = {"50": "50", "50x2": "50", "RTLT": "LT-RT"}


def age_on(birth_date: dt.date | None, day: dt.date) -> int | None:
    if birth_date is None:
        return None
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


def _line(line: ClaimLine) -> scrub.ScrubLine:
    return scrub.ScrubLine(cpt=line.cpt, units=line.units, modifiers=tuple(line.modifier_list),
                           levels=tuple(line.level_list), dx_pointers=tuple(line.dx_pointers),
                           place_of_service=line.place_of_service)


def prior_claims(claim: Claim) -> tuple[scrub.PriorClaim, ...]:
    """The patient's other claims in this practice from the year before this date of service (and the same day),
    not void or rejected, and neither this claim's original nor its corrections."""
    skip = {claim.pk, *([claim.original_claim_id] if claim.original_claim_id else [])}
    return patient_history(practice_id=claim.practice_id, patient_id=claim.patient_id, day=claim.date_of_service,
                           skip=skip, same_provider=lambda other: _same_provider(claim, other))


def patient_history(*, practice_id: int, patient_id: int, day: dt.date, skip: Iterable[int] = (),
                    same_provider=None) -> tuple[scrub.PriorClaim, ...]:
    skip = set(skip)
    earlier = (Claim.objects.filter(practice_id=practice_id, patient_id=patient_id,
                                    date_of_service__gte=day - dt.timedelta(days=HISTORY_DAYS),
                                    date_of_service__lte=day)
               .exclude(pk__in=skip).exclude(original_claim_id__in=skip).exclude(status__in=_NOT_BILLED)
               .prefetch_related("lines").order_by("date_of_service", "pk"))
    return tuple(
        scrub.PriorClaim(date_of_service=other.date_of_service, lines=tuple(_line(line) for line in other.lines.all()),
                         reference=other.number, same_provider=same_provider(other) if same_provider else True)
        for other in earlier if other.frequency_code != "8")


def _same_provider(claim: Claim, other: Claim) -> bool:
    """Global surgery applies to the same physician (and the same group and specialty): the dictating physician,
    or the rendering provider when both claims name one."""
    if claim.rendering_provider_id and other.rendering_provider_id:
        return claim.rendering_provider_id == other.rendering_provider_id
    return claim.physician_id == other.physician_id


def scrub_claim_of(claim: Claim, lines: Iterable[ClaimLine], diagnoses: Iterable[str]) -> scrub.ScrubClaim:
    payer = claim.payer
    patient = claim.patient
    return scrub.ScrubClaim(
        lines=tuple(_line(line) for line in lines), date_of_service=claim.date_of_service,
        diagnoses=tuple(diagnoses), payer_id=(payer.payer_id if payer else "") or "",
        payer_type=(payer.payer_type if payer else "") or "", place_of_service=claim.place_of_service,
        distinct_modifier=payer.distinct_modifier if payer else "",
        bilateral=_BILATERAL.get(payer.bilateral_convention, "") if payer else "",
        patient_age=age_on(patient.birth_date, claim.date_of_service), patient_sex=patient.sex or "U",
        prior_claims=prior_claims(claim))


def claim_findings(claim: scrub.ScrubClaim) -> list[Finding]:
    """Everything the editor's checks (claims.line_checks: codes, add-ons, pointers, modifiers) and the scrubber
    say about a claim, without the findings one rule makes redundant for another."""
    edited = line_checks.check_lines(
        [line_checks.LineCodes(cpt=line.cpt, modifiers=line.modifiers, units=line.units,
                               dx_pointers=line.dx_pointers) for line in claim.lines], diagnoses=claim.diagnoses)
    return scrub.without_superseded([*edited, *scrub_findings(claim)])


def stored_claim_findings(claim: Claim, lines: list[ClaimLine], diagnoses: list[str]) -> list[Finding]:
    return claim_findings(scrub_claim_of(claim, lines, diagnoses))


def draft_findings(draft: dict, *, date_of_service: dt.date, payer_type: str, payer_id: str,
                   place_of_service: str, patient_age: int | None = None, patient_sex: str = "U",
                   prior: tuple[scrub.PriorClaim, ...] = ()) -> list[Finding]:
    """Check and scrub a claim JSON draft (voice_to_claim's output, before anything is stored) as claim_check
    checks a stored claim."""
    lines = tuple(
        scrub.ScrubLine(cpt=line["cpt"], units=line["units"], modifiers=tuple(line.get("modifiers") or ()),
                        levels=tuple(line.get("levels") or ()), dx_pointers=tuple(line.get("dx_pointers") or ()),
                        place_of_service=line.get("place_of_service", ""))
        for line in draft["service_lines"])
    claim = scrub.ScrubClaim(lines=lines, date_of_service=date_of_service,
                             diagnoses=tuple(dx["code"] for dx in draft["diagnoses"]), payer_id=payer_id,
                             payer_type=payer_type, place_of_service=place_of_service, patient_age=patient_age,
                             patient_sex=patient_sex or "U", prior_claims=prior)
    return claim_findings(claim)
