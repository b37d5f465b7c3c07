"""Writes for patients and their coverage: each validates, computes the blind indexes and writes an audit entry.

Audit entries name the fields that changed, never their values (the audit trail is not a PHI store).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from billy import identifiers
from billy.audit import audit_record
from billy.models import Membership
from billy.phi import blind_index
from billy.services import BillyError
from patients.models import Coverage, CoverageOrder, Patient, Payer, PayerType, Relationship, Sex


class DuplicatePatient(BillyError):
    """Another patient of the practice has the same identity: the person should open that record instead."""

    def __init__(self, message: str, *, existing_id: int, overridable: bool) -> None:
        super().__init__(message)
        self.existing_id = existing_id
        self.overridable = overridable  # same name and birth date can be two people; the same MRN cannot


def name_dob_key(*, family_name: str, given_name: str, birth_date: dt.date) -> str:
    initial = (given_name.strip()[:1] or "?")
    return f"{family_name}|{initial}|{birth_date.isoformat()}"


def patient_indexes(*, practice_id: int, family_name: str, given_name: str, birth_date: dt.date | None,
                    mrn: str) -> dict:
    return {
        "name_dob_index": blind_index(
            name_dob_key(family_name=family_name, given_name=given_name, birth_date=birth_date),
            purpose="name_dob", scope=practice_id,
        ) if birth_date else "",
        "mrn_index": blind_index(mrn, purpose="mrn", scope=practice_id) if mrn.strip() else "",
    }


def member_id_index(*, practice_id: int, member_id: str) -> str:
    return blind_index(member_id, purpose="member_id", scope=practice_id) if member_id.strip() else ""


def patient_blind_indexes(patient: Patient) -> dict:
    """The indexes of a stored patient, recomputed from its decrypted fields (key rotation)."""
    return patient_indexes(practice_id=patient.practice_id, family_name=patient.family_name or "",
                    given_name=patient.given_name or "", birth_date=patient.birth_date, mrn=patient.mrn or "")


def coverage_blind_indexes(coverage: Coverage) -> dict:
    return {"member_id_index": member_id_index(practice_id=coverage.patient.practice_id,
                                               member_id=coverage.member_id or "")}


@dataclass(frozen=True)
class Demographics:
    """What a person types about a patient, cleaned. Empty strings for what is not known."""

    family_name: str
    given_name: str
    birth_date: dt.date | None
    sex: str = Sex.UNKNOWN
    middle_name: str = ""
    mrn: str = ""
    address_line1: str = ""
    address_line2: str = ""
    city: str = ""
    state: str = ""
    postal_code: str = ""
    phone: str = ""

    def cleaned(self) -> Demographics:
        values = {name: (value.strip() if isinstance(value, str) else value) for name, value in self.__dict__.items()}
        values["state"] = values["state"].upper()
        values["postal_code"] = identifiers.normalize_postal_code(values["postal_code"])
        values["phone"] = identifiers.normalize_phone(values["phone"]) if values["phone"] else ""
        return Demographics(**values)

    def problems(self) -> list[str]:
        out = []
        if not self.family_name or not self.given_name:
            out.append("A patient needs a family name and a given name.")
        if self.birth_date and self.birth_date > dt.date.today():
            out.append("The birth date is in the future.")
        if self.birth_date and self.birth_date < dt.date(1900, 1, 1):
            out.append("The birth date is before 1900: check the year.")
        if self.state and (problem := identifiers.state_problem(self.state)):
            out.append(problem)
        if self.postal_code and (problem := identifiers.postal_code_problem(self.postal_code)):
            out.append(problem)
        if self.phone and (problem := identifiers.phone_problem(self.phone)):
            out.append(problem)
        return out

    def model_values(self) -> dict:
        # Encrypted columns store NULL, not an encrypted empty string, for what is not known.
        return {name: (value or None) if name not in ("sex", "birth_date") else value
                for name, value in self.__dict__.items()}


def _check_duplicates(*, practice_id: int, indexes: dict, exclude_id: int | None, allow_same_name: bool) -> None:
    same = Patient.objects.filter(practice_id=practice_id).exclude(pk=exclude_id)
    if indexes["mrn_index"]:
        existing = same.filter(mrn_index=indexes["mrn_index"]).values_list("pk", flat=True).first()
        if existing:
            raise DuplicatePatient("A patient with this MRN already exists in this practice: open that record.",
                                   existing_id=existing, overridable=False)
    if indexes["name_dob_index"] and not allow_same_name:
        existing = same.filter(name_dob_index=indexes["name_dob_index"]).values_list("pk", flat=True).first()
        if existing:
            raise DuplicatePatient(
                "A patient with the same family name, first initial and birth date already exists. Open that "
                "record, or confirm that this is a different person.", existing_id=existing, overridable=True)


@transaction.atomic
def patient_create(
    *, membership: Membership, family_name: str, given_name: str, birth_date: dt.date | None,
    sex: str = Sex.UNKNOWN, mrn: str = "", allow_duplicate: bool = False, **more: str,
) -> Patient:
    """A new patient. A second patient with the same identity is caught before anything is saved."""
    person = Demographics(family_name=family_name, given_name=given_name, birth_date=birth_date, sex=sex, mrn=mrn,
                          **more).cleaned()
    if problems := person.problems():
        raise BillyError(" ".join(problems))
    indexes = patient_indexes(practice_id=membership.practice_id, family_name=person.family_name,
                       given_name=person.given_name, birth_date=person.birth_date, mrn=person.mrn)
    _check_duplicates(practice_id=membership.practice_id, indexes=indexes, exclude_id=None,
                      allow_same_name=allow_duplicate)
    patient = Patient.objects.create(practice_id=membership.practice_id, **person.model_values(), **indexes)
    audit_record(action="patient.create", actor=membership.user, role=membership.role,
                 practice_id=membership.practice_id, obj=patient,
                 detail={"confirmed_not_duplicate": True} if allow_duplicate else None)
    return patient


@transaction.atomic
def patient_update(*, membership: Membership, patient: Patient, person: Demographics,
                   allow_duplicate: bool = False) -> Patient:
    """Change a patient's demographics; the blind indexes follow, and the audit names what changed."""
    if patient.practice_id != membership.practice_id:
        raise BillyError("This patient belongs to another practice.")
    person = person.cleaned()
    if problems := person.problems():
        raise BillyError(" ".join(problems))
    indexes = patient_indexes(practice_id=patient.practice_id, family_name=person.family_name,
                       given_name=person.given_name, birth_date=person.birth_date, mrn=person.mrn)
    _check_duplicates(practice_id=patient.practice_id, indexes=indexes, exclude_id=patient.pk,
                      allow_same_name=allow_duplicate)
    changed = []
    for name, value in {**person.model_values(), **indexes}.items():
        if getattr(patient, name) != value:
            setattr(patient, name, value)
            if not name.endswith("_index"):
                changed.append(name)
    if changed:
        patient.save()
        audit_record(action="patient.update", actor=membership.user, role=membership.role,
                     practice_id=patient.practice_id, obj=patient, detail={"fields": sorted(changed)})
    return patient


