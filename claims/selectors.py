"""Who may see which claims, and the review queue's reads (filters, counts, keyset pages)."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.http import Http404

from billy.models import Membership, Role
from claims.models import Claim, ClaimStatus

WORKERS = (Role.BILLER, Role.ADMIN)
PAGE_SIZE = 50
SORTS = {
    "-dos": ("-date_of_service", "-pk"),
    "dos": ("date_of_service", "pk"),
    "-charge": ("-total_charge", "-pk"),
    "confidence": ("min_confidence", "pk"),
}


def claims_for(*, membership: Membership) -> QuerySet[Claim]:
    """A practice's claims for its billers and admins; a physician sees the claims of their own dictations."""
    claims = Claim.objects.filter(practice_id=membership.practice_id)
    if membership.role == Role.PHYSICIAN:
        claims = claims.filter(physician_id=membership.user_id)
    return claims


def claim_get(*, membership: Membership, claim_id: int) -> Claim:
    """The claim if the asker may see it, else 404 (another practice's claims stay unknown).

    Joins only what every claim page shows. PostgreSQL's planning time grows steeply with the joins: with all
    twelve relations it spent 35-95 ms planning this one-row query on a busy 2-core machine, against under 5 ms
    executing it (bench/claims.py); with these five, about 2 ms. The parties other screens need (coverage,
    providers, facility, original claim, reviewer) load on access, one primary-key query each.
    """
    claim = (claims_for(membership=membership).select_related("patient", "payer", "physician", "recording", "coding")
             .filter(pk=claim_id).first())
    if claim is None:
        raise Http404
    return claim


@dataclass(frozen=True)
class QueueFilters:
    status: str = ClaimStatus.NEEDS_REVIEW  # "" = every status
    physician_id: int | None = None
    payer_id: int | None = None
    dos_from: dt.date | None = None
    dos_to: dt.date | None = None
    has_errors: bool = False
    low_confidence: bool = False  # a line below 0.8
    sort: str = "-dos"
    patient_ids: tuple[int, ...] | None = None  # from a POSTed patient search: never in a URL


LOW_CONFIDENCE = 0.8


def _filtered(claims: QuerySet[Claim], f: QueueFilters) -> QuerySet[Claim]:
    if f.physician_id:
        claims = claims.filter(physician_id=f.physician_id)
    if f.payer_id:
        claims = claims.filter(payer_id=f.payer_id)
    if f.dos_from:
        claims = claims.filter(date_of_service__gte=f.dos_from)
    if f.dos_to:
        claims = claims.filter(date_of_service__lte=f.dos_to)
    if f.has_errors:
        claims = claims.filter(error_count__gt=0)
    if f.low_confidence:
        claims = claims.filter(min_confidence__lt=LOW_CONFIDENCE)
    if f.patient_ids is not None:
        claims = claims.filter(patient_id__in=f.patient_ids)
    return claims


def _counts_generation_key(practice_id: int) -> str:
    return f"claims:counts-generation:{practice_id}"


def claims_changed(*, practice_id: int) -> None:
    """A claim of the practice was created or changed status or figures: the queue's cached counts are stale.

    Called by every write of the claims app. Bumped at once and again after the commit, so a reader who counted
    the old rows between the two cannot leave stale counts under the new generation.
    """
    def bump() -> None:
        key = _counts_generation_key(practice_id)
        try:
            cache.incr(key)
        except ValueError:
            cache.set(key, 1, timeout=None)

    bump()
    transaction.on_commit(bump)


COUNTS_TTL_S = 30  # a safety net: every write bumps the generation anyway


def _counts_key(membership: Membership, filters: QueueFilters) -> str | None:
    if filters.patient_ids is not None:
        return None
    shape = {**filters.__dict__, "status": "", "sort": ""}
    generation = cache.get(_counts_generation_key(membership.practice_id), 0)
    scope = membership.user_id if membership.role == Role.PHYSICIAN else "practice"  # what claims_for shows
    return (f"claims:counts:{membership.practice_id}:{scope}:{generation}:"
            + hashlib.sha256(repr(sorted(shape.items())).encode()).hexdigest()[:24])


