"""The one error an EMR adapter raises.

Retry policy lives in one place (integrations.http): an `EMRError` says whether trying again can help
(`permanent=False`: a timeout, a 429, a 5xx, an open circuit) or not (`permanent=True`: a 404, a 400, bad
credentials after the one token refresh, an answer that is not FHIR). Its message is for a person (an admin
testing a connection, a biller whose search fell back to local patients) and never holds PHI: no names, no
birth dates, no identifiers, no query strings. EMR answers are summarised by their status and the codes of
their OperationOutcome issues, never echoed.
"""

from __future__ import annotations


class EMRError(Exception):
    def __init__(self, message: str, *, permanent: bool, status: int | None = None, reason: str = "error"):
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.status = status  # the HTTP status, when there was an answer
        # A short machine word for the audit log and tests: timeout, unreachable, auth, throttled, server,
        # not_found, invalid, malformed, circuit_open, unsupported, config.
        self.reason = reason

    def __str__(self) -> str:
        return self.message
