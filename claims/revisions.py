"""Claim snapshots and the difference between two of them, as a biller reads it ("Line 2 modifiers: LT -> RT").

Pure functions over plain dicts: `claims.services` stores a snapshot with every revision (encrypted: it holds
the claim's free text) and the history page diffs consecutive ones.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

# Claim-level fields a revision keeps, with the label the CMS-1500 gives them.
HEADER_FIELDS: dict[str, str] = {
    "status": "Status",
    "place_of_service": "Place of service (24B)",
    "payer_id": "Payer",
    "coverage_id": "Coverage",
    "billing_provider_id": "Billing provider (33)",
    "rendering_provider_id": "Rendering provider (24J)",
    "referring_provider_id": "Referring provider (17)",
    "facility_id": "Service facility (32)",
    "prior_authorization": "Prior authorization (23)",
    "accept_assignment": "Accept assignment (27)",
    "related_to_employment": "Related to employment (10a)",
    "related_to_auto_accident": "Auto accident (10b)",
    "auto_accident_state": "Auto accident state (10b)",
    "related_to_other_accident": "Other accident (10c)",
    "onset_date": "Date of current illness (14)",
    "accident_date": "Accident date (10b/10c)",
    "amount_paid": "Amount paid (29)",
    "additional_information": "Additional claim information (19)",
    "frequency_code": "Resubmission code (22)",
    "payer_claim_number": "Original reference number (22)",
}
LINE_FIELDS = {"cpt": "code", "modifiers": "modifiers", "units": "units", "charge": "charge",
               "dx_pointers": "pointers", "place_of_service": "place of service"}


def snapshot(claim) -> dict[str, Any]:
    """What a revision keeps of the claim: its CMS-1500 items, diagnoses and lines (strings, JSON-ready)."""
    header = {}
    for name in HEADER_FIELDS:
        value = getattr(claim, name)
        if name == "amount_paid":
            value = f"{Decimal(value or 0):.2f}"
        header[name] = "" if value is None else (value if isinstance(value, bool) else str(value))
    return {
        "header": header,
        "diagnoses": [dx.code for dx in claim.diagnoses.all()],
        "lines": [{"cpt": line.cpt, "modifiers": line.modifiers, "units": line.units, "charge": str(line.charge),
                   "dx_pointers": line.dx_pointers, "place_of_service": line.place_of_service}
                  for line in claim.lines.all()],
    }


def _shown(value: Any) -> str:
    if value is True:
        return "yes"
    if value is False:
        return "no"
    return str(value) if value not in ("", None) else "(blank)"


def diff(before: dict[str, Any] | None, after: dict[str, Any]) -> list[str]:
    """The changes from `before` to `after`, one sentence each; everything is new when `before` is None."""
    if before is None:
        lines = ", ".join(_line_label(line) for line in after["lines"]) or "no lines"
        return [f"Claim drafted: {lines}; diagnoses {', '.join(after['diagnoses']) or 'none'}."]
    changes: list[str] = []
    for name, label in HEADER_FIELDS.items():
        old, new = before["header"].get(name, ""), after["header"].get(name, "")
        if old != new:
            changes.append(f"{label}: {_shown(old)} → {_shown(new)}")
    old_dx, new_dx = before["diagnoses"], after["diagnoses"]
    if old_dx != new_dx:
        added = [c for c in new_dx if c not in old_dx]
        removed = [c for c in old_dx if c not in new_dx]
        if added:
            changes.append(f"Diagnoses added: {', '.join(added)}")
        if removed:
            changes.append(f"Diagnoses removed: {', '.join(removed)}")
        if not added and not removed:
            changes.append(f"Diagnoses reordered: {', '.join(new_dx)}")
    old_lines, new_lines = before["lines"], after["lines"]
    for i in range(max(len(old_lines), len(new_lines))):
        old = old_lines[i] if i < len(old_lines) else None
        new = new_lines[i] if i < len(new_lines) else None
        if old is None:
            changes.append(f"Line {i + 1} added: {_line_label(new)}")
        elif new is None:
            changes.append(f"Line {i + 1} removed: {_line_label(old)}")
        else:
            for field, label in LINE_FIELDS.items():
                if str(old.get(field, "")) != str(new.get(field, "")):
                    changes.append(f"Line {i + 1} {label}: {_shown(old.get(field))} → {_shown(new.get(field))}")
    return changes


def changed_fields(before: dict[str, Any] | None, after: dict[str, Any]) -> list[str]:
    """Names only (no values): what the audit trail and the history list record."""
    if before is None:
        return ["created"]
    names = [name for name in HEADER_FIELDS if before["header"].get(name) != after["header"].get(name)]
    if before["diagnoses"] != after["diagnoses"]:
        names.append("diagnoses")
    if before["lines"] != after["lines"]:
        names.append("lines")
    return names


def _line_label(line: dict[str, Any]) -> str:
    modifiers = "".join(f"-{m}" for m in str(line.get("modifiers", "")).split(",") if m)
    units = int(line.get("units") or 1)
    return f"{line['cpt']}{modifiers}" + (f" x{units}" if units > 1 else "")
