"""The LLM second reader in the pipeline: queued after the rule-based draft, read on the `inference-llm` worker,
reconciled with the draft, and shown on the claim as review findings (origin "llm").

The claim is reviewable before the second read finishes; when it does, its findings join the claim in place
(claim_check keeps them; a new reading of a changed text drops them and queues a read of its own). The second
reader never adds or removes a code (billing.reconcile).

States of a `SecondRead` (one per coded text):
    queued -> reading -> done | failed | unavailable | superseded
- unavailable: no model (missing, damaged, USE_LLM turned off meanwhile): the draft stands as it is.
- failed: an invalid reply twice (billing.second_reader.read_transcript), or a run that stopped twice (out of
  memory, past LLM_READ_TIMEOUT_S, the worker killed). A biller may queue it again (`second_read_retry`).

Task arguments are ids; the error text stored and logged names vocabulary and counts, never transcript words.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
import uuid

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django_q.tasks import async_task

from audio.review import text_digest
from billing.coding import code_note
from billing.reconcile import Reconciliation, reconcile
from billing.second_reader import GroundedFacts, ReadOutcome, SecondReaderError, read_transcript
from billy import llm
from billy.audit import audit_record
from billy.models import LanguageModelStatus, Membership, Role
from claims.models import Claim, ClaimFinding, CodedTranscript, FindingOrigin, SecondRead, SecondReadStatus

log = logging.getLogger(__name__)

CLUSTER = "inference-llm"
MAX_RUNS = 2  # a read is started at most twice; a third delivery only records the failure
TERMINAL = (SecondReadStatus.DONE, SecondReadStatus.FAILED, SecondReadStatus.UNAVAILABLE,
            SecondReadStatus.SUPERSEDED)


class SecondReadError(Exception):
    """A biller's request about the second read cannot be done (it is off, or still running)."""


# --- queueing ------------------------------------------------------------------------------------------------

def second_read_enqueue(*, coding: CodedTranscript) -> SecondRead | None:
    """Queue the second read of a coded text once (after the transaction commits); None when USE_LLM is off."""
    if not settings.USE_LLM:
        return None
    second, created = SecondRead.objects.get_or_create(coding=coding)
    if created:
        _enqueue_after_commit(second.pk)
    return second


def _enqueue_after_commit(second_read_id: int) -> None:
    transaction.on_commit(lambda: async_task(
        "claims.tasks.second_read", second_read_id, cluster=CLUSTER,
        task_name=f"second-read-{second_read_id}-{uuid.uuid4().hex[:8]}"))


def second_read_retry(*, membership: Membership, claim: Claim) -> SecondRead:
    """A biller asks for the claim's second read again (it failed, or there was no model then)."""
    if membership.role not in (Role.BILLER, Role.ADMIN):
        raise SecondReadError("Only a biller or an admin can ask for the second read again.")
    if not settings.USE_LLM:
        raise SecondReadError("The second reader is turned off on this installation (USE_LLM=false).")
    if claim.coding_id is None:
        raise SecondReadError("This claim has no dictation reading for the second reader to check.")
    with transaction.atomic():
        second, _ = SecondRead.objects.select_for_update().get_or_create(coding_id=claim.coding_id)
        if second.pending and second.attempts == 0:
            raise SecondReadError("The second read is already queued.")
        if second.status == SecondReadStatus.READING:
            raise SecondReadError("The second read is running now; its findings appear when it finishes.")
        SecondRead.objects.filter(pk=second.pk).update(status=SecondReadStatus.QUEUED, attempts=0, error="",
                                                       started_at=None, finished_at=None)
        audit_record(action="claim.second_read_retried", actor=membership.user, role=membership.role,
                     practice_id=claim.practice_id, obj=claim)
        _enqueue_after_commit(second.pk)
    second.refresh_from_db()
    return second


# --- the task ------------------------------------------------------------------------------------------------

def second_read_run(*, second_read_id: int, model: llm.LanguageModel | None = None) -> str:
    """Run one second read (the `inference-llm` task); returns the status it ended in.

    model: for a caller that holds one (the benchmark, a test); default billy.llm.load_model(), loaded once per
    worker process."""
    second = _start(second_read_id)
    if second is None:
        return "skipped"
    if second.status in TERMINAL:
        return second.status
    coding = second.coding
    if not Claim.objects.filter(coding_id=coding.pk).exists():  # a newer text replaced it before the read began
        return _finish(second, SecondReadStatus.SUPERSEDED,
                       error="the claim took a newer reading of the dictation before this read began")
    text = json.loads(coding.claim_json).get("transcript", "")
    if text_digest(text) != coding.text_sha256:  # cannot happen unless the row was edited: never read the wrong text
        return _finish(second, SecondReadStatus.FAILED, error="the coded text does not match its checksum")
    if not settings.USE_LLM:
        return _finish(second, SecondReadStatus.UNAVAILABLE, error="USE_LLM is off on this installation")
    try:
        model = model or llm.load_model()
    except llm.ModelUnavailable as exc:
        _model_status(None, error=str(exc))
        return _finish(second, SecondReadStatus.UNAVAILABLE, error=str(exc))
    _model_status(model.info)
    try:
        outcome = read_once(text, model)
    except (llm.GenerationFailed, SecondReaderError) as exc:
        _model_status(model.info, error=str(exc), failed=True)
        return _run_failed(second, str(exc))
    if not outcome.ok:
        _model_status(model.info, error=outcome.error, failed=True, seconds=outcome.seconds)
        return _finish(second, SecondReadStatus.FAILED, error=outcome.error, outcome=outcome, info=model.info)
    _model_status(model.info, seconds=outcome.seconds)
    reconciliation = reconcile(code_note(text, context=_context(coding)), outcome.facts, transcript=text)
    return _store(second, outcome, reconciliation, model.info)


