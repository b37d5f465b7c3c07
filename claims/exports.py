"""Exports of approved claims: an 837P batch for the clearinghouse, CMS-1500 PDFs for paper, claim JSON.

One rule for all three: the file is written and checked first (the 837P through pyx12 and our own checks), then
stored encrypted, and only then, in the same transaction, are the claims marked exported. A writer error, a
check that fails, or a claim someone else changed meanwhile leaves every claim as it was and no file behind.
A past export re-downloads as the same bytes (its SHA-256 is checked on the way out).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from decimal import Decimal

from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import F, Max, Prefetch
from django.utils import timezone

from billy.audit import audit_record
from billy.models import Membership, Role
from billy.selectors import edi_settings_for
from claims import revisions
from claims.claim_document import ClaimBatch
from claims.documents import claim_document, envelope_for
from claims.export_837 import Export837Error, sendable_problems, write_837p
from claims.models import (
    Claim,
    ClaimDiagnosis,
    ClaimExport,
    ClaimLine,
    ClaimRevision,
    ClaimStatus,
    ControlNumberCounter,
    ExportKind,
)
from claims.selectors import claims_changed
from claims.services import ClaimError

MAX_CLAIMS_PER_EXPORT = 5000
_PARTIES = ("patient", "payer", "coverage__payer", "billing_provider", "rendering_provider", "referring_provider",
            "facility")


def _approved(membership: Membership, claim_ids: Sequence[int]) -> list[Claim]:
    claims = list(
        Claim.objects.select_for_update(of=("self",)).filter(practice_id=membership.practice_id, pk__in=claim_ids,
                                                             status=ClaimStatus.APPROVED)
        .select_related(*_PARTIES)
        .prefetch_related(Prefetch("diagnoses", ClaimDiagnosis.objects.order_by("position")),
                          Prefetch("lines", ClaimLine.objects.order_by("position")))
        .order_by("pk"))
    missing = len(set(claim_ids)) - len(claims)
    if missing:
        raise ClaimError(f"{missing} of the selected claims {'is' if missing == 1 else 'are'} no longer approved "
                         "(another biller exported or reopened them): nothing was exported. Reload and choose again.")
    return claims


def export_readiness(claims: Sequence[Claim]) -> dict[int, list[str]]:
    """What keeps each claim from an 837P, by claim id (empty lists for the ready ones): the queue shows it."""
    out = {}
    for claim in claims:
        document = claim_document(claim)
        out[claim.pk] = [f"Item {p.item}: {p.message}" for p in sendable_problems(document)]
    return out


def claims_export(*, membership: Membership, claim_ids: Sequence[int], kind: str) -> ClaimExport:
    """Write one file for the approved claims chosen and mark them exported, all or nothing."""
    if membership.role not in (Role.BILLER, Role.ADMIN):
        raise ClaimError("Only a biller or an admin exports claims.")
    if kind not in ExportKind.values:
        raise ClaimError("Choose an export format: 837P, CMS-1500 PDF or claim JSON.")
    claim_ids = sorted({int(pk) for pk in claim_ids})
    if not claim_ids:
        raise ClaimError("Choose at least one approved claim to export.")
    if len(claim_ids) > MAX_CLAIMS_PER_EXPORT:
        raise ClaimError(f"At most {MAX_CLAIMS_PER_EXPORT:,} claims go in one export.")
    with transaction.atomic():
        claims = _approved(membership, claim_ids)
        documents = [claim_document(claim) for claim in claims]
        interchange = None
        if kind == ExportKind.X12_837P:
            content, interchange = _write_837p(membership, claims, documents)
        elif kind == ExportKind.CMS1500_PDF:
            from claims.cms1500_pdf import render_cms1500

            try:
                content = render_cms1500(documents, form_image=True)
            except ValueError as exc:
                raise ClaimError(f"The CMS-1500 could not be written: {exc}. Nothing was exported.") from exc
        else:
            from claims.claim_json import stored_claim_json

            content = "".join(json.dumps(stored_claim_json(c), ensure_ascii=False, separators=(",", ":")) + "\n"
                              for c in claims).encode("utf-8")
        export = ClaimExport(practice_id=membership.practice_id, kind=kind, sha256=hashlib.sha256(content).hexdigest(),
                             size_bytes=len(content), claim_count=len(claims), created_by=membership.user,
                             total_charge=sum((c.total_charge for c in claims), Decimal("0.00")),
                             interchange_control_number=interchange)
        export.file.save("export", ContentFile(content), save=False)
        try:
            export.save()
            export.claims.set(claims)
            now = timezone.now()
            updated = Claim.objects.filter(pk__in=claim_ids, status=ClaimStatus.APPROVED).update(
                status=ClaimStatus.EXPORTED, exported_at=now, version=F("version") + 1)
            if updated != len(claims):
                raise ClaimError("A claim changed while the file was written: nothing was exported. Try again.")
            claims_changed(practice_id=membership.practice_id)
            _record_exported(claims, membership, export)
            audit_record(action="claims.export", actor=membership.user, role=membership.role,
                         practice_id=membership.practice_id, obj=export,
                         detail={"kind": kind, "claims": len(claims), "interchange": interchange})
        except BaseException:
            export.file.storage.delete(export.file.name)  # the transaction rolls back: leave no file behind
            raise
    return export


def _write_837p(membership: Membership, claims: list[Claim], documents) -> tuple[bytes, int]:
    from claims.x12_checks import validate_837p

    edi = edi_settings_for(practice_id=membership.practice_id)
    if edi is None:
        raise ClaimError("The practice has no EDI settings (submitter and clearinghouse ids): an admin sets them "
                         "in the admin under EDI settings. Nothing was exported.")
    not_ready = {c.number: problems for c, problems in zip(claims, map(sendable_problems, documents), strict=True)
                 if problems}
    if not_ready:
        detail = "; ".join(f"{number}: " + ", ".join(f"item {p.item} ({p.message})" for p in problems[:3])
                           for number, problems in list(not_ready.items())[:5])
        raise ClaimError(f"{len(not_ready)} claim{'s' if len(not_ready) != 1 else ''} cannot go on an 837P yet — "
                         f"{detail}. Nothing was exported.")
    counter, _ = ControlNumberCounter.objects.select_for_update().get_or_create(practice_id=membership.practice_id)
    counter.last_interchange += 1  # ISA13 and GS06: never repeat for this submitter, even after a rollback gap
    counter.save(update_fields=["last_interchange"])
    number = counter.last_interchange
    envelope = envelope_for(edi=edi, interchange_control_number=number, created_at=timezone.localtime(),
                            batch_reference=f"B{number:09d}")
    try:
        text = write_837p(ClaimBatch(envelope=envelope, claims=documents))
    except Export837Error as exc:
        raise ClaimError(f"The 837P could not be written: {exc}. Nothing was exported.") from exc
    if problems := validate_837p(text):
        raise ClaimError("The 837P failed validation, so nothing was exported: " + "; ".join(problems[:5]))
    return text.encode("ascii"), number


def _record_exported(claims: list[Claim], membership: Membership, export: ClaimExport) -> None:
    last = {row["claim_id"]: row["number"] for row in ClaimRevision.objects.filter(
        claim__in=claims).values("claim_id").annotate(number=Max("number"))}
    rows = []
    for claim in claims:
        claim.status = ClaimStatus.EXPORTED
        rows.append(ClaimRevision(claim=claim, number=last.get(claim.pk, 0) + 1, author=membership.user,
                                  action="exported", reason=f"{export.get_kind_display()} #{export.pk}",
                                  snapshot_json=json.dumps(revisions.snapshot(claim)), changed_fields="status"))
    ClaimRevision.objects.bulk_create(rows)


def export_content(*, export: ClaimExport) -> bytes:
    """The export's bytes as written; a file that no longer matches its SHA-256 is an error, never sent."""
    with export.file.storage.open(export.file.name, "rb") as handle:
        content = handle.read()
    if hashlib.sha256(content).hexdigest() != export.sha256:
        raise ClaimError("This export's stored file does not match what was written (damaged storage): it was not "
                         "sent. Restore the file from backup.")
    return content
