"""Patients from the practice's EMR: the search (local first, the EMR when nothing local matches or when asked),
its Redis cache (encrypted values, keys without PHI), an EMR outage, and the import (atomic, never a duplicate,
coverage with the payer matched, merges followed) against the local FHIR server."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
import requests
from django.core.cache import cache

from billy.models import AuditEvent
from integrations.models import EMRConnection, Vendor
from integrations.tests.fault_server import Answer, FaultServer
from patients import emr
from patients.models import Coverage, Patient, PatientEMRMap, Relationship
from patients.selectors import PatientQuery

pytestmark = pytest.mark.django_db
V2 = "http://terminology.hl7.org/CodeSystem/v2-0203"


def create(base: str, resource: dict) -> str:
    answer = requests.post(f"{base}/{resource['resourceType']}", json=resource, timeout=5)
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


def emr_patient(base: str, family: str, *, mrn: str = "", birth: str = "1958-06-21", **extra) -> str:
    resource = {"resourceType": "Patient", "name": [{"use": "official", "family": family, "given": ["Rosa", "M"]}],
                "birthDate": birth, "gender": "female",
                "address": [{"use": "home", "line": ["40 Oak Ave"], "city": "Columbus", "state": "OH",
                             "postalCode": "43215"}], **extra}
    if mrn:
        resource["identifier"] = [{"type": {"coding": [{"system": V2, "code": "MR"}]}, "value": mrn}]
    return create(base, resource)


def medicare_coverage(base: str, patient_id: str, *, member_id: str = "1EG4TE5MK99", payer_id: str = "15202",
                      payer_name: str = "Medicare Part B (test MAC)", start: str | None = "2024-01-01") -> str:
    org = create(base, {"resourceType": "Organization", "name": payer_name,
                        "identifier": [{"type": {"coding": [{"system": V2, "code": "NIIP"}]}, "value": payer_id}]})
    coverage = {"resourceType": "Coverage", "status": "active", "order": 1, "subscriberId": member_id,
                "beneficiary": {"reference": f"Patient/{patient_id}"}, "payor": [{"reference": f"Organization/{org}"}],
                "relationship": {"coding": [{"code": "self"}]}}
    if start:
        coverage["period"] = {"start": start}
    return create(base, coverage)


@pytest.fixture
def connection(world, settings, fhir_base_url):
    settings.USE_EMR = True
    return EMRConnection.objects.create(practice=world.practice, name="Local EHR", vendor=Vendor.FHIR,
                                        base_url=fhir_base_url, is_enabled=True)


def family() -> str:
    return f"Emr{uuid.uuid4().hex[:8]}"


def test_with_no_local_match_the_search_shows_the_emrs_patients_to_import(world, client, connection, fhir_base_url):
    surname = family()
    emr_patient(fhir_base_url, surname, mrn="EH-100")
    client.force_login(world.physician)
    page = client.post("/patients/", {"q": f"{surname}, R, 1958-06-21"}).content.decode()
    assert "In Local EHR" in page and f"{surname}, Rosa M" in page and "EH-100" in page
    assert "Import with coverage" in page
    assert AuditEvent.objects.filter(action="patient.search", actor_id=world.physician.pk).latest("id").detail == {
        "results": 1}


def test_a_search_is_answered_from_redis_encrypted_under_a_key_without_phi(world, connection, fhir_base_url):
    surname = family()
    emr_id = emr_patient(fhir_base_url, surname)
    query = PatientQuery(family_name=surname, given_name="R", birth_date=dt.date(1958, 6, 21))
    first = emr.emr_search(connection=connection, query=query)
    assert [r.emr_id for r in first.records] == [emr_id] and not first.cached

    requests.delete(f"{fhir_base_url}/Patient/{emr_id}", timeout=5)  # the EMR would not find it now
    second = emr.emr_search(connection=connection, query=query)
    assert second.cached and [r.family_name for r in second.records] == [surname]

    raw = cache._cache.get_client()
    keys = [k.decode() for k in raw.scan_iter(f"*emr:search:{connection.practice_id}:{connection.pk}:*")]
    assert len(keys) == 1
    assert surname.lower() not in keys[0].lower() and "1958" not in keys[0]
    value = raw.get(keys[0])
    assert surname.encode() not in value and b"1958-06-21" not in value and b"Rosa" not in value


def test_an_emr_outage_shows_local_results_and_a_clear_notice(world, client, settings):
    settings.USE_EMR = True
    EMRConnection.objects.create(practice=world.practice, name="Down EHR", vendor=Vendor.FHIR,
                                 base_url="http://127.0.0.1:9/fhir", is_enabled=True)
    client.force_login(world.biller)
    page = client.post("/patients/", {"q": "MRN-778812", "emr": "1"}).content.decode()
    assert f"/patients/{world.patient.pk}/" in page  # the local patient
    assert "Down EHR could not be searched: The EMR could not be reached" in page
    assert "Local results are shown" in page


def test_local_matches_offer_the_emr_only_when_asked(world, client, connection):
    client.force_login(world.biller)
    page = client.post("/patients/", {"q": "MRN-778812"}).content.decode()
    assert f"/patients/{world.patient.pk}/" in page
    assert "Search Local EHR too" in page and "In Local EHR" not in page


def test_an_import_makes_the_patient_with_coverage_and_a_second_import_updates_it(world, connection, fhir_base_url):
    surname = family()
    emr_id = emr_patient(fhir_base_url, surname, mrn=f"EH-{surname}")
    medicare_coverage(fhir_base_url, emr_id)
    membership = world.physician.memberships.get()

    result = emr.patient_import(membership=membership, connection=connection, emr_id=emr_id)

    patient = Patient.objects.get(pk=result.patient.pk)
    assert result.created and (result.coverages_added, result.left_out) == (1, [])
    assert (patient.family_name, patient.given_name, patient.middle_name, patient.birth_date, patient.sex) == (
        surname, "Rosa", "M", dt.date(1958, 6, 21), "F")
    assert (patient.mrn, patient.city, patient.state, patient.postal_code) == (f"EH-{surname}", "Columbus", "OH",
                                                                               "43215")
    coverage = patient.coverages.get()
    assert (coverage.payer_id, coverage.member_id, coverage.order, coverage.effective_from, coverage.relationship) == (
        world.payer.pk, "1EG4TE5MK99", 1, dt.date(2024, 1, 1), Relationship.SELF)
    mapped = PatientEMRMap.objects.get(patient=patient)
    assert (mapped.emr_id, mapped.is_current) == (emr_id, True)

    again = emr.patient_import(membership=membership, connection=connection, emr_id=emr_id)
    assert not again.created and again.patient.pk == patient.pk and again.coverages_updated == 1
    assert Patient.objects.filter(practice=world.practice).count() == 2  # the world's one and this one
    assert Coverage.objects.filter(patient=patient).count() == 1


def test_an_import_links_a_patient_typed_in_before_instead_of_making_a_second(world, connection, fhir_base_url):
    # The world's patient (entered by hand, MRN-778812): the EMR has the same person under the same MRN.
    emr_id = emr_patient(fhir_base_url, world.patient.family_name, mrn="MRN-778812", birth="1956-03-02")
    result = emr.patient_import(membership=world.biller.memberships.get(), connection=connection, emr_id=emr_id)
    assert not result.created and result.patient.pk == world.patient.pk
    assert PatientEMRMap.objects.get(connection=connection).patient_id == world.patient.pk


def test_a_merged_emr_record_imports_the_surviving_one_and_maps_both_ids(world, connection, fhir_base_url):
    survivor = emr_patient(fhir_base_url, family(), mrn=f"S-{uuid.uuid4().hex[:6]}")
    merged = emr_patient(fhir_base_url, family(), active=False,
                         link=[{"type": "replaced-by", "other": {"reference": f"Patient/{survivor}"}}])
    result = emr.patient_import(membership=world.biller.memberships.get(), connection=connection, emr_id=merged)
    maps = {m.emr_id: m.is_current for m in PatientEMRMap.objects.filter(patient=result.patient)}
    assert maps == {survivor: True, merged: False}
    again = emr.patient_import(membership=world.biller.memberships.get(), connection=connection, emr_id=survivor)
    assert again.patient.pk == result.patient.pk


def test_a_coverage_with_a_payer_the_practice_does_not_have_is_left_out_and_said(world, connection, fhir_base_url):
    emr_id = emr_patient(fhir_base_url, family())
    medicare_coverage(fhir_base_url, emr_id, payer_id="99999", payer_name="Acme Health Plan")
    medicare_coverage(fhir_base_url, emr_id, member_id="1EG4TE5MK98", start=None)
    result = emr.patient_import(membership=world.biller.memberships.get(), connection=connection, emr_id=emr_id)
    assert result.created and result.coverages_added == 0
    assert sorted(result.left_out) == [
        "The coverage with Acme Health Plan was not imported: no active payer of that name or EDI id in this "
        "practice. Add the payer, then import the patient again.",
        "The coverage with Medicare Part B (test MAC) was not imported: the EMR gives no start date."]


def test_an_emr_failure_during_the_import_writes_nothing(world, settings):
    settings.USE_EMR = True
    with FaultServer() as server:
        server.standing["/fhir/Patient/p1"] = Answer(200, {"resourceType": "Patient", "id": "p1",
                                                           "name": [{"family": "Halfway", "given": ["Ann"]}],
                                                           "birthDate": "1950-01-01"})
        server.standing["/fhir/Coverage"] = Answer(500)
        connection = EMRConnection.objects.create(practice=world.practice, name="Flaky", vendor=Vendor.FHIR,
                                                  base_url=server.url("/fhir"), is_enabled=True)
        before = Patient.objects.count()
        with pytest.raises(emr.EMRError) as caught:
            emr.patient_import(membership=world.biller.memberships.get(), connection=connection, emr_id="p1")
    assert caught.value.reason == "server"
    assert Patient.objects.count() == before and not PatientEMRMap.objects.exists()


def test_a_physician_imports_from_the_page_and_lands_on_the_patient(world, client, connection, fhir_base_url):
    surname = family()
    emr_id = emr_patient(fhir_base_url, surname)
    medicare_coverage(fhir_base_url, emr_id)
    client.force_login(world.physician)
    response = client.post("/patients/emr-import/", {"connection": connection.pk, "emr_id": emr_id}, follow=True)
    patient = PatientEMRMap.objects.get(emr_id_index=emr._emr_index(connection, emr_id)).patient
    assert response.redirect_chain[-1][0] == f"/patients/{patient.pk}/"
    page = response.content.decode()
    assert "Imported from Local EHR, with 1 coverage." in page and "1EG4TE5MK99" in page
    # The search now offers to open it, not to import it again.
    again = client.post("/patients/", {"q": f"{surname}, R, 1958-06-21", "emr": "1"}).content.decode()
    assert f"/patients/{patient.pk}/" in again


def test_the_import_refuses_an_outsider_and_another_practices_connection(world, client, connection):
    client.force_login(world.outsider)
    assert client.post("/patients/emr-import/", {"connection": connection.pk, "emr_id": "x"}).status_code == 404
    client.force_login(world.biller)
    assert client.post("/patients/emr-import/", {"connection": connection.pk + 1000, "emr_id": "x"}).status_code == 404
    assert client.get("/patients/emr-import/").status_code == 405
