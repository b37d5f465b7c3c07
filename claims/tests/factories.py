"""A claim as the pipeline leaves it, for tests that need one without running the engine."""

from __future__ import annotations

import json
from decimal import Decimal

from claims.models import Claim, ClaimDiagnosis, ClaimLine, ClaimStatus


def make_claim(world, *, status: str = ClaimStatus.NEEDS_REVIEW, recording=None) -> Claim:
    claim = Claim.objects.create(
        practice=world.practice, recording=recording, patient=world.patient, physician=world.physician,
        date_of_service=world.recording.date_of_service, payer=world.payer, coverage=world.coverage, status=status,
        total_charge=Decimal("4200.00"), line_count=1, cpt_summary="63030", min_confidence=0.9)
    ClaimDiagnosis.objects.create(claim=claim, position=0, code="M51.16",
                                  description="Intervertebral disc disorders with radiculopathy, lumbar region",
                                  evidence_json=json.dumps([{"start": 0, "end": 5, "text": "L4-L5",
                                                             "audio_start_s": 1.5}]))
    ClaimLine.objects.create(claim=claim, position=0, cpt="63030", units=1, charge=Decimal("4200.00"),
                             dx_pointers="A", confidence=0.9, rationale="Laminotomy with discectomy, one interspace.",
                             evidence_json=json.dumps([{"start": 0, "end": 5, "text": "L4-L5", "audio_start_s": 1.5}]))
    return claim


def make_export(world, claim):
    """A stored JSON export holding one claim, written the way claims.exports writes files."""
    import hashlib

    from django.core.files.base import ContentFile

    from claims.models import ClaimExport

    content = b'{"claim_id":"test"}\n'
    export = ClaimExport(practice=world.practice, kind="json", sha256=hashlib.sha256(content).hexdigest(),
                         size_bytes=len(content), claim_count=1, created_by=world.biller)
    export.file.save("export", ContentFile(content), save=False)
    export.save()
    export.claims.set([claim])
    return export
