"""Every route, found from the URL resolver (no hand-kept list), walked as anonymous, outsider and each role.

A new view without an expectation below fails this test, so no view can escape review of who may see it.
"""

from __future__ import annotations

import re

import pytest
from django.contrib.admindocs.views import extract_views_from_urlpatterns, simplify_regex
from django.test import Client
from django.urls import get_resolver

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "outsider", "physician", "biller", "admin")
SIGNED_IN = ROLES[1:]

# Our own routes: the exact status each role gets. Outsiders get 404 for another practice's data, never 403.
OWN_ROUTES: dict[str, dict[str, int]] = {
    "home": {"anonymous": 302, "outsider": 200, "physician": 200, "biller": 200, "admin": 200},
    "practice_switch": {"anonymous": 302, **dict.fromkeys(SIGNED_IN, 405)},  # POST only
    "healthz": dict.fromkeys(ROLES, 200),
    "robots": dict.fromkeys(ROLES, 200),
    "patient_search": {"anonymous": 302, **dict.fromkeys(SIGNED_IN, 200)},
    "patient_new": {"anonymous": 302, "outsider": 200, "physician": 404, "biller": 200, "admin": 200},
    "team": {"anonymous": 302, "outsider": 404, "physician": 404, "biller": 404, "admin": 200},
    "team_member_role": {"anonymous": 302, **dict.fromkeys(SIGNED_IN, 405)},  # POST only
    "team_member_remove": {"anonymous": 302, **dict.fromkeys(SIGNED_IN, 405)},  # POST only
    "patient_detail": {"anonymous": 302, "outsider": 404, "physician": 200, "biller": 200, "admin": 200},
    # Fee schedule: an outsider sees their own practice's (empty) schedule, never this one's.
    "fee_schedule": {"anonymous": 302, "outsider": 200, "physician": 404, "biller": 200, "admin": 200},
    "fee_schedule_import": {"anonymous": 302, **dict.fromkeys(SIGNED_IN, 405)},  # POST only
    "fee_schedule_export": {"anonymous": 302, "outsider": 200, "physician": 404, "biller": 200, "admin": 200},
    "patient_edit": {"anonymous": 302, "outsider": 404, "physician": 404, "biller": 200, "admin": 200},
    "coverage_new": {"anonymous": 302, "outsider": 404, "physician": 404, "biller": 200, "admin": 200},
    "coverage_edit": {"anonymous": 302, "outsider": 404, "physician": 404, "biller": 200, "admin": 200},
    "coverage_end": {"anonymous": 302, **dict.fromkeys(SIGNED_IN, 405)},  # POST only
    "dictation_list": {"anonymous": 302, "outsider": 200, "physician": 200, "biller": 200, "admin": 200},
    "dictation_upload": {"anonymous": 302, "outsider": 404, "physician": 200, "biller": 404, "admin": 404},
    "dictation_detail": {"anonymous": 302, "outsider": 404, "physician": 200, "biller": 200, "admin": 200},
    "dictation_audio": {"anonymous": 302, "outsider": 404, "physician": 200, "biller": 200, "admin": 200},
    "dictation_retry": {"anonymous": 302, **dict.fromkeys(SIGNED_IN, 405)},  # POST only
    "signing_inbox": {"anonymous": 302, "outsider": 404, "physician": 200, "biller": 404, "admin": 404},
    # The review page is the dictating physician's own (the world's dictation is not transcribed yet: it says so).
    "dictation_review": {"anonymous": 302, "outsider": 404, "physician": 200, "biller": 404, "admin": 404},
    "dictation_sign": {"anonymous": 302, **dict.fromkeys(SIGNED_IN, 405)},  # POST only
    "dictation_addendum": {"anonymous": 302, **dict.fromkeys(SIGNED_IN, 405)},  # POST only
    "dictation_request_addendum": {"anonymous": 302, **dict.fromkeys(SIGNED_IN, 405)},  # POST only
    "practice_setup": {"anonymous": 302, "outsider": 200, "physician": 404, "biller": 200, "admin": 200},
    # Claims: an outsider sees their own practice's (empty) queue, never this practice's claims.
    "claim_queue": {"anonymous": 302, "outsider": 200, "physician": 404, "biller": 200, "admin": 200},
    "code_search": {"anonymous": 302, "outsider": 200, "physician": 404, "biller": 200, "admin": 200},
    "claim_detail": {"anonymous": 302, "outsider": 404, "physician": 404, "biller": 200, "admin": 200},
    "claim_json": {"anonymous": 302, "outsider": 404, "physician": 404, "biller": 200, "admin": 200},
    "claim_items": {"anonymous": 302, "outsider": 404, "physician": 404, "biller": 200, "admin": 200},
    "claim_history": {"anonymous": 302, "outsider": 404, "physician": 404, "biller": 200, "admin": 200},
    "claim_pdf": {"anonymous": 302, "outsider": 404, "physician": 404, "biller": 200, "admin": 200},
    "claim_exports": {"anonymous": 302, "outsider": 200, "physician": 404, "biller": 200, "admin": 200},
    "claim_export_download": {"anonymous": 302, "outsider": 404, "physician": 404, "biller": 200, "admin": 200},
    "claim_acks": {"anonymous": 302, "outsider": 200, "physician": 404, "biller": 200, "admin": 200},
    "claim_second_read": {"anonymous": 302, "outsider": 404, "physician": 404, "biller": 200, "admin": 200},
    # Policy documents are public and shared: the billers and admins of any practice read them.
    "policy_document": {"anonymous": 302, "outsider": 200, "physician": 404, "biller": 200, "admin": 200},
    **{name: {"anonymous": 302, **dict.fromkeys(SIGNED_IN, 405)} for name in (  # POST only
        "claim_codes_save", "claim_approve", "claim_reject", "claim_reopen", "claim_void", "claim_recode",
        "claim_correct", "claim_retry", "claim_second_read_retry", "patient_emr_import")},
}
# allauth pages that need a signed-in user.
ACCOUNT_PAGES_NEEDING_LOGIN = {
    "account_email", "account_change_password", "account_set_password", "account_reauthenticate",
    "mfa_index", "mfa_reauthenticate", "mfa_activate_totp", "mfa_deactivate_totp", "mfa_view_recovery_codes",
    "mfa_generate_recovery_codes", "mfa_download_recovery_codes",
}


