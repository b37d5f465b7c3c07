"""PHI is ciphertext in the raw database, decrypts only with the right key, and is found by blind index."""

import datetime as dt

import pytest
from django.db import connection

from billy import keys
from billy.phi import PhiDecryptionError, blind_index, decrypt_text, encrypt_text, key_id_of
from billy.testing.pytest_plugin import PHI_CANARY
from patients.models import Patient
from patients.selectors import patient_search

pytestmark = pytest.mark.django_db


def raw_row(patient_id):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT family_name, given_name, birth_date, mrn, name_dob_index FROM patients_patient WHERE id = %s",
            [patient_id],
        )
        return cursor.fetchone()


def test_the_raw_database_holds_ciphertext_not_the_patient(world):
    family, given, birth, mrn, name_index = raw_row(world.patient.pk)
    for stored, plain in ((family, PHI_CANARY), (given, "Alma"), (birth, "1956-03-02"), (mrn, "MRN-778812")):
        assert stored.startswith("phi:phi1:") or stored.startswith(f"phi:{keys.phi_keyring().current_id}:")
        assert plain not in stored
        assert plain.lower() not in stored.lower()
    assert PHI_CANARY.lower() not in name_index
    assert len(name_index) == 64


def test_the_model_reads_back_the_plaintext(world):
    patient = Patient.objects.get(pk=world.patient.pk)
    assert patient.family_name == PHI_CANARY
    assert patient.birth_date == dt.date(1956, 3, 2)
    assert patient.mrn == "MRN-778812"


def test_no_column_of_the_patient_table_contains_the_canary(world):
    with connection.cursor() as cursor:
        cursor.execute("SELECT row_to_json(p)::text FROM patients_patient p")
        dumped = " ".join(row[0] for row in cursor.fetchall())
    assert PHI_CANARY.lower() not in dumped.lower()
    assert "1956-03-02" not in dumped


def test_every_value_names_the_key_that_encrypted_it():
    stored = encrypt_text("Jane")
    assert key_id_of(stored) == keys.phi_keyring().current_id
    assert decrypt_text(stored) == "Jane"


def test_a_wrong_key_raises_instead_of_returning_ciphertext(world, settings):
    current = keys.phi_keyring().current_id
    settings.BILLY_PHI_KEYS = f"{current}:{'A' * 43}="
    keys.phi_keyring.cache_clear()
    try:
        with pytest.raises(PhiDecryptionError, match="does not decrypt"):
            Patient.objects.get(pk=world.patient.pk)
    finally:
        keys.phi_keyring.cache_clear()


def test_a_missing_old_key_is_named(world, settings):
    settings.BILLY_PHI_KEYS = f"newkey:{'B' * 43}="
    keys.phi_keyring.cache_clear()
    try:
        with pytest.raises(PhiDecryptionError, match="key id 'phi1'|key id"):
            Patient.objects.get(pk=world.patient.pk)
    finally:
        keys.phi_keyring.cache_clear()


def test_old_rows_stay_readable_after_a_new_key_is_put_first(world, settings):
    old_spec = settings.BILLY_PHI_KEYS
    settings.BILLY_PHI_KEYS = f"phi2:{'C' * 43}=," + old_spec
    keys.phi_keyring.cache_clear()
    try:
        assert Patient.objects.get(pk=world.patient.pk).family_name == PHI_CANARY
        assert key_id_of(encrypt_text("x")) == "phi2"
    finally:
        keys.phi_keyring.cache_clear()


def test_empty_values_are_stored_as_null(world):
    Patient.objects.filter(pk=world.patient.pk).update(mrn=None)
    assert raw_row(world.patient.pk)[3] is None
    assert Patient.objects.get(pk=world.patient.pk).mrn is None


def test_blind_indexes_ignore_case_accents_and_spacing_but_not_practice():
    a = blind_index("Müller ", purpose="name", scope=1)
    assert a == blind_index("  muller", purpose="name", scope=1)
    assert a != blind_index("muller", purpose="name", scope=2)
    assert a != blind_index("muller", purpose="mrn", scope=1)


def test_search_finds_by_surname_initial_and_birth_date_within_the_practice_only(world):
    biller = world.biller.memberships.get()
    found = patient_search(membership=biller, family_name=PHI_CANARY.upper(), given_name="a",
                           birth_date=dt.date(1956, 3, 2))
    assert [p.pk for p in found] == [world.patient.pk]
    assert list(patient_search(membership=biller, mrn="LK-1001")) == []
    outsider = world.outsider.memberships.get()
    assert list(patient_search(membership=outsider, mrn="MRN-778812")) == []
    assert [p.pk for p in patient_search(membership=outsider, mrn="lk-1001")] == [world.other_patient.pk]
