"""The local FHIR R4 server the EMR-integration tests talk to: real HTTP against the real server, no mocks.

The server lives for the whole session, so each test makes names and identifiers of its own.
"""

from __future__ import annotations

import uuid

import pytest
import requests
from fhirclient.models.capabilitystatement import CapabilityStatement
from fhirclient.models.fhirdate import FHIRDate
from fhirclient.models.humanname import HumanName
from fhirclient.models.identifier import Identifier
from fhirclient.models.patient import Patient
from fhirclient.server import FHIRServer

from integrations.fhir_testing import fhir_server

FHIR_JSON = "application/fhir+json"
# A practice's MRN as US Core writes it: identifier type MR from HL7 v2 table 0203, the system the EMR's own.
MRN_SYSTEM = "urn:oid:2.16.840.1.113883.3.9999.1.7"
MRN_TYPE = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}], "text": "MRN"}


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def patient_json(*, family: str, given: str = "Alma", birth_date: str = "1956-03-02", mrn: str | None = None) -> dict:
    resource = {"resourceType": "Patient", "name": [{"use": "official", "family": family, "given": [given]}],
                "gender": "female", "birthDate": birth_date}
    if mrn:
        resource["identifier"] = [{"use": "usual", "type": MRN_TYPE, "system": MRN_SYSTEM, "value": mrn}]
    return resource


def create(base_url: str, resource: dict) -> dict:
    response = requests.post(f"{base_url}/{resource['resourceType']}", json=resource,
                             headers={"Content-Type": FHIR_JSON, "Accept": FHIR_JSON}, timeout=10)
    assert response.status_code == 201, response.text
    return response.json()


