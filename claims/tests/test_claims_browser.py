"""Real chromium over the claims workflow: a dictation becomes a claim that a biller reviews, edits, approves and
exports as an 837P; a stale approve is refused; the queue works by keyboard alone; the queue and the claim page
pass axe with no serious or critical violation.

Only the first test runs the workers (Whisper tiny.en on the inference cluster, coding on the default one); the
others make their claims with the same services the workers call. The patient's family name is the PHI canary.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import shutil
import subprocess
import uuid
import wave
from pathlib import Path

import pytest
from django.core.cache import cache
from playwright.sync_api import Page, expect

from audio import review
from audio.models import Recording, RecordingStatus, Transcript
from billing.models import FeeScheduleEntry
from claims.models import Claim, ClaimStatus
from claims.pipeline import recording_code
from claims.tests.factories import make_claim
from claims.tests.test_exports import _practice_ready
from claims.x12_checks import validate_837p

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

PASSWORD = "correct horse battery"
DICTATION = ("Operative note. Preoperative diagnosis left L5 radiculopathy from an L4-L5 disc herniation. "
             "Procedure left L4-L5 laminotomy and microdiscectomy.")
# The same note as the physician signs it, punctuated into its sections.
SIGNED = ("Operative note.\nPreoperative diagnosis: left L5 radiculopathy from an L4-L5 disc herniation.\n"
          "Postoperative diagnosis: same.\nProcedure: left L4-L5 laminotomy and microdiscectomy.\n")
SERIOUS = ("serious", "critical")


# --- helpers ------------------------------------------------------------------------------------------------

def _ready_for_export(world) -> None:
    """Practice data an 837P needs (billing group, the surgeon as rendering provider, EDI settings, the patient's
    address) and a price for 63030."""
    _practice_ready(world)
    FeeScheduleEntry.objects.create(practice=world.practice, code="63030", charge="4200.00",
                                    effective_from=dt.date(2026, 1, 1))


def _sign_in(page: Page, live_server, email: str, path: str) -> None:
    page.goto(f"{live_server.url}{path}")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{live_server.url}{path}")


def _tone_recording(world, *, seconds: float = 3.0) -> Recording:
    """A dictation of the physician's for the patient: a quiet tone, long enough to seek in."""
    import hashlib
    import math
    import struct

    from django.core.files.base import ContentFile

    rate = 8000
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"".join(struct.pack("<h", int(3000 * math.sin(i / rate * 2 * math.pi * 440)))
                                 for i in range(int(rate * seconds))))
    data = buffer.getvalue()
    recording = Recording(uuid=uuid.uuid4(), practice=world.practice, patient=world.patient,
                          physician=world.physician, date_of_service=dt.date(2026, 5, 4),
                          sha256=hashlib.sha256(data).hexdigest(), size_bytes=len(data), format_label="WAV",
                          codec="pcm_s16le", duration_s=seconds, status=RecordingStatus.TRANSCRIBED)
    recording.audio.save("tone.audio", ContentFile(data), save=False)
    recording.save()
    return recording


def _transcript(recording: Recording, text: str) -> Transcript:
    return Transcript.objects.create(recording=recording, text=text, machine_text=text, model_name="tiny.en",
                                     device="cpu", segments_json="[]", changes_json="[]")


def _signed_claim(world) -> Claim:
    """What the workers leave after the physician signed: a claim in review coded from the signed text."""
    recording = _tone_recording(world)
    transcript = _transcript(recording, SIGNED)
    review.transcript_sign(membership=world.physician.memberships.get(), transcript=transcript,
                           version=transcript.version, password=PASSWORD, attested=True)
    recording_code(recording_id=recording.pk)
    claim = Claim.objects.get(recording=recording)
    assert claim.status == ClaimStatus.NEEDS_REVIEW and claim.cpt_summary == "63030"
    assert not claim.findings.filter(rule__in=["NOT-SIGNED", "CLAIM-DATA"]).exists()
    return claim


def _second_biller(world):
    from billy import services
    from billy.models import Role

    user = services.user_create(email="biller2@north.test", full_name="Second Biller", password=PASSWORD)
    services.membership_grant(user=user, practice=world.practice, role=Role.BILLER)
    return user


