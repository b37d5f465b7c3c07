"""After transcription: the hand-off queues the coding step, which stores a claim draft once per text.

The transcript texts are written for these tests; the patient's family name is the PHI canary.
"""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django_q.models import OrmQ

from audio import review, services
from audio.models import RecordingStatus, Transcript
from billing.models import FeeScheduleEntry
from billy.testing.processes import running_cluster, wait_for
from billy.testing.pytest_plugin import PHI_CANARY
from claims.models import CodedTranscript
from claims.pipeline import recording_code

PASSWORD = "correct horse battery"
HEARD = (f"Operative note for {PHI_CANARY}.\nPreoperative diagnosis: left L5 radiculopathy from an L4-L5 disc "
         "herniation.\nPostoperative diagnosis: same.\nProcedure: left L4-L5 laminotomy and microdiscectomy.\n")


def transcribed(world, text: str = HEARD) -> Transcript:
    recording = world.recording
    recording.status = RecordingStatus.TRANSCRIBED
    recording.save(update_fields=["status"])
    return Transcript.objects.create(recording=recording, text=text, machine_text=text, model_name="tiny.en",
                                     device="cpu", segments_json="[]", changes_json="[]")


@pytest.mark.django_db
def test_the_transcript_is_coded_into_a_priced_claim_draft_once_per_text(world):
    FeeScheduleEntry.objects.create(practice=world.practice, code="63030", charge="4200.00",
                                    effective_from=world.recording.date_of_service)
    transcript = transcribed(world)

    coded = recording_code(recording_id=world.recording.pk)

    assert coded.cpt_summary == "63030" and coded.icd_summary == "M51.16"
    assert coded.signed is False
    claim = json.loads(coded.claim_json)
    [line] = claim["service_lines"]
    assert (line["cpt"], line["charge"]) == ("63030", "4200.00")
    assert claim["payer"]["payer_id"] == "15202"  # the patient's Medicare coverage in force
    assert claim["source"] == {"recording_id": world.recording.pk, "signed": False}
    assert recording_code(recording_id=world.recording.pk).pk == coded.pk  # same text: not coded again
    assert CodedTranscript.objects.count() == 1

    review.transcript_sign(membership=world.physician.memberships.get(), transcript=transcript, version=1,
                           password=PASSWORD, attested=True)
    signed_as_is = recording_code(recording_id=world.recording.pk)  # signed unchanged: the draft is now signed
    assert signed_as_is.pk != coded.pk and signed_as_is.signed is True and signed_as_is.cpt_summary == "63030"
    assert recording_code(recording_id=world.recording.pk).pk == signed_as_is.pk
    transcript.refresh_from_db()
    review.transcript_addend(membership=world.physician.memberships.get(), transcript=transcript, version=1,
                             reason="Both levels were done.", password=PASSWORD, attested=True,
                             text=HEARD.replace("left L4-L5 laminotomy", "left L4-L5 and L5-S1 laminotomy"))
    amended = recording_code(recording_id=world.recording.pk)
    assert amended.pk not in (coded.pk, signed_as_is.pk) and amended.signed and amended.cpt_summary == "63030, 63035"


@pytest.mark.django_db
def test_the_claim_draft_is_encrypted_at_rest_and_the_summaries_name_no_one(world):
    transcribed(world)
    recording_code(recording_id=world.recording.pk)
    with connection.cursor() as cursor:
        cursor.execute("SELECT claim_json, cpt_summary, icd_summary FROM claims_codedtranscript")
        stored, cpt_summary, icd_summary = cursor.fetchone()
    assert PHI_CANARY.lower() not in stored.lower() and "laminotomy" not in stored
    assert PHI_CANARY.lower() not in (cpt_summary + icd_summary).lower()


@pytest.mark.django_db
def test_nothing_is_coded_before_the_transcript_exists(world):
    assert recording_code(recording_id=world.recording.pk) is None
    assert recording_code(recording_id=999_999) is None
    assert not CodedTranscript.objects.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_the_hand_off_queues_the_coding_with_the_id_only_and_the_worker_codes_it(transactional_world):
    world = transactional_world
    transcribed(world)
    services.recording_transcribed(recording_id=world.recording.pk)
    [queued] = OrmQ.objects.all()
    assert PHI_CANARY.lower() not in queued.payload.lower()  # the signed payload holds the id, not the text
    with running_cluster("default"):
        coded = wait_for(lambda: CodedTranscript.objects.filter(recording=world.recording).first(), timeout=60)
    assert coded.cpt_summary == "63030"


@pytest.mark.django_db
def test_the_dictation_page_shows_the_codes_read_and_from_which_text(world, client):
    transcribed(world)
    recording_code(recording_id=world.recording.pk)
    client.force_login(world.biller)
    page = client.get(f"/dictations/{world.recording.pk}/").content.decode()
    assert "Codes read from the unsigned transcript" in page
    assert "<code>63030</code>" in page and "M51.16" in page
