"""Patients: demographics encrypted at rest, found by blind index within the practice only, duplicates caught."""

import datetime as dt

import pytest
from django.db import connection

from billy.models import AuditEvent
from billy.services import BillyError
from billy.testing.pytest_plugin import PHI_CANARY
from patients.selectors import parse_patient_query, patient_search
from patients.services import Demographics, DuplicatePatient, patient_create, patient_update

pytestmark = pytest.mark.django_db


def biller_membership(world):
    return world.biller.memberships.get()


def make(world, **values):
    data = {"family_name": "Okonkwo", "given_name": "Ngozi", "birth_date": dt.date(1961, 5, 17), "sex": "F"} | values
    return patient_create(membership=biller_membership(world), **data)


def test_every_demographic_is_ciphertext_in_the_raw_table(world):
    patient = make(world, middle_name="Adaeze", mrn="A-5512", address_line1="14 Juniper Court", city="Dayton",
                   state="oh", postal_code="45402-1234", phone="(937) 555-0199")
    with connection.cursor() as cursor:
        cursor.execute("SELECT row_to_json(p)::text FROM patients_patient p WHERE id = %s", [patient.pk])
        raw = cursor.fetchone()[0].lower()
    for plain in ("okonkwo", "ngozi", "adaeze", "a-5512", "juniper", "dayton", "454021234", "9375550199",
                  "1961-05-17"):
        assert plain not in raw
    patient.refresh_from_db()
    assert (patient.state, patient.postal_code, patient.phone) == ("OH", "454021234", "9375550199")
    assert patient.display_name == "Okonkwo, Ngozi Adaeze"


@pytest.mark.parametrize("typed", [
    "Okonkwo, N, 1961-05-17", "okonkwo ngozi 05/17/1961", "OKONKWO, Ngozi, 5/17/1961", "  Okonkwo,N,1961-05-17 ",
    "Okonkwo, N, 05/17/61",
])
def test_a_patient_is_found_by_surname_initial_and_birth_date_however_typed(world, typed):
    patient = make(world)
    query = parse_patient_query(typed)
    found = patient_search(membership=biller_membership(world), family_name=query.family_name,
                           given_name=query.given_name, birth_date=query.birth_date)
    assert list(found) == [patient]


def test_a_wrong_birth_date_or_initial_finds_nobody(world):
    make(world)
    membership = biller_membership(world)
    assert not patient_search(membership=membership, family_name="Okonkwo", given_name="N",
                              birth_date=dt.date(1961, 5, 18)).exists()
    assert not patient_search(membership=membership, family_name="Okonkwo", given_name="M",
                              birth_date=dt.date(1961, 5, 17)).exists()
    assert not patient_search(membership=membership, family_name="Okonk", given_name="N",
                              birth_date=dt.date(1961, 5, 17)).exists()


def test_another_practice_never_finds_the_patient(world):
    make(world, mrn="A-5512")
    outsider = world.outsider.memberships.get()
    assert not patient_search(membership=outsider, family_name="Okonkwo", given_name="N",
                              birth_date=dt.date(1961, 5, 17)).exists()
    assert not patient_search(membership=outsider, identifier="A-5512").exists()


def test_an_mrn_or_a_member_id_finds_the_patient(world):
    patient = make(world, mrn="A-5512")
    membership = biller_membership(world)
    assert list(patient_search(membership=membership, identifier="a-5512")) == [patient]
    # The world's patient has Medicare coverage with this MBI.
    assert list(patient_search(membership=membership, identifier="1eg4te5mk73")) == [world.patient]


def test_a_second_patient_with_the_same_identity_is_caught_before_it_is_saved(world):
    first = make(world)
    count = type(first).objects.count()
    with pytest.raises(DuplicatePatient) as caught:
        make(world, given_name="Nkechi")  # same surname, initial and birth date
    assert caught.value.existing_id == first.pk and caught.value.overridable
    assert type(first).objects.count() == count
    twin = make(world, given_name="Nkechi", allow_duplicate=True)  # the biller confirmed: a different person
    assert twin.pk != first.pk
    assert AuditEvent.objects.filter(action="patient.create", object_id=str(twin.pk)).get().detail == {
        "confirmed_not_duplicate": True}