def _assert_no_serious_violations(page: Page) -> None:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)  # injects the axe.min.js bundled in the wheel: nothing is fetched
    serious = [f"{v['id']} ({v['impact']}): {v['help']}: " + "; ".join(" ".join(n["target"]) for n in v["nodes"])
               for v in results.response["violations"] if v["impact"] in SERIOUS]
    assert not serious, f"axe on {page.url}:\n" + "\n".join(serious)


def _screenshot(page: Page, name: str) -> None:
    """BILLY_SCREENSHOTS=folder keeps pictures of the screens (they show the test patient: keep them out of git)."""
    if folder := os.environ.get("BILLY_SCREENSHOTS"):
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


# --- the journey --------------------------------------------------------------------------------------------

@pytest.mark.worker
def test_a_dictation_becomes_a_claim_that_a_biller_reviews_approves_and_exports_as_an_837p(
        transactional_world, live_server, page: Page, new_context, tmp_path):
    from billy.testing.processes import running_cluster, wait_for

    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (bin/bootstrap installs it)")
    world = transactional_world
    _ready_for_export(world)
    audio = tmp_path / "operative-note.wav"
    subprocess.run(["espeak-ng", "-s", "140", "-w", str(audio), DICTATION], check=True)
    cache.clear()

    # The physician uploads the dictation; the inference worker transcribes it.
    _sign_in(page, live_server, "physician@north.test", f"/dictations/new/{world.patient.pk}/")
    page.fill("input[name=date_of_service]", "2026-06-01")
    page.set_input_files("input[name=audio]", str(audio))
    page.click("main form button[type=submit]")
    expect(page.locator(".message-success")).to_contain_text("being transcribed")
    with running_cluster("inference", WHISPER_MODEL="tiny.en"):
        expect(page.locator("#dictation-status .transcript")).to_contain_text(
            re.compile("radiculopathy|laminotomy|discectomy", re.I), timeout=120_000)
    recording = Recording.objects.exclude(pk=world.recording.pk).get()

    # They correct what the model heard and sign: password and attestation.
    page.click("text=Review and sign")
    page.fill("textarea#id_text", SIGNED)
    page.check("input[name=attest]")
    page.fill("input#id_password", PASSWORD)
    page.click("text=Sign the transcript as shown")
    expect(page.locator(".message-success")).to_contain_text("Transcript signed.")

    # The default worker codes the signed text into a claim in review.
    with running_cluster("default"):
        claim = wait_for(lambda: Claim.objects.filter(recording=recording, status=ClaimStatus.NEEDS_REVIEW,
                                                      coding__signed=True).first(), timeout=90)
    assert claim.cpt_summary == "63030" and claim.total_charge == 4200
    assert not claim.findings.filter(rule="NOT-SIGNED").exists()

    # A biller finds it in the queue and opens it from the keyboard.
    biller = new_context().new_page()
    _sign_in(biller, live_server, "biller@north.test", "/claims/")
    row = biller.locator(f"#claim-row-{claim.pk}")
    expect(row).to_contain_text(claim.number)
    expect(row).to_contain_text("63030")
    expect(row).to_have_class(re.compile(r"\bis-current\b"))
    biller.keyboard.press("Enter")
    expect(biller).to_have_url(f"{live_server.url}/claims/{claim.pk}/")
    expect(biller.locator("h1")).to_contain_text(claim.number)

    # The code's evidence chip lights the words it rests on (and seeks the audio where the evidence is timed).
    expect(biller.locator("mark.evidence.is-lit")).to_have_count(0)
    biller.click('#code-editor .code-chip[data-key="L0"]')
    lit = biller.locator("mark.evidence.is-lit")
    expect(lit.first).to_be_visible()
    assert "laminotomy" in " ".join(lit.all_inner_texts()).lower()
    start = lit.first.get_attribute("data-start")
    if start is not None:
        assert biller.evaluate("document.getElementById('claim-audio').currentTime") == pytest.approx(float(start))

    # The biller adds LT to 63030 and saves: htmx swaps the workspace, checked again.
    biller.get_by_label("Line 1 modifiers").fill("LT")
    with biller.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/codes/")) as saved:
        biller.click("text=Save codes")
    assert saved.value.request.headers.get("hx-request") == "true"
    expect(biller.locator("#workspace .message-success")).to_have_text("Saved and checked again.")
    expect(biller.get_by_label("Line 1 modifiers")).to_have_value("LT")
    assert biller.url == f"{live_server.url}/claims/{claim.pk}/"

    biller.click("#decide button:text-is('Approve')")
    expect(biller.locator(".messages")).to_contain_text(f"Claim {claim.number} approved.")
    expect(biller.locator("h1 .pill")).to_have_text("Approved")

    # Exports: the claim is ready; the 837P is written, and its download is what pyx12 and our checks accept.
    biller.goto(f"{live_server.url}/claims/exports/")
    expect(biller.locator(f"#export-{claim.pk}")).to_be_checked()
    biller.select_option("#export-kind", "837p")
    biller.click("text=Export the chosen claims")
    expect(biller.locator(".message-success")).to_contain_text("written with 1 claim")
    with biller.expect_download() as download:
        biller.click("text=Download")
    assert download.value.suggested_filename.endswith(".837")
    content = Path(download.value.path()).read_bytes().decode("ascii")
    assert validate_837p(content) == []
    assert f"CLM*{claim.number}*4200*" in content and "SV1*HC:63030:LT*4200*UN*1***" in content
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.EXPORTED and [line.modifiers for line in claim.lines.all()] == ["LT"]


