"""Physician review and signature of a transcript: corrections, the signature, addenda, the inbox, and who may.

The transcript texts are written for these tests; the patient's family name is the PHI canary.
"""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.db.utils import DatabaseError

from audio import review
from audio.models import RecordingStatus, SignatureKind, Transcript, TranscriptSignature
from billy import services
from billy.audit import AuditEvent
from billy.models import Role
from billy.testing.pytest_plugin import PHI_CANARY

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"
HEARD = (f"Operative note for {PHI_CANARY}. Procedure: left L4 five laminotomy and discectomy. "
         "The root was decompressed.")
MEANT = (f"Operative note for {PHI_CANARY}. Procedure: left L4-L5 laminotomy and discectomy. "
         "The root was decompressed.")


@pytest.fixture
def transcript(world) -> Transcript:
    recording = world.recording
    recording.status = RecordingStatus.TRANSCRIBED
    recording.save(update_fields=["status"])
    return Transcript.objects.create(recording=recording, text=HEARD, machine_text=HEARD, model_name="tiny.en",
                                     device="cpu", segments_json="[]",
                                     changes_json='[{"start": 0, "end": 2, "original": "l 4", "replacement": "L4", '
                                                  '"reason": "spinal level"}]')


def membership(user):
    return user.memberships.get()


def sign(world, transcript, **overrides):
    args = {"membership": membership(world.physician), "transcript": transcript, "version": transcript.version,
            "password": PASSWORD, "attested": True}
    return review.transcript_sign(**{**args, **overrides})


def test_the_physician_corrects_then_signs_the_exact_text(world, transcript):
    corrected = review.transcript_correct(membership=membership(world.physician), transcript=transcript,
                                          text=MEANT, version=1)
    assert corrected.text == MEANT and corrected.machine_text == HEARD and corrected.version == 2
    assert not review.is_signed(corrected)

    signature = sign(world, corrected)

    assert signature.kind == SignatureKind.SIGNATURE and signature.sequence == 1
    assert signature.text == MEANT and signature.signer == world.physician
    assert signature.signer_name == "Test Physician" and signature.attestation == review.ATTESTATION
    assert signature.text_sha256 == review.text_digest(MEANT) and len(signature.text_sha256) == 64
    assert review.signed_text(corrected) == MEANT
    assert review.review_state(corrected).label == "Signed"
    actions = list(AuditEvent.objects.filter(object_id=str(transcript.pk)).values_list("action", flat=True))
    assert "transcript.corrected" in actions and "transcript.signed" in actions


def test_signing_with_corrections_in_the_same_step_signs_the_corrected_text(world, transcript):
    signature = sign(world, transcript, text=MEANT)
    assert signature.text == MEANT
    transcript.refresh_from_db()
    assert transcript.text == MEANT and transcript.version == 2


@pytest.mark.parametrize(("overrides", "message"), [
    ({"password": "wrong"}, "password is not right"),
    ({"password": ""}, "password is not right"),
    ({"attested": False}, "Tick the attestation"),
    ({"version": 0}, "changed after you opened it"),
])
def test_a_signature_without_password_attestation_or_on_a_stale_page_is_refused(world, transcript, overrides,
                                                                                 message):
    with pytest.raises(review.ReviewError, match=message):
        sign(world, transcript, **overrides)
    assert not TranscriptSignature.objects.exists()


def test_two_tabs_editing_the_same_transcript_do_not_overwrite_each_other(world, transcript):
    physician = membership(world.physician)
    review.transcript_correct(membership=physician, transcript=transcript, text=MEANT, version=1)
    with pytest.raises(review.StaleTranscript):
        review.transcript_correct(membership=physician, transcript=transcript, text=HEARD + " Extra.", version=1)
    transcript.refresh_from_db()
    assert transcript.text == MEANT and transcript.version == 2


@pytest.mark.parametrize(("text", "message"), [("   ", "cannot be empty"), ("x" * 60_001, "the limit is 60,000")])
def test_an_empty_or_huge_text_is_refused(world, transcript, text, message):
    with pytest.raises(review.ReviewError, match=message):
        review.transcript_correct(membership=membership(world.physician), transcript=transcript, text=text,
                                  version=1)


