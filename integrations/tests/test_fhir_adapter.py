"""The FHIR R4 core and the vendor profiles against a real FHIR server on loopback (medplum, in memory), and
malformed answers from the scripted fault server. Each test makes patients of its own (the server lives for the
whole run)."""

from __future__ import annotations

import base64
import datetime as dt
import uuid

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core.cache import cache

from integrations.base import ConnectionSettings
from integrations.errors import EMRError
from integrations.fhir import FhirAdapter
from integrations.records import DocumentRecord
from integrations.tests.fault_server import Answer, FaultServer
from integrations.vendors import adapter_class

MRN_SYSTEM = "urn:oid:1.2.840.114350.1.13.0.1.7.5.737384.14"
V2 = "http://terminology.hl7.org/CodeSystem/v2-0203"


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def create(base: str, resource: dict) -> str:
    answer = requests.post(f"{base}/{resource['resourceType']}", json=resource, timeout=5,
                           headers={"Content-Type": "application/fhir+json"})
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


def patient(family: str, *, given=("Maria", "Luisa"), birth="1961-04-09", mrn="", gender="female", **extra) -> dict:
    resource = {"resourceType": "Patient", "name": [{"use": "official", "family": family, "given": list(given)}],
                "birthDate": birth, "gender": gender,
                "address": [{"use": "home", "line": ["12 Elm St", "Apt 3"], "city": "Springfield", "state": "il",
                             "postalCode": "62704"}],
                "telecom": [{"system": "email", "value": "m@example.org"},
                            {"system": "phone", "use": "home", "value": "217-555-0100"}], **extra}
    if mrn:
        resource["identifier"] = [{"type": {"coding": [{"system": V2, "code": "MR"}]}, "system": MRN_SYSTEM,
                                   "value": mrn}]
    return resource


def adapter(base: str, **settings) -> FhirAdapter:
    values = {"key": unique("conn-"), "vendor": "fhir", "base_url": base, **settings}
    return adapter_class(values["vendor"])(ConnectionSettings(**values), cache=cache)


def test_it_finds_a_patient_by_name_and_birth_date_with_us_core_mrn_address_and_phone(fhir_base_url):
    family = unique("Okafor")
    emr_id = create(fhir_base_url, patient(family, mrn="MRN-4417"))
    create(fhir_base_url, patient(family, birth="1970-01-01"))  # same name, another birth date

    found = adapter(fhir_base_url).search_patients(family_name=family, birth_date=dt.date(1961, 4, 9))

    assert len(found) == 1
    record = found[0]
    assert (record.emr_id, record.family_name, record.given_name, record.middle_name) == (emr_id, family, "Maria",
                                                                                          "Luisa")
    assert (record.birth_date, record.sex, record.mrn) == (dt.date(1961, 4, 9), "F", "MRN-4417")
    assert (record.address_line1, record.address_line2, record.city, record.state, record.postal_code) == (
        "12 Elm St", "Apt 3", "Springfield", "IL", "62704")
    assert record.phone == "217-555-0100" and record.active and not record.replaced_by
    assert family not in repr(record)  # a record in a traceback names its EMR id only


def test_it_finds_a_patient_by_mrn_in_the_connections_identifier_system(fhir_base_url):
    mrn = unique("E")
    emr_id = create(fhir_base_url, patient(unique("Nguyen"), mrn=mrn))
    found = adapter(fhir_base_url, mrn_system=MRN_SYSTEM).search_patients(mrn=mrn)
    assert [r.emr_id for r in found] == [emr_id]
    assert adapter(fhir_base_url, mrn_system="urn:other").search_patients(mrn=mrn) == []


def test_a_search_follows_the_next_links_of_its_bundles(fhir_base_url):
    family = unique("Page")
    ids = {create(fhir_base_url, patient(family, given=(f"G{n}",))) for n in range(5)}
    emr = adapter(fhir_base_url)
    emr.page_size = 2  # five patients come in three pages
    assert {r.emr_id for r in emr.search_patients(family_name=family)} == ids
    assert len(emr.search_patients(family_name=family, limit=3)) == 3