# --- two billers --------------------------------------------------------------------------------------------

def test_a_second_billers_stale_approve_is_refused_and_the_first_approval_stands(
        transactional_world, live_server, new_context):
    world = transactional_world
    _ready_for_export(world)
    claim = _signed_claim(world)
    _second_biller(world)
    cache.clear()
    first, second = new_context().new_page(), new_context().new_page()
    _sign_in(first, live_server, "biller@north.test", f"/claims/{claim.pk}/")
    _sign_in(second, live_server, "biller2@north.test", f"/claims/{claim.pk}/")

    first.click("#decide button:text-is('Approve')")
    expect(first.locator(".messages")).to_contain_text(f"Claim {claim.number} approved.")

    second.click("#decide button:text-is('Approve')")  # their page still shows the version they opened
    expect(second.locator(".message-error")).to_contain_text("Another biller changed this claim")
    expect(second.locator("h1 .pill")).to_have_text("Approved")
    expect(second.locator("#decide")).to_contain_text("Approved by Test Biller")
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.APPROVED and claim.reviewed_by == world.biller
    assert list(claim.revisions.filter(action="approved").values_list("author__email", flat=True)) == [
        "biller@north.test"]


# --- the queue by keyboard ----------------------------------------------------------------------------------

def test_the_queue_works_by_keyboard_alone(transactional_world, live_server, page: Page):
    world = transactional_world
    _ready_for_export(world)
    ready = _signed_claim(world)
    to_reject, newest = make_claim(world), make_claim(world)  # same date of service: newest first
    cache.clear()
    _sign_in(page, live_server, "biller@north.test", "/claims/")
    rows = page.locator("tr.queue-row")
    expect(rows).to_have_count(3)
    order = [newest, to_reject, ready]
    for i, claim in enumerate(order):
        expect(rows.nth(i)).to_have_id(f"claim-row-{claim.pk}")

    def current_is(claim):
        expect(page.locator("tr.queue-row.is-current")).to_have_count(1)
        expect(page.locator("tr.queue-row.is-current")).to_have_id(f"claim-row-{claim.pk}")

    current_is(newest)
    page.keyboard.press("j")
    current_is(to_reject)
    page.keyboard.press("j")
    current_is(ready)
    page.keyboard.press("j")  # the last row stays current
    current_is(ready)
    page.keyboard.press("k")
    current_is(to_reject)
    page.keyboard.press("j")

    # a: approved in place, the row swapped by htmx; the keyboard position is kept.
    with page.expect_response(lambda r: r.url.endswith(f"/claims/{ready.pk}/approve/")) as approved:
        page.keyboard.press("a")
    assert approved.value.request.headers.get("hx-request") == "true" and approved.value.status == 200
    row = page.locator(f"#claim-row-{ready.pk}")
    expect(row.locator(".pill.status-approved")).to_have_text("Approved")
    expect(row.locator("[role=status]")).to_have_text(f"Claim {ready.number} approved.")
    current_is(ready)
    assert page.url == f"{live_server.url}/claims/"

    # r: the dialog asks for the reason; Tab to Send back, Enter: the claim goes back to the physician.
    page.keyboard.press("k")
    current_is(to_reject)
    page.keyboard.press("r")
    dialog = page.locator("#reject-dialog")
    expect(dialog).to_be_visible()
    expect(page.locator("#reject-reason")).to_be_focused()
    page.keyboard.type("Document the level of the laminotomy in the procedure section.")
    page.keyboard.press("Tab")
    expect(dialog.locator("button[value=send]")).to_be_focused()
    page.keyboard.press("Enter")
    expect(dialog).to_be_hidden()
    row = page.locator(f"#claim-row-{to_reject.pk}")
    expect(row.locator(".pill.status-rejected")).to_have_text("Sent back to the physician")
    current_is(to_reject)
    to_reject.refresh_from_db()
    ready.refresh_from_db()
    assert to_reject.status == ClaimStatus.REJECTED
    assert to_reject.rejection_reason == "Document the level of the laminotomy in the procedure section."
    assert ready.status == ClaimStatus.APPROVED and ready.reviewed_by == world.biller

    # Enter opens the current row.
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{live_server.url}/claims/{to_reject.pk}/")


