"""Writes to the fee schedule: a CSV import that loads all of the file or nothing, and the demo schedule.

How a file meets the charges already in the schedule (the rule the import page states to the user):

- **Add** (the default). For each code and modifier in the file, the file takes over from its first date:
  a charge already in the schedule that began earlier and is still running then is ended the day before,
  so a price change needs only the new line. Charges for codes the file does not mention are untouched.
  Anything else that would overlap is refused, naming the line: a file line landing on dates an existing
  charge starts on or after, and a bounded file line that would cut an open charge short and leave the
  dates after it unpriced. Rewriting charges already in the schedule is what Replace is for.
- **Replace**. From the file's earliest effective date on, the file is the whole schedule: an existing
  charge still running on that date is ended the day before, one starting on or after it is removed
  (codes missing from the file included, so they have no charge from then on). Charges for earlier dates
  of service are kept: claims for those dates may still be billed or corrected. An export loaded back with
  Replace gives the same schedule.

Overlaps never survive: the database refuses them too (FeeScheduleEntry's exclusion constraint).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from importlib import resources

from django.db import IntegrityError, transaction

from billing import fees
from billing.models import FeeScheduleEntry
from billy.audit import audit_record
from billy.models import Membership, Practice, Role
from billy.services import BillyError

DEMO_FILE = "demo_fees.csv"
ONE_DAY = dt.timedelta(days=1)


class FeeScheduleImportError(BillyError):
    """The file was refused; `errors` lists every problem with its line. Nothing was written."""

    def __init__(self, errors: list[fees.LineError]):
        self.errors = errors
        count = len(errors)
        super().__init__(f"Nothing was loaded: the file has {count} problem{'s' if count != 1 else ''}. "
                         f"Fix {'it' if count == 1 else 'each one'} and load the whole file again.")


@dataclass(frozen=True)
class FeeImport:
    added: int
    ended: int  # existing charges given an end date the day before the file's charges start
    removed: int  # existing charges from the file's first date on, replaced by the file (Replace only)
    replace: bool
    takes_over_from: dt.date

    def summary(self) -> str:
        text = f"Loaded {self.added} charge{'s' if self.added != 1 else ''}"
        if self.replace:
            text += f"; the schedule from {self.takes_over_from.isoformat()} on is now this file"
        changed = []
        if self.ended:
            changed.append(f"{self.ended} earlier charge{'s' if self.ended != 1 else ''} ended the day before "
                           "the new one starts")
        if self.removed:
            changed.append(f"{self.removed} charge{'s' if self.removed != 1 else ''} from that date on removed")
        return text + (": " + ", ".join(changed) if changed else "") + "."


def fee_schedule_import(*, membership: Membership, csv_bytes: bytes, replace: bool) -> FeeImport:
    """A biller or admin loads a fee schedule CSV into their practice: all of it, or nothing and every error."""
    if not membership.is_active or membership.role not in (Role.BILLER, Role.ADMIN):
        raise BillyError("Only a biller or an admin of the practice can change its fee schedule.")
    return _import(practice_id=membership.practice_id, csv_bytes=csv_bytes, replace=replace,
                   actor=membership.user, role=membership.role, via="upload")


def fee_schedule_import_as_operator(*, practice: Practice, csv_bytes: bytes, replace: bool) -> FeeImport:
    """The same load from the server's shell (`manage.py import_fees`): the audit entry names no user."""
    return _import(practice_id=practice.pk, csv_bytes=csv_bytes, replace=replace, actor=None, role="",
                   via="command")


def fee_schedule_load_demo(*, practice: Practice) -> int:
    """Give a practice the demo schedule (billing/data/demo_fees.csv: invented charges for every catalogue code,
    from 2026-01-01, open-ended) if it has no fee schedule yet. Returns the charges added: 0 when it had one,
    so running it again, or after a billing manager edited the schedule, changes nothing."""
    with transaction.atomic():
        Practice.objects.select_for_update().filter(pk=practice.pk).exists()
        if FeeScheduleEntry.objects.filter(practice=practice).exists():
            return 0
        data = (resources.files("billing") / "data" / DEMO_FILE).read_bytes()
        return _import(practice_id=practice.pk, csv_bytes=data, replace=False, actor=None, role="",
                       via="demo").added


