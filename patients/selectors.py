"""Patient reads, always inside the asking user's current practice."""

from __future__ import annotations

import datetime as dt

from django.db.models import QuerySet
from django.http import Http404

from billy.models import Membership
from billy.phi import blind_index
from patients.models import Patient
from patients.services import name_dob_key


def patients_for(*, membership: Membership) -> QuerySet[Patient]:
    return Patient.objects.filter(practice_id=membership.practice_id)


def patient_get(*, membership: Membership, patient_id: int) -> Patient:
    """The patient if it belongs to the membership's practice; 404 otherwise (never 403)."""
    patient = patients_for(membership=membership).filter(pk=patient_id).first()
    if patient is None:
        raise Http404
    return patient


def patient_search(
    *, membership: Membership, family_name: str = "", given_name: str = "", birth_date: dt.date | None = None,
    mrn: str = "",
) -> QuerySet[Patient]:
    """Exact matches on the blind indexes: the MRN, or surname + first initial + birth date."""
    found = patients_for(membership=membership)
    if mrn.strip():
        return found.filter(mrn_index=blind_index(mrn, purpose="mrn", scope=membership.practice_id))
    if family_name.strip() and birth_date:
        key = name_dob_key(family_name=family_name, given_name=given_name, birth_date=birth_date)
        return found.filter(name_dob_index=blind_index(key, purpose="name_dob", scope=membership.practice_id))
    return found.none()