def test_a_search_needs_a_criterion():
    with pytest.raises(EMRError) as caught:
        adapter("http://127.0.0.1:9/fhir").search_patients(family_name="  ")
    assert caught.value.permanent and "name, a birth date or an MRN" in caught.value.message


def test_reading_a_merged_patient_follows_the_link_to_the_surviving_record(fhir_base_url):
    survivor = create(fhir_base_url, patient(unique("Survivor"), mrn=unique("S")))
    link = [{"type": "replaced-by", "other": {"reference": f"Patient/{survivor}"}}]
    merged = create(fhir_base_url, patient(unique("Merged"), active=False, link=link))
    record = adapter(fhir_base_url).read_patient(merged)
    assert record.emr_id == survivor and record.active


def test_a_missing_patient_is_a_permanent_not_found(fhir_base_url):
    with pytest.raises(EMRError) as caught:
        adapter(fhir_base_url).read_patient("does-not-exist")
    assert (caught.value.permanent, caught.value.reason, caught.value.status) == (True, "not_found", 404)


def test_coverages_carry_payer_member_plan_group_and_a_subscriber_who_is_not_the_patient(fhir_base_url):
    emr_id = create(fhir_base_url, patient(unique("Cov")))
    payer = create(fhir_base_url, {"resourceType": "Organization", "name": "Blue Cross Blue Shield of Illinois",
                                   "identifier": [{"type": {"coding": [{"system": V2, "code": "NIIP"}]},
                                                   "value": "00621"}]})
    spouse = create(fhir_base_url, {"resourceType": "RelatedPerson", "patient": {"reference": f"Patient/{emr_id}"},
                                    "name": [{"family": "Cov", "given": ["Ade"]}], "birthDate": "1958-11-30",
                                    "gender": "male"})
    medicare = create(fhir_base_url, {"resourceType": "Organization", "name": "Medicare Part B"})
    create(fhir_base_url, {
        "resourceType": "Coverage", "status": "active", "order": 2, "subscriberId": "1EG4-TE5-MK72",
        "beneficiary": {"reference": f"Patient/{emr_id}"}, "payor": [{"reference": f"Organization/{medicare}"}],
        "relationship": {"coding": [{"code": "self"}]}, "period": {"start": "2024-01-01"}})
    create(fhir_base_url, {
        "resourceType": "Coverage", "status": "active", "order": 1, "subscriberId": "XOF123456789",
        "beneficiary": {"reference": f"Patient/{emr_id}"}, "payor": [{"reference": f"Organization/{payer}"}],
        "subscriber": {"reference": f"RelatedPerson/{spouse}"},
        "relationship": {"coding": [{"code": "spouse"}]}, "period": {"start": "2025-01-01", "end": "2026-12-31"},
        "class": [{"type": {"coding": [{"code": "group"}]}, "value": "GRP-0042"},
                  {"type": {"coding": [{"code": "plan"}]}, "value": "PPO-1", "name": "Blue Choice PPO"}]})

    primary, secondary = adapter(fhir_base_url).coverages(emr_id)

    assert (primary.payer_name, primary.payer_identifier, primary.member_id, primary.order) == (
        "Blue Cross Blue Shield of Illinois", "00621", "XOF123456789", 1)
    assert (primary.plan_name, primary.group_number, primary.relationship) == ("Blue Choice PPO", "GRP-0042", "spouse")
    assert (primary.start, primary.end) == (dt.date(2025, 1, 1), dt.date(2026, 12, 31))
    assert (primary.subscriber.family_name, primary.subscriber.given_name, primary.subscriber.birth_date,
            primary.subscriber.sex) == ("Cov", "Ade", dt.date(1958, 11, 30), "M")
    assert (secondary.payer_name, secondary.member_id, secondary.relationship, secondary.subscriber) == (
        "Medicare Part B", "1EG4-TE5-MK72", "self", None)


