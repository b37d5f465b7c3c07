"""Signing in: allauth with email logins, closed sign-up, lockout, two-factor for admins, idle logoff."""

import datetime as dt
import time

import pytest
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.utils import timezone

from billy import services
from billy.models import AuditEvent, Role, User, UserSession
from conftest import TOTP_SECRET

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def empty_cache():
    # Rate-limit counters live in the real Redis: each test starts from none.
    cache.clear()


def sign_in(client, email, password=PASSWORD):
    return client.post("/accounts/login/", {"login": email, "password": password})


def test_the_login_page_is_served_with_our_layout(client):
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "auth-card" in body and "IamBilly" in body and 'name="login"' in body


def test_a_physician_signs_in_with_email_and_lands_on_their_home(world, client):
    response = sign_in(client, "physician@north.test")
    assert response.status_code == 302 and response["Location"] == "/"
    home = client.get("/")
    assert home.status_code == 200 and "Good to see you" in home.content.decode()
    assert AuditEvent.objects.filter(action="auth.login", actor_id=world.physician.pk).exists()


def test_a_wrong_password_is_refused_and_audited_without_the_login_name(world, client):
    response = sign_in(client, "biller@north.test", "wrong password")
    assert response.status_code == 200
    assert "not correct" in response.content.decode()
    failed = AuditEvent.objects.filter(action="auth.login_failed").latest("sequence")
    assert failed.actor_email == "" and "biller" not in str(failed.detail)
    assert "_auth_user_id" not in client.session


def test_five_failures_lock_the_account_even_for_the_right_password(world, client):
    for _ in range(5):
        sign_in(client, "biller@north.test", "wrong password")
    response = sign_in(client, "biller@north.test")
    assert "_auth_user_id" not in client.session
    assert "Too many failed login attempts" in response.content.decode()
    # Another account from elsewhere is unaffected.
    other = type(client)()
    sign_in(other, "physician@north.test")
    assert "_auth_user_id" in other.session


def test_nobody_can_sign_up_on_their_own(client, db):
    page = client.get("/accounts/signup/")
    assert "closed" in page.content.decode().lower()
    client.post("/accounts/signup/",
                {"email": "new@x.test", "password1": "A-long-passw0rd!", "password2": "A-long-passw0rd!"})
    assert not User.objects.filter(email="new@x.test").exists()


def test_an_admin_without_an_authenticator_must_set_one_up_first(world, client):
    newcomer = services.user_create(email="admin2@north.test", password=PASSWORD)
    services.membership_grant(user=newcomer, practice=world.practice, role=Role.ADMIN)
    sign_in(client, "admin2@north.test")
    for path in ("/", "/patients/", "/admin/"):
        response = client.get(path)
        assert response.status_code == 302 and response["Location"] == "/accounts/2fa/totp/activate/", path
    # allauth asks for the password again before an authenticator is added; then the set-up page opens.
    assert client.get("/accounts/2fa/totp/activate/")["Location"].startswith("/accounts/reauthenticate/")
    client.post("/accounts/reauthenticate/", {"password": PASSWORD})
    page = client.get("/accounts/2fa/totp/activate/")
    assert page.status_code == 200 and "secret" in page.content.decode().lower()


def test_an_admin_with_totp_needs_the_code_to_finish_signing_in(world, client):
    response = sign_in(client, "admin@north.test")
    assert response.status_code == 302 and response["Location"] == "/accounts/2fa/authenticate/"
    assert "_auth_user_id" not in client.session
    code = format_hotp_value(hotp_value(TOTP_SECRET, int(time.time()) // 30))
    response = client.post("/accounts/2fa/authenticate/", {"code": code})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(world.admin.pk)
    assert client.get("/").status_code == 200


def test_a_session_ends_after_the_idle_time(world, client, settings):
    client.force_login(world.biller)
    assert client.get("/patients/").status_code == 200
    assert client.session.get_expiry_age() == settings.SESSION_COOKIE_AGE
    Session.objects.filter(session_key=client.session.session_key).update(
        expire_date=timezone.now() - dt.timedelta(seconds=1))
    response = client.get("/patients/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_an_admin_can_see_and_end_someone_elses_session(world, client):
    client.force_login(world.biller)
    client.get("/")
    user_session = UserSession.objects.get(user=world.biller)
    assert user_session.session_key == client.session.session_key
    services.session_end(user_session=user_session, by=world.admin)
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert AuditEvent.objects.filter(action="session.end", actor_id=world.admin.pk).exists()


def test_the_admin_sign_in_goes_through_allauth(client, db):
    response = client.get("/admin/login/?next=/admin/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_expired_sessions_and_their_records_are_purged(world, client):
    from billy.selectors import active_sessions_for
    from billy.tasks import sessions_purge

    client.force_login(world.biller)
    client.get("/")
    assert active_sessions_for(practice_id=world.practice.pk).count() == 1
    UserSession.objects.update(last_seen_at=timezone.now() - dt.timedelta(hours=1))
    assert active_sessions_for(practice_id=world.practice.pk).count() == 0
    Session.objects.update(expire_date=timezone.now() - dt.timedelta(seconds=1))
    assert sessions_purge() == {"sessions": 1, "records": 1}
    assert not UserSession.objects.exists()
