"""Identifiers a claim carries, checked before they reach a payer: NPI, taxonomy, tax id, ZIP, state, phone.

Pure functions (no database) and Django validators built on them. Each failure says what is wrong in words a
billing manager understands, because a claim rejected at the clearinghouse for a bad NPI costs days.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError

# The NPI check digit is the Luhn digit of the 9 leading digits prefixed with 80840 (the card issuer
# identifier for health in ISO 7812); CMS "NPI: Check Digit" in the NPS final rule, 45 CFR 162.406.
NPI_PREFIX = "80840"


def luhn_check_digit(digits: str) -> int:
    """The Luhn digit that makes `digits` + digit pass the Luhn test."""
    total = 0
    for i, char in enumerate(reversed(digits)):
        value = int(char)
        if i % 2 == 0:  # every second digit from the right, starting with the rightmost of the payload
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return (10 - total % 10) % 10


def npi_problem(npi: str) -> str | None:
    """Why `npi` is not a valid NPI, or None when it is."""
    value = (npi or "").strip()
    if not re.fullmatch(r"\d{10}", value):
        return "An NPI is exactly 10 digits."
    if value[0] not in "12":
        return "An NPI starts with 1 (a person) or 2 (an organisation)."
    if luhn_check_digit(NPI_PREFIX + value[:9]) != int(value[9]):
        return f"{value} fails the NPI check digit: a digit is probably mistyped."
    return None


def npi_with_check_digit(first_nine: str) -> str:
    """A valid NPI from 9 digits (demo data and tests)."""
    return first_nine + str(luhn_check_digit(NPI_PREFIX + first_nine))


# NUCC health care provider taxonomy: 10 characters, the last is "X" (e.g. 207X00000X orthopaedic surgery).
_TAXONOMY = re.compile(r"[0-9]{3}[0-9A-Z]{6}X")


def taxonomy_problem(code: str) -> str | None:
    if not _TAXONOMY.fullmatch((code or "").strip().upper()):
        return "A provider taxonomy code is 10 characters ending in X, like 207X00000X (NUCC code set)."
    return None


def ein_problem(ein: str) -> str | None:
    digits = re.sub(r"[\s-]", "", ein or "")
    if not re.fullmatch(r"\d{9}", digits):
        return "An EIN is 9 digits (12-3456789)."
    if digits[:2] in {"00", "07", "08", "09", "17", "18", "19", "28", "29", "49", "69", "70", "78", "79", "89",
                      "96", "97"}:
        return f"{digits[:2]} is not a prefix the IRS assigns to EINs."
    return None


def ssn_problem(ssn: str) -> str | None:
    digits = re.sub(r"[\s-]", "", ssn or "")
    if not re.fullmatch(r"\d{9}", digits):
        return "A social security number is 9 digits."
    if digits[:3] in {"000", "666"} or digits[0] == "9" or digits[3:5] == "00" or digits[5:] == "0000":
        return "This is not a number the Social Security Administration issues."
    return None


_STATE_CODES = ("AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC "
                "ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY AS GU MP PR VI")
US_STATES = frozenset(_STATE_CODES.split(" "))


def state_problem(state: str) -> str | None:
    if (state or "").strip().upper() not in US_STATES:
        return "Use the two-letter postal code of a US state or territory (e.g. OH)."
    return None


def postal_code_problem(code: str, *, nine_digits: bool = False) -> str | None:
    digits = re.sub(r"[\s-]", "", code or "")
    if nine_digits:
        # 837P 2010AA N403: the billing provider's ZIP must be the full ZIP+4.
        if not re.fullmatch(r"\d{9}", digits):
            return "The billing provider's ZIP code must be the full ZIP+4 (9 digits, e.g. 43215-1234)."
        return None
    if not re.fullmatch(r"\d{5}(\d{4})?", digits):
        return "A ZIP code is 5 digits or ZIP+4 (43215 or 43215-1234)."
    return None


def normalize_postal_code(code: str) -> str:
    return re.sub(r"[\s-]", "", code or "")


# "PO Box", "P.O. Box", "Post Office Box", "POB 12", "Lock Box", "Lockbox": none is a physical address.
_PO_BOX = re.compile(r"\b(?:p\.?\s*o\.?\s*b(?:ox)?\.?|post\s+office\s+box|lock\s*box|pob)\b\s*#?\s*\d*", re.IGNORECASE)


def is_po_box(address_line: str) -> bool:
    return bool(_PO_BOX.search(address_line or ""))


def normalize_phone(phone: str) -> str:
    """Ten digits, the way X12 PER04 wants them; a leading US country code 1 is dropped."""
    digits = re.sub(r"\D", "", phone or "")
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    return digits


def phone_problem(phone: str) -> str | None:
    digits = normalize_phone(phone)
    if not re.fullmatch(r"[2-9]\d{2}[2-9]\d{6}", digits):
        return "A US phone number is 10 digits, like (614) 555-0142."
    return None


def _raise_if(message: str | None) -> None:
    if message:
        raise ValidationError(message)


# Plain module-level functions: migrations serialise field validators by their import path.
def validate_npi(value: str) -> None:
    _raise_if(npi_problem(value))


def validate_taxonomy(value: str) -> None:
    _raise_if(taxonomy_problem(value))


def validate_state(value: str) -> None:
    _raise_if(state_problem(value))


def validate_postal_code(value: str) -> None:
    _raise_if(postal_code_problem(value))


def validate_phone(value: str) -> None:
    _raise_if(phone_problem(value))


def validate_physical_address(value: str) -> None:
    if is_po_box(value):
        raise ValidationError("This must be a street address: payers refuse a PO box here (837P 2010AA, 2310C).")
