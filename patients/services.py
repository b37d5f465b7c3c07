"""Writes for patients: every one computes the blind indexes and writes an audit entry."""

from __future__ import annotations

import datetime as dt

from django.db import transaction

from billy.audit import audit_record
from billy.models import Membership
from billy.phi import blind_index
from billy.services import BillyError
from patients.models import Patient, Sex


def name_dob_key(*, family_name: str, given_name: str, birth_date: dt.date) -> str:
    initial = (given_name.strip()[:1] or "?")
    return f"{family_name}|{initial}|{birth_date.isoformat()}"


def _indexes(*, practice_id: int, family_name: str, given_name: str, birth_date: dt.date | None, mrn: str) -> dict:
    return {
        "name_dob_index": blind_index(
            name_dob_key(family_name=family_name, given_name=given_name, birth_date=birth_date),
            purpose="name_dob", scope=practice_id,
        ) if birth_date else "",
        "mrn_index": blind_index(mrn, purpose="mrn", scope=practice_id) if mrn.strip() else "",
    }


def patient_blind_indexes(patient: Patient) -> dict:
    """The indexes of a stored patient, recomputed from its decrypted fields (key rotation)."""
    return _indexes(practice_id=patient.practice_id, family_name=patient.family_name or "",
                    given_name=patient.given_name or "", birth_date=patient.birth_date, mrn=patient.mrn or "")


@transaction.atomic
def patient_create(
    *, membership: Membership, family_name: str, given_name: str, birth_date: dt.date | None,
    sex: str = Sex.UNKNOWN, mrn: str = "", allow_duplicate: bool = False,
) -> Patient:
    family_name, given_name, mrn = family_name.strip(), given_name.strip(), mrn.strip()
    if not family_name or not given_name:
        raise BillyError("A patient needs a family name and a given name.")
    indexes = _indexes(practice_id=membership.practice_id, family_name=family_name, given_name=given_name,
                       birth_date=birth_date, mrn=mrn)
    if not allow_duplicate:
        same = Patient.objects.filter(practice_id=membership.practice_id)
        if indexes["mrn_index"] and same.filter(mrn_index=indexes["mrn_index"]).exists():
            raise BillyError("A patient with this MRN already exists in this practice.")
        if indexes["name_dob_index"] and same.filter(name_dob_index=indexes["name_dob_index"]).exists():
            raise BillyError("A patient with this name and birth date already exists: open that record instead.")
    patient = Patient.objects.create(
        practice_id=membership.practice_id, family_name=family_name, given_name=given_name,
        birth_date=birth_date, sex=sex, mrn=mrn or None, **indexes,
    )
    audit_record(action="patient.create", actor=membership.user, role=membership.role,
                 practice_id=membership.practice_id, obj=patient)
    return patient


def patient_record_view(*, membership: Membership, patient: Patient, ip_address: str | None) -> None:
    """Every display of a patient's identity is a PHI read and goes into the audit trail."""
    audit_record(action="patient.view", actor=membership.user, role=membership.role,
                 practice_id=membership.practice_id, obj=patient, ip_address=ip_address)


def patient_search_record(*, membership: Membership, result_count: int, ip_address: str | None) -> None:
    """A search shows names: audit that it happened and how many it showed (not what was asked)."""
    audit_record(action="patient.search", actor=membership.user, role=membership.role,
                 practice_id=membership.practice_id, ip_address=ip_address, detail={"results": result_count})
