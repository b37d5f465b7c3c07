"""EMR connections in the admin: credentials encrypted at rest and never shown again, the "Test connection"
action against the local FHIR server, USE_EMR and a disabled connection, practice scoping."""

from __future__ import annotations

import pytest
from django.db import connection as db

from billy.models import AuditEvent
from integrations.errors import EMRError
from integrations.models import EMRConnection, Vendor
from integrations.services import adapter_for, connection_check

pytestmark = pytest.mark.django_db
PEM = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC\n-----END PRIVATE KEY-----"


@pytest.fixture
def admin_client(world, client):
    from billy.roles import roles_sync

    roles_sync()
    world.admin.refresh_from_db()
    client.force_login(world.admin)
    return client


def form(world, **values) -> dict:
    return {"practice": world.practice.pk, "name": "Epic (production)", "vendor": Vendor.EPIC,
            "base_url": "https://fhir.example.org/api/FHIR/R4/", "token_url": "", "tenant": "", "client_id": "abc",
            "client_secret": "", "private_key": "", "key_id": "", "scope": "", "mrn_system": "", "payer_id_system": "",
            **values}


def test_credentials_saved_in_the_admin_are_ciphertext_in_the_raw_table_and_never_shown_again(admin_client, world):
    response = admin_client.post("/admin/integrations/emrconnection/add/",
                                 form(world, client_secret="s3cret-value", private_key=PEM))
    assert response.status_code == 302, response.content.decode()[:2000]
    saved = EMRConnection.objects.get(name="Epic (production)")
    assert (saved.client_secret, saved.private_key) == ("s3cret-value", PEM)
    with db.cursor() as cursor:
        cursor.execute("SELECT client_secret, private_key FROM integrations_emrconnection WHERE id = %s", [saved.pk])
        raw_secret, raw_key = cursor.fetchone()
    assert "s3cret" not in raw_secret and "PRIVATE KEY" not in raw_key

    page = admin_client.get(f"/admin/integrations/emrconnection/{saved.pk}/change/").content.decode()
    assert "s3cret-value" not in page and "MIIEvQ" not in page and "stored" in page

    # Saving again with the secret fields blank keeps them; "clear" removes them.
    admin_client.post(f"/admin/integrations/emrconnection/{saved.pk}/change/", form(world, name="Epic (prod)"))
    saved.refresh_from_db()
    assert (saved.name, saved.client_secret, saved.private_key) == ("Epic (prod)", "s3cret-value", PEM)
    admin_client.post(f"/admin/integrations/emrconnection/{saved.pk}/change/", form(world, clear_credentials="on"))
    saved.refresh_from_db()
    assert (saved.client_secret, saved.private_key) == (None, None)


def test_a_private_key_that_is_not_pem_is_refused_with_the_reason(admin_client, world):
    response = admin_client.post("/admin/integrations/emrconnection/add/", form(world, private_key="ssh-rsa AAAA"))
    assert response.status_code == 200
    assert "Paste the PEM private key" in response.content.decode()
    assert not EMRConnection.objects.exists()


def test_the_test_action_checks_the_local_fhir_server_and_keeps_the_outcome(admin_client, world, settings,
                                                                             fhir_base_url):
    settings.USE_EMR = True
    good = EMRConnection.objects.create(practice=world.practice, name="Local", vendor=Vendor.FHIR,
                                        base_url=fhir_base_url, is_enabled=True)
    bad = EMRConnection.objects.create(practice=world.practice, name="Nowhere", vendor=Vendor.FHIR,
                                       base_url="http://127.0.0.1:9/fhir")
    response = admin_client.post("/admin/integrations/emrconnection/", {
        "action": "test_connections", "_selected_action": [good.pk, bad.pk]}, follow=True)
    page = response.content.decode()
    assert "Local: OK. FHIR 4.0.1" in page
    assert "Nowhere: failed. The EMR could not be reached" in page
    good.refresh_from_db()
    bad.refresh_from_db()
    assert (good.last_check_ok, bad.last_check_ok) == (True, False)
    assert good.last_check_message.startswith("FHIR 4.0.1") and good.last_checked_at is not None
    assert AuditEvent.objects.filter(action="emr.connection_check", object_id=str(good.pk)).count() == 1


def test_with_use_emr_off_nothing_is_called_and_the_check_says_why(world, settings):
    settings.USE_EMR = False
    connection = EMRConnection.objects.create(practice=world.practice, name="Off", vendor=Vendor.FHIR,
                                              base_url="http://127.0.0.1:9/fhir", is_enabled=True)
    ok, message = connection_check(connection=connection, actor=world.admin)
    assert not ok and "USE_EMR=false" in message
    with pytest.raises(EMRError) as caught:
        adapter_for(connection)
    assert caught.value.reason == "config"


def test_a_disabled_connection_is_not_used(world, settings):
    settings.USE_EMR = True
    connection = EMRConnection.objects.create(practice=world.practice, name="Paused", vendor=Vendor.FHIR,
                                              base_url="http://127.0.0.1:9/fhir", is_enabled=False)
    with pytest.raises(EMRError) as caught:
        adapter_for(connection)
    assert "disabled" in caught.value.message


def test_an_admin_sees_only_the_connections_of_their_practice(admin_client, world):
    mine = EMRConnection.objects.create(practice=world.practice, name="Mine", vendor=Vendor.FHIR,
                                        base_url="http://127.0.0.1:9/a")
    theirs = EMRConnection.objects.create(practice=world.other_practice, name="Theirs", vendor=Vendor.FHIR,
                                          base_url="http://127.0.0.1:9/b")
    page = admin_client.get("/admin/integrations/emrconnection/").content.decode()
    assert "Mine" in page and "Theirs" not in page
    assert admin_client.get(f"/admin/integrations/emrconnection/{theirs.pk}/change/").status_code in (302, 404)
    assert admin_client.get(f"/admin/integrations/emrconnection/{mine.pk}/change/").status_code == 200


def test_settings_of_a_connection_hide_its_secrets_from_a_traceback(world):
    connection = EMRConnection(practice=world.practice, name="X", vendor=Vendor.EPIC, base_url="https://x/",
                               client_secret="s3cret", private_key=PEM, pk=7)
    assert repr(connection.settings()) == "ConnectionSettings(key='conn-7', vendor='epic')"
