"""The Django admin for practice admins: scoped to their practices, audited, audit rows read-only."""

import pytest

from billy.models import AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(world, client):
    client.force_login(world.admin)
    return client


def test_a_practice_admin_sees_only_their_practices_members(world, admin_client):
    page = admin_client.get("/admin/billy/user/").content.decode()
    assert "physician@north.test" in page
    assert "biller@lakeside.test" not in page
    assert admin_client.get(f"/admin/billy/user/{world.outsider.pk}/change/").status_code == 302  # not found -> index


def test_patients_in_the_admin_are_named_by_id_and_scoped(world, admin_client):
    page = admin_client.get("/admin/patients/patient/").content.decode()
    assert f"Patient #{world.patient.pk}" in page
    assert f"Patient #{world.other_patient.pk}" not in page
    assert world.patient.family_name not in page  # the list never shows names


def test_changes_in_the_admin_are_audited_with_field_names(world, admin_client):
    response = admin_client.post(f"/admin/billy/user/{world.physician.pk}/change/", {
        "email": world.physician.email, "full_name": "Dr. Renamed", "is_active": "on",
        "last_login_0": "", "last_login_1": "", "date_joined_0": "2026-01-01", "date_joined_1": "10:00:00",
        "memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0",
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    event = AuditEvent.objects.filter(action="admin.change").latest("sequence")
    assert event.actor_id == world.admin.pk and event.object_id == str(world.physician.pk)
    assert event.detail == {"fields": ["Full name"]}


def test_audit_events_cannot_be_added_changed_or_deleted_in_the_admin(world, admin_client):
    event = AuditEvent.objects.latest("sequence")
    assert admin_client.get("/admin/billy/auditevent/add/").status_code == 403
    assert admin_client.post(f"/admin/billy/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_a_practice_admin_cannot_grant_a_role_in_another_practice(world, admin_client):
    from billy.models import Membership

    response = admin_client.post("/admin/billy/membership/add/", {
        "user": world.physician.pk, "practice": world.other_practice.pk, "role": "admin", "is_active": "on"})
    assert response.status_code == 200  # the form comes back with an error
    assert "Select a valid choice" in response.content.decode()
    assert not Membership.objects.filter(user=world.physician, practice=world.other_practice).exists()
