"""A backup restored into an empty database gives back readable PHI, files and a verified audit trail."""

import hashlib
import uuid

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection

from billy.keycheck import check_phi_key
from billy.testing.processes import database_url_for_tests, manage, process_env
from billy.testing.pytest_plugin import PHI_CANARY

pytestmark = pytest.mark.django_db(transaction=True)

READ_BACK = (
    "import hashlib; from patients.models import Patient; from django.core.files.storage import default_storage as s; "
    "p = Patient.objects.get(mrn_index__isnull=False, pk={pk}); "
    "print(hashlib.sha256(p.family_name.encode()).hexdigest(), p.birth_date.isoformat()); "
    "print(hashlib.sha256(s.open('{name}').read()).hexdigest())"
)


@pytest.fixture
def empty_database():
    name = f"restore_{uuid.uuid4().hex[:8]}"
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    url = database_url_for_tests()
    yield url[: url.rindex("/") + 1] + name
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def test_backup_then_restore_into_an_empty_database_reads_the_phi_back(transactional_world, empty_database,
                                                                       tmp_path):
    check_phi_key()
    content = b"encrypted dictation " * 4000
    name = default_storage.save("backup/dictation.wav", ContentFile(content))
    archive = tmp_path / "b.ibk"
    made = manage("backup", "--out", str(archive))
    assert made.returncode == 0, made.stderr
    assert "2 file(s)" in made.stdout  # this test's file and the world's dictation
    assert PHI_CANARY.encode() not in archive.read_bytes()
    assert archive.read_bytes()[:4] == b"IBFC"

    env = process_env(DATABASE_URL=empty_database, BILLY_MEDIA_ROOT=str(tmp_path / "restored-media"))
    restored = manage("restore", str(archive), env=env)
    assert restored.returncode == 0, restored.stderr
    assert "PHI keys open this database." in restored.stdout
    assert "Restored backup of" in restored.stdout and "2 file(s)" in restored.stdout
    assert "Audit trail OK" in restored.stdout

    script = READ_BACK.format(pk=transactional_world.patient.pk, name=name)
    read = manage("shell", "--no-imports", "-c", script, env=env)
    assert read.returncode == 0, read.stderr
    name_hash, birth, file_hash = read.stdout.split()
    assert name_hash == hashlib.sha256(PHI_CANARY.encode()).hexdigest()
    assert birth == "1956-03-02"
    assert file_hash == hashlib.sha256(content).hexdigest()

    again = manage("restore", str(archive), env=env)
    assert again.returncode == 1 and "not empty" in again.stderr
    default_storage.delete(name)


def test_a_backup_cannot_be_restored_with_other_keys(transactional_world, empty_database, tmp_path):
    archive = tmp_path / "b.ibk"
    assert manage("backup", "--out", str(archive)).returncode == 0
    env = process_env(DATABASE_URL=empty_database, BILLY_FILE_MASTER_KEYS="file9:" + "Q" * 43 + "=",
                      BILLY_MEDIA_ROOT=str(tmp_path / "m"))
    result = manage("restore", str(archive), env=env)
    assert result.returncode == 1
    assert "cannot be opened with BILLY_FILE_MASTER_KEYS" in result.stderr
