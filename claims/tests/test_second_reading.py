"""The LLM second reader in the pipeline: queued after the draft, its findings on the claim with both readers' words,
its faults recorded, its facts encrypted at rest.

A `RecordedModel` answers with replies this file holds (the interface of billy.llm.LanguageModel); one test at
the end runs the real default model on the real `inference-llm` worker.
"""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django_q.models import OrmQ

from audio.models import RecordingStatus, Transcript
from billy import llm
from billy.models import LanguageModelStatus
from billy.testing.processes import running_cluster, wait_for
from billy.testing.pytest_plugin import PHI_CANARY
from claims import services
from claims.models import Claim, CodedTranscript, FindingOrigin, SecondRead, SecondReadStatus
from claims.pipeline import recording_code
from claims.second_reading import second_read_run

TEXT = (f"Operative note for {PHI_CANARY}.\nPreoperative diagnosis: left L5 radiculopathy from an L4-L5 disc "
        "herniation.\nPostoperative diagnosis: same.\nProcedure: left L4-L5 laminotomy and microdiscectomy.\n"
        "Description: The L4-L5 disc was removed. The left L5 nerve root was decompressed with a foraminotomy at "
        "L5-S1.\n")
FORAMINOTOMY_QUOTE = "decompressed with a foraminotomy at L5-S1"
READ = json.dumps({
    "procedures": [
        {"kind": "microdiscectomy", "quote": "left L4-L5 laminotomy and microdiscectomy", "levels": ["L4-L5"],
         "side": "left", "negated": False},
        {"kind": "foraminotomy", "quote": FORAMINOTOMY_QUOTE, "levels": ["L5-S1"], "side": "left", "negated": False}],
    "diagnoses": [
        {"condition": "radiculopathy", "quote": "left L5 radiculopathy", "levels": ["L5"], "side": "left",
         "negated": False}]})


class RecordedModel:
    """Replies from a list, in order; or an exception to raise."""

    def __init__(self, *replies: str | Exception):
        self.replies = list(replies)
        self.calls: list[list[dict]] = []
        self.penalties: list[float] = []
        self.info = llm.ModelInfo(name="recorded", backend="llama_cpp", device="cpu", path="/recorded.gguf",
                                  context_tokens=8192, load_seconds=0.5, threads=2)

    def count_tokens(self, text: str) -> int:
        return len(text) // 3

    def chat(self, messages, *, json_schema=None, max_tokens=1024, deadline=None, repeat_penalty=1.0) -> llm.Reply:
        self.calls.append(messages)
        self.penalties.append(repeat_penalty)
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return llm.Reply(text=reply, prompt_tokens=100, completion_tokens=50, seconds=0.1, finish_reason="stop")


def coded(world, text: str = TEXT) -> CodedTranscript:
    recording = world.recording
    recording.status = RecordingStatus.TRANSCRIBED
    recording.save(update_fields=["status"])
    Transcript.objects.create(recording=recording, text=text, machine_text=text, model_name="tiny.en", device="cpu",
                              segments_json="[]", changes_json="[]")
    return recording_code(recording_id=recording.pk)


@pytest.mark.django_db
def test_the_second_read_puts_its_findings_on_the_claim_with_both_readers_words(world, client):
    coding = coded(world)
    claim = Claim.objects.get(coding=coding)
    second = SecondRead.objects.get(coding=coding)
    assert second.status == SecondReadStatus.QUEUED  # the draft is reviewable already
    warnings_before = claim.warning_count

    model = RecordedModel(READ)
    assert second_read_run(second_read_id=second.pk, model=model) == "done"
    assert model.penalties == [1.1]  # the loop-breaking penalty reaches the runtime

    second.refresh_from_db()
    assert (second.status, second.model_name, second.replies, second.retried, second.finding_count) == (
        "done", "recorded", 1, 0, 1)
    assert second.confidence == {"procedure:laminotomy": "disputed", "diagnosis:M51.16": "confirmed"}
    [finding] = claim.findings.filter(origin=FindingOrigin.SECOND_READER)
    assert (finding.rule, finding.severity) == ("LLM-LEVEL-DIFFERS", "warning")
    assert finding.message == "The draft codes the laminotomy at L4-L5; the second reader reads it at L4-L5 and L5-S1."
    readers = json.loads(finding.evidence_json)
    assert [e["reader"] for e in readers] == ["draft", "draft", "second_reader"]
    assert readers[-1]["text"] == FORAMINOTOMY_QUOTE
    assert TEXT[readers[-1]["start"]:readers[-1]["end"]] == FORAMINOTOMY_QUOTE
    claim.refresh_from_db()
    assert claim.warning_count == warnings_before + 1
    assert [line.cpt for line in claim.lines.all()] == ["63030"]  # the second reader never changes a code

    client.force_login(world.biller)
    page = client.get(f"/claims/{claim.pk}/").content.decode()
    assert "LLM-LEVEL-DIFFERS" in page and f"“{FORAMINOTOMY_QUOTE}”" in page
    assert f'data-key="F{finding.pk}"' in page and f"F{finding.pk}" in page.split('id="evidence-text"')[1]
    assert "Both readers agree on:</strong> <code>M51.16</code>" in page


