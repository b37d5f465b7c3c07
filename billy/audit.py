"""The hash-chained audit trail: writing entries and verifying the chain.

entry_hash = HMAC-SHA256(BILLY_AUDIT_KEY, previous_hash || canonical JSON of the entry's fields).
The key lives outside the database, so someone who can write to the database still cannot forge a
consistent chain. Appends are serialised with a transaction-scoped advisory lock so two writers never
chain onto the same previous entry.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from billy.keys import audit_key
from billy.models import AuditEvent

GENESIS_HASH = "0" * 64
# pg_advisory_xact_lock key for audit appends (an arbitrary constant: "BILLYAUD" in ASCII, truncated).
_APPEND_LOCK = 0x42494C4C5941


def _canonical(event: AuditEvent) -> bytes:
    fields = {
        "sequence": event.sequence,
        "occurred_at": event.occurred_at.isoformat(),
        "actor_id": event.actor_id,
        "actor_email": event.actor_email,
        "role": event.role,
        "practice_id": event.practice_id,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "ip_address": event.ip_address,
        "detail": event.detail,
    }
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str).encode()


def compute_hash(previous_hash: str, event: AuditEvent) -> str:
    return hmac.new(audit_key(), previous_hash.encode() + _canonical(event), hashlib.sha256).hexdigest()


def audit_record(
    *,
    action: str,
    actor: Any = None,
    role: str = "",
    practice_id: int | None = None,
    obj: Any = None,
    object_type: str = "",
    object_id: str | int = "",
    ip_address: str | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one entry. `detail` must hold no PHI: ids, codes, field names, counts."""
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or obj.pk
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_APPEND_LOCK])
        last = AuditEvent.objects.order_by("-sequence").only("sequence", "entry_hash").first()
        event = AuditEvent(
            sequence=(last.sequence + 1) if last else 1,
            occurred_at=timezone.now().replace(microsecond=0),
            actor_id=getattr(actor, "pk", None),
            actor_email=getattr(actor, "email", "") or "",
            role=role,
            practice_id=practice_id,
            action=action,
            object_type=object_type,
            object_id=str(object_id or ""),
            ip_address=ip_address,
            detail=detail or {},
            previous_hash=last.entry_hash if last else GENESIS_HASH,
        )
        event.entry_hash = compute_hash(event.previous_hash, event)
        event.save()
    return event


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    count: int
    head_sequence: int
    head_hash: str
    problems: list[str]


def verify_chain(events: Iterable[AuditEvent], *, expect_head: tuple[int, str] | None = None) -> ChainReport:
    """Walk the entries in sequence order. Every gap, altered row or broken link is a problem.

    expect_head: a (sequence, hash) noted earlier outside the database. Deleting the newest rows leaves a
    chain that is still consistent, so only a head kept elsewhere can show that entries went missing.
    """
    problems: list[str] = []
    previous_hash = GENESIS_HASH
    expected_sequence = 1
    count = 0
    head = (0, GENESIS_HASH)
    seen_expected = expect_head is None
    for event in events:
        count += 1
        if event.sequence != expected_sequence:
            missing = f"#{expected_sequence}"
            if event.sequence - 1 > expected_sequence:
                missing += f" to #{event.sequence - 1}"
            problems.append(f"entry {missing} is missing (deleted, or the table was truncated)")
        if event.previous_hash != previous_hash:
            problems.append(f"entry #{event.sequence} does not link to the entry before it")
        if compute_hash(event.previous_hash, event) != event.entry_hash:
            problems.append(f"entry #{event.sequence} was altered after it was written")
        if expect_head and event.sequence == expect_head[0]:
            seen_expected = True
            if event.entry_hash != expect_head[1]:
                problems.append(f"entry #{event.sequence} does not match the head hash noted earlier")
        previous_hash = event.entry_hash
        expected_sequence = event.sequence + 1
        head = (event.sequence, event.entry_hash)
    if not seen_expected and expect_head:
        problems.append(
            f"entry #{expect_head[0]} noted earlier is gone: the newest entries were deleted "
            f"(the chain now ends at #{head[0]})"
        )
    return ChainReport(ok=not problems, count=count, head_sequence=head[0], head_hash=head[1], problems=problems)


def verify_audit_table(*, expect_head: tuple[int, str] | None = None) -> ChainReport:
    return verify_chain(AuditEvent.objects.order_by("sequence").iterator(chunk_size=2000), expect_head=expect_head)
