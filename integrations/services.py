"""Writes and calls around EMR connections: building an adapter, and checking a connection."""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from billy.audit import audit_record
from billy.models import User
from integrations.base import EMRAdapter
from integrations.errors import EMRError
from integrations.http import BACKGROUND, INTERACTIVE
from integrations.models import EMRConnection
from integrations.vendors import adapter_class


def _require_emr_on() -> None:
    if not settings.USE_EMR:
        raise EMRError("EMR integration is off on this server (USE_EMR=false).", permanent=True, reason="config")


def adapter_for(connection: EMRConnection, *, interactive: bool = False) -> EMRAdapter:
    """The vendor's adapter for this connection. `interactive`: a person waits (short timeouts, one retry)."""
    _require_emr_on()
    if not connection.is_enabled:
        raise EMRError(f"The EMR connection “{connection.name}” is disabled.", permanent=True, reason="config")
    return adapter_class(connection.vendor)(connection.settings(), cache=cache,
                                            policy=INTERACTIVE if interactive else BACKGROUND)


def connection_check(*, connection: EMRConnection, actor: User, ip_address: str | None = None) -> tuple[bool, str]:
    """Authenticates against the EMR and reads its capabilities; the outcome is kept on the connection and in
    the audit trail (messages of EMRError hold no PHI)."""
    try:
        _require_emr_on()  # a disabled connection may be tested: that is how an admin checks it before enabling
        adapter = adapter_class(connection.vendor)(connection.settings(), cache=cache, policy=INTERACTIVE)
        ok, message = True, adapter.check()
    except EMRError as error:
        ok, message = False, error.message
    EMRConnection.objects.filter(pk=connection.pk).update(
        last_checked_at=timezone.now(), last_check_ok=ok, last_check_message=message[:500])
    audit_record(action="emr.connection_check", actor=actor, obj=connection, ip_address=ip_address,
                 practice_id=connection.practice_id, detail={"ok": ok})
    return ok, message
