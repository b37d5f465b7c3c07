"""Acknowledgements from the clearinghouse, applied to our claims.

- A 999 answers an 837P file: AK102 echoes our GS06 (the export's interchange number, claims.exports). A
  transaction set it rejects means none of that file's claims reached a payer: they return to the queue with
  the 999's errors, to be fixed and sent again.
- A 277CA answers claim by claim: TRN02 echoes our CLM01 (Claim.number). Accepted claims keep the payer's claim
  number (REF*1K, needed later for a replacement's REF*F8); rejected ones return to the queue with the payer's
  reasons as a finding. A claim rejected at this stage never entered adjudication, so it is corrected and sent
  again as an original claim.

Files are kept (encrypted) and never applied twice (SHA-256 per practice).
"""

from __future__ import annotations

import hashlib

from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from billy.audit import audit_record
from billy.models import Membership, Role
from claims import acknowledgements as parse
from claims.models import Acknowledgement, AckOutcome, Claim, ClaimExport, ClaimFinding, ClaimStatus, FindingOrigin
from claims.selectors import claims_changed
from claims.services import ClaimError

MAX_ACK_BYTES = 20 * 1024 * 1024


def acknowledgement_import(*, membership: Membership, content: bytes) -> Acknowledgement:
    """Read a 999 or 277CA and apply it to the practice's claims. ClaimError says what is wrong with the file."""
    if membership.role not in (Role.BILLER, Role.ADMIN):
        raise ClaimError("Only a biller or an admin imports acknowledgements.")
    if not content:
        raise ClaimError("The file is empty.")
    if len(content) > MAX_ACK_BYTES:
        raise ClaimError("The file is larger than 20 MB: it is not an acknowledgement file.")
    try:
        text = content.decode("ascii")
    except UnicodeDecodeError:
        raise ClaimError("This is not an X12 file (it holds characters X12 does not use).")
    try:
        _, segments = parse.tokenize(text)
    except parse.AckParseError as exc:
        raise ClaimError(f"This file cannot be read as X12: {exc}")
    kinds = {s.element(1) for s in segments if s.id == "ST"}
    digest = hashlib.sha256(content).hexdigest()
    if Acknowledgement.objects.filter(practice_id=membership.practice_id, sha256=digest).exists():
        raise ClaimError("This file was imported already: nothing changed.")
    with transaction.atomic():
        try:
            if kinds == {"999"}:
                kind, summary = "999", _apply_999(membership, parse.parse_999_all(text))
            elif kinds == {"277"}:
                kind, summary = "277CA", _apply_277ca(membership, parse.parse_277ca(text))
            else:
                raise ClaimError("Only 999 and 277CA acknowledgements are imported here (this file holds "
                                 f"{', '.join(sorted(kinds)) or 'no transaction set'}).")
        except parse.AckParseError as exc:
            raise ClaimError(f"This acknowledgement cannot be read: {exc}")
        ack = Acknowledgement(practice_id=membership.practice_id, kind=kind, sha256=digest, summary=summary[:400],
                              imported_by=membership.user)
        ack.file.save("ack", ContentFile(content), save=False)
        try:
            ack.save()
            audit_record(action="claims.acknowledgement", actor=membership.user, role=membership.role,
                         practice_id=membership.practice_id, obj=ack, detail={"kind": kind})
        except BaseException:
            ack.file.storage.delete(ack.file.name)
            raise
    return ack


def _back_to_queue(claim: Claim, *, message: str, rule: str) -> None:
    Claim.objects.filter(pk=claim.pk).update(status=ClaimStatus.NEEDS_REVIEW, ack_outcome=AckOutcome.REJECTED,
                                             ack_message=message[:400], ack_at=timezone.now(),
                                             version=F("version") + 1)
    ClaimFinding.objects.create(claim=claim, origin=FindingOrigin.PAYER, rule=rule, severity="error",
                                message=message[:600], source_title="Clearinghouse acknowledgement")
    Claim.objects.filter(pk=claim.pk).update(error_count=F("error_count") + 1)
    claims_changed(practice_id=claim.practice_id)


def _apply_999(membership: Membership, acks: list[parse.FunctionalAck]) -> str:
    returned = accepted = 0
    unknown = []
    for ack in acks:
        number = int(ack.group_control_number) if ack.group_control_number.isdigit() else None
        export = ClaimExport.objects.filter(practice_id=membership.practice_id,
                                            interchange_control_number=number).first() if number else None
        if export is None:
            unknown.append(ack.group_control_number)
            continue
        # Our 837P files hold one transaction set: a rejected set (or group) means no claim of the file went on.
        rejected = [s for s in ack.sets if not s.accepted]
        claims = list(export.claims.filter(status=ClaimStatus.EXPORTED))
        if rejected or ack.code == "R":
            errors = "; ".join(e for s in rejected for e in s.errors)[:300] or ack.code_meaning
            for claim in claims:
                _back_to_queue(claim, message=f"999 rejected file #{export.pk}: {errors}", rule="X12-999-REJECTED")
                returned += 1
        else:
            Claim.objects.filter(pk__in=[c.pk for c in claims], ack_outcome="").update(
                ack_outcome=AckOutcome.PENDING, ack_message="Clearinghouse accepted the file (999); waiting for the "
                                                            "payer's 277CA.", ack_at=timezone.now())
            accepted += len(claims)
    if unknown and not (returned or accepted):
        raise ClaimError(f"This 999 answers file number {', '.join(unknown)}, which this practice never exported.")
    return f"999: {accepted} claims accepted by the clearinghouse, {returned} returned to the queue" + (
        f"; unknown group {', '.join(unknown)}" if unknown else "")


def _apply_277ca(membership: Membership, report: parse.ClaimAckReport) -> str:
    accepted = rejected = pending = 0
    unknown = []
    for ack in report.claims:
        pk = Claim.pk_from_number(ack.patient_control_number)
        claim = Claim.objects.filter(practice_id=membership.practice_id, pk=pk).first() if pk else None
        if claim is None or claim.status not in (ClaimStatus.EXPORTED, ClaimStatus.NEEDS_REVIEW):
            unknown.append(ack.patient_control_number or "?")
            continue
        if ack.outcome == "rejected":
            reasons = "; ".join(ack.problems)[:350] or "rejected"
            if claim.status == ClaimStatus.EXPORTED:
                _back_to_queue(claim, message=f"Payer rejected (277CA): {reasons}", rule="X12-277CA-REJECTED")
            rejected += 1
        else:
            outcome = AckOutcome.ACCEPTED if ack.outcome == "accepted" else AckOutcome.PENDING
            text = "; ".join(s.describe() for s in ack.statuses)[:400]
            Claim.objects.filter(pk=claim.pk).update(ack_outcome=outcome, ack_message=text, ack_at=timezone.now(),
                                                     payer_claim_number=ack.payer_claim_number or
                                                     claim.payer_claim_number)
            accepted += outcome == AckOutcome.ACCEPTED
            pending += outcome == AckOutcome.PENDING
    if unknown and not (accepted or rejected or pending):
        raise ClaimError("None of the claims in this 277CA is one of this practice's exported claims "
                         f"({', '.join(unknown[:5])}).")
    return (f"277CA: {accepted} accepted, {rejected} rejected (back in the queue), {pending} pending"
            + (f"; {len(unknown)} not ours" if unknown else ""))