def search(base_url: str, resource_type: str, params: dict) -> dict:
    response = requests.get(f"{base_url}/{resource_type}", params=params, headers={"Accept": FHIR_JSON}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def ids(bundle: dict) -> list[str]:
    return [entry["resource"]["id"] for entry in bundle.get("entry", [])]


def link(bundle: dict, relation: str) -> str | None:
    return next((item["url"] for item in bundle.get("link", []) if item["relation"] == relation), None)


def test_a_created_patient_with_an_mrn_reads_back(fhir_base_url):
    family, mrn = unique("Okafor"), unique("MRN-")
    response = requests.post(f"{fhir_base_url}/Patient", json=patient_json(family=family, mrn=mrn),
                             headers={"Content-Type": FHIR_JSON}, timeout=10)

    assert response.status_code == 201
    assert response.headers["Content-Type"].startswith(FHIR_JSON)
    created = response.json()
    assert response.headers["Location"] == (
        f"{fhir_base_url}/Patient/{created['id']}/_history/{created['meta']['versionId']}")

    read = requests.get(f"{fhir_base_url}/Patient/{created['id']}", timeout=10)
    assert read.status_code == 200
    assert read.headers["Content-Type"].startswith(FHIR_JSON)
    assert read.headers["ETag"] == f'W/"{created["meta"]["versionId"]}"'
    patient = read.json()
    assert patient["name"][0]["family"] == family
    assert patient["birthDate"] == "1956-03-02"
    assert patient["identifier"] == [{"use": "usual", "type": MRN_TYPE, "system": MRN_SYSTEM, "value": mrn}]


def test_patients_are_found_by_family_and_birthdate(fhir_base_url):
    family = unique("Lindqvist")
    mother = create(fhir_base_url, patient_json(family=family, given="Greta", birth_date="1949-11-30"))
    create(fhir_base_url, patient_json(family=family, given="Nils", birth_date="1978-06-01"))

    bundle = search(fhir_base_url, "Patient", {"family": family, "birthdate": "1949-11-30"})

    assert bundle["resourceType"] == "Bundle"
    assert bundle["type"] == "searchset"
    assert bundle["total"] == 1
    assert ids(bundle) == [mother["id"]]
    assert bundle["entry"][0]["fullUrl"] == f"{fhir_base_url}/Patient/{mother['id']}"
    assert search(fhir_base_url, "Patient", {"family": family, "birthdate": "ge1970-01-01"})["total"] == 1
    assert search(fhir_base_url, "Patient", {"name": family, "given": "Nils"})["total"] == 1


def test_a_patient_is_found_by_identifier_system_and_value(fhir_base_url):
    mrn = unique("MRN-")
    patient = create(fhir_base_url, patient_json(family=unique("Haddad"), mrn=mrn))
    # The same number in another practice's system is another patient.
    other = patient_json(family=unique("Haddad"))
    other["identifier"] = [{"type": MRN_TYPE, "system": "urn:oid:2.16.840.1.113883.3.9999.2.7", "value": mrn}]
    create(fhir_base_url, other)

    assert ids(search(fhir_base_url, "Patient", {"identifier": f"{MRN_SYSTEM}|{mrn}"})) == [patient["id"]]
    assert search(fhir_base_url, "Patient", {"identifier": mrn})["total"] == 2
    assert search(fhir_base_url, "Patient", {"identifier": f"{MRN_SYSTEM}|{unique('MRN-')}"})["total"] == 0


def test_a_search_pages_by_count_through_absolute_next_links(fhir_base_url):
    family = unique("Moreau")
    created = {create(fhir_base_url, patient_json(family=family, given=given))["id"] for given in ("Ana", "Bo", "Cy")}

    first = search(fhir_base_url, "Patient", {"family": family, "_count": 2})
    assert first["total"] == 3
    assert len(first["entry"]) == 2
    next_url = link(first, "next")
    assert next_url.startswith(f"{fhir_base_url}/Patient?")

    second = requests.get(next_url, timeout=10)
    assert second.status_code == 200
    second = second.json()
    assert len(second["entry"]) == 1
    assert link(second, "next") is None
    assert link(second, "previous").startswith(f"{fhir_base_url}/Patient?")
    assert set(ids(first)) | set(ids(second)) == created


def test_a_coverage_is_found_by_its_beneficiary_and_status(fhir_base_url):
    patient = create(fhir_base_url, patient_json(family=unique("Brennan")))
    payer = create(fhir_base_url, {"resourceType": "Organization", "name": "Medicare Part B (test MAC)",
                                   "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "1234567893"}]})
    member_id = unique("1EG4")
    coverage = create(fhir_base_url, {
        "resourceType": "Coverage", "status": "active",
        "identifier": [{"system": "urn:oid:2.16.840.1.113883.3.9999.1.9", "value": member_id}],
        "beneficiary": {"reference": f"Patient/{patient['id']}"},
        "payor": [{"reference": f"Organization/{payer['id']}"}],
        "period": {"start": "2021-04-01"},
    })

    by_reference = search(fhir_base_url, "Coverage", {"beneficiary": f"Patient/{patient['id']}", "status": "active"})
    assert ids(by_reference) == [coverage["id"]]
    assert by_reference["entry"][0]["resource"]["identifier"][0]["value"] == member_id
    # A bare id names the one resource type the parameter points at (FHIR search, reference parameters).
    assert ids(search(fhir_base_url, "Coverage", {"beneficiary": patient["id"]})) == [coverage["id"]]
    assert search(fhir_base_url, "Coverage", {"beneficiary": patient["id"], "status": "cancelled"})["total"] == 0


def test_encounters_are_found_by_patient_and_date(fhir_base_url):
    patient = create(fhir_base_url, patient_json(family=unique("Novak")))
    encounter = create(fhir_base_url, {
        "resourceType": "Encounter", "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": {"reference": f"Patient/{patient['id']}"},
        "period": {"start": "2026-05-04T09:00:00Z", "end": "2026-05-04T10:30:00Z"},
    })

    assert ids(search(fhir_base_url, "Encounter", {"patient": f"Patient/{patient['id']}", "date": "2026-05-04"})) == [
        encounter["id"]]
    assert search(fhir_base_url, "Encounter", {"patient": patient["id"], "date": "ge2026-05-05"})["total"] == 0


def test_an_op_note_document_reference_keeps_its_author_and_custodian(fhir_base_url):
    patient = create(fhir_base_url, patient_json(family=unique("Ferreira")))
    npi = {"system": "http://hl7.org/fhir/sid/us-npi", "value": "1245319599"}
    surgeon = create(fhir_base_url, {"resourceType": "Practitioner", "name": [{"family": unique("Kline")}],
                                     "identifier": [npi]})
    practice = create(fhir_base_url, {"resourceType": "Organization", "name": "North Spine Associates"})
    document = create(fhir_base_url, {
        "resourceType": "DocumentReference", "status": "current",
        "type": {"coding": [{"system": "http://loinc.org", "code": "11504-8", "display": "Surgical operation note"}]},
        "subject": {"reference": f"Patient/{patient['id']}"},
        "author": [{"reference": f"Practitioner/{surgeon['id']}"}],
        "custodian": {"reference": f"Organization/{practice['id']}"},
        "content": [{"attachment": {"contentType": "text/plain", "data": "TDQtTDUgZGVjb21wcmVzc2lvbg=="}}],
    })

    found = search(fhir_base_url, "DocumentReference", {"patient": patient["id"], "type": "http://loinc.org|11504-8"})
    assert ids(found) == [document["id"]]
    stored = found["entry"][0]["resource"]
    assert stored["author"] == [{"reference": f"Practitioner/{surgeon['id']}"}]
    assert stored["custodian"] == {"reference": f"Organization/{practice['id']}"}


def test_an_update_is_a_new_version_of_the_patient(fhir_base_url):
    patient = create(fhir_base_url, patient_json(family=unique("Ivanova")))
    patient["telecom"] = [{"system": "phone", "value": "555-0142", "use": "home"}]

    response = requests.put(f"{fhir_base_url}/Patient/{patient['id']}", json=patient,
                            headers={"Content-Type": FHIR_JSON}, timeout=10)

    assert response.status_code == 200
    updated = response.json()
    assert updated["meta"]["versionId"] != patient["meta"]["versionId"]
    read = requests.get(f"{fhir_base_url}/Patient/{patient['id']}", timeout=10).json()
    assert read["telecom"] == [{"system": "phone", "value": "555-0142", "use": "home"}]


def test_reading_a_missing_patient_answers_404_with_an_operation_outcome(fhir_base_url):
    response = requests.get(f"{fhir_base_url}/Patient/{uuid.uuid4()}", timeout=10)

    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith(FHIR_JSON)
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "not-found"


@pytest.mark.parametrize(("body", "expected"), [
    ({"resourceType": "Patient", "birthDate": "03/02/1956"}, "Patient.birthDate"),
    ({"resourceType": "Patient", "nmae": [{"family": "Typo"}]}, "Patient.nmae"),
    ({"resourceType": "Coverage", "status": "active"}, None),  # posted to /Patient
])
def test_an_invalid_resource_is_refused_with_400(fhir_base_url, body, expected):
    response = requests.post(f"{fhir_base_url}/Patient", json=body, headers={"Content-Type": FHIR_JSON}, timeout=10)

    assert response.status_code == 400
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["severity"] == "error"
    if expected:
        assert expected in [path for issue in outcome["issue"] for path in issue.get("expression", [])]


def test_a_search_by_an_unknown_parameter_is_refused_rather_than_answered_empty(fhir_base_url):
    response = requests.get(f"{fhir_base_url}/Patient", params={"surname": "Okafor"}, timeout=10)

    assert response.status_code == 400
    assert "surname" in response.json()["issue"][0]["details"]["text"]


def test_fhirclient_creates_and_finds_the_patient_across_pages(fhir_base_url):
    server = FHIRServer(None, base_uri=fhir_base_url)
    family, mrn = unique("Achterberg"), unique("MRN-")
    created_ids = set()
    for given in ("Ilse", "Joost", "Kees"):
        patient = Patient({"resourceType": "Patient"})
        patient.name = [HumanName({"family": family, "given": [given]})]
        patient.birthDate = FHIRDate("1961-07-14")
        patient.identifier = [Identifier({"system": MRN_SYSTEM, "value": f"{mrn}-{given}"})]
        created_ids.add(patient.create(server)["id"])

    found = list(Patient.where(struct={"family": family, "birthdate": "1961-07-14", "_count": "2"})
                 .perform_resources_iter(server))
    assert {patient.id for patient in found} == created_ids
    assert sorted(patient.name[0].given[0] for patient in found) == ["Ilse", "Joost", "Kees"]

    by_mrn = list(Patient.where(struct={"identifier": f"{MRN_SYSTEM}|{mrn}-Joost"}).perform_resources_iter(server))
    assert [patient.name[0].given[0] for patient in by_mrn] == ["Joost"]
    assert by_mrn[0].birthDate.isostring == "1961-07-14"


def test_metadata_is_a_capability_statement_fhirclient_reads(fhir_base_url):
    statement = FHIRServer(None, base_uri=fhir_base_url).capabilityStatement

    assert isinstance(statement, CapabilityStatement)
    assert statement.fhirVersion == "4.0.1"
    resources = {resource.type: resource for resource in statement.rest[0].resource}
    for resource_type in ("Patient", "Coverage", "Encounter", "Practitioner", "Organization", "DocumentReference"):
        assert {"create", "read", "update", "search-type"} <= {i.code for i in resources[resource_type].interaction}
    assert {"family", "given", "birthdate", "identifier"} <= {p.name for p in resources["Patient"].searchParam}


def test_a_second_server_on_a_taken_port_fails_with_its_reason(fhir_base_url):
    taken = int(fhir_base_url.split(":")[2].split("/")[0])

    with pytest.raises(RuntimeError, match="(?s)stopped before listening.*EADDRINUSE"), fhir_server(port=taken):
        pass