def patient_record_view(*, membership: Membership, patient: Patient, ip_address: str | None) -> None:
    """Every display of a patient's identity is a PHI read and goes into the audit trail."""
    audit_record(action="patient.view", actor=membership.user, role=membership.role,
                 practice_id=membership.practice_id, obj=patient, ip_address=ip_address)


def patient_search_record(*, membership: Membership, result_count: int, ip_address: str | None) -> None:
    """A search shows names: audit that it happened and how many it showed (not what was asked)."""
    audit_record(action="patient.search", actor=membership.user, role=membership.role,
                 practice_id=membership.practice_id, ip_address=ip_address, detail={"results": result_count})


# --- Coverage ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CoverageInput:
    payer_id: int
    order: int
    member_id: str
    effective_from: dt.date
    effective_to: dt.date | None = None
    group_number: str = ""
    plan_name: str = ""
    relationship: str = Relationship.SELF
    subscriber_family_name: str = ""
    subscriber_given_name: str = ""
    subscriber_birth_date: dt.date | None = None
    subscriber_sex: str = ""
    subscriber_address_line1: str = ""
    subscriber_city: str = ""
    subscriber_state: str = ""
    subscriber_postal_code: str = ""


def member_id_problem(payer: Payer, member_id: str) -> str | None:
    if not member_id:
        return None if payer.payer_type == PayerType.SELF_PAY else f"{payer.name} needs the patient's member id."
    if payer.member_id_pattern and not re.fullmatch(payer.member_id_pattern, member_id.upper()):
        example = f" (for example {payer.member_id_example})" if payer.member_id_example else ""
        return f"{member_id} is not a member id {payer.name} issues{example}: check the insurance card."
    return None


def _coverage_problems(*, patient: Patient, payer: Payer, data: CoverageInput, exclude_id: int | None) -> list[str]:
    problems = []
    if payer.practice_id != patient.practice_id:
        problems.append("This payer belongs to another practice.")
    elif not payer.is_active:
        problems.append(f"{payer.name} is no longer active in this practice.")
    if problem := member_id_problem(payer, data.member_id):
        problems.append(problem)
    if data.effective_to and data.effective_to < data.effective_from:
        problems.append("The coverage ends before it starts: check the end date.")
    subscriber_known = data.subscriber_family_name and data.subscriber_given_name and data.subscriber_birth_date
    if data.relationship != Relationship.SELF and not subscriber_known:
        problems.append("When the patient is not the subscriber, give the subscriber's name and birth date.")
    if data.subscriber_state and (problem := identifiers.state_problem(data.subscriber_state)):
        problems.append(problem)
    overlapping = Coverage.objects.filter(patient=patient, order=data.order).exclude(pk=exclude_id)
    overlapping = overlapping.filter(effective_from__lte=data.effective_to or dt.date.max)
    overlapping = overlapping.exclude(effective_to__lt=data.effective_from)
    if clash := overlapping.select_related("payer").first():
        until = f"to {clash.effective_to:%Y-%m-%d}" if clash.effective_to else "with no end date"
        problems.append(
            f"The patient already has {CoverageOrder(data.order).label.lower()} coverage with {clash.payer.name} "
            f"from {clash.effective_from:%Y-%m-%d} {until}. End that coverage first, or choose another order.")
    return problems


