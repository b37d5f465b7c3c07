"""Signed transcripts filed in the patient's chart: queued on signing (ids only), filed as a labelled
DocumentReference on the local FHIR server, retried after a temporary fault, failed with the reason after a
permanent one, and filed again by an admin."""

from __future__ import annotations

import base64

import pytest
import requests
from django_q.models import OrmQ, Schedule

from audio import review
from audio.models import RecordingStatus, Transcript
from integrations.filing import TITLE, emr_document_file, emr_document_refile
from integrations.models import EMRConnection, EMRDocument, FilingStatus, Vendor
from integrations.tests.fault_server import Answer, FaultServer
from patients.emr import _emr_index
from patients.models import PatientEMRMap

pytestmark = pytest.mark.django_db
TEXT = "Procedure: left L4-L5 laminotomy and discectomy. The root was decompressed."


def linked(world, base_url: str, *, files: bool = True, emr_id: str | None = None) -> EMRConnection:
    connection = EMRConnection.objects.create(practice=world.practice, name="Chart EHR", vendor=Vendor.FHIR,
                                              base_url=base_url, is_enabled=True, files_transcripts=files)
    if emr_id is None:
        emr_id = requests.post(f"{base_url}/Patient", json={"resourceType": "Patient", "name": [{"family": "Doc"}]},
                               timeout=5).json()["id"]
    PatientEMRMap.objects.create(patient=world.patient, connection=connection, emr_id=emr_id,
                                 emr_id_index=_emr_index(connection, emr_id), synced_at="2026-12-01T10:00:00Z")
    return connection


def sign(world, django_capture_on_commit_callbacks):
    recording = world.recording
    recording.status = RecordingStatus.TRANSCRIBED
    recording.save(update_fields=["status"])
    transcript = Transcript.objects.create(recording=recording, text=TEXT, machine_text=TEXT, model_name="tiny.en",
                                           device="cpu", segments_json="[]", changes_json="[]")
    with django_capture_on_commit_callbacks(execute=True):
        return review.transcript_sign(membership=world.physician.memberships.get(), transcript=transcript,
                                      version=transcript.version, password="correct horse battery", attested=True)


def test_a_signed_transcript_is_queued_and_filed_in_the_patients_chart(world, settings, fhir_base_url,
                                                                       django_capture_on_commit_callbacks):
    settings.USE_EMR = True
    connection = linked(world, fhir_base_url)
    signature = sign(world, django_capture_on_commit_callbacks)

    document = EMRDocument.objects.get(signature=signature)
    assert (document.connection_id, document.status) == (connection.pk, FilingStatus.QUEUED)
    queued = [task.task for task in OrmQ.objects.all() if task.task["func"] == "integrations.tasks.emr_document_file"]
    assert [task["args"] for task in queued] == [(document.pk,)]  # the id only

    assert emr_document_file(document_id=document.pk) == "filed"
    document.refresh_from_db()
    assert (document.status, document.attempts, document.last_error) == (FilingStatus.FILED, 1, "")
    stored = requests.get(f"{fhir_base_url}/DocumentReference/{document.emr_document_id}", timeout=5).json()
    emr_id = PatientEMRMap.objects.get(connection=connection).emr_id
    assert stored["subject"]["reference"] == f"Patient/{emr_id}"
    assert stored["description"] == TITLE and stored["type"]["coding"][0]["code"] == "11504-8"
    filed = base64.b64decode(stored["content"][0]["attachment"]["data"]).decode()
    assert filed.startswith(TEXT) and "Signed electronically by Test Physician" in filed
    # Run twice harmlessly: a filed document is not filed again.
    assert emr_document_file(document_id=document.pk) == "skipped"


def test_nothing_is_queued_when_the_connection_does_not_file_transcripts(world, settings, fhir_base_url,
                                                                        django_capture_on_commit_callbacks):
    settings.USE_EMR = True
    linked(world, fhir_base_url, files=False)
    sign(world, django_capture_on_commit_callbacks)
    assert not EMRDocument.objects.exists()


def test_a_temporary_fault_files_again_later_and_a_permanent_one_fails_with_its_reason(
        world, settings, django_capture_on_commit_callbacks):
    settings.USE_EMR = True
    with FaultServer() as server:
        connection = linked(world, server.url("/fhir"), emr_id="p1")
        signature = sign(world, django_capture_on_commit_callbacks)
        document = EMRDocument.objects.get(signature=signature)
        server.plan("/fhir/DocumentReference", *[Answer(503)] * 3)
        assert emr_document_file(document_id=document.pk) == "queued"
        document.refresh_from_db()
        assert (document.status, document.attempts) == (FilingStatus.QUEUED, 1)
        assert "(503)" in document.last_error
        assert Schedule.objects.filter(func="integrations.tasks.emr_document_file", args=f"({document.pk},)").exists()

        server.standing["/fhir/DocumentReference"] = Answer(403, {"resourceType": "OperationOutcome", "issue": [
            {"severity": "error", "code": "forbidden"}]})
        assert emr_document_file(document_id=document.pk) == "failed"
        document.refresh_from_db()
        assert document.status == FilingStatus.FAILED and "(403)" in document.last_error
        assert "not allowed for this client" in document.last_error

        # The admin fixes the EMR side and files it again.
        server.standing["/fhir/DocumentReference"] = Answer(201, {"resourceType": "DocumentReference", "id": "d9"})
        with django_capture_on_commit_callbacks(execute=True):
            assert emr_document_refile(document=document)
        assert emr_document_file(document_id=document.pk) == "filed"
    document.refresh_from_db()
    assert (document.status, document.emr_document_id, connection.pk) == (FilingStatus.FILED, "d9",
                                                                         document.connection_id)
