"""Writes of the policy library: upload a document version, process it (extract, chunk, embed), retry it.

An upload is checked at once (size, type, a readable text layer, not the same bytes twice) so the admin sees
what is wrong on the form; the work that costs seconds (embedding) runs as a django-q2 task on the `inference`
cluster, which loads the embedding model once per worker. Processing writes the chunks, the text and the
"ready" status in one transaction: a failure leaves no chunks, marks the version failed with the reason, and
can be retried.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import uuid
from dataclasses import dataclass

from django.core.files.base import ContentFile
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from billing import policy_library
from billing.policy_library import PolicyFileError
from billing.policy_models import PolicyChunk, PolicyDocument, PolicyKind, PolicyStatus
from billy.audit import audit_record

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class PolicyDetails:
    """What the admin says about a document; blanks are filled from the file's front matter when it has one."""

    title: str = ""
    kind: str = ""
    identifier: str = ""
    payer_type: str = ""
    payer_ids: str = ""
    source_url: str = ""
    effective_date: dt.date | None = None


def _details_with_front_matter(details: PolicyDetails, extracted: policy_library.Extracted) -> PolicyDetails:
    meta = extracted.metadata
    first_heading = next((b.text for b in extracted.blocks if b.kind == "heading"), "")
    effective = details.effective_date
    if effective is None and meta.get("effective_date"):
        try:
            effective = dt.date.fromisoformat(meta["effective_date"])
        except ValueError:
            raise PolicyFileError(f"The file's front matter has effective_date {meta['effective_date']!r}: write "
                                  "it as YYYY-MM-DD.")
    kind = details.kind or meta.get("kind", "") or PolicyKind.OTHER
    if kind not in PolicyKind.values:
        raise PolicyFileError(f"Kind {kind!r} is not one of {', '.join(PolicyKind.values)}.")
    title = (details.title or meta.get("title", "") or first_heading).strip()[:300]
    if not title:
        raise PolicyFileError("Give the document a title: the file has none (no heading, no front matter).")
    return PolicyDetails(
        title=title, kind=kind,
        identifier=(details.identifier or meta.get("identifier", "")).strip().upper()[:40],
        payer_type=(details.payer_type or meta.get("payer_type", "")).strip(),
        payer_ids=" ".join((details.payer_ids or meta.get("payer_ids", "")).replace(",", " ").split())[:300],
        source_url=(details.source_url or meta.get("source_url", "")).strip()[:500],
        effective_date=effective,
    )


def _series(*, identifier: str, title: str):
    """The versions of one document: the same identifier, or the same title when there is no identifier."""
    if identifier:
        return PolicyDocument.objects.filter(identifier=identifier)
    return PolicyDocument.objects.filter(identifier="", title__iexact=title)


def policy_duplicate_message(existing: PolicyDocument) -> str:
    return (f"This exact file is already in the policy library: {existing} ({existing.get_status_display().lower()}"
            f", uploaded {timezone.localtime(existing.uploaded_at):%Y-%m-%d}). Nothing was added; to change the "
            "document, upload its new version.")


def policy_document_upload(*, filename: str, data: bytes, details: PolicyDetails = PolicyDetails(),
                           uploaded_by=None, enqueue: bool = True) -> PolicyDocument:
    """Store a new document, or the next version of one with the same identifier (the old one stays for audit).

    Refuses (PolicyFileError, message for the admin) an empty, oversized, unsupported or unreadable file, a PDF
    without a text layer, and bytes already in the library. Processing is queued after commit unless enqueue is
    False (the load_policies command processes in-line).
    """
    extracted = policy_library.extract(filename, data)
    details = _details_with_front_matter(details, extracted)
    sha256 = hashlib.sha256(data).hexdigest()
    existing = PolicyDocument.objects.filter(sha256=sha256).first()
    if existing is not None:
        raise PolicyFileError(policy_duplicate_message(existing))
    stored_name = None
    try:
        with transaction.atomic():
            # Two uploads of one document at once would both take the same version number: one at a time.
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))",
                               [f"policy:{details.identifier or details.title.lower()}"])
            previous = _series(identifier=details.identifier, title=details.title).order_by("-version").first()
            document = PolicyDocument(
                title=details.title, kind=details.kind, identifier=details.identifier,
                payer_type=details.payer_type, payer_ids=details.payer_ids, source_url=details.source_url,
                effective_date=details.effective_date, original_filename=(filename or "")[:255],
                file_format=extracted.format, size_bytes=len(data), sha256=sha256, text=extracted.text,
                version=previous.version + 1 if previous else 1, supersedes=previous,
                status=PolicyStatus.PROCESSING, uploaded_by=uploaded_by)
            document.file.save(f"{sha256}{document.file_suffix}", ContentFile(data), save=False)
            stored_name = document.file.name
            document.save()
            audit_record(action="policy.upload", actor=uploaded_by, obj=document,
                         detail={"identifier": details.identifier, "version": document.version,
                                 "format": extracted.format, "bytes": len(data)})
    except IntegrityError as exc:  # the same bytes at the same moment (sha256 is unique): the other one won
        _remove(stored_name)
        twin = PolicyDocument.objects.filter(sha256=sha256).first()
        if twin is not None:
            raise PolicyFileError(policy_duplicate_message(twin)) from exc
        raise
    except Exception:
        _remove(stored_name)
        raise
    if enqueue:
        transaction.on_commit(lambda: policy_document_enqueue(document_id=document.pk))
    return document


