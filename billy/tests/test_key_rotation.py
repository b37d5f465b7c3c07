"""rotate_keys moves every PHI column and file to the new keys; old keys can then be dropped."""

import base64
import datetime as dt
import os

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.db import connection

from billy import filecrypto, keys
from billy.models import AuditEvent
from billy.phi import key_id_of
from patients.models import Patient
from patients.selectors import patient_search

pytestmark = pytest.mark.django_db


def new_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


@pytest.fixture
def fresh_keys(settings):
    yield settings
    for loader in (keys.phi_keyring, keys.file_keyring, keys.blind_index_key):
        loader.cache_clear()


def raw_key_ids():
    with connection.cursor() as cursor:
        cursor.execute("SELECT family_name, given_name, birth_date, mrn FROM patients_patient")
        return {key_id_of(v) for row in cursor.fetchall() for v in row if v}


def test_rotation_reencrypts_rows_rewraps_files_and_the_old_keys_can_go(world, fresh_keys, capsys):
    settings = fresh_keys
    name = default_storage.save("rotation/a.bin", ContentFile(b"audio bytes" * 1000))
    assert raw_key_ids() == {"phi1"}
    new_phi, new_file = new_key(), new_key()
    settings.BILLY_PHI_KEYS = f"phi2:{new_phi},{settings.BILLY_PHI_KEYS}"
    settings.BILLY_FILE_MASTER_KEYS = f"file2:{new_file},{settings.BILLY_FILE_MASTER_KEYS}"
    keys.phi_keyring.cache_clear()
    keys.file_keyring.cache_clear()

    call_command("rotate_keys")
    out = capsys.readouterr().out
    assert "patients.Patient: 2 row(s) re-encrypted under phi2" in out
    assert "files: 2 re-wrapped under file2, 0 already current" in out  # this file and the world's dictation
    assert raw_key_ids() == {"phi2"}
    with (settings.MEDIA_ROOT / name).open("rb") as handle:
        assert filecrypto.header_key_id(handle) == "file2"

    # Only the new keys from now on.
    settings.BILLY_PHI_KEYS = f"phi2:{new_phi}"
    settings.BILLY_FILE_MASTER_KEYS = f"file2:{new_file}"
    keys.phi_keyring.cache_clear()
    keys.file_keyring.cache_clear()
    assert Patient.objects.get(pk=world.patient.pk).birth_date == dt.date(1956, 3, 2)
    with default_storage.open(name) as handle:
        assert handle.read() == b"audio bytes" * 1000

    call_command("rotate_keys")  # a second run finds nothing to do
    assert "patients.Patient: 0 row(s)" in capsys.readouterr().out
    assert AuditEvent.objects.filter(action="keys.rotate").count() == 2
    default_storage.delete(name)


def test_a_new_blind_index_key_needs_the_indexes_recomputed(world, fresh_keys, capsys):
    settings = fresh_keys
    membership = world.biller.memberships.get()
    settings.BILLY_BLIND_INDEX_KEY = new_key()
    keys.blind_index_key.cache_clear()
    assert list(patient_search(membership=membership, mrn="MRN-778812")) == []
    call_command("rotate_keys", blind_indexes=True)
    assert "patients.Patient: 2 row(s) with recomputed blind indexes" in capsys.readouterr().out
    assert [p.pk for p in patient_search(membership=membership, mrn="MRN-778812")] == [world.patient.pk]