def test_a_signed_text_changes_only_by_a_signed_addendum(world, transcript):
    physician = membership(world.physician)
    sign(world, transcript)
    transcript.refresh_from_db()
    with pytest.raises(review.ReviewError, match="needs a signed addendum"):
        review.transcript_correct(membership=physician, transcript=transcript, text=MEANT, version=1)
    with pytest.raises(review.ReviewError, match="already signed"):
        sign(world, transcript)
    with pytest.raises(review.ReviewError, match="Say why"):
        review.transcript_addend(membership=physician, transcript=transcript, version=1, text=MEANT, reason=" ",
                                 password=PASSWORD, attested=True)
    with pytest.raises(review.ReviewError, match="same as the signed text"):
        review.transcript_addend(membership=physician, transcript=transcript, version=1, text=HEARD,
                                 reason="level", password=PASSWORD, attested=True)

    addendum = review.transcript_addend(membership=physician, transcript=transcript, version=1, text=MEANT,
                                        reason="The level is L4-L5.", password=PASSWORD, attested=True)

    assert (addendum.kind, addendum.sequence, addendum.text) == (SignatureKind.ADDENDUM, 2, MEANT)
    transcript.refresh_from_db()
    assert transcript.text == MEANT and review.signed_text(transcript) == MEANT
    first = transcript.signatures.get(sequence=1)
    assert first.text == HEARD  # the original signature still holds what was signed then
    assert review.review_state(transcript).label == "Signed, 1 addendum"


def test_the_database_refuses_to_change_or_delete_a_signature(world, transcript):
    signature = sign(world, transcript)
    for statement in ("UPDATE audio_transcriptsignature SET signer_name = 'someone else' WHERE id = %s",
                      "DELETE FROM audio_transcriptsignature WHERE id = %s"):
        with pytest.raises(DatabaseError, match="immutable"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, [signature.pk])
    signature.refresh_from_db()
    assert signature.signer_name == "Test Physician"


def test_the_signed_text_and_reasons_are_encrypted_at_rest(world, transcript):
    sign(world, transcript)
    transcript.refresh_from_db()
    review.transcript_request_addendum(membership=membership(world.biller), transcript=transcript,
                                       reason=f"State the side for {PHI_CANARY}.")
    with connection.cursor() as cursor:
        cursor.execute("SELECT text FROM audio_transcriptsignature")
        stored_signature = cursor.fetchone()[0]
        cursor.execute("SELECT text, machine_text, addendum_request_reason FROM audio_transcript")
        stored_transcript = cursor.fetchone()
    for value in (stored_signature, *stored_transcript):
        assert value and PHI_CANARY.lower() not in value.lower() and "laminotomy" not in value
    for event in AuditEvent.objects.filter(action__startswith="transcript."):
        assert PHI_CANARY.lower() not in str(event.detail).lower()


def test_only_the_dictating_physician_signs_and_only_billers_or_admins_ask_for_addenda(world, transcript):
    colleague = services.user_create(email="colleague@north.test", full_name="Other Surgeon", password=PASSWORD)
    colleague_membership = services.membership_grant(user=colleague, practice=world.practice, role=Role.PHYSICIAN)
    with pytest.raises(review.ReviewError, match="Only the physician who dictated"):
        review.transcript_sign(membership=colleague_membership, transcript=transcript, version=1,
                               password=PASSWORD, attested=True)
    with pytest.raises(review.ReviewError, match="Only the physician who dictated"):
        review.transcript_sign(membership=membership(world.biller), transcript=transcript, version=1,
                               password=PASSWORD, attested=True)
    with pytest.raises(review.ReviewError, match="another practice"):
        review.transcript_request_addendum(membership=membership(world.outsider), transcript=transcript,
                                           reason="x")
    with pytest.raises(review.ReviewError, match="not signed yet"):
        review.transcript_request_addendum(membership=membership(world.biller), transcript=transcript,
                                           reason="State the side.")
    sign(world, transcript)
    with pytest.raises(review.ReviewError, match="Only a biller or an admin"):
        review.transcript_request_addendum(membership=membership(world.physician), transcript=transcript,
                                           reason="x")
    assert TranscriptSignature.objects.count() == 1


def test_the_inbox_lists_transcripts_to_sign_then_addenda_asked_for(world, transcript):
    physician = membership(world.physician)
    inbox = review.signing_inbox(membership=physician)
    assert list(inbox["to_sign"]) == [world.recording] and not inbox["addenda"].exists()

    sign(world, transcript)
    assert not review.signing_inbox(membership=physician)["to_sign"].exists()

    review.transcript_request_addendum(membership=membership(world.biller), transcript=transcript,
                                       reason="State the side.")
    inbox = review.signing_inbox(membership=physician)
    assert list(inbox["addenda"]) == [world.recording]
    transcript.refresh_from_db()
    assert review.review_state(transcript).label == "Addendum requested"

    review.transcript_addend(membership=physician, transcript=transcript, version=transcript.version,
                             text=MEANT, reason="Side stated.", password=PASSWORD, attested=True)
    assert not review.signing_inbox(membership=physician)["addenda"].exists()
    transcript.refresh_from_db()
    assert transcript.addendum_requested_at is None and transcript.addendum_request_reason is None