def cached_queue_counts(*, membership: Membership, filters: QueueFilters) -> dict[str, int] | None:
    """The counts if nothing changed since they were last counted; None when they must be counted again."""
    key = _counts_key(membership, filters)
    return cache.get(key) if key else None


def queue_counts(*, membership: Membership, filters: QueueFilters) -> dict[str, int]:
    """Claims per status under the other filters, for the queue's tabs.

    GROUP BY status rather than one FILTERed COUNT per status: PostgreSQL answers it from claim_queue_idx with an
    index-only scan. Still 30-40 ms among 100 000 claims (bench/claims.py), so the result is cached per practice,
    filters and counts generation (claims_changed): exact, and recomputed only after a claim changed. The cache
    key holds ids, dates and flags only; a patient search (whose ids came from PHI) is never cached.
    """
    row = _count(membership, filters)
    if key := _counts_key(membership, filters):
        cache.set(key, row, timeout=COUNTS_TTL_S)
    return row


def _count(membership: Membership, filters: QueueFilters) -> dict[str, int]:
    claims = _filtered(claims_for(membership=membership), filters)
    row = dict.fromkeys(ClaimStatus.values, 0)
    row.update({r["status"]: r["n"] for r in claims.order_by().values("status").annotate(n=Count("pk"))})
    row["all"] = sum(row.values())
    return row


def _cursor_value(claim: Claim, sort: str) -> str:
    value = getattr(claim, SORTS[sort][0].lstrip("-"))
    if value is None:
        text = ""
    elif isinstance(value, dt.date):
        text = value.isoformat()
    else:
        text = repr(value) if isinstance(value, float) else str(value)
    return f"{text}~{claim.pk}"


def _after(claims: QuerySet[Claim], sort: str, cursor: str) -> QuerySet[Claim]:
    """Keyset pagination: rows strictly after the cursor's (value, id) in the sort order; no OFFSET scans."""
    value, _, pk_text = cursor.rpartition("~")
    if not pk_text.isdigit():
        return claims
    pk = int(pk_text)
    field, descending = SORTS[sort][0].lstrip("-"), SORTS[sort][0].startswith("-")
    try:
        if field == "date_of_service":
            parsed = dt.date.fromisoformat(value)
        elif field == "total_charge":
            from decimal import Decimal

            parsed = Decimal(value)
        else:
            parsed = float(value) if value else None
    except (ValueError, ArithmeticError):
        return claims
    if parsed is None:  # NULL confidences sort last (PostgreSQL ascending): only higher ids among them remain
        return claims.filter(min_confidence__isnull=True, pk__gt=pk)
    op = "lt" if descending else "gt"
    later = Q(**{f"{field}__{op}": parsed}) | Q(**{field: parsed, f"pk__{op}": pk})
    if field == "min_confidence":
        later |= Q(min_confidence__isnull=True)
    return claims.filter(later)


_UNSHOWN_PATIENT_FIELDS = tuple(f"patient__{name}" for name in (
    "birth_date", "mrn", "address_line1", "address_line2", "city", "state", "postal_code", "phone"))


def queue_page(*, membership: Membership, filters: QueueFilters, cursor: str = "") -> tuple[list[Claim], str]:
    """One page of the queue and the cursor of the next page ("" when this is the last)."""
    sort = filters.sort if filters.sort in SORTS else "-dos"
    claims = _filtered(claims_for(membership=membership), filters)
    if filters.status:
        claims = claims.filter(status=filters.status)
    if cursor:
        claims = _after(claims, sort, cursor)
    # The row shows the patient's name: the other encrypted fields stay undecrypted (each costs a decryption).
    rows = list(claims.select_related("patient", "payer", "physician").defer(*_UNSHOWN_PATIENT_FIELDS)
                .order_by(*SORTS[sort])[: PAGE_SIZE + 1])
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    return rows, (_cursor_value(rows[-1], sort) if more and rows else "")
