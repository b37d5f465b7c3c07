"""The biller's screens through the Django test client: queue filters and counts, the POSTed patient search, the
claim page's evidence, the HTMX code editor (a refused save keeps what was typed), decisions from the queue,
code search and the claim JSON."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from billy.testing.pytest_plugin import PHI_CANARY
from claims.models import Claim, ClaimStatus
from claims.tests.factories import make_claim

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def biller(world, client):
    client.force_login(world.biller)
    return client


def test_the_queue_lists_claims_to_review_with_counts_per_status(world, biller):
    waiting = make_claim(world)
    make_claim(world, status=ClaimStatus.APPROVED)
    page = biller.get("/claims/").content.decode()
    assert f"claim-row-{waiting.pk}" in page and waiting.number in page
    assert PHI_CANARY in page  # the patient's name is on the biller's page (never in the URL)
    # Not counted yet: the page goes out at once and its tabs fetch the counts.
    assert 'hx-get="?part=tabs" hx-trigger="load"' in page and 'Needs review <span class="count">…</span>' in page
    tabs = biller.get("/claims/", {"part": "tabs"}, **HTMX).content.decode()
    assert 'Needs review <span class="count">1</span>' in tabs and 'Approved <span class="count">1</span>' in tabs
    assert 'All <span class="count">2</span>' in tabs and "claim-row" not in tabs
    again = biller.get("/claims/").content.decode()  # now cached: counted in the page itself
    assert 'Needs review <span class="count">1</span>' in again and 'hx-trigger="load"' not in again
    approved_tab = biller.get("/claims/?status=approved").content.decode()
    assert f"claim-row-{waiting.pk}" not in approved_tab


def test_the_queue_filters_by_errors_and_date_and_pages_by_keyset(world, biller):
    claims = [make_claim(world) for _ in range(3)]
    Claim.objects.filter(pk=claims[0].pk).update(error_count=2, date_of_service=dt.date(2026, 1, 5))
    with_errors = biller.get("/claims/?status=needs_review&has_errors=on").content.decode()
    assert f"claim-row-{claims[0].pk}" in with_errors and f"claim-row-{claims[1].pk}" not in with_errors
    in_january = biller.get("/claims/?status=&dos_from=2026-01-01&dos_to=2026-01-31").content.decode()
    assert f"claim-row-{claims[0].pk}" in in_january and f"claim-row-{claims[2].pk}" not in in_january

    from claims import selectors

    membership = world.biller.memberships.get()
    selectors_page_size = selectors.PAGE_SIZE
    selectors.PAGE_SIZE = 2
    try:
        first, cursor = selectors.queue_page(membership=membership, filters=selectors.QueueFilters())
        second, end = selectors.queue_page(membership=membership, filters=selectors.QueueFilters(), cursor=cursor)
    finally:
        selectors.PAGE_SIZE = selectors_page_size
    assert [c.pk for c in first] == [claims[2].pk, claims[1].pk] and cursor
    assert [c.pk for c in second] == [claims[0].pk] and end == ""


def test_a_patient_search_is_posted_and_finds_that_patients_claims(world, biller):
    claim = make_claim(world)
    response = biller.post("/claims/", {"patient": f"{PHI_CANARY}, Alma, 1956-03-02"})
    assert response.status_code == 200 and f"claim-row-{claim.pk}" in response.content.decode()
    nobody = biller.post("/claims/", {"patient": "Nobody, N, 1970-01-01"}).content.decode()
    assert "No claims for that patient." in nobody


def test_an_outsider_sees_only_their_own_empty_queue(world, client):
    make_claim(world)
    client.force_login(world.outsider)
    page = client.get("/claims/").content.decode()
    assert PHI_CANARY not in page and "No claims here." in page


def test_the_claim_page_marks_the_words_each_code_rests_on(world, biller):
    claim = make_claim(world)
    page = biller.get(f"/claims/{claim.pk}/").content.decode()
    assert 'data-key="L0"' in page and 'data-key="D0"' in page
    assert '"L0": 1.5' in page  # where the audio player seeks for the first line
    assert "Approve" in page and "Reject to physician" in page


def test_a_saved_edit_is_swapped_in_and_a_stale_one_keeps_what_was_typed(world, biller):
    claim = make_claim(world)
    form = {"version": claim.version, "dx": ["M51.16"], "cpt": ["63030"], "modifiers": ["LT"], "units": ["1"],
            "pointers": ["A"], "charge": ["4200.00"], "reason": "Left side per the note."}
    saved = biller.post(f"/claims/{claim.pk}/codes/", form, **HTMX)
    assert saved.status_code == 200 and 'id="workspace"' in saved.content.decode()
    claim.refresh_from_db()
    assert claim.lines.get().modifiers == "LT" and claim.version == 2

    stale = biller.post(f"/claims/{claim.pk}/codes/", {**form, "modifiers": ["RT"], "version": 1}, **HTMX)
    body = stale.content.decode()
    assert stale.status_code == 409 and "Another biller changed this claim" in body
    assert 'name="modifiers" value="RT"' in body  # the biller's input is still on screen
    assert claim.lines.get().modifiers == "LT"

    wrong = biller.post(f"/claims/{claim.pk}/codes/", {**form, "version": 2, "dx": ["M51.1"]}, **HTMX)
    assert wrong.status_code == 400 and "M51.1 is a category" in wrong.content.decode()


def test_approving_from_the_queue_swaps_the_row_or_says_why_not(world, biller):
    claim = make_claim(world)  # no signed transcript behind it, no billing provider: approval is refused
    response = biller.post(f"/claims/{claim.pk}/approve/", {"version": claim.version, "from": "queue"}, **HTMX)
    body = response.content.decode()
    assert response.status_code == 400 and f'id="claim-row-{claim.pk}"' in body
    assert "Required claim data is missing" in body or "error finding" in body
    assert Claim.objects.get(pk=claim.pk).status == ClaimStatus.NEEDS_REVIEW


def test_rejecting_needs_a_reason_and_sends_the_claim_back(world, biller):
    claim = make_claim(world)
    refused = biller.post(f"/claims/{claim.pk}/reject/", {"version": claim.version, "reason": " "})
    assert refused.status_code == 400
    sent = biller.post(f"/claims/{claim.pk}/reject/", {"version": claim.version, "reason": "Which level?"})
    assert sent.status_code == 302 and Claim.objects.get(pk=claim.pk).status == ClaimStatus.REJECTED


def test_code_search_finds_icd_and_cpt_codes_by_words_and_by_code(biller):
    icd = biller.get("/claims/codes/", {"system": "icd", "q": "cervical disc radiculopathy C5-C6"}).content.decode()
    assert 'value="M50.122"' in icd
    by_code = biller.get("/claims/codes/", {"system": "icd", "q": "m50.12"}).content.decode()
    assert 'value="M50.121"' in by_code and 'value="M50.12"' not in by_code  # billable codes only
    cpt = biller.get("/claims/codes/", {"system": "cpt", "q": "microdiscectomy"}).content.decode()
    assert 'value="63030"' in cpt
    assert biller.get("/claims/codes/", {"system": "cpt", "q": "2255"}).content.decode().count("<option") >= 2


def test_the_claim_json_has_the_contract_shape(world, biller):
    claim = make_claim(world)
    data = json.loads(biller.get(f"/claims/{claim.pk}.json").content)
    assert data["claim_id"] == claim.number and data["status"] == "needs_review"
    assert data["patient"]["dob"] == "1956-03-02" and data["patient"]["member_id"] == "1EG4TE5MK73"
    assert data["payer"] == {"name": "Medicare Part B (test MAC)", "payer_id": "15202"}
    [line] = data["service_lines"]
    assert (line["cpt"], line["units"], line["dx_pointers"], line["charge"]) == ("63030", 1, ["A"], "4200.00")
    assert data["diagnoses"][0]["pointer"] == "A" and data["diagnoses"][0]["code"] == "M51.16"


def test_the_cached_status_counts_follow_every_change(world, biller):
    from claims import services

    claim = make_claim(world)
    tabs = {"part": "tabs"}
    assert 'Needs review <span class="count">1</span>' in biller.get("/claims/", tabs, **HTMX).content.decode()
    assert 'Needs review <span class="count">1</span>' in biller.get("/claims/").content.decode()  # cached
    services.claim_reject(membership=world.biller.memberships.get(), claim=claim, version=claim.version,
                          reason="Which level?")
    assert 'hx-trigger="load"' in biller.get("/claims/").content.decode()  # the cached counts were dropped
    page = biller.get("/claims/", tabs, **HTMX).content.decode()
    assert 'Needs review <span class="count">0</span>' in page
    assert 'Sent back to the physician <span class="count">1</span>' in page
    patient_search = biller.post("/claims/", {"patient": f"{PHI_CANARY}, Alma, 1956-03-02"})
    assert 'Sent back to the physician <span class="count">1</span>' in patient_search.content.decode()
