"""The claim lifecycle: drafted from the engine's reading, edited by billers, checked, approved only once signed,
sent back to the physician and returned by their addendum; stale writes refused; every save a revision."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.db import connection

from audio import review
from billing.models import FeeScheduleEntry
from billy.identifiers import npi_with_check_digit
from billy.models import Provider
from billy.testing.pytest_plugin import PHI_CANARY
from claims import services
from claims.models import Claim, ClaimRevision, ClaimStatus
from claims.pipeline import recording_code
from claims.tests.test_pipeline import HEARD, PASSWORD, transcribed

pytestmark = pytest.mark.django_db


def _membership(user):
    return user.memberships.get()


def _billing_setup(world):
    """What an 837P needs from practice data: a billing provider and a priced fee schedule."""
    Provider.objects.create(practice=world.practice, entity="2", organisation_name="North Spine Group",
                            npi=npi_with_check_digit("212345678"), taxonomy="207X00000X", tax_id="123456789",
                            tax_id_type="EI", is_billing=True, address_line1="100 Main Street", city="Columbus",
                            state="OH", postal_code="432150001")
    patient = world.patient
    patient.address_line1, patient.city, patient.state, patient.postal_code = "42 Prairie Rose Ln", "Chatham", "IL", \
        "62629"
    patient.save()
    for code, charge in (("63030", "4200.00"), ("63035", "1500.00"), ("22551", "9800.00")):
        FeeScheduleEntry.objects.create(practice=world.practice, code=code, charge=charge,
                                        effective_from=world.recording.date_of_service)


def _signed(world, transcript):
    review.transcript_sign(membership=_membership(world.physician), transcript=transcript,
                           version=transcript.version, password=PASSWORD, attested=True)
    recording_code(recording_id=world.recording.pk)


def test_coding_drafts_one_priced_claim_in_review_however_often_it_runs(world):
    _billing_setup(world)
    transcribed(world)
    recording_code(recording_id=world.recording.pk)
    recording_code(recording_id=world.recording.pk)

    [claim] = Claim.objects.all()
    assert claim.status == ClaimStatus.NEEDS_REVIEW
    assert [(line.cpt, line.modifiers, line.units, line.charge, line.dx_pointers) for line in claim.lines.all()] == [
        ("63030", "", 1, Decimal("4200.00"), "A")]
    assert [dx.code for dx in claim.diagnoses.all()] == ["M51.16"]
    assert claim.payer == world.payer and claim.coverage == world.coverage
    assert claim.total_charge == Decimal("4200.00") and claim.cpt_summary == "63030"
    assert claim.number == f"IB{claim.pk:08d}"
    assert claim.revisions.count() == 1
    assert claim.findings.filter(rule="NOT-SIGNED").exists()  # the physician has not signed yet


def test_approval_waits_for_the_physicians_signature(world):
    _billing_setup(world)
    transcript = transcribed(world)
    recording_code(recording_id=world.recording.pk)
    claim = Claim.objects.get()
    biller = _membership(world.biller)

    with pytest.raises(services.ClaimError, match="has not signed"):
        services.claim_approve(membership=biller, claim=claim, version=claim.version)

    _signed(world, transcript)
    claim.refresh_from_db()
    assert not claim.findings.filter(rule="NOT-SIGNED").exists()
    approved = services.claim_approve(membership=biller, claim=claim, version=claim.version)
    assert approved.status == ClaimStatus.APPROVED and approved.reviewed_by == world.biller
    assert list(approved.revisions.values_list("action", flat=True)) == ["created", "recoded", "approved"]


def test_a_stale_page_cannot_approve_and_a_second_biller_cannot_overwrite_the_first(world):
    _billing_setup(world)
    _signed(world, transcribed(world))
    claim = Claim.objects.get()
    opened_at = claim.version
    biller = _membership(world.biller)
    services.claim_update_codes(membership=biller, claim=claim, version=opened_at, edit=services.ClaimEdit(
        diagnoses=("M51.16",), lines=(services.LineEdit(cpt="63030", modifiers=("RT",), dx_pointers=("A",)),)))

    with pytest.raises(services.StaleClaim, match="Another biller changed this claim"):
        services.claim_update_codes(membership=biller, claim=claim, version=opened_at, edit=services.ClaimEdit(
            diagnoses=("M51.17",), lines=(services.LineEdit(cpt="63030", dx_pointers=("A",)),)))
    with pytest.raises(services.StaleClaim):
        services.claim_approve(membership=biller, claim=claim, version=opened_at)
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.NEEDS_REVIEW
    assert [line.modifiers for line in claim.lines.all()] == ["RT"]  # the first save stands, untouched
    assert [dx.code for dx in claim.diagnoses.all()] == ["M51.16"]


def test_an_edit_with_a_code_that_does_not_exist_saves_nothing_and_says_which(world):
    _billing_setup(world)
    transcribed(world)
    recording_code(recording_id=world.recording.pk)
    claim = Claim.objects.get()
    before = claim.version
    with pytest.raises(services.ClaimError) as refused:
        services.claim_update_codes(membership=_membership(world.biller), claim=claim, version=before,
                                    edit=services.ClaimEdit(diagnoses=("M51.1", "Q99.999"), lines=(
                                        services.LineEdit(cpt="6303", dx_pointers=("A", "C")),)))
    message = str(refused.value)
    assert "M51.1 is a category, not a billable code" in message and "M51.16" in message
    assert "Q99.999 is not in the ICD-10-CM code set" in message
    assert "6303 is not a CPT or HCPCS code" in message and "pointer A, C names no diagnosis" in message
    claim.refresh_from_db()
    assert claim.version == before and [line.cpt for line in claim.lines.all()] == ["63030"]


def test_each_save_is_a_revision_whose_diff_names_what_changed(world):
    _billing_setup(world)
    transcribed(world)
    recording_code(recording_id=world.recording.pk)
    claim = Claim.objects.get()
    biller = _membership(world.biller)
    claim = services.claim_update_codes(
        membership=biller, claim=claim, version=claim.version, reason="Two levels per the op note.",
        edit=services.ClaimEdit(diagnoses=("M51.16", "M48.062"), lines=(
            services.LineEdit(cpt="63030", modifiers=("LT",), dx_pointers=("A", "B")),
            services.LineEdit(cpt="63035", modifiers=("LT",), dx_pointers=("A",)))))
    claim = services.claim_update_header(membership=biller, claim=claim, version=claim.version,
                                         values={"prior_authorization": "PA-55120"})

    [header_change, code_change, *_] = services.revision_history(claim=claim)
    assert header_change["changes"] == ["Prior authorization (23): (blank) → PA-55120"]
    assert code_change["revision"].author == world.biller
    assert code_change["changes"] == ["Diagnoses added: M48.062", "Line 1 modifiers: (blank) → LT",
                                      "Line 1 pointers: A → AB",
                                      "Line 2 added: 63035-LT"]
    assert claim.lines.get(position=1).charge == Decimal("1500.00")  # priced from the fee schedule
    assert claim.total_charge == Decimal("5700.00")
    with connection.cursor() as cursor:  # the reason a person wrote is encrypted with the snapshot
        cursor.execute("SELECT reason, snapshot_json FROM claims_claimrevision WHERE claim_id = %s", [claim.pk])
        for reason, snapshot in cursor.fetchall():
            assert "op note" not in (reason or "") and "63035" not in snapshot


def test_error_findings_need_an_override_reason_which_is_kept(world):
    _billing_setup(world)
    _signed(world, transcribed(world))
    claim = Claim.objects.get()
    biller = _membership(world.biller)
    claim = services.claim_update_codes(membership=biller, claim=claim, version=claim.version, edit=services.ClaimEdit(
        diagnoses=("M51.16",), lines=(services.LineEdit(cpt="63030", modifiers=("LT",), dx_pointers=("A",)),
                                      services.LineEdit(cpt="63035", modifiers=("LT", "RT"), dx_pointers=("A",)))))
    assert claim.error_count >= 1 and claim.findings.filter(rule="MODIFIER-SIDES").exists()

    with pytest.raises(services.ClaimError, match="error finding"):
        services.claim_approve(membership=biller, claim=claim, version=claim.version)
    approved = services.claim_approve(membership=biller, claim=claim, version=claim.version,
                                      override_reason="Payer's written instruction for this case.")
    assert approved.status == ClaimStatus.APPROVED
    assert approved.override_reason == "Payer's written instruction for this case."


def test_missing_claim_data_blocks_approval_even_with_an_override(world):
    transcript = transcribed(world)  # no billing provider, no fee schedule
    recording_code(recording_id=world.recording.pk)
    _signed(world, transcript)
    claim = Claim.objects.get()
    items = set(claim.findings.filter(rule="CLAIM-DATA").values_list("item", flat=True))
    assert {"33a", "24F", "25"} <= items
    with pytest.raises(services.ClaimError, match="Required claim data is missing"):
        services.claim_approve(membership=_membership(world.biller), claim=claim, version=claim.version,
                               override_reason="I am sure.")


def test_a_rejected_claim_reaches_the_physicians_inbox_and_returns_with_the_addendum(world):
    _billing_setup(world)
    transcript = transcribed(world)
    _signed(world, transcript)
    claim = Claim.objects.get()
    rejected = services.claim_reject(membership=_membership(world.biller), claim=claim, version=claim.version,
                                     reason="Which side? The procedure line says left, the findings say right.")
    assert rejected.status == ClaimStatus.REJECTED
    inbox = review.signing_inbox(membership=_membership(world.physician))
    assert list(inbox["addenda"]) == [world.recording]

    transcript.refresh_from_db()
    review.transcript_addend(membership=_membership(world.physician), transcript=transcript,
                             version=transcript.version, reason="Side confirmed.", password=PASSWORD, attested=True,
                             text=HEARD.replace("left L4-L5 laminotomy", "left L4-L5 and L5-S1 laminotomy"))
    recording_code(recording_id=world.recording.pk)
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.NEEDS_REVIEW
    assert claim.cpt_summary == "63030, 63035"  # untouched by a biller: the addendum's reading is taken


def test_a_biller_edited_claim_keeps_its_lines_when_a_newer_reading_arrives(world):
    _billing_setup(world)
    transcript = transcribed(world)
    recording_code(recording_id=world.recording.pk)
    claim = Claim.objects.get()
    biller = _membership(world.biller)
    claim = services.claim_update_codes(membership=biller, claim=claim, version=claim.version, edit=services.ClaimEdit(
        diagnoses=("M51.16",), lines=(services.LineEdit(cpt="63030", modifiers=("LT",), dx_pointers=("A",),
                                                        charge=Decimal("3999.00")),)))
    review.transcript_correct(membership=_membership(world.physician), transcript=transcript, version=1,
                              text=HEARD.replace("left L4-L5 laminotomy", "left L4-L5 and L5-S1 laminotomy"))
    recording_code(recording_id=world.recording.pk)
    claim.refresh_from_db()
    assert claim.cpt_summary == "63030-LT" and claim.total_charge == Decimal("3999.00")
    [newer] = claim.findings.filter(rule="NEWER-READING")
    assert "63030, 63035" in newer.message

    recoded = services.claim_recode(membership=biller, claim=claim, version=claim.version)
    assert recoded.cpt_summary == "63030, 63035"


def test_a_coding_failure_leaves_a_claim_that_says_why_and_a_retry_drafts_it(world, monkeypatch):
    _billing_setup(world)
    transcribed(world)

    def broken(*args, **kwargs):
        raise RuntimeError("engine bug")

    monkeypatch.setattr("claims.pipeline.code_note", broken)
    assert recording_code(recording_id=world.recording.pk) is None
    claim = Claim.objects.get()
    assert claim.status == ClaimStatus.PROCESSING
    assert "The coding engine failed on this text (RuntimeError)" in claim.pipeline_error
    monkeypatch.undo()

    recording_code(recording_id=world.recording.pk)
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.NEEDS_REVIEW and claim.pipeline_error == "" and claim.line_count == 1
    assert Claim.objects.count() == 1


def test_only_billers_and_admins_of_the_practice_act_on_claims(world):
    _billing_setup(world)
    transcribed(world)
    recording_code(recording_id=world.recording.pk)
    claim = Claim.objects.get()
    for user in (world.physician, world.outsider):
        with pytest.raises(services.ClaimError):
            services.claim_reject(membership=_membership(user), claim=claim, version=claim.version, reason="x")
    assert Claim.objects.get().status == ClaimStatus.NEEDS_REVIEW


def test_the_claims_free_text_is_encrypted_at_rest(world):
    _billing_setup(world)
    _signed(world, transcribed(world))
    claim = Claim.objects.get()
    services.claim_reject(membership=_membership(world.biller), claim=claim, version=claim.version,
                          reason=f"Please confirm the side for {PHI_CANARY}.")
    with connection.cursor() as cursor:
        cursor.execute("SELECT rejection_reason FROM claims_claim")
        [(stored,)] = cursor.fetchall()
        cursor.execute("SELECT evidence_json FROM claims_claimline")
        evidence = [row[0] for row in cursor.fetchall()]
    assert PHI_CANARY.lower() not in stored.lower() and stored.startswith("phi:")
    assert all(e.startswith("phi:") and "laminotomy" not in e for e in evidence)
    assert json.loads(Claim.objects.get().lines.get().evidence_json)[0]["text"]
    assert ClaimRevision.objects.filter(claim=claim, action="rejected").exists()


def test_a_code_the_biller_keeps_keeps_its_evidence_when_its_modifiers_change(world):
    _billing_setup(world)
    transcribed(world)
    recording_code(recording_id=world.recording.pk)
    claim = Claim.objects.get()
    line_evidence = json.loads(claim.lines.get().evidence_json)
    dx_evidence = json.loads(claim.diagnoses.get().evidence_json)
    assert line_evidence and dx_evidence
    claim = services.claim_update_codes(membership=_membership(world.biller), claim=claim, version=claim.version,
                                        edit=services.ClaimEdit(diagnoses=("M48.062", "M51.16"), lines=(
                                            services.LineEdit(cpt="63030", modifiers=("LT",), dx_pointers=("B",)),)))
    line = claim.lines.get()
    assert line.modifiers == "LT" and json.loads(line.evidence_json) == line_evidence and line.confidence
    kept, added = claim.diagnoses.get(code="M51.16"), claim.diagnoses.get(code="M48.062")
    assert kept.pointer == "B" and json.loads(kept.evidence_json) == dx_evidence
    assert added.evidence_json is None and added.description.startswith("Spinal stenosis")


def test_a_claim_rejected_before_signature_puts_the_reason_on_the_physicians_to_sign_row(world, client):
    _billing_setup(world)
    transcript = transcribed(world)
    recording_code(recording_id=world.recording.pk)
    claim = Claim.objects.get()
    services.claim_reject(membership=_membership(world.biller), claim=claim, version=claim.version,
                          reason="Is it L4-L5 or L5-S1? The note says both.")
    client.force_login(world.physician)
    inbox = client.get("/dictations/inbox/").content.decode()
    assert "Test Biller asks: Is it L4-L5 or L5-S1? The note says both." in inbox
    transcript.refresh_from_db()
    review.transcript_sign(membership=_membership(world.physician), transcript=transcript,
                           version=transcript.version, password=PASSWORD, attested=True)
    transcript.refresh_from_db()
    assert transcript.addendum_request_reason is None  # answered by the signed text
    assert "asks:" not in client.get("/dictations/inbox/").content.decode()