def read_once(text: str, model: llm.LanguageModel) -> ReadOutcome:
    """One second read under the installation's limits (LLM_MAX_NEW_TOKENS, LLM_READ_TIMEOUT_S)."""
    deadline = time.monotonic() + settings.LLM_READ_TIMEOUT_S
    return read_transcript(text, model, max_tokens=settings.LLM_MAX_NEW_TOKENS, deadline=deadline)


def second_read_json(text: str, result, model: llm.LanguageModel | llm.ModelUnavailable) -> tuple[dict, list[dict]]:
    """For `voice_to_claim --llm`: the second read of one coded text, waited for, as the claim JSON's
    "second_read" summary and its findings ("origin": "llm"). A missing model (the ModelUnavailable the load
    raised) or a failed read is said in the summary; the claim goes out without the second reader's findings."""
    if isinstance(model, llm.ModelUnavailable):
        return {"status": SecondReadStatus.UNAVAILABLE.value, "error": str(model)}, []
    summary = {"model": model.info.name, "backend": model.info.backend, "device": model.info.device}
    try:
        outcome = read_once(text, model)
    except (llm.GenerationFailed, SecondReaderError) as exc:
        return {**summary, "status": SecondReadStatus.FAILED.value, "error": str(exc)}, []
    summary.update(seconds=round(outcome.seconds, 2), chunks=outcome.chunks, replies=outcome.replies,
                   retried=outcome.retried)
    if not outcome.ok:
        return {**summary, "status": SecondReadStatus.FAILED.value, "error": outcome.error}, []
    reconciliation = reconcile(result, outcome.facts, transcript=text)
    findings = [{**f.as_json(), "origin": FindingOrigin.SECOND_READER.value,
                 "evidence": json.loads(_evidence_json(f))} for f in reconciliation.findings]
    summary.update(status=SecondReadStatus.DONE.value, confidence=reconciliation.confidence,
                   dropped=len(reconciliation.second.dropped))
    return summary, findings


def _start(second_read_id: int) -> SecondRead | None:
    """Count the run; a read already started MAX_RUNS times (killed each time) is recorded as failed instead."""
    with transaction.atomic():
        second = (SecondRead.objects.select_for_update().select_related("coding", "coding__recording")
                  .filter(pk=second_read_id).first())
        if second is None or second.status in TERMINAL:
            return second
        if second.attempts >= MAX_RUNS:
            _finish(second, SecondReadStatus.FAILED,
                    error=f"the read stopped {second.attempts} times before it finished (the worker ran out of memory "
                          "or was stopped): retry it, or review the claim without it")
            second.refresh_from_db()
            return second
        SecondRead.objects.filter(pk=second.pk).update(status=SecondReadStatus.READING, attempts=F("attempts") + 1,
                                                       started_at=timezone.now())
    second.refresh_from_db()
    return second


def _run_failed(second: SecondRead, error: str) -> str:
    """Out of memory or past the deadline: queued once more, then recorded as failed."""
    if second.attempts < MAX_RUNS:
        SecondRead.objects.filter(pk=second.pk).update(status=SecondReadStatus.QUEUED, error=error[:500])
        log.warning("second read failed; retrying once", extra={"second_read_id": second.pk})
        async_task("claims.tasks.second_read", second.pk, cluster=CLUSTER,
                   task_name=f"second-read-{second.pk}-{uuid.uuid4().hex[:8]}")
        return SecondReadStatus.QUEUED
    return _finish(second, SecondReadStatus.FAILED, error=f"{error} (after a retry)")


def _context(coding: CodedTranscript):
    from claims.pipeline import claim_parties

    return claim_parties(coding.recording)[0]


def _finish(second: SecondRead, status: str, *, error: str = "", outcome: ReadOutcome | None = None,
            info: llm.ModelInfo | None = None) -> str:
    values = {"status": status, "error": error[:500], "finished_at": timezone.now()}
    if outcome is not None:
        values.update(_outcome_values(outcome))
    if info is not None:
        values.update(model_name=info.name[:120], backend=info.backend, device=info.device)
    SecondRead.objects.filter(pk=second.pk).update(**values)
    log.info("second read ended", extra={"second_read_id": second.pk, "status": status})
    return status