def all_routes():
    for _view, regex, namespace, name in extract_views_from_urlpatterns(get_resolver().url_patterns):
        path = simplify_regex(regex)
        if path.startswith("/static/"):
            continue
        yield path, (namespace or [None])[0] if namespace else None, name


def sample_path(path: str, world) -> str:
    admin_objects = {
        "billy/user": world.physician.pk, "billy/practice": world.practice.pk,
        "billy/membership": world.physician.memberships.get().pk, "patients/patient": world.patient.pk,
        "patients/payer": world.payer.pk, "patients/coverage": world.coverage.pk,
        "audio/recording": world.recording.pk, "claims/claim": world.claim.pk,
        "billing/policydocument": world.policy_document.pk,
    }
    model = "/".join(path.split("/")[2:4]) if path.startswith("/admin/") else ""
    values = {
        "patient_id": world.patient.pk,
        "coverage_id": world.coverage.pk,
        "recording_id": world.recording.pk,
        "claim_id": world.claim.pk,
        "export_id": world.export.pk,
        "document_id": world.policy_document.pk,
        "membership_id": world.physician.memberships.get().pk,
        "object_id": admin_objects.get(model, 1),
        "id": world.physician.pk,
        "content_type_id": 1,
        "key": "not-a-real-key",
        "uidb36": "zz",
        "app_label": "billy",
        "url": "no-such-page/",
        "var": "1",  # an unnamed group (simple-history's /<object>/history/<history id>/ admin page)
    }
    return re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(values[m.group(1)]), path)


def client_for(role: str, world) -> Client:
    client = Client()
    if role != "anonymous":
        client.force_login(world.user(role))
    return client


def expected(path: str, namespace: str | None, name: str | None, role: str) -> set[int]:
    if namespace == "admin":
        if name == "login":
            # Sign-in goes through allauth (two-factor); a signed-in non-admin finds no admin at all.
            return {302} if role in ("anonymous", "admin") else {404}
        if name == "logout":
            return {405} if role == "admin" else {302, 405}
        if role != "admin":
            return {302}  # to the admin sign-in: only practice admins are staff
        return {200, 302, 403, 404}
    if path.startswith("/accounts/"):
        if name in ACCOUNT_PAGES_NEEDING_LOGIN and role == "anonymous":
            return {302}
        return {200, 302, 404, 405}
    if name in OWN_ROUTES:
        return {OWN_ROUTES[name][role]}
    raise AssertionError(f"No access expectation for route {path} ({name}): add it to OWN_ROUTES.")


def test_the_route_list_is_complete_and_includes_our_views():
    names = {name for _, _, name in all_routes()}
    assert set(OWN_ROUTES) <= names
    assert "admin" in {ns for _, ns, _ in all_routes()}


@pytest.mark.parametrize("role", ROLES)
def test_every_route_answers_each_role_as_expected(world, role):
    from billing.tests.policy_factories import make_policy_document
    from claims.tests.factories import make_claim, make_export

    world.claim = make_claim(world)
    world.export = make_export(world, world.claim)
    world.policy_document = make_policy_document()
    client = client_for(role, world)
    wrong = []
    for path, namespace, name in all_routes():
        url = sample_path(path, world)
        response = client.get(url)
        if response.status_code not in expected(path, namespace, name, role):
            wrong.append(f"{role} GET {url} ({name}) -> {response.status_code}, "
                         f"expected {sorted(expected(path, namespace, name, role))}")
        if response.status_code == 302 and role != "admin" and namespace == "admin" and name != "logout":
            assert response["Location"].startswith(("/admin/login/", "/accounts/login/")), url
        if role == "anonymous" and response.status_code == 302 and name in OWN_ROUTES:
            assert response["Location"].startswith("/accounts/login/"), url
    assert not wrong, "\n".join(wrong)


def test_an_outsider_cannot_learn_that_another_practices_patient_exists(world):
    client = client_for("outsider", world)
    existing = client.get(f"/patients/{world.patient.pk}/")
    missing = client.get("/patients/999999999/")
    assert existing.status_code == missing.status_code == 404
    def without_csrf(body: bytes) -> bytes:
        return re.sub(rb"[A-Za-z0-9]{64}", b"<csrf>", body)

    assert without_csrf(existing.content) == without_csrf(missing.content)


def test_pages_for_signed_in_users_are_not_stored_by_browsers(world):
    response = client_for("biller", world).get(f"/patients/{world.patient.pk}/")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
