"""Real chromium: sign in, find a patient with the HTMX search, sign out."""

import pytest
from django.core.cache import cache
from playwright.sync_api import Page, expect

from billy.testing.pytest_plugin import PHI_CANARY

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_a_biller_signs_in_and_finds_a_patient(transactional_world, live_server, page: Page):
    cache.clear()
    page.goto(f"{live_server.url}/patients/")
    expect(page).to_have_url(f"{live_server.url}/accounts/login/?next=/patients/")
    page.fill("input[name=login]", "biller@north.test")
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Patients")
    page.fill("input[name=family_name]", PHI_CANARY.lower())
    page.fill("input[name=given_name]", "a")
    page.fill("input[name=birth_date]", "1956-03-02")
    with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/patients/")) as info:
        page.click("form.form-inline button[type=submit]")
    assert info.value.request.headers.get("hx-request") == "true"  # swapped in by htmx, not a page load
    expect(page.locator("#results a")).to_have_text(f"{PHI_CANARY}, Alma")
    assert page.url.removeprefix(live_server.url) == "/patients/"  # the search never put PHI in the URL
    page.click("#results a")
    expect(page.locator("h1")).to_have_text(f"{PHI_CANARY}, Alma")
    page.click(".usermenu summary")
    page.click("text=Sign out")
    expect(page).to_have_url(f"{live_server.url}/accounts/login/")


def test_the_login_page_looks_finished(live_server, page: Page, db):
    page.goto(f"{live_server.url}/accounts/login/")
    card = page.locator(".auth-card")
    expect(card).to_be_visible()
    box = card.bounding_box()
    assert box and 300 < box["width"] <= 420
    # Our stylesheet loaded (the card has its own white background and rounded corners).
    radius = page.evaluate("getComputedStyle(document.querySelector('.auth-card')).borderRadius")
    assert radius == "12px"
