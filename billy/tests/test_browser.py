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
    page.fill("input[name=q]", f"{PHI_CANARY.lower()}, a, 03/02/1956")
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


def test_a_biller_adds_a_patient_with_primary_and_secondary_coverage_and_finds_them(
        transactional_world, live_server, page: Page):
    from patients.models import Payer, PayerType

    Payer.objects.create(practice=transactional_world.practice, name="Summit Health PPO", payer_id="SMT01",
                         payer_type=PayerType.COMMERCIAL)
    cache.clear()
    page.goto(f"{live_server.url}/patients/new/")
    page.fill("input[name=login]", "biller@north.test")
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Add a patient")
    page.fill("input[name=family_name]", "Quennell")
    page.fill("input[name=given_name]", "Ottilie")
    page.fill("input[name=birth_date]", "1949-11-23")
    page.select_option("select[name=sex]", "F")
    page.fill("input[name=address_line1]", "88 Larkspur Lane")
    page.fill("input[name=city]", "Columbus")
    page.fill("input[name=state]", "oh")
    page.fill("input[name=postal_code]", "43215")
    page.click("main form button[type=submit]")
    expect(page.locator("h1")).to_have_text("Quennell, Ottilie")

    for order, payer, member_id in (("1", "Medicare Part B (test MAC)", "2FR5JK8LM20"),
                                    ("2", "Summit Health PPO", "SMT-88213")):
        page.click("text=Add coverage")  # htmx loads the form under the table
        form = page.locator("#coverage-form")
        expect(form).to_be_visible()
        form.locator("select[name=payer]").select_option(label=payer + (" (15202)" if order == "1" else " (SMT01)"))
        form.locator("select[name=order]").select_option(order)
        form.locator("input[name=member_id]").fill(member_id)
        form.locator("input[name=effective_from]").fill("2025-01-01")
        form.locator("button[type=submit]").click()
        expect(page.locator(".message-success")).to_have_text("Coverage added.")
    rows = page.locator("#coverages tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("Primary")
    expect(rows.nth(0)).to_contain_text("2FR5JK8LM20")
    expect(rows.nth(1)).to_contain_text("Secondary")
    expect(rows.nth(1)).to_contain_text("SMT-88213")

    page.goto(f"{live_server.url}/patients/")
    page.fill("input[name=q]", "QUENNELL, O, 1949-11-23")
    page.click("form.form-inline button[type=submit]")
    expect(page.locator("#results a")).to_have_text("Quennell, Ottilie")


@pytest.mark.worker
def test_a_physician_uploads_a_dictation_and_watches_it_become_a_transcript(transactional_world, live_server,
                                                                           page: Page, tmp_path):
    import shutil
    import subprocess

    from billy.testing.processes import running_cluster

    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (bin/bootstrap installs it)")
    audio = tmp_path / "dictation.wav"
    subprocess.run(["espeak-ng", "-s", "150", "-w", str(audio),
                    "Procedure: lumbar laminectomy, L four L five. No fusion was performed."], check=True)
    cache.clear()
    world = transactional_world
    page.goto(f"{live_server.url}/patients/{world.patient.pk}/")
    page.fill("input[name=login]", "physician@north.test")
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    page.click("text=Upload a dictation")
    page.fill("input[name=date_of_service]", "2026-06-01")
    page.set_input_files("input[name=audio]", str(audio))
    page.click("main form button[type=submit]")
    expect(page.locator(".message-success")).to_contain_text("being transcribed")
    expect(page.locator("#dictation-status .pill")).to_be_visible()
    with running_cluster("inference", WHISPER_MODEL="tiny.en"):
        # The page polls with htmx; no reload: the transcript replaces the progress bar when it is ready.
        expect(page.locator("#dictation-status .transcript")).to_contain_text("laminectomy", timeout=120_000)
    assert page.locator("#dictation-status .word").count() > 5
    assert page.locator("audio#player").get_attribute("src").endswith("/audio/")

    # The physician reads the transcript, corrects it and signs it (the claim is built from signed text only).
    page.click("text=Review and sign")
    editor = page.locator("textarea#id_text")
    expect(editor).to_contain_text("laminectomy")
    corrected = "Procedure: lumbar laminectomy, L4-L5. No fusion was performed."
    editor.fill(corrected)
    page.check("input[name=attest]")
    page.fill("input#id_password", "correct horse battery")
    page.click("text=Sign the transcript as shown")
    expect(page.locator(".message-success")).to_contain_text("Transcript signed.")
    expect(page.locator(".signed-text")).to_have_text(corrected)
    expect(page.locator(".signatures")).to_contain_text("Electronically signed by Test Physician")
    page.click("nav >> text=To sign")
    expect(page.locator("#to-sign-count")).to_have_text("0")


def test_a_physician_records_in_the_browser_previews_and_sends(transactional_world, live_server, page: Page):
    from audio.models import Recording

    cache.clear()
    world = transactional_world
    page.goto(f"{live_server.url}/dictations/new/{world.patient.pk}/")
    page.fill("input[name=login]", "physician@north.test")
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    page.fill("input[name=date_of_service]", "2026-06-02")
    page.click("[data-action=start]")
    expect(page.locator("[data-role=status]")).to_have_text("Recording…")
    page.wait_for_timeout(1500)
    page.click("[data-action=pause]")
    expect(page.locator("[data-role=status]")).to_have_text("Paused.")
    page.click("[data-action=pause]")  # resume
    page.wait_for_timeout(1500)
    assert float(page.locator("#recorder meter").get_attribute("value") or 0) >= 0
    page.click("[data-action=stop]")
    expect(page.locator("#recorder audio")).to_be_visible()  # the preview, before anything is sent
    assert Recording.objects.exclude(pk=world.recording.pk).count() == 0
    page.click("[data-action=use]")
    expect(page.locator(".message-success")).to_contain_text("being transcribed")
    recording = Recording.objects.exclude(pk=world.recording.pk).get()
    assert recording.source == "browser" and recording.format_label in ("WebM", "Ogg")
    assert recording.duration_s > 1.5