def test_the_same_mrn_is_refused_even_when_the_biller_insists(world):
    make(world, mrn="A-5512")
    with pytest.raises(DuplicatePatient) as caught:
        make(world, family_name="Adeyemi", mrn="a-5512", allow_duplicate=True)
    assert not caught.value.overridable
    assert "MRN" in str(caught.value)


@pytest.mark.parametrize(("values", "message"), [
    ({"family_name": " "}, "needs a family name"),
    ({"birth_date": dt.date.today() + dt.timedelta(days=1)}, "in the future"),
    ({"birth_date": dt.date(1875, 1, 1)}, "before 1900"),
    ({"state": "XX"}, "two-letter postal code"),
    ({"postal_code": "4321"}, "ZIP code is 5 digits"),
    ({"phone": "555-0199"}, "10 digits"),
])
def test_bad_demographics_are_refused_with_a_reason(world, values, message):
    with pytest.raises(BillyError, match=message):
        make(world, **values)


def test_an_update_moves_the_blind_index_and_audits_the_field_names_only(world):
    patient = make(world)
    person = Demographics(family_name="Okonkwo-Bello", given_name="Ngozi", birth_date=dt.date(1961, 5, 17),
                          sex="F", city="Akron")
    patient_update(membership=biller_membership(world), patient=patient, person=person)
    membership = biller_membership(world)
    assert not patient_search(membership=membership, family_name="Okonkwo", given_name="N",
                              birth_date=dt.date(1961, 5, 17)).exists()
    assert list(patient_search(membership=membership, family_name="okonkwo bello", given_name="n",
                               birth_date=dt.date(1961, 5, 17))) == [patient]
    event = AuditEvent.objects.filter(action="patient.update").get()
    assert event.detail == {"fields": ["city", "family_name"]}
    assert "Akron" not in str(event.detail) and "Bello" not in str(event.detail)


def test_an_update_cannot_take_another_patients_mrn(world):
    make(world, mrn="A-5512")
    other = make(world, family_name="Adeyemi", mrn="B-1")
    person = Demographics(family_name="Adeyemi", given_name="Ngozi", birth_date=dt.date(1961, 5, 17), mrn="A-5512")
    with pytest.raises(DuplicatePatient):
        patient_update(membership=biller_membership(world), patient=other, person=person)
    other.refresh_from_db()
    assert other.mrn == "B-1"


def test_the_search_page_takes_one_box_by_post_and_never_puts_it_in_the_url(world, client):
    client.force_login(world.biller)
    response = client.post("/patients/", {"q": f"{PHI_CANARY}, A, 1956-03-02"}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert f"/patients/{world.patient.pk}/" in response.content.decode()
    assert "<html" not in response.content.decode()  # the results partial only
    incomplete = client.post("/patients/", {"q": PHI_CANARY})
    assert "Add the birth date" in incomplete.content.decode()


def test_the_new_patient_page_offers_to_open_the_existing_record(world, client):
    client.force_login(world.biller)
    data = {"family_name": PHI_CANARY, "given_name": "Anneliese", "birth_date": "1956-03-02", "sex": "F"}
    response = client.post("/patients/new/", data)
    body = response.content.decode()
    assert response.status_code == 200
    assert f'href="/patients/{world.patient.pk}/"' in body
    assert "This is a different person" in body
    confirmed = client.post("/patients/new/", data | {"allow_duplicate": "on"})
    assert confirmed.status_code == 302


def test_a_physician_sees_a_patient_but_cannot_edit_it(world, client):
    client.force_login(world.physician)
    assert client.get(f"/patients/{world.patient.pk}/").status_code == 200
    assert client.get(f"/patients/{world.patient.pk}/edit/").status_code == 404
    assert client.post(f"/patients/{world.patient.pk}/edit/", {"family_name": "X"}).status_code == 404