def test_encounters_on_a_date_and_the_practitioner_with_npi(fhir_base_url):
    emr_id = create(fhir_base_url, patient(unique("Enc")))
    surgeon = create(fhir_base_url, {"resourceType": "Practitioner", "name": [{"family": "Reyes", "given": ["Ana"]}],
                                     "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi",
                                                     "value": "1245319599"}]})
    for day in ("2026-11-30", "2026-12-01"):
        create(fhir_base_url, {"resourceType": "Encounter", "status": "finished",
                               "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                               "type": [{"text": "Spine surgery"}], "subject": {"reference": f"Patient/{emr_id}"},
                               "participant": [{"individual": {"reference": f"Practitioner/{surgeon}"}}],
                               "period": {"start": f"{day}T08:30:00Z", "end": f"{day}T10:00:00Z"}})
    emr = adapter(fhir_base_url)
    (encounter,) = emr.encounters(emr_id, on=dt.date(2026, 12, 1))
    assert (encounter.status, encounter.class_code, encounter.type_text) == ("finished", "AMB", "Spine surgery")
    assert encounter.start == dt.datetime(2026, 12, 1, 8, 30, tzinfo=dt.UTC)
    assert encounter.practitioner_ids == (surgeon,)
    doctor = emr.read_practitioner(surgeon)
    assert (doctor.family_name, doctor.given_name, doctor.npi) == ("Reyes", "Ana", "1245319599")


def test_a_document_written_back_is_a_labelled_document_reference_on_the_patient(fhir_base_url):
    emr_id = create(fhir_base_url, patient(unique("Doc")))
    text = "Right L5-S1 microdiscectomy.\nSigned by Dr. Reyes."
    document = DocumentRecord(title="IamBilly signed dictation transcript", text=text,
                              date=dt.datetime(2026, 12, 1, 15, 0, tzinfo=dt.UTC), loinc_code="11504-8",
                              loinc_display="Surgical operation note")
    doc_id = adapter(fhir_base_url).write_document(emr_id, document)

    stored = requests.get(f"{fhir_base_url}/DocumentReference/{doc_id}", timeout=5).json()
    assert stored["subject"]["reference"] == f"Patient/{emr_id}"
    assert stored["description"] == "IamBilly signed dictation transcript"
    assert stored["type"]["coding"][0]["code"] == "11504-8"
    assert base64.b64decode(stored["content"][0]["attachment"]["data"]).decode() == text


def test_checking_the_local_server_says_its_fhir_version(fhir_base_url):
    assert adapter(fhir_base_url).check().startswith("FHIR 4.0.1")


# --- malformed answers ---------------------------------------------------------------------------------------


@pytest.fixture
def faults():
    with FaultServer() as server:
        yield server


def test_a_patient_of_the_wrong_types_is_refused_naming_the_elements_not_the_values(faults):
    faults.standing["/fhir/Patient/p1"] = Answer(200, {"resourceType": "Patient", "id": "p1", "birthDate": 19610409,
                                                       "name": "ALVAREZ"})
    with pytest.raises(EMRError) as caught:
        adapter(faults.url("/fhir")).read_patient("p1")
    error = caught.value
    assert (error.permanent, error.reason) == (True, "malformed")
    assert "birthDate" in error.message and "name" in error.message
    assert "19610409" not in error.message and "ALVAREZ" not in error.message


def test_a_coverage_missing_required_elements_is_refused(faults):
    faults.standing["/fhir/Coverage"] = Answer(200, {"resourceType": "Bundle", "type": "searchset", "entry": [
        {"resource": {"resourceType": "Coverage", "id": "c1"}}]})
    emr = adapter(faults.url("/fhir"))
    assert emr.coverages("p1") == []
    assert emr.skipped == 1  # left out and counted, never half-read


