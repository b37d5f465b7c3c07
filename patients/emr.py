"""Patients from the practice's EMR: a search that asks the EMR (cached in Redis, encrypted, under keys that
hold no PHI) and an import that turns one EMR patient into one IamBilly patient with its coverage.

Import is atomic per patient and never makes a second copy: every EMR call happens first (the patient, a merge
followed to the surviving record, its coverages and their payers), then one transaction finds the patient by
its EMR id (PatientEMRMap), else by MRN, else by surname + first initial + birth date (the blind indexes), and
updates it or creates it, with its coverages. A failure at the EMR writes nothing; a coverage that cannot be
used (an unknown payer, no start date, a member id the payer does not issue) is left out and said why.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from billy.audit import audit_record
from billy.models import Membership
from billy.phi import blind_index, decrypt_text, encrypt_text
from billy.services import BillyError
from integrations.errors import EMRError
from integrations.models import EMRConnection
from integrations.records import CoverageRecord, PatientRecord
from integrations.services import adapter_for
from patients import services
from patients.models import Coverage, CoverageOrder, Patient, PatientEMRMap, Payer, Relationship
from patients.selectors import PatientQuery

# FHIR subscriber-relationship -> 837P individual relationship code (SBR02 / PAT01).
RELATIONSHIP = {"self": Relationship.SELF, "spouse": Relationship.SPOUSE, "child": Relationship.CHILD,
                "common": Relationship.LIFE_PARTNER, "parent": Relationship.OTHER, "other": Relationship.OTHER,
                "injured": Relationship.OTHER}
# Coverage states an import takes; "cancelled", "draft" and "entered-in-error" are not coverage.
_IN_FORCE = {"active", ""}


def connection_for(*, membership: Membership) -> EMRConnection | None:
    """The practice's EMR connection people search (the first enabled one by name), or None."""
    if not settings.USE_EMR:
        return None
    return EMRConnection.objects.filter(practice_id=membership.practice_id, is_enabled=True).order_by("name").first()


# --- search ----------------------------------------------------------------------------------------------------


@dataclass
class EMRSearch:
    records: list[PatientRecord] = field(default_factory=list)
    notice: str = ""  # for the person: the EMR could not be asked, or some of its answers could not be read
    cached: bool = False
    asked: bool = False


def _record_json(record: PatientRecord) -> dict:
    data = dataclasses.asdict(record)
    data["birth_date"] = record.birth_date.isoformat() if record.birth_date else None
    return data


def _record_from(data: dict) -> PatientRecord:
    birth = data.get("birth_date")
    return PatientRecord(**{**data, "birth_date": dt.date.fromisoformat(birth) if birth else None})


def search_cache_key(*, connection: EMRConnection, query: PatientQuery) -> str:
    """A keyed hash of the query, per practice and connection: the key says nothing about whom was searched."""
    canonical = "|".join((query.family_name.strip().lower(), query.given_name.strip().lower(),
                          query.birth_date.isoformat() if query.birth_date else "", query.identifier.strip().upper()))
    digest = blind_index(canonical, purpose="emr_search", scope=connection.practice_id)
    return f"emr:search:{connection.practice_id}:{connection.pk}:{digest}"


def emr_search(*, connection: EMRConnection, query: PatientQuery) -> EMRSearch:
    """The EMR's patients for a query: from the cache when it was asked within EMR_SEARCH_CACHE_S, else from the
    EMR with a person's timeouts. An EMR fault is a notice, never an exception: local results still show."""
    key = search_cache_key(connection=connection, query=query)
    stored = cache.get(key)
    if stored:
        return EMRSearch(records=[_record_from(d) for d in json.loads(decrypt_text(stored))], cached=True,
                         asked=True)
    try:
        adapter = adapter_for(connection, interactive=True)
        records = adapter.search_patients(family_name=query.family_name, given_name=query.given_name,
                                          birth_date=query.birth_date, mrn=query.identifier, limit=20)
    except EMRError as error:
        return EMRSearch(notice=f"{connection.name} could not be searched: {error.message} Local results are "
                                "shown.", asked=True)
    notice = ""
    if adapter.skipped:
        notice = f"{adapter.skipped} of {connection.name}'s answers were not valid FHIR and are not shown."
    cache.set(key, encrypt_text(json.dumps([_record_json(r) for r in records])), timeout=settings.EMR_SEARCH_CACHE_S)
    return EMRSearch(records=records, notice=notice, asked=True)


