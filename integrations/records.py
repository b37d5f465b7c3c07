"""What an EMR adapter returns: plain, vendor-neutral records (no FHIR objects, no HTTP).

Values are already in IamBilly's vocabulary where one exists (sex as F/M/U, dates as dates); what only the EMR
knows stays as the EMR wrote it (its resource ids, the payer's name). Every field holding PHI is a plain string
here: these records live in memory for one request or one task and are never logged (their repr hides them).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field


def _redacted(cls):
    """A repr that names the record and its EMR id only: a record printed in a traceback leaks nothing."""

    def __repr__(self) -> str:
        return f"{cls.__name__}(emr_id={self.emr_id!r}, ...)"

    cls.__repr__ = __repr__
    return cls


@_redacted
@dataclass(frozen=True)
class PatientRecord:
    emr_id: str  # the EMR's Patient id ("erXuFYUfucBZaryVksYEcMg3" at Epic, "a-1.E-14545" at athenahealth)
    family_name: str
    given_name: str
    middle_name: str = ""
    birth_date: dt.date | None = None
    sex: str = "U"  # F | M | U (FHIR's "other" and "unknown" are both U on a claim: 837P DMG03)
    mrn: str = ""
    address_line1: str = ""
    address_line2: str = ""
    city: str = ""
    state: str = ""
    postal_code: str = ""
    phone: str = ""
    active: bool = True
    # The surviving record when the EMR merged this one into another (Patient.link type "replaced-by").
    replaced_by: str = ""


@_redacted
@dataclass(frozen=True)
class SubscriberRecord:
    """The policy holder when it is not the patient (Coverage.subscriber: a RelatedPerson or a Patient)."""

    emr_id: str
    family_name: str = ""
    given_name: str = ""
    birth_date: dt.date | None = None
    sex: str = ""
    address_line1: str = ""
    city: str = ""
    state: str = ""
    postal_code: str = ""


@_redacted
@dataclass(frozen=True)
class CoverageRecord:
    emr_id: str
    member_id: str  # Coverage.subscriberId, else the identifier typed MB (member number)
    payer_name: str  # the payor Organization's name
    payer_identifier: str = ""  # the payer's EDI id when the EMR gives one (an Organization identifier)
    plan_name: str = ""
    group_number: str = ""
    # FHIR subscriber-relationship: self | spouse | child | parent | common | other | injured | "" (not said).
    relationship: str = ""
    order: int | None = None  # 1 = primary (Coverage.order)
    status: str = "active"
    start: dt.date | None = None
    end: dt.date | None = None
    subscriber: SubscriberRecord | None = None


@_redacted
@dataclass(frozen=True)
class PractitionerRecord:
    emr_id: str
    family_name: str = ""
    given_name: str = ""
    npi: str = ""


@_redacted
@dataclass(frozen=True)
class EncounterRecord:
    emr_id: str
    status: str
    start: dt.datetime | dt.date | None = None
    end: dt.datetime | dt.date | None = None
    class_code: str = ""  # AMB, IMP, OUTP...
    type_text: str = ""
    practitioner_ids: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class DocumentRecord:
    """A document IamBilly writes back to the EMR."""

    title: str  # says what it is: "IamBilly signed dictation transcript", "IamBilly coding summary"
    text: str
    date: dt.datetime
    # LOINC type: 11504-8 "Surgical operation note", 34109-9 "Note"; the coding summary is a Note.
    loinc_code: str = "34109-9"
    loinc_display: str = "Note"