# --- through the pages ----------------------------------------------------------------------------------------

def test_the_physician_reviews_and_signs_in_the_browser_pages(world, client, transcript):
    client.force_login(world.physician)
    page = client.get(f"/dictations/{world.recording.pk}/review/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "left L4 five laminotomy" in body and "Sign the transcript as shown" in body
    assert "spinal level" in body  # the normaliser's change, with its reason

    stale = client.post(f"/dictations/{world.recording.pk}/review/", {"text": MEANT, "version": "7"})
    assert stale.status_code == 409 and "changed after you opened it" in stale.content.decode()
    assert MEANT in stale.content.decode()  # the physician's draft is shown again, not lost

    refused = client.post(f"/dictations/{world.recording.pk}/sign/",
                          {"text": MEANT, "version": "1", "attest": "yes", "password": "nope"}, follow=True)
    assert "password is not right" in refused.content.decode() and not TranscriptSignature.objects.exists()

    signed = client.post(f"/dictations/{world.recording.pk}/sign/",
                         {"text": MEANT, "version": "1", "attest": "yes", "password": PASSWORD}, follow=True)
    assert "Transcript signed." in signed.content.decode()
    assert "Electronically signed by <strong>Test Physician</strong>" in signed.content.decode()
    assert TranscriptSignature.objects.get().text == MEANT
    inbox = client.get("/dictations/inbox/")
    assert 'id="to-sign-count">0<' in inbox.content.decode()


def test_a_biller_asks_for_an_addendum_and_the_physician_sees_it(world, client, transcript):
    sign(world, transcript)
    client.force_login(world.biller)
    detail = client.get(f"/dictations/{world.recording.pk}/")
    assert "Ask the physician for an addendum" in detail.content.decode()
    assert client.get(f"/dictations/{world.recording.pk}/review/").status_code == 404
    asked = client.post(f"/dictations/{world.recording.pk}/request-addendum/",
                        {"reason": "Which side was decompressed?"}, follow=True)
    assert "Addendum requested" in asked.content.decode()

    client.force_login(world.physician)
    inbox = client.get("/dictations/inbox/").content.decode()
    assert 'id="addenda-count">1<' in inbox and "Which side was decompressed?" in inbox
    home = client.get("/").content.decode()
    assert "1 signed one for an addendum" in home


def test_the_dictation_list_shows_what_is_signed(world, client, transcript):
    client.force_login(world.biller)
    assert "To sign" in client.get("/dictations/").content.decode()
    sign(world, transcript)
    page = client.get("/dictations/").content.decode()
    assert '<span class="pill pill-ok">Signed</span>' in page and "To sign" not in page


def test_timed_words_are_shown_as_words_with_spaces_between(world, client, transcript):
    transcript.segments_json = ('[{"start": 0, "end": 2, "text": "left L4-L5", "words": ['
                                '{"start": 0.0, "end": 0.4, "word": "left", "probability": 0.9}, '
                                '{"start": 0.4, "end": 1.2, "word": "L4-L5", "probability": 0.3}]}]')
    transcript.save(update_fields=["segments_json"])
    client.force_login(world.physician)
    page = client.get(f"/dictations/{world.recording.pk}/").content.decode()
    assert ('title="0.0 s">left</span> <span class="word low-confidence" data-start="0.4" title="0.4 s">L4-L5'
            '</span>') in page


def test_the_admin_lists_signatures_without_their_text(world, client, transcript):
    signature = sign(world, transcript)
    client.force_login(world.admin)
    listing = client.get("/admin/audio/transcriptsignature/").content.decode()
    detail = client.get(f"/admin/audio/transcriptsignature/{signature.pk}/change/").content.decode()
    transcript_page = client.get(f"/admin/audio/transcript/{transcript.pk}/change/").content.decode()
    assert "Test Physician" in listing and signature.text_sha256 in listing
    for page in (listing, detail, transcript_page):
        assert PHI_CANARY.lower() not in page.lower() and "laminotomy" not in page
