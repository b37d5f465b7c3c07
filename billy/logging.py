"""JSON logs that carry no PHI.

Code never logs PHI on purpose (objects are named by id). This filter is the second line: it drops
request objects and interpolated arguments that could carry form data, and redacts anything shaped like a
date, a phone or social security number, an email address or a long identifier before a record is written.
"""

from __future__ import annotations

import logging
import re

from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

_PATTERNS = [
    (re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+"), "[email]"),
    (re.compile(r"\b\d{4}-\d{2}-\d{2}\b"), "[date]"),
    (re.compile(r"\b\d{1,2}/\d{1,2}/\d{2,4}\b"), "[date]"),
    (re.compile(r"\b\d{3}-\d{2}-\d{4}\b"), "[ssn]"),
    (re.compile(r"\(?\b\d{3}\)?[ -.]\d{3}[-.]\d{4}\b"), "[phone]"),
    (re.compile(r"\b[A-Z0-9]{0,3}\d{6,}[A-Z0-9]*\b"), "[id]"),
]


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class PhiRedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg = redact(message)
        record.args = None
        # Django attaches the request to error records; its repr and POST data would reach the formatter.
        for attr in ("request", "data", "params"):
            if hasattr(record, attr):
                setattr(record, attr, "[dropped]")
        if record.exc_info and record.exc_info[1] is not None:
            exc_type = record.exc_info[0].__name__ if record.exc_info[0] else "Exception"
            # Tracebacks can quote values; keep the type and where it happened, not the message text.
            record.exc_text = f"{exc_type} (details withheld from logs; see the audit trail and the object id)"
            record.exc_info = None
        return True


class JsonFormatter(_JsonFormatter):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("fmt", "%(asctime)s %(levelname)s %(name)s %(message)s")
        kwargs.setdefault("rename_fields", {"asctime": "time", "levelname": "level", "name": "logger"})
        super().__init__(*args, **kwargs)