def test_an_answer_that_is_not_a_bundle_is_refused(faults):
    faults.standing["/fhir/Patient"] = Answer(200, {"resourceType": "Patient", "id": "p1"})
    with pytest.raises(EMRError) as caught:
        adapter(faults.url("/fhir")).search_patients(family_name="X")
    assert caught.value.reason == "malformed" and "not a Bundle" in caught.value.message


def test_unknown_elements_a_server_adds_are_tolerated(faults):
    faults.standing["/fhir/Patient/p1"] = Answer(200, {"resourceType": "Patient", "id": "p1", "gender": "male",
                                                       "vendorFlag": True, "name": [{"family": "Kim"}]})
    record = adapter(faults.url("/fhir")).read_patient("p1")
    assert (record.family_name, record.sex) == ("Kim", "M")


def test_merged_records_that_point_at_each_other_are_refused(faults):
    for this, other in (("a", "b"), ("b", "a")):
        faults.standing[f"/fhir/Patient/{this}"] = Answer(200, {
            "resourceType": "Patient", "id": this, "link": [{"type": "replaced-by",
                                                             "other": {"reference": f"Patient/{other}"}}]})
    with pytest.raises(EMRError) as caught:
        adapter(faults.url("/fhir")).read_patient("a")
    assert caught.value.reason == "malformed" and "point at each other" in caught.value.message


def test_a_partial_birth_date_is_no_birth_date(faults):
    faults.standing["/fhir/Patient/p1"] = Answer(200, {"resourceType": "Patient", "id": "p1", "birthDate": "1961"})
    assert adapter(faults.url("/fhir")).read_patient("p1").birth_date is None


# --- vendor profiles -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rsa_key():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return pem, key.public_key()


def token_answer(token: str = "access-1", expires_in: int = 3600):  # noqa: S107 - a test token
    return Answer(200, {"access_token": token, "token_type": "bearer", "expires_in": expires_in})


def test_epic_signs_a_smart_backend_assertion_and_caches_the_token_encrypted(faults, rsa_key):
    pem, public = rsa_key
    faults.plan("/oauth2/token", token_answer("epic-token-1"))
    faults.standing["/fhir/Patient"] = Answer(200, {"resourceType": "Bundle", "type": "searchset", "entry": []})
    token_url = faults.url("/oauth2/token")
    emr = adapter(faults.url("/fhir"), vendor="epic", token_url=token_url, client_id="iambilly-client",
                  private_key_pem=pem, key_id="k1", scope="system/Patient.read")

    emr.search_patients(family_name="X")
    emr.search_patients(family_name="Y")

    assert faults.hits("/oauth2/token") == 1  # the token is reused
    form = faults.requests[0].form()
    assert form["grant_type"] == "client_credentials"
    assert form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    assert form["scope"] == "system/Patient.read"
    claims = jwt.decode(form["client_assertion"], public, algorithms=["RS384"], audience=token_url)
    assert claims["iss"] == claims["sub"] == "iambilly-client"
    assert claims["exp"] - claims["iat"] <= 300 and claims["jti"]
    assert jwt.get_unverified_header(form["client_assertion"])["kid"] == "k1"
    searches = [r for r in faults.requests if r.path == "/fhir/Patient"]
    assert {r.headers["authorization"] for r in searches} == {"Bearer epic-token-1"}
    # Cached in Redis, encrypted: the raw value does not hold the token.
    raw = cache.get(f"emr:token:{emr.settings.key}")
    assert raw and "epic-token-1" not in raw