def imported(*, connection: EMRConnection, records: list[PatientRecord]) -> dict[str, int]:
    """EMR id -> the IamBilly patient already made from it, for the records of a search."""
    by_index = {_emr_index(connection, r.emr_id): r.emr_id for r in records}
    maps = PatientEMRMap.objects.filter(connection=connection, emr_id_index__in=by_index)
    return {by_index[m.emr_id_index]: m.patient_id for m in maps}


# --- import ----------------------------------------------------------------------------------------------------


@dataclass
class ImportResult:
    patient: Patient
    created: bool
    coverages_added: int = 0
    coverages_updated: int = 0
    left_out: list[str] = field(default_factory=list)  # why a coverage was not imported (payer names, no PHI)


def _emr_index(connection: EMRConnection, emr_id: str) -> str:
    return blind_index(emr_id, purpose="emr_patient", scope=connection.pk)


def _existing(*, connection: EMRConnection, ids: list[str], record: PatientRecord) -> Patient | None:
    mapped = PatientEMRMap.objects.filter(connection=connection, emr_id_index__in=[_emr_index(connection, i)
                                                                                   for i in ids])
    mapped = mapped.select_related("patient").order_by("-is_current").first()
    if mapped:
        return mapped.patient
    practice_id = connection.practice_id
    indexes = services.patient_indexes(practice_id=practice_id, family_name=record.family_name,
                                       given_name=record.given_name, birth_date=record.birth_date, mrn=record.mrn)
    patients = Patient.objects.select_for_update().filter(practice_id=practice_id)
    if indexes["mrn_index"]:
        found = patients.filter(mrn_index=indexes["mrn_index"]).first()
        if found:
            return found
    if indexes["name_dob_index"]:
        # Same surname, initial and birth date, and no other MRN: the same person typed in by hand before.
        same = list(patients.filter(name_dob_index=indexes["name_dob_index"])
                    .filter(Q(mrn_index="") | Q(mrn_index=indexes["mrn_index"]))[:2])
        if len(same) == 1:
            return same[0]
    return None


def _payer_for(connection: EMRConnection, record: CoverageRecord) -> Payer | None:
    payers = Payer.objects.filter(practice_id=connection.practice_id, is_active=True)
    if record.payer_identifier:
        found = payers.filter(payer_id__iexact=record.payer_identifier).first()
        if found:
            return found
    if record.payer_name:
        return payers.filter(name__iexact=record.payer_name.strip()).first()
    return None


def _coverage_input(record: CoverageRecord, payer: Payer, order: int) -> services.CoverageInput:
    relationship = RELATIONSHIP.get(record.relationship, Relationship.SELF if not record.subscriber else
                                    Relationship.OTHER)
    subscriber = record.subscriber
    return services.CoverageInput(
        payer_id=payer.pk, order=order, member_id=record.member_id, effective_from=record.start,
        effective_to=record.end, group_number=record.group_number, plan_name=record.plan_name,
        relationship=relationship,
        subscriber_family_name=subscriber.family_name if subscriber else "",
        subscriber_given_name=subscriber.given_name if subscriber else "",
        subscriber_birth_date=subscriber.birth_date if subscriber else None,
        subscriber_sex=(subscriber.sex if subscriber and subscriber.sex in ("F", "M", "U") else ""),
        subscriber_address_line1=subscriber.address_line1 if subscriber else "",
        subscriber_city=subscriber.city if subscriber else "",
        subscriber_state=subscriber.state if subscriber else "",
        subscriber_postal_code=subscriber.postal_code if subscriber else "")