def _remove(name: str | None) -> None:
    if name:
        from django.core.files.storage import default_storage

        default_storage.delete(name)


def policy_document_enqueue(*, document_id: int) -> None:
    """Queue processing on the inference cluster (embedding is model work); the task takes the id only."""
    from django_q.tasks import async_task

    async_task("billing.policy_tasks.policy_document_process", document_id, cluster="inference",
               task_name=f"policy-{document_id}-{uuid.uuid4().hex[:8]}")


def policy_document_process(*, document_id: int) -> bool:
    """Extract, chunk and embed one version, then make it the current one; safe to run twice.

    Returns whether this call indexed it. The start is a conditional update (a ready or failed version is left
    alone; a version left "processing" by a worker that died is taken again, up to MAX_ATTEMPTS).
    """
    claimed = PolicyDocument.objects.filter(
        pk=document_id, status=PolicyStatus.PROCESSING, attempts__lt=MAX_ATTEMPTS,
    ).update(attempts=F("attempts") + 1, status_message="")
    if not claimed:
        return False
    document = PolicyDocument.objects.get(pk=document_id)
    try:
        with document.file.open("rb") as f:
            data = f.read()
        extracted = policy_library.extract(document.original_filename or document.file.name, data)
        chunks = policy_library.chunk_blocks(extracted.blocks)
        if not chunks:
            raise PolicyFileError("The document has headings but no text to index.")
        from billing.embeddings import embed

        vectors = embed([c.embedding_text(document.title) for c in chunks])
        with transaction.atomic():
            locked = PolicyDocument.objects.select_for_update().get(pk=document_id)
            if locked.status != PolicyStatus.PROCESSING:
                return False
            PolicyChunk.objects.filter(document_id=document_id).delete()
            PolicyChunk.objects.bulk_create([
                PolicyChunk(document_id=document_id, ordinal=c.ordinal, section=c.section[:300], text=c.text,
                            char_start=c.char_start, char_end=c.char_end, embedding=v)
                for c, v in zip(chunks, vectors, strict=True)])
            series = _series(identifier=locked.identifier, title=locked.title)
            # A version processed late (a retry) does not displace a newer one that is already in use.
            newest = not series.filter(status=PolicyStatus.READY, version__gt=locked.version).exists()
            if newest:
                series.filter(is_current=True).exclude(pk=document_id).update(is_current=False)
            PolicyDocument.objects.filter(pk=document_id).update(
                text=extracted.text, status=PolicyStatus.READY, status_message="", is_current=newest,
                processed_at=timezone.now())
            audit_record(action="policy.ready", obj=locked,
                         detail={"chunks": len(chunks), "version": locked.version, "current": newest})
    except Exception as exc:
        log.exception("policy processing failed", extra={"policy_document_id": document_id})
        message = str(exc) if isinstance(exc, PolicyFileError) else (
            f"Processing failed ({exc.__class__.__name__}: {str(exc)[:300]}). Nothing was indexed; retry it from "
            "the policy library, or upload the document's text version.")
        PolicyDocument.objects.filter(pk=document_id).update(status=PolicyStatus.FAILED, status_message=message,
                                                             is_current=False)
        return False
    from billing.scrub_reference import link_coverage_passages

    link_coverage_passages()  # coverage policies citing this document now cite its current passages
    return True


def policy_document_retry(*, document: PolicyDocument, by=None) -> None:
    """A failed version is queued again (with fresh attempts)."""
    moved = PolicyDocument.objects.filter(pk=document.pk, status=PolicyStatus.FAILED).update(
        status=PolicyStatus.PROCESSING, status_message="", attempts=0)
    if not moved:
        raise PolicyFileError(f"Only a failed document can be processed again; {document} is "
                              f"{document.get_status_display().lower()}.")
    audit_record(action="policy.retry", actor=by, obj=document)
    transaction.on_commit(lambda: policy_document_enqueue(document_id=document.pk))


def policy_series_q(document: PolicyDocument) -> Q:
    """Filter for every version of the document's series (the view lists them)."""
    if document.identifier:
        return Q(identifier=document.identifier)
    return Q(identifier="", title__iexact=document.title)