@transaction.atomic
def _import(*, practice_id: int, csv_bytes: bytes, replace: bool, actor, role: str, via: str) -> FeeImport:
    parsed = fees.parse(csv_bytes)
    if not parsed.ok:
        raise FeeScheduleImportError(parsed.errors)
    rows = parsed.rows
    # One import per practice at a time: the second waits and then sees what the first wrote.
    Practice.objects.select_for_update().filter(pk=practice_id).exists()
    existing = list(FeeScheduleEntry.objects.filter(practice_id=practice_id))
    takes_over_from = min(row.effective_from for row in rows)
    if replace:
        end_on, remove = _superseded_by_replace(existing, takes_over_from)
    else:
        end_on, remove, errors = _superseded_by_add(existing, rows)
        if errors:
            raise FeeScheduleImportError(errors)
    try:
        with transaction.atomic():
            FeeScheduleEntry.objects.filter(pk__in=remove).delete()
            for end, pks in _group_by_end(end_on).items():
                FeeScheduleEntry.objects.filter(pk__in=pks).update(effective_to=end)
            FeeScheduleEntry.objects.bulk_create(
                FeeScheduleEntry(practice_id=practice_id, code=row.code, modifier=row.modifier, charge=row.charge,
                                 effective_from=row.effective_from, effective_to=row.effective_to)
                for row in rows
            )
    except IntegrityError:
        # Only a change made outside imports (the admin) between our read and our write can get here.
        raise BillyError("The fee schedule was changed while this file was loading, so nothing was loaded. "
                         "Upload the file again.") from None
    result = FeeImport(added=len(rows), ended=len(end_on), removed=len(remove), replace=replace,
                       takes_over_from=takes_over_from)
    audit_record(action="fee_schedule.import", actor=actor, role=role, practice_id=practice_id,
                 object_type="billing.feescheduleentry",
                 detail={"mode": "replace" if replace else "add", "via": via, "added": result.added,
                         "ended": result.ended, "removed": result.removed})
    return result


def _superseded_by_replace(existing: list[FeeScheduleEntry], start: dt.date) -> tuple[dict[int, dt.date], set[int]]:
    end_on: dict[int, dt.date] = {}
    remove: set[int] = set()
    for entry in existing:
        if entry.effective_from >= start:
            remove.add(entry.pk)
        elif entry.effective_to is None or entry.effective_to >= start:
            end_on[entry.pk] = start - ONE_DAY
    return end_on, remove


def _superseded_by_add(
    existing: list[FeeScheduleEntry], rows: list[fees.FeeRow],
) -> tuple[dict[int, dt.date], set[int], list[fees.LineError]]:
    by_key: dict[tuple[str, str], list[fees.FeeRow]] = defaultdict(list)
    for row in rows:
        by_key[row.key].append(row)
    end_on: dict[int, dt.date] = {}
    errors: list[fees.LineError] = []
    for entry in existing:
        ours = sorted(by_key.get((entry.code, entry.modifier), ()), key=lambda r: r.effective_from)
        hit = next((row for row in ours if fees.overlap(row.effective_from, row.effective_to,
                                                        entry.effective_from, entry.effective_to)), None)
        if hit is None:
            continue
        first, last = ours[0], ours[-1]
        theirs = (f"the charge already in the schedule {fees.describe_dates(entry.effective_from, entry.effective_to)}"
                  f" (${entry.charge})")
        ours_text = (f"{fees.describe_key(hit.code, hit.modifier)} "
                     f"{fees.describe_dates(hit.effective_from, hit.effective_to)}")
        if entry.effective_from >= first.effective_from:
            errors.append(fees.LineError(hit.line, (
                f"{ours_text} overlaps {theirs}: to change charges already in the schedule upload with Replace, "
                "or change the dates")))
        elif last.effective_to is not None and (entry.effective_to is None or entry.effective_to > last.effective_to):
            errors.append(fees.LineError(last.line, (
                f"{fees.describe_key(last.code, last.modifier)} "
                f"{fees.describe_dates(last.effective_from, last.effective_to)} would cut short {theirs} and leave "
                f"no charge after {last.effective_to.isoformat()}: add a line for the dates after it, "
                "or upload with Replace")))
        else:
            end_on[entry.pk] = first.effective_from - ONE_DAY
    errors.sort(key=lambda e: e.line or 0)
    return end_on, set(), errors


def _group_by_end(end_on: dict[int, dt.date]) -> dict[dt.date, list[int]]:
    grouped: dict[dt.date, list[int]] = defaultdict(list)
    for pk, end in end_on.items():
        grouped[end].append(pk)
    return grouped
