"""Reads of patients, payers and coverage, always inside the asking user's current practice."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from django.db.models import QuerySet
from django.http import Http404

from billy.models import Membership
from billy.phi import blind_index
from patients.models import Coverage, CoverageOrder, Patient, Payer
from patients.services import member_id_index, name_dob_key


def patients_for(*, membership: Membership) -> QuerySet[Patient]:
    return Patient.objects.filter(practice_id=membership.practice_id)


def patient_get(*, membership: Membership, patient_id: int) -> Patient:
    """The patient if it belongs to the membership's practice; 404 otherwise (never 403)."""
    patient = patients_for(membership=membership).filter(pk=patient_id).first()
    if patient is None:
        raise Http404
    return patient


@dataclass(frozen=True)
class PatientQuery:
    """What a biller typed in the one search box, understood."""

    family_name: str = ""
    given_name: str = ""
    birth_date: dt.date | None = None
    identifier: str = ""  # an MRN or a member id

    @property
    def is_complete(self) -> bool:
        return bool(self.identifier or (self.family_name and self.given_name and self.birth_date))


_DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y", "%m-%d-%Y", "%m/%d/%y", "%m.%d.%Y")


def parse_date(text: str) -> dt.date | None:
    for fmt in _DATE_FORMATS:
        try:
            day = dt.datetime.strptime(text.strip(), fmt).date()
        except ValueError:
            continue
        if fmt == "%m/%d/%y" and day > dt.date.today():  # 02/03/56 is 1956 for a birth date
            day = day.replace(year=day.year - 100)
        return day
    return None


def parse_patient_query(text: str) -> PatientQuery:
    """ "Smith, J, 1956-03-02", "smith john 03/02/1956", or an MRN / member id on its own."""
    text = " ".join((text or "").split())
    if not text:
        return PatientQuery()
    date_match = re.search(r"\b(\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4})\b", text)
    birth_date = parse_date(date_match.group(1)) if date_match else None
    rest = (text[: date_match.start()] + " " + text[date_match.end():]) if date_match else text
    parts = [p.strip() for p in rest.split(",") if p.strip()] if "," in rest else rest.split()
    if birth_date is None:
        # One token with a digit in it and no date: an identifier (MRN or member id).
        if len(parts) == 1 and re.search(r"\d", parts[0]):
            return PatientQuery(identifier=parts[0])
        return PatientQuery(family_name=parts[0] if parts else "", given_name=parts[1] if len(parts) > 1 else "")
    return PatientQuery(family_name=parts[0] if parts else "", given_name=parts[1] if len(parts) > 1 else "",
                        birth_date=birth_date)


def patient_search(
    *, membership: Membership, family_name: str = "", given_name: str = "", birth_date: dt.date | None = None,
    mrn: str = "", identifier: str = "",
) -> QuerySet[Patient]:
    """Exact matches on the blind indexes: MRN or member id, or surname + first initial + birth date.

    The indexes are HMACs, so partial names cannot match: that is the price of keeping names encrypted, and
    why the search asks for the surname, the first initial and the birth date together.
    """
    found = patients_for(membership=membership)
    practice_id = membership.practice_id
    identifier = (identifier or mrn).strip()
    if identifier:
        # Two index lookups, then one primary-key filter: an OR across the coverage join would scan.
        ids = set(found.filter(mrn_index=blind_index(identifier, purpose="mrn", scope=practice_id))
                  .values_list("pk", flat=True))
        ids |= set(Coverage.objects.filter(patient__practice_id=practice_id,
                                           member_id_index=member_id_index(practice_id=practice_id,
                                                                           member_id=identifier.upper()))
                   .values_list("patient_id", flat=True))
        return found.filter(pk__in=ids)
    if family_name.strip() and given_name.strip() and birth_date:
        key = name_dob_key(family_name=family_name, given_name=given_name, birth_date=birth_date)
        return found.filter(name_dob_index=blind_index(key, purpose="name_dob", scope=practice_id))
    return found.none()


def payers_for(*, membership: Membership, active_only: bool = True) -> QuerySet[Payer]:
    payers = Payer.objects.filter(practice_id=membership.practice_id)
    return payers.filter(is_active=True) if active_only else payers


def coverages_of(*, patient: Patient) -> QuerySet[Coverage]:
    return patient.coverages.select_related("payer").order_by("order", "-effective_from")


def coverage_get(*, membership: Membership, coverage_id: int) -> Coverage:
    coverage = (Coverage.objects.select_related("patient", "payer")
                .filter(pk=coverage_id, patient__practice_id=membership.practice_id).first())
    if coverage is None:
        raise Http404
    return coverage


@dataclass(frozen=True)
class CoverageInForce:
    """The coverages that pay for one date of service, in claim order."""

    primary: Coverage | None
    secondary: Coverage | None
    tertiary: Coverage | None

    def in_order(self) -> list[Coverage]:
        return [c for c in (self.primary, self.secondary, self.tertiary) if c is not None]


def coverage_in_force(*, patient: Patient, date_of_service: dt.date) -> CoverageInForce:
    """The primary, secondary and tertiary coverage in force on the date of service (inclusive dates)."""
    rows = (Coverage.objects.select_related("payer")
            .filter(patient=patient, effective_from__lte=date_of_service)
            .exclude(effective_to__lt=date_of_service))
    by_order = {row.order: row for row in rows}  # the exclusion constraint allows one per order and date
    return CoverageInForce(primary=by_order.get(CoverageOrder.PRIMARY),
                           secondary=by_order.get(CoverageOrder.SECONDARY),
                           tertiary=by_order.get(CoverageOrder.TERTIARY))