def _coverage_values(data: CoverageInput) -> dict:
    values = dict(data.__dict__)
    values.pop("payer_id")
    values["member_id"] = data.member_id.strip().upper() or None
    for name in ("group_number", "subscriber_family_name", "subscriber_given_name", "subscriber_address_line1",
                 "subscriber_city", "subscriber_state", "subscriber_postal_code"):
        values[name] = (values[name] or "").strip() or None
    if data.relationship == Relationship.SELF:  # the patient is the subscriber: keep no second copy
        for name in values:
            if name.startswith("subscriber_"):
                values[name] = "" if name == "subscriber_sex" else None
    return values


def _save_coverage(coverage: Coverage) -> None:
    try:
        with transaction.atomic():
            coverage.save()
    except IntegrityError as exc:  # two billers at once: the exclusion constraint has the last word
        raise BillyError("Another coverage of the same order overlaps these dates (saved by someone else just "
                         "now): reload the patient and check.") from exc


@transaction.atomic
def coverage_add(*, membership: Membership, patient: Patient, data: CoverageInput) -> Coverage:
    if patient.practice_id != membership.practice_id:
        raise BillyError("This patient belongs to another practice.")
    payer = Payer.objects.filter(pk=data.payer_id, practice_id=membership.practice_id).first()
    if payer is None:
        raise BillyError("Choose one of the practice's payers.")
    if problems := _coverage_problems(patient=patient, payer=payer, data=data, exclude_id=None):
        raise BillyError(" ".join(problems))
    values = _coverage_values(data)
    coverage = Coverage(patient=patient, payer=payer, **values,
                        member_id_index=member_id_index(practice_id=patient.practice_id,
                                                        member_id=values["member_id"] or ""))
    _save_coverage(coverage)
    audit_record(action="coverage.create", actor=membership.user, role=membership.role,
                 practice_id=patient.practice_id, obj=coverage, detail={"patient": patient.pk, "payer": payer.pk})
    return coverage


@transaction.atomic
def coverage_update(*, membership: Membership, coverage: Coverage, data: CoverageInput) -> Coverage:
    patient = coverage.patient
    if patient.practice_id != membership.practice_id:
        raise BillyError("This coverage belongs to another practice.")
    payer = Payer.objects.filter(pk=data.payer_id, practice_id=membership.practice_id).first()
    if payer is None:
        raise BillyError("Choose one of the practice's payers.")
    if problems := _coverage_problems(patient=patient, payer=payer, data=data, exclude_id=coverage.pk):
        raise BillyError(" ".join(problems))
    values = _coverage_values(data)
    values["member_id_index"] = member_id_index(practice_id=patient.practice_id, member_id=values["member_id"] or "")
    changed = sorted(name for name, value in values.items() if getattr(coverage, name) != value
                     and not name.endswith("_index"))
    if coverage.payer_id != payer.pk:
        changed.append("payer")
    for name, value in values.items():
        setattr(coverage, name, value)
    coverage.payer = payer
    if changed:
        _save_coverage(coverage)
        audit_record(action="coverage.update", actor=membership.user, role=membership.role,
                     practice_id=patient.practice_id, obj=coverage, detail={"fields": changed})
    return coverage


@transaction.atomic
def coverage_end(*, membership: Membership, coverage: Coverage, last_day: dt.date) -> Coverage:
    """End a coverage on its last day in force (the card was replaced, the plan lapsed)."""
    if coverage.patient.practice_id != membership.practice_id:
        raise BillyError("This coverage belongs to another practice.")
    if last_day < coverage.effective_from:
        raise BillyError(f"The coverage started on {coverage.effective_from:%Y-%m-%d}: it cannot end before that.")
    updated = Coverage.objects.filter(pk=coverage.pk, updated_at=coverage.updated_at).update(
        effective_to=last_day, updated_at=timezone.now())
    if not updated:
        raise BillyError("Someone changed this coverage a moment ago: reload the patient and check.")
    coverage.refresh_from_db()
    audit_record(action="coverage.end", actor=membership.user, role=membership.role,
                 practice_id=coverage.patient.practice_id, obj=coverage, detail={"fields": ["effective_to"]})
    return coverage