def _outcome_values(outcome: ReadOutcome) -> dict:
    return {"seconds": round(outcome.seconds, 3), "chunks": outcome.chunks, "replies": outcome.replies,
            "retried": outcome.retried, "prompt_tokens": outcome.prompt_tokens,
            "completion_tokens": outcome.completion_tokens}


def facts_as_json(facts: GroundedFacts) -> dict:
    """The grounded facts and the dropped ones, for SecondRead.facts_json (encrypted: the quotes are PHI)."""
    def fact(item) -> dict:
        data = {"levels": item.level_names, "side": item.side, "negated": item.negated,
                "evidence": item.evidence.as_json()}
        if hasattr(item, "rule_kind"):
            data.update(kind=item.kind, rule_kind=item.rule_kind,
                        implants=list(item.implants), graft=list(item.graft))
        else:
            data.update(condition=item.condition)
        return data

    return {"procedures": [fact(p) for p in facts.procedures], "diagnoses": [fact(d) for d in facts.diagnoses],
            "dropped": [{"part": d.part, "reason": d.reason, "fact": d.fact.model_dump()} for d in facts.dropped]}


def _evidence_json(finding) -> str:
    """Both readers' words: the draft's spans first, the second reader's quote last (billing.reconcile)."""
    items = [{**e.as_json(), "reader": "draft"} for e in finding.evidence[:-1]]
    if finding.evidence:
        items.append({**finding.evidence[-1].as_json(), "reader": "second_reader"})
    return json.dumps(items)


def _store(second: SecondRead, outcome: ReadOutcome, reconciliation: Reconciliation, info: llm.ModelInfo) -> str:
    from claims.services import claim_figures_refresh

    findings = reconciliation.findings
    with transaction.atomic():
        locked = SecondRead.objects.select_for_update().get(pk=second.pk)
        if locked.status != SecondReadStatus.READING:  # a biller's retry reset it meanwhile: that run stores
            return locked.status
        SecondRead.objects.filter(pk=second.pk).update(
            status=SecondReadStatus.DONE, error="", finished_at=timezone.now(), model_name=info.name[:120],
            backend=info.backend, device=info.device, facts_json=json.dumps(facts_as_json(reconciliation.second)),
            confidence=reconciliation.confidence, finding_count=len(findings),
            dropped_count=len(reconciliation.second.dropped), **_outcome_values(outcome))
        # The claim that holds this reading shows the findings; a claim that moved on to a newer text does not.
        claim = Claim.objects.select_for_update().filter(coding_id=second.coding_id).first()
        if claim is not None:
            claim.findings.filter(origin=FindingOrigin.SECOND_READER).delete()
            ClaimFinding.objects.bulk_create([
                ClaimFinding(claim=claim, origin=FindingOrigin.SECOND_READER, rule=f.rule[:40], severity=f.severity,
                             message=f.message[:600], lines=list(f.lines), source_title=f.source_title[:200],
                             fix=f.fix[:400], evidence_json=_evidence_json(f))
                for f in findings])
            claim_figures_refresh(claim=claim)
            audit_record(action="claim.second_read", practice_id=claim.practice_id, obj=claim,
                         detail={"second_read_id": second.pk, "findings": len(findings),
                                 "confirmed": len([v for v in reconciliation.confidence.values() if v == "confirmed"])})
    log.info("second read stored", extra={"second_read_id": second.pk, "findings": len(findings),
                                          "seconds": round(outcome.seconds, 1)})
    return SecondReadStatus.DONE


# --- the model's status, for the admin --------------------------------------------------------------------------

_loads_reported: set[llm.ModelInfo] = set()


def _model_status(info: llm.ModelInfo | None, *, error: str = "", failed: bool = False,
                  seconds: float | None = None) -> None:
    host = socket.gethostname()[:120]
    now = timezone.now()
    values: dict = {"pid": os.getpid()}
    if info is not None:
        values.update(model_name=info.name[:120], backend=info.backend, device=info.device, path=info.path[:500],
                      context_tokens=info.context_tokens, threads=info.threads or None,
                      load_seconds=round(info.load_seconds, 3), available=True)
    else:
        values.update(available=False, model_name=str(settings.LLM_MODEL)[:120])
    if error:
        values.update(last_error=error[:500], last_error_at=now)
    if info is not None and info not in _loads_reported:  # this process loaded it: say when
        values["loaded_at"] = now
        _loads_reported.add(info)
    status, created = LanguageModelStatus.objects.get_or_create(host=host, defaults=values)
    if not created:
        LanguageModelStatus.objects.filter(pk=status.pk).update(**values)
    if seconds is not None or failed:
        LanguageModelStatus.objects.filter(pk=status.pk).update(
            last_read_at=now, last_read_seconds=round(seconds, 3) if seconds is not None else None,
            **({"reads_failed": F("reads_failed") + 1} if failed else {"reads_done": F("reads_done") + 1}))


def second_read_for(claim: Claim) -> SecondRead | None:
    """The second read of the reading the claim holds, if any."""
    if claim.coding_id is None:
        return None
    return SecondRead.objects.filter(coding_id=claim.coding_id).first()
