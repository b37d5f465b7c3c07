"""A canary patient goes through the app; afterwards no table, session, log, Redis key or file holds it.

Complements the plugin's end-of-suite search (billy.testing.pytest_plugin), which scans logs, media and
Redis once every test has run.
"""

import pytest
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from django_q.models import Task
from django_q.tasks import async_task

from billy.testing.processes import running_cluster, wait_for
from billy.testing.pytest_plugin import PHI_CANARY
from patients.models import Patient

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]
NAME = f"{PHI_CANARY}ova"


def every_table_as_text() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        tables = [row[0] for row in cursor.fetchall()]
        chunks = []
        for table in tables:
            cursor.execute(f'SELECT coalesce(string_agg(row_to_json(t)::text, \' \'), \'\') FROM "{table}" t')  # noqa: S608
            chunks.append(cursor.fetchone()[0])
    return " ".join(chunks)


def test_the_canary_never_leaves_encrypted_storage(transactional_world, client):
    world = transactional_world
    client.force_login(world.biller)
    response = client.post("/patients/new/", {"family_name": NAME, "given_name": "Ida", "birth_date": "1949-11-05",
                                              "sex": "F", "mrn": "CAN-424242", "address_line1": f"1 {NAME} Way",
                                              "city": NAME, "state": "OH", "postal_code": "43215"})
    assert response.status_code == 302
    patient = Patient.objects.get(pk=int(response["Location"].strip("/").split("/")[-1]))
    assert patient.family_name == NAME
    # Search (a POST), a duplicate refused with an error, the detail page, a bad date, a 404.
    found = client.post("/patients/", {"q": f"{NAME}, I, 1949-11-05"})
    assert NAME in found.content.decode()
    duplicate = client.post("/patients/new/", {"family_name": NAME, "given_name": "Ida", "birth_date": "1949-11-05",
                                               "sex": "F"})
    assert "already exists" in duplicate.content.decode()
    assert client.get(f"/patients/{patient.pk}/").status_code == 200
    # Coverage with the canary as the subscriber (the patient's spouse) and in the member id.
    covered = client.post(f"/patients/{patient.pk}/coverages/new/", {
        "payer": world.payer.pk, "order": 1, "member_id": f"{NAME}77", "effective_from": "2024-01-01",
        "relationship": "01", "subscriber_family_name": NAME, "subscriber_given_name": "Olaf",
        "subscriber_birth_date": "1947-02-03"})
    assert covered.status_code == 302
    assert patient.coverages.get().subscriber_family_name == NAME
    by_member_id = client.post("/patients/", {"q": f"{NAME.lower()}77"})
    assert f"/patients/{patient.pk}/" in by_member_id.content.decode()
    bad = client.post("/patients/new/", {"family_name": NAME, "given_name": "Ida", "birth_date": "05/11/49x"})
    assert bad.status_code == 200
    assert client.get("/patients/0/").status_code == 404
    # Files and background work.
    name = default_storage.save("canary/note.txt", ContentFile(f"Dictation about {NAME}".encode()))
    task_id = async_task("billy.tasks.audit_chain_verify")
    with running_cluster("default"):
        wait_for(lambda: Task.objects.filter(id=task_id).exists(), timeout=60)

    needle = PHI_CANARY.lower()
    assert needle not in every_table_as_text().lower()
    for session in Session.objects.all():
        assert needle not in str(SessionStore().decode(session.session_data)).lower()
    client_redis = cache._cache.get_client()
    for key in client_redis.scan_iter():
        assert needle not in key.decode(errors="replace").lower()
        assert needle.encode() not in (client_redis.dump(key) or b"").lower()
    for path in (settings.DATA_DIR / "logs").glob("*"):
        assert needle.encode() not in path.read_bytes().lower(), path
    assert needle.encode() not in (settings.MEDIA_ROOT / name).read_bytes().lower()
    default_storage.delete(name)