def _import_coverage(*, membership: Membership, connection: EMRConnection, patient: Patient,
                     record: CoverageRecord, result: ImportResult) -> None:
    payer_words = record.payer_name or "an unnamed payer"
    if record.status not in _IN_FORCE:
        return
    payer = _payer_for(connection, record)
    if payer is None:
        result.left_out.append(f"The coverage with {payer_words} was not imported: no active payer of that name "
                               "or EDI id in this practice. Add the payer, then import the patient again.")
        return
    if record.start is None:
        result.left_out.append(f"The coverage with {payer.name} was not imported: the EMR gives no start date.")
        return
    order = record.order if record.order in CoverageOrder.values else CoverageOrder.PRIMARY
    data = _coverage_input(record, payer, order)
    member_index = services.member_id_index(practice_id=patient.practice_id, member_id=record.member_id.upper())
    existing = Coverage.objects.filter(patient=patient, payer=payer, member_id_index=member_index).first()
    try:
        with transaction.atomic():  # a coverage that cannot be saved leaves the rest of the import standing
            if existing:
                services.coverage_update(membership=membership, coverage=existing, data=data)
                result.coverages_updated += 1
            else:
                services.coverage_add(membership=membership, patient=patient, data=data)
                result.coverages_added += 1
    except BillyError as error:
        result.left_out.append(f"The coverage with {payer.name} was not imported: {error}")


def patient_import(*, membership: Membership, connection: EMRConnection, emr_id: str,
                   ip_address: str | None = None) -> ImportResult:
    """One EMR patient into the practice, with its coverages. EMRError when the EMR cannot be read (nothing is
    written); BillyError when its demographics cannot make a patient (no name, a birth date in the future)."""
    if connection.practice_id != membership.practice_id:
        raise BillyError("This EMR connection belongs to another practice.")
    adapter = adapter_for(connection, interactive=True)
    record = adapter.read_patient(emr_id)  # follows a merge to the surviving record
    coverages = adapter.coverages(record.emr_id)
    person = services.Demographics(
        family_name=record.family_name, given_name=record.given_name, middle_name=record.middle_name,
        birth_date=record.birth_date, sex=record.sex, mrn=record.mrn, address_line1=record.address_line1,
        address_line2=record.address_line2, city=record.city, state=record.state,
        postal_code=record.postal_code, phone=record.phone)
    ids = list(dict.fromkeys([record.emr_id, emr_id]))
    try:
        return _import_records(membership=membership, connection=connection, ids=ids, record=record, person=person,
                               coverages=coverages, ip_address=ip_address)
    except IntegrityError:
        # Two people imported the same EMR patient at once: the unique EMR id kept one; this one wrote nothing.
        raise BillyError("Someone imported this patient a moment ago: search again to open the record.") from None


def _import_records(*, membership: Membership, connection: EMRConnection, ids: list[str], record: PatientRecord,
                    person: services.Demographics, coverages: list[CoverageRecord],
                    ip_address: str | None) -> ImportResult:
    with transaction.atomic():
        patient = _existing(connection=connection, ids=ids, record=record)
        if patient is None:
            patient = services.patient_create(membership=membership, allow_duplicate=True,
                                              **person.cleaned().__dict__)
            result = ImportResult(patient=patient, created=True)
        else:
            services.patient_update(membership=membership, patient=patient, person=person, allow_duplicate=True)
            result = ImportResult(patient=patient, created=False)
        now = timezone.now()
        for emr_patient_id in ids:
            index = _emr_index(connection, emr_patient_id)
            PatientEMRMap.objects.update_or_create(
                connection=connection, emr_id_index=index,
                defaults={"patient": patient, "emr_id": emr_patient_id, "synced_at": now,
                          "is_current": emr_patient_id == record.emr_id})
        for coverage in coverages:
            _import_coverage(membership=membership, connection=connection, patient=patient, record=coverage,
                             result=result)
        audit_record(action="patient.emr_import", actor=membership.user, role=membership.role,
                     practice_id=membership.practice_id, obj=patient, ip_address=ip_address,
                     detail={"connection": connection.pk, "created": result.created,
                             "coverages_added": result.coverages_added,
                             "coverages_updated": result.coverages_updated, "left_out": len(result.left_out)})
    return result
