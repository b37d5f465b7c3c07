"""Fee schedule reads: a claim line's charge, and the schedule a biller looks at.

`fee_for` and `fee_schedule_on` take a practice id, not a user: they price lines of a claim the caller has
already found through its own visibility rule. `fee_schedule_entries` is what a person sees, scoped to their
membership.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType

from django.db.models import Q, QuerySet
from django.utils import timezone

from billing import cpt, fees
from billing.models import FeeScheduleEntry
from billy.models import Membership


def _in_effect(date_of_service: dt.date) -> Q:
    return Q(effective_from__lte=date_of_service) & (
        Q(effective_to__isnull=True) | Q(effective_to__gte=date_of_service))


def _normalise(code: str, modifiers: Iterable[str]) -> tuple[str, tuple[str, ...]]:
    return code.strip().upper(), tuple(m.strip().upper() for m in modifiers if m and m.strip())


def _pick(charges: Mapping[tuple[str, str], Decimal], code: str, modifiers: tuple[str, ...]) -> Decimal | None:
    # Pricing modifiers (26, TC, 50, 80, AS) go first on a claim line, so the first of the line's modifiers
    # with a row of its own prices it; otherwise the code's charge for any modifier.
    for modifier in modifiers:
        charge = charges.get((code, modifier))
        if charge is not None:
            return charge
    return charges.get((code, ""))


@dataclass(frozen=True)
class FeeTable:
    """A practice's charges in effect on one date of service, for pricing every line of a claim in memory."""

    practice_id: int
    date_of_service: dt.date
    charges: Mapping[tuple[str, str], Decimal]

    def charge(self, code: str, modifiers: Iterable[str] = ()) -> Decimal | None:
        """Charge per unit for a line with this code and modifiers; None when the schedule has none."""
        return _pick(self.charges, *_normalise(code, modifiers))

    def __len__(self) -> int:
        return len(self.charges)


def fee_for(*, practice_id: int, code: str, modifiers: Iterable[str] = (), date_of_service: dt.date) -> Decimal | None:
    """Charge per unit for one line (one query); the line's charge is this times its units, by the caller."""
    code, modifiers = _normalise(code, modifiers)
    rows = FeeScheduleEntry.objects.filter(
        _in_effect(date_of_service), practice_id=practice_id, code=code, modifier__in=(*modifiers, ""),
    ).order_by().values_list("modifier", "charge")
    return _pick({(code, modifier): charge for modifier, charge in rows}, code, modifiers)


def fee_schedule_on(*, practice_id: int, date_of_service: dt.date) -> FeeTable:
    """Every charge in effect on the date (one query), to price all lines of a claim without more queries."""
    rows = FeeScheduleEntry.objects.filter(_in_effect(date_of_service), practice_id=practice_id).order_by().values_list(
        "code", "modifier", "charge")
    return FeeTable(practice_id=practice_id, date_of_service=date_of_service,
                    charges=MappingProxyType({(code, modifier): charge for code, modifier, charge in rows}))


def fee_schedule_entries(
    *, membership: Membership, search: str = "", include_past: bool = False, today: dt.date | None = None,
) -> QuerySet[FeeScheduleEntry]:
    """The membership's practice's entries, current and scheduled ones unless `include_past`.

    `search` matches the start of a code (226 → 22612, 22630 …) or words of our descriptor ("kyphoplasty").
    """
    today = today or timezone.localdate()
    entries = FeeScheduleEntry.objects.filter(practice_id=membership.practice_id)
    if not include_past:
        entries = entries.filter(Q(effective_to__isnull=True) | Q(effective_to__gte=today))
    search = search.strip()
    if search:
        words = search.casefold().split()
        by_words = [c.code for c in cpt.catalogue().values() if all(w in c.descriptor.casefold() for w in words)]
        entries = entries.filter(Q(code__startswith=search.upper()) | Q(code__in=by_words))
    return entries.order_by("code", "modifier", "effective_from")


def fee_schedule_exists(*, practice_id: int) -> bool:
    return FeeScheduleEntry.objects.filter(practice_id=practice_id).exists()


def fee_schedule_rows(*, practice_id: int) -> list[fees.FeeRow]:
    """Every entry of the practice, past and future, as file rows (the export)."""
    entries = FeeScheduleEntry.objects.filter(practice_id=practice_id).order_by().values_list(
        "code", "modifier", "charge", "effective_from", "effective_to")
    return [fees.FeeRow(code=code, modifier=modifier, charge=charge, effective_from=start, effective_to=end)
            for code, modifier, charge, start, end in entries]


def fee_schedule_gaps(*, practice_id: int, date_of_service: dt.date) -> list[str]:
    """Catalogue codes with no charge (without a modifier) on the date: their claim lines would go unpriced."""
    table = fee_schedule_on(practice_id=practice_id, date_of_service=date_of_service)
    priced = {code for code, modifier in table.charges if not modifier}
    return [code for code in cpt.catalogue() if code not in priced]