@pytest.mark.django_db
def test_the_panel_polls_while_the_read_runs_then_brings_the_findings_in_place(world, client):
    coding = coded(world)
    claim = Claim.objects.get(coding=coding)
    client.force_login(world.biller)
    response = client.get(f"/claims/{claim.pk}/second-read/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200, response
    polling = response.content.decode()
    assert 'hx-trigger="every 4s"' in polling and "Queued" in polling and 'id="findings"' not in polling

    second_read_run(second_read_id=coding.second_read.pk, model=RecordedModel(READ))
    done = client.get(f"/claims/{claim.pk}/second-read/?was=pending", HTTP_HX_REQUEST="true").content.decode()
    assert "every 4s" not in done and "1 finding" in done
    assert '<section class="panel" aria-labelledby="findings-title" id="findings" hx-swap-oob="true">' in done
    assert 'id="evidence-text" hx-swap-oob="true"' in done and "LLM-LEVEL-DIFFERS" in done


@pytest.mark.django_db
def test_the_findings_survive_the_billers_edits(world):
    coding = coded(world)
    claim = Claim.objects.get(coding=coding)
    second_read_run(second_read_id=coding.second_read.pk, model=RecordedModel(READ))
    claim.refresh_from_db()
    edit = services.ClaimEdit(diagnoses=("M51.16",), lines=(services.parse_line_edit(
        cpt="63030", units="1", modifiers="LT", dx_pointers="A"),))
    claim = services.claim_update_codes(membership=world.biller.memberships.get(), claim=claim,
                                        version=claim.version, edit=edit, reason="side")
    assert claim.findings.filter(origin=FindingOrigin.SECOND_READER).count() == 1  # checked again, still there


@pytest.mark.django_db
def test_a_newer_reading_drops_the_old_findings_and_is_read_again(world):
    coding = coded(world)
    second_read_run(second_read_id=coding.second_read.pk, model=RecordedModel(READ))
    newer = coded_again(world, TEXT.replace("at L5-S1", "at L4-L5"))
    claim = Claim.objects.get(recording=world.recording)
    assert claim.coding_id == newer.pk
    assert not claim.findings.filter(origin=FindingOrigin.SECOND_READER).exists()
    assert SecondRead.objects.get(coding=newer).status == SecondReadStatus.QUEUED
    assert SecondRead.objects.get(coding=coding).status == SecondReadStatus.DONE  # kept, for the record


@pytest.mark.django_db
def test_a_read_of_a_text_the_claim_no_longer_holds_is_skipped(world):
    preview = coded(world)  # the transcript as heard, then the physician's corrected text, before the worker ran
    newer = coded_again(world, TEXT.replace("at L5-S1", "at L4-L5"))
    model = RecordedModel(READ)
    assert second_read_run(second_read_id=preview.second_read.pk, model=model) == "superseded"
    assert model.calls == []
    assert second_read_run(second_read_id=newer.second_read.pk, model=model) == "done"


def coded_again(world, text: str) -> CodedTranscript:
    transcript = world.recording.transcript
    transcript.text = text
    transcript.save(update_fields=["text"])
    return recording_code(recording_id=world.recording.pk)


@pytest.mark.django_db
def test_an_invalid_reply_is_retried_once_with_what_was_wrong(world):
    coding = coded(world)
    model = RecordedModel('{"procedures": [{"kind": "spinal_fusion_deluxe", "quote": "laminotomy"}], '
                          '"diagnoses": []}', READ)
    assert second_read_run(second_read_id=coding.second_read.pk, model=model) == "done"
    second = SecondRead.objects.get(pk=coding.second_read.pk)
    assert (second.replies, second.retried) == (2, 1)
    retry_prompt = model.calls[1][-1]["content"]
    assert retry_prompt.startswith("That reply cannot be used: the reply does not match the schema")
    assert "spinal_fusion_deluxe" not in retry_prompt.split("Reply again")[0].split("kind:")[0]


@pytest.mark.django_db
def test_garbage_twice_is_a_failed_read_and_the_claim_stands(world):
    coding = coded(world)
    claim = Claim.objects.get(coding=coding)
    findings_before = claim.findings.count()
    status = second_read_run(second_read_id=coding.second_read.pk,
                             model=RecordedModel("Sure! Here are the facts: laminotomy", "I cannot do that."))
    assert status == "failed"
    second = SecondRead.objects.get(pk=coding.second_read.pk)
    assert second.error == "the reply is not JSON: no JSON object found; the retry was no better"
    assert claim.findings.count() == findings_before
    model_status = LanguageModelStatus.objects.get()
    assert (model_status.reads_failed, model_status.reads_done) == (1, 0)
    assert model_status.last_error == second.error and model_status.model_name == "recorded"


@pytest.mark.django_db
def test_out_of_memory_is_retried_once_then_recorded(world):
    coding = coded(world)
    second_id = coding.second_read.pk
    oom = llm.GenerationFailed("llama.cpp ran out of memory on this reply.")
    assert second_read_run(second_read_id=second_id, model=RecordedModel(oom)) == "queued"
    second = SecondRead.objects.get(pk=second_id)
    assert (second.status, second.attempts) == ("queued", 1)
    [task] = OrmQ.objects.all()  # queued again, with the id only
    assert PHI_CANARY.lower() not in task.payload.lower()

    assert second_read_run(second_read_id=second_id, model=RecordedModel(oom)) == "failed"
    second.refresh_from_db()
    assert second.error == "llama.cpp ran out of memory on this reply. (after a retry)" and second.attempts == 2


@pytest.mark.django_db
def test_a_read_whose_worker_was_killed_twice_is_recorded_on_its_third_delivery(world):
    coding = coded(world)
    SecondRead.objects.filter(pk=coding.second_read.pk).update(status=SecondReadStatus.READING, attempts=2)
    model = RecordedModel(READ)
    assert second_read_run(second_read_id=coding.second_read.pk, model=model) == "failed"
    assert model.calls == []  # not read a third time
    assert "stopped 2 times before it finished" in SecondRead.objects.get(pk=coding.second_read.pk).error


@pytest.mark.django_db
def test_a_missing_model_is_said_and_the_pipeline_goes_on(world, settings, tmp_path):
    settings.LLM_MODEL = str(tmp_path / "no-such-model.gguf")
    coding = coded(world)
    assert second_read_run(second_read_id=coding.second_read.pk) == "unavailable"
    second = SecondRead.objects.get(pk=coding.second_read.pk)
    assert "neither 'qwen2.5-coder-1.5b' nor an existing .gguf file" in second.error
    status = LanguageModelStatus.objects.get()
    assert status.available is False and "no-such-model.gguf" in status.last_error
    assert Claim.objects.get(coding=coding).status == "needs_review"


@pytest.mark.django_db
def test_use_llm_false_turns_it_off_cleanly(world, settings, client):
    settings.USE_LLM = False
    coding = coded(world)
    assert not SecondRead.objects.exists()
    client.force_login(world.biller)
    page = client.get(f"/claims/{Claim.objects.get(coding=coding).pk}/").content.decode()
    assert "Turned off on this installation (USE_LLM=false)." in page


@pytest.mark.django_db
def test_a_biller_asks_for_a_failed_read_again(world, client):
    coding = coded(world)
    second_read_run(second_read_id=coding.second_read.pk, model=RecordedModel("no", "no"))
    claim = Claim.objects.get(coding=coding)
    client.force_login(world.biller)
    assert "Read again" in client.get(f"/claims/{claim.pk}/").content.decode()
    response = client.post(f"/claims/{claim.pk}/second-read/retry/")
    assert response.status_code == 302
    second = SecondRead.objects.get(coding=coding)
    assert (second.status, second.attempts, second.error) == ("queued", 0, "")
    client.force_login(world.physician)
    assert client.post(f"/claims/{claim.pk}/second-read/retry/").status_code == 404


@pytest.mark.django_db
def test_the_facts_and_both_readers_words_are_encrypted_at_rest(world):
    coding = coded(world)
    second_read_run(second_read_id=coding.second_read.pk, model=RecordedModel(READ))
    with connection.cursor() as cursor:
        cursor.execute("SELECT facts_json, error, confidence::text FROM claims_secondread")
        facts, error, confidence = cursor.fetchone()
        cursor.execute("SELECT message, source_passage, evidence_json FROM claims_claimfinding WHERE origin = 'llm'")
        message, passage, evidence = cursor.fetchone()
    for stored in (facts, error, confidence, message, passage, evidence):
        assert FORAMINOTOMY_QUOTE not in stored and "nerve root" not in stored
    assert json.loads(SecondRead.objects.get(pk=coding.second_read.pk).facts_json)["procedures"][1]["evidence"][
        "text"] == FORAMINOTOMY_QUOTE


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_the_real_model_reads_a_dictation_on_the_inference_llm_worker(transactional_world):
    """The default model (Qwen2.5-Coder-1.5B-Instruct, llama.cpp on the CPU), joined from its wheels, on the real
    worker of its own queue: the claim was reviewable first, then the second read lands on it."""
    world = transactional_world
    coding = coded(world)
    second = SecondRead.objects.get(coding=coding)
    [task] = OrmQ.objects.filter(key="inference-llm")
    assert PHI_CANARY.lower() not in task.payload.lower()
    with running_cluster("inference-llm") as cluster:
        done = wait_for(lambda: SecondRead.objects.filter(pk=second.pk).exclude(
            status__in=["queued", "reading"]).first(), timeout=420, interval=1)
        assert cluster.poll() is None
    assert (done.status, done.model_name, done.backend, done.device) == ("done", "qwen2.5-coder-1.5b", "llama_cpp",
                                                                          "cpu"), done.error
    assert done.replies >= 1 and done.completion_tokens > 0
    # It read the microdiscectomy the draft codes, or disputes it with its own words: either way it says so.
    assert done.confidence.get("procedure:laminotomy") in ("confirmed", "disputed")
    for finding in Claim.objects.get(coding=coding).findings.filter(origin=FindingOrigin.SECOND_READER):
        assert json.loads(finding.evidence_json)[-1]["reader"] == "second_reader"
    status = LanguageModelStatus.objects.get()
    assert status.available and status.load_seconds > 0 and status.reads_done == 1 and status.loaded_at


@pytest.mark.django_db
def test_voice_to_claim_llm_puts_the_findings_and_a_summary_in_the_json(monkeypatch, tmp_path):
    from io import StringIO

    from django.core.management import call_command

    note = tmp_path / "micro.txt"
    note.write_text(TEXT)
    monkeypatch.setattr(llm, "load_model", lambda settings=None: RecordedModel(READ))
    out = StringIO()
    call_command("voice_to_claim", str(note), "--llm", "--date-of-service", "2026-11-20", stdout=out)
    claim = json.loads(out.getvalue())
    assert claim["second_read"]["status"] == "done" and claim["second_read"]["model"] == "recorded"
    assert claim["second_read"]["confidence"] == {"procedure:laminotomy": "disputed", "diagnosis:M51.16": "confirmed"}
    [finding] = [f for f in claim["findings"] if f.get("origin") == "llm"]
    assert finding["rule"] == "LLM-LEVEL-DIFFERS"
    assert [e["reader"] for e in finding["evidence"]] == ["draft", "draft", "second_reader"]
    assert [line["cpt"] for line in claim["service_lines"]] == ["63030"]


@pytest.mark.django_db
def test_voice_to_claim_llm_without_a_model_says_so_and_writes_the_claim(settings, tmp_path):
    from io import StringIO

    from django.core.management import call_command

    settings.LLM_MODEL = str(tmp_path / "missing.gguf")
    note = tmp_path / "micro.txt"
    note.write_text(TEXT)
    out, err = StringIO(), StringIO()
    call_command("voice_to_claim", str(note), "--llm", "--date-of-service", "2026-11-20", stdout=out, stderr=err)
    claim = json.loads(out.getvalue())
    assert claim["second_read"]["status"] == "unavailable" and "missing.gguf" in claim["second_read"]["error"]
    assert "The second reader is skipped" in err.getvalue()
    assert [line["cpt"] for line in claim["service_lines"]] == ["63030"]
    assert not [f for f in claim["findings"] if f.get("origin") == "llm"]