# --- evidence -----------------------------------------------------------------------------------------------

def test_a_code_lights_its_words_and_seeks_the_audio_and_the_words_light_their_codes(
        transactional_world, live_server, page: Page):
    world = transactional_world
    recording = _tone_recording(world)
    _transcript(recording, "L4-L5 left laminotomy and microdiscectomy.")
    claim = make_claim(world, recording=recording)  # its evidence: "L4-L5" (characters 0-5), said at 1.5 s
    cache.clear()
    _sign_in(page, live_server, "biller@north.test", f"/claims/{claim.pk}/")
    mark = page.locator("mark.evidence")
    expect(mark).to_have_count(1)
    expect(mark).to_have_text("L4-L5")

    page.click('#code-editor .code-chip[data-key="L0"]')
    expect(mark).to_have_class(re.compile(r"\bis-lit\b"))
    assert page.evaluate("document.getElementById('claim-audio').currentTime") == pytest.approx(1.5)

    # From a clean slate (nothing lit, audio rewound), the words light their codes and seek the audio.
    page.evaluate("document.querySelectorAll('.is-lit').forEach(el => el.classList.remove('is-lit'))")
    page.evaluate("document.getElementById('claim-audio').currentTime = 0")
    mark.click()
    expect(page.locator('#code-editor .code-chip[data-key="L0"]')).to_have_class(re.compile(r"\bis-lit\b"))
    expect(page.locator('#dx-list li[data-key="D0"]')).to_have_class(re.compile(r"\bis-lit\b"))
    assert page.evaluate("document.getElementById('claim-audio').currentTime") == pytest.approx(1.5)


# --- accessibility ------------------------------------------------------------------------------------------

def test_the_queue_and_the_claim_page_pass_axe_with_no_serious_violation(transactional_world, live_server,
                                                                         page: Page):
    from claims import services

    world = transactional_world
    _ready_for_export(world)
    ready = _signed_claim(world)
    unsigned = make_claim(world, recording=world.recording)  # no transcript yet, no billing provider
    services.claim_check(claim=unsigned)  # so it shows error and warning pills, findings and blockers
    make_claim(world, status=ClaimStatus.APPROVED)
    cache.clear()
    _sign_in(page, live_server, "biller@north.test", "/claims/")
    expect(page.locator(f"#claim-row-{unsigned.pk} .pill-warn")).to_be_visible()
    expect(page.locator(f"#claim-row-{unsigned.pk} .pill-err")).to_be_visible()
    expect(page.locator("tr.queue-row.is-current")).to_have_id(f"claim-row-{unsigned.pk}")
    _assert_no_serious_violations(page)

    page.keyboard.press("j")
    page.keyboard.press("a")  # the row's message, on the highlighted row
    expect(page.locator(f"#claim-row-{ready.pk} [role=status]")).to_have_text(f"Claim {ready.number} approved.")
    expect(page.locator("tr.queue-row.is-current")).to_have_id(f"claim-row-{ready.pk}")
    _assert_no_serious_violations(page)
    _screenshot(page, "queue")

    page.goto(f"{live_server.url}/claims/{unsigned.pk}/")
    expect(page.locator("#findings .finding").first).to_be_visible()
    _assert_no_serious_violations(page)

    page.goto(f"{live_server.url}/claims/{ready.pk}/")
    page.click('#code-editor .code-chip[data-key="L0"]')  # with the evidence lit, as a biller works
    expect(page.locator("mark.evidence.is-lit").first).to_be_visible()
    _assert_no_serious_violations(page)
    _screenshot(page, "claim")
