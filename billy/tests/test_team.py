"""Practice admins invite people (the only way in), change roles and remove members, in their practice only."""

import re

import pytest
from django.core import mail
from django.core.cache import cache
from django_q.models import OrmQ

from billy import services
from billy.models import AuditEvent, Membership, Role, User
from billy.tasks import invitation_send

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(world, client):
    client.force_login(world.admin)
    return client


def test_an_admin_invites_a_new_biller_who_sets_a_password_and_signs_in(
    world, admin_client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post("/team/", {"email": "New.Biller@North.test", "full_name": "Nia Biller",
                                                "role": "biller"})
    assert response.status_code == 302
    user = User.objects.get(email="new.biller@north.test")
    assert not user.has_usable_password()
    membership = Membership.objects.get(user=user, practice=world.practice)
    assert membership.role == Role.BILLER
    queued = OrmQ.objects.get()
    assert queued.task["args"] == (membership.pk,)  # an id, never a name or an address

    invitation_send(membership.pk)
    message = mail.outbox[-1]
    assert message.to == ["new.biller@north.test"]
    link = re.search(r"http://127\.0\.0\.1:8000(/accounts/password/reset/key/\S+)", message.body).group(1)

    cache.clear()
    newcomer = type(admin_client)()
    page = newcomer.get(link, follow=True)
    assert page.status_code == 200
    set_url = page.redirect_chain[-1][0] if page.redirect_chain else link
    done = newcomer.post(set_url, {"password1": "a-Fresh-passw0rd-42", "password2": "a-Fresh-passw0rd-42"})
    assert done.status_code == 302
    signed_in = newcomer.post("/accounts/login/", {"login": "new.biller@north.test", "password": "a-Fresh-passw0rd-42"})
    assert signed_in.status_code == 302
    assert newcomer.get("/patients/").status_code == 200
    assert AuditEvent.objects.filter(action="user.invite", object_id=str(user.pk)).exists()


def test_inviting_an_existing_member_is_refused_with_a_reason(world, admin_client):
    response = admin_client.post("/team/", {"email": "biller@north.test", "full_name": "x", "role": "biller"})
    assert "already a member" in response.content.decode()


def test_an_admin_changes_a_role_and_removes_a_member(world, admin_client):
    biller = world.biller.memberships.get()
    admin_client.post(f"/team/{biller.pk}/role/", {"role": "physician"})
    biller.refresh_from_db()
    assert biller.role == Role.PHYSICIAN
    admin_client.post(f"/team/{biller.pk}/remove/")
    biller.refresh_from_db()
    assert not biller.is_active
    assert not world.biller.groups.filter(name="role:physician").exists()


def test_an_admin_cannot_demote_or_remove_themselves(world, admin_client):
    own = world.admin.memberships.get()
    admin_client.post(f"/team/{own.pk}/role/", {"role": "biller"})
    admin_client.post(f"/team/{own.pk}/remove/")
    own.refresh_from_db()
    assert own.role == Role.ADMIN and own.is_active


def test_an_admin_of_another_practice_cannot_touch_this_team(world, client):
    other_admin = services.user_create(email="admin@lakeside.test", password="x-long-password")
    services.membership_grant(user=other_admin, practice=world.other_practice, role=Role.ADMIN)
    from allauth.mfa.totp.internal.auth import TOTP

    TOTP.activate(other_admin, "JBSWY3DPEHPK3PXP")
    client.force_login(other_admin)
    biller = world.biller.memberships.get()
    assert client.post(f"/team/{biller.pk}/role/", {"role": "admin"}).status_code == 404
    assert client.post(f"/team/{biller.pk}/remove/").status_code == 404
    biller.refresh_from_db()
    assert biller.role == Role.BILLER and biller.is_active
