"""Background work of the billy app (django-q2, `default` cluster). Tasks take ids, never PHI."""

from __future__ import annotations

import logging

from billy.audit import verify_audit_table

logger = logging.getLogger(__name__)


def audit_chain_verify() -> dict:
    """Nightly: walk the audit chain and log its head, so the head is also kept outside the database."""
    report = verify_audit_table()
    if report.ok:
        logger.info("audit chain verified: %s entries, head %s:%s", report.count, report.head_sequence,
                    report.head_hash)
    else:
        logger.error("audit chain BROKEN: %s", "; ".join(report.problems))
    return {"ok": report.ok, "count": report.count, "head": f"{report.head_sequence}:{report.head_hash}",
            "problems": report.problems}