def test_an_expired_token_is_refreshed_once_after_a_401(faults, rsa_key):
    pem, _ = rsa_key
    faults.plan("/oauth2/token", token_answer("old"), token_answer("new"))
    faults.plan("/fhir/Patient/p1", Answer(401), Answer(200, {"resourceType": "Patient", "id": "p1"}))
    emr = adapter(faults.url("/fhir"), vendor="epic", token_url=faults.url("/oauth2/token"), client_id="c",
                  private_key_pem=pem)
    assert emr.read_patient("p1").emr_id == "p1"
    assert [r.headers.get("authorization") for r in faults.requests if r.path == "/fhir/Patient/p1"] == [
        "Bearer old", "Bearer new"]


def test_refused_client_credentials_are_a_permanent_error_saying_what_to_check(faults, rsa_key):
    pem, _ = rsa_key
    faults.standing["/oauth2/token"] = Answer(400, {"error": "invalid_client",
                                                    "error_description": "client MARIA not found"})
    emr = adapter(faults.url("/fhir"), vendor="epic", token_url=faults.url("/oauth2/token"), client_id="c",
                  private_key_pem=pem)
    with pytest.raises(EMRError) as caught:
        emr.read_patient("p1")
    assert (caught.value.permanent, caught.value.reason) == (True, "auth")
    assert "(invalid_client)" in caught.value.message and "MARIA" not in caught.value.message


def test_a_key_that_is_not_a_private_key_is_a_configuration_error(faults):
    emr = adapter(faults.url("/fhir"), vendor="epic", token_url=faults.url("/oauth2/token"), client_id="c",
                  private_key_pem="-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----")
    with pytest.raises(EMRError) as caught:
        emr.read_patient("p1")
    assert caught.value.reason == "config" and faults.hits("/oauth2/token") == 0


def test_athenahealth_uses_basic_client_credentials_and_names_the_practice_on_every_search(faults):
    faults.plan("/oauth2/v1/token", token_answer("athena-token"))
    faults.standing["/fhir/r4/Patient"] = Answer(200, {"resourceType": "Bundle", "type": "searchset"})
    emr = adapter(faults.url("/fhir/r4"), vendor="athenahealth", token_url=faults.url("/oauth2/v1/token"),
                  client_id="athena-client", client_secret="s3cret", tenant="195900")
    emr.search_patients(family_name="X")
    token_request = next(r for r in faults.requests if r.path == "/oauth2/v1/token")
    assert token_request.headers["authorization"] == "Basic " + base64.b64encode(b"athena-client:s3cret").decode()
    search = next(r for r in faults.requests if r.path == "/fhir/r4/Patient")
    assert search.query["ah-practice"] == ["Organization/a-1.Practice-195900"]


def test_athenahealth_without_a_practice_id_says_so(faults):
    faults.plan("/oauth2/v1/token", token_answer())
    emr = adapter(faults.url("/fhir/r4"), vendor="athenahealth", token_url=faults.url("/oauth2/v1/token"),
                  client_id="c", client_secret="s")
    with pytest.raises(EMRError) as caught:
        emr.search_patients(family_name="X")
    assert caught.value.reason == "config" and "practice id" in caught.value.message


def test_curemd_reads_its_token_url_from_the_smart_configuration(faults):
    faults.standing["/api/.well-known/smart-configuration"] = Answer(200, {
        "token_endpoint": faults.url("/connect/token")})
    faults.plan("/connect/token", token_answer("curemd-token"))
    faults.standing["/api/Patient/p1"] = Answer(200, {"resourceType": "Patient", "id": "p1"})
    emr = adapter(faults.url("/api"), vendor="curemd", client_id="c", client_secret="s")
    assert emr.read_patient("p1").emr_id == "p1"
    assert [r.headers.get("authorization") for r in faults.requests if r.path == "/api/Patient/p1"] == [
        "Bearer curemd-token"]


def test_curemd_without_a_token_url_anywhere_says_what_to_enter(faults):
    with pytest.raises(EMRError) as caught:
        adapter(faults.url("/api"), vendor="curemd", client_id="c", client_secret="s")
    assert caught.value.reason == "config" and "token URL" in caught.value.message
