"""The clearinghouse's answers to our 837P files, read as plain data: the 999 and the 277CA.

Two acknowledgements come back for each 837P we send:
- the 999 (005010X231A1 implementation acknowledgment) says whether each transaction set (ST02) of our
  functional group (GS06) passed the X12 and 837P syntax checks, and if not which segment and element failed;
- the 277CA (005010X214 claim acknowledgement) says, claim by claim (TRN02 = our CLM01), whether the claim
  was accepted into the payer's (or clearinghouse's) system or rejected, and why, with the payer's claim
  number (REF*1K) that a replacement or void later quotes in REF*F8.

Nothing here knows Django. `parse_999` and `parse_277ca` take the file's text and return dataclasses; a file
that is not what it should be raises `AckParseError` with a message a biller can act on.

Code meanings are from the X12 code lists: data elements 620 (IK304), 621 (IK403), 717 (IK501), 618 (IK502),
715 (AK901) and 716 (AK905) as published for 005010 and constrained by pyx12's 005010X231A1 map; Claim Status
Category Codes (external code list 507) and Claim Status Codes (external code list 508) as X12/WPC publish
them; Entity Identifier Codes (element 98). An unknown code reads "code NNN": we do not guess a meaning.

PHI: a 277CA carries the patient's name and member id (loop 2100D) and a 999's IK404 may copy a bad value
(a name, an id). The dataclasses keep neither the name nor the member id, and the plain-English messages
leave IK404 out; `ElementError.bad_value` still holds it for a PHI page, so do not log it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

# --- code lists -----------------------------------------------------------------------------------------

# IK304, element 620 Implementation Segment Syntax Error Code (005010; the codes pyx12's X231A1 map allows).
SEGMENT_ERROR_CODES = {
    "1": "Unrecognized segment ID",
    "2": "Unexpected segment",
    "3": "Required segment missing",
    "4": "Loop occurs over maximum times",
    "5": "Segment exceeds maximum use",
    "6": "Segment not in defined transaction set",
    "7": "Segment not in proper sequence",
    "8": "Segment has data element errors",
    "I4": 'Implementation "not used" segment present',
    "I6": "Implementation dependent segment missing",
    "I7": "Implementation loop occurs under minimum times",
    "I8": "Implementation segment below minimum use",
    "I9": 'Implementation dependent "not used" segment present',
}

# IK403, element 621 Implementation Data Element Syntax Error Code (005010).
ELEMENT_ERROR_CODES = {
    "1": "Required data element missing",
    "2": "Conditional required data element missing",
    "3": "Too many data elements",
    "4": "Data element too short",
    "5": "Data element too long",
    "6": "Invalid character in data element",
    "7": "Invalid code value",
    "8": "Invalid date",
    "9": "Invalid time",
    "10": "Exclusion condition violated",
    "12": "Too many repetitions",
    "13": "Too many components",
    "I6": "Code value not used in implementation",
    "I9": "Implementation dependent data element missing",
    "I10": 'Implementation "not used" data element present',
    "I11": "Implementation too few repetitions",
    "I12": "Implementation pattern match failure",
    "I13": 'Implementation dependent "not used" data element present',
}

# IK501, element 717 Transaction Set Acknowledgment Code.
SET_ACK_CODES = {
    "A": "Accepted",
    "E": "Accepted but errors were noted",
    "M": "Rejected, message authentication code (MAC) failed",
    "R": "Rejected",
    "W": "Rejected, assurance failed validity tests",
    "X": "Rejected, content after decryption could not be analyzed",
}
SET_ACCEPTED = ("A", "E")

# IK502-IK506, element 618 Implementation Transaction Set Syntax Error Code (005010).
SET_ERROR_CODES = {
    "1": "Transaction set not supported",
    "2": "Transaction set trailer missing",
    "3": "Transaction set control number in header and trailer do not match",
    "4": "Number of included segments does not match actual count",
    "5": "One or more segments in error",
    "6": "Missing or invalid transaction set identifier",
    "7": "Missing or invalid transaction set control number",
    "8": "Authentication key name unknown",
    "9": "Encryption key name unknown",
    "10": "Requested service (authentication or encryption) not available",
    "11": "Unknown security recipient",
    "12": "Incorrect message length (encryption only)",
    "13": "Message authentication code failed",
    "15": "Unknown security originator",
    "16": "Syntax error in decrypted text",
    "17": "Security not supported",
    "18": "Transaction set not in functional group",
    "19": "Invalid transaction set implementation convention reference",
    "23": "Transaction set control number not unique within the functional group",
    "24": "S3E security end segment missing for S3S security start segment",
    "25": "S3S security start segment missing for S3E security end segment",
    "26": "S4E security end segment missing for S4S security start segment",
    "27": "S4S security start segment missing for S4E security end segment",
    "I5": "Implementation one or more segments in error",
    "I6": "Implementation convention not supported",
}

# AK901, element 715 Functional Group Acknowledge Code.
GROUP_ACK_CODES = {
    "A": "Accepted",
    "E": "Accepted, but errors were noted",
    "M": "Rejected, message authentication code (MAC) failed",
    "P": "Partially accepted, at least one transaction set was rejected",
    "R": "Rejected",
    "W": "Rejected, assurance failed validity tests",
    "X": "Rejected, content after decryption could not be analyzed",
}

# AK905-AK909, element 716 Functional Group Syntax Error Code (005010; the codes the X231A1 map allows).
GROUP_ERROR_CODES = {
    "1": "Functional group not supported",
    "2": "Functional group version not supported",
    "3": "Functional group trailer missing",
    "4": "Group control number in the functional group header and trailer do not agree",
    "5": "Number of included transaction sets does not match actual count",
    "6": "Group control number violates syntax",
    "10": "Authentication key name unknown",
    "11": "Encryption key name unknown",
    "12": "Requested service (authentication or encryption) not available",
    "13": "Unknown security recipient",
    "14": "Unknown security originator",
    "15": "Syntax error in decrypted text",
    "16": "Security not supported",
    "17": "Incorrect message length (encryption only)",
    "18": "Message authentication code failed",
    "19": "Functional group control number not unique within interchange",
    "23": "S3E security end segment missing for S3S security start segment",
    "24": "S3S security start segment missing for S3E end segment",
    "25": "S4E security end segment missing for S4S security start segment",
    "26": "S4S security start segment missing for S4E security end segment",
}

# STC01-1, Claim Status Category Codes (external code list 507). A 277CA uses only the acknowledgement
# categories A0-A8, and E1-E4 in real time for "system unavailable" (X12 RFI 1942 and 2203). For A6/A7/A8 the
# status code beside the category (STC01-2, with the entity in STC01-3) says what is missing or invalid.
CATEGORY_MEANINGS = {
    "A0": "Forwarded: the claim has been forwarded to another entity",
    "A1": "Received: the claim has been received; this does not yet mean it was accepted for adjudication",
    "A2": "Accepted into the adjudication system",
    "A3": "Returned as unprocessable: rejected and not entered into the adjudication system",
    "A4": "Not found: the claim cannot be found in the adjudication system",
    "A5": "Split claim: the claim was split when it was accepted into the adjudication system",
    "A6": "Rejected for missing information",
    "A7": "Rejected for invalid information",
    "A8": "Rejected for a relational field in error",
    "E0": "Response not possible: error on the submitted request data",
    "E1": "Response not possible: system status",
    "E2": "Information holder is not responding; resubmit later",
    "E3": "Correction required: relational fields in error",
    "E4": "Trading partner agreement requirement not met: data correction required",
}
# A1 (and A0, forwarded) mean "not rejected at this hop": the payer's own 277CA (A2, or a rejection) follows.
ACCEPTED_CATEGORIES = frozenset({"A0", "A1", "A2", "A5"})
IN_ADJUDICATION_CATEGORIES = frozenset({"A2", "A5"})
# A3, A6, A7 and A8 say "rejected" in their definitions (X12 RFI 2203); A4, not found, means the claim is not in
# the payer's system either, so it has to be sent again.
REJECTED_CATEGORIES = frozenset({"A3", "A4", "A6", "A7", "A8"})

# STC01-2, Claim Status Codes (external code list 508): the ones front-end edits return most, shortened
# ("Usage: this code requires use of an Entity Code" is dropped; the entity is reported beside it).
STATUS_CODE_MEANINGS = {
    "16": "Claim has been forwarded to entity",
    "19": "Entity acknowledges receipt of the claim",
    "20": "Accepted for processing",
    "21": "Missing or invalid information",
    "23": "Returned to entity",
    "24": "Entity not approved as an electronic submitter",
    "25": "Entity not approved",
    "26": "Entity not found",
    "29": "Subscriber and policy number/contract number mismatched",
    "30": "Subscriber and subscriber id mismatched",
    "31": "Subscriber and policyholder name mismatched",
    "32": "Subscriber and policy number/contract number not found",
    "33": "Subscriber and subscriber id not found",
    "34": "Subscriber and policyholder name not found",
    "35": "Claim not found",
    "54": "Duplicate of a previously processed claim/line",
    "78": "Duplicate of an existing claim/line, awaiting processing",
    "85": "Entity not primary",
    "86": "Diagnosis and patient gender mismatch",
    "88": "Entity not eligible for benefits for submitted dates of service",
    "96": "No agreement with entity",
    "97": "Patient eligibility not found with entity",
    "109": "Entity not eligible",
    "116": "Claim submitted to incorrect payer",
    "117": "Claim requires signature-on-file indicator",
    "121": "Service line number greater than maximum allowable for payer",
    "125": "Entity's name",
    "126": "Entity's address",
    "128": "Entity's tax id",
    "145": "Entity's specialty/taxonomy code",
    "153": "Entity's id number",
    "156": "Patient relationship to subscriber",
    "157": "Entity's gender",
    "158": "Entity's date of birth",
    "163": "Entity's policy/group number",
    "164": "Entity's contract/member number",
    "178": "Submitted charges",
    "187": "Date(s) of service",
    "247": "Line information",
    "249": "Place of service",
    "252": "Entity's prior authorization/certification number",
    "254": "Principal diagnosis code",
    "255": "Diagnosis code",
    "400": "Claim is out of balance",
    "453": "Procedure code modifier(s) for service(s) rendered",
    "454": "Procedure code for services rendered",
    "464": "Payer assigned claim control number",
    "476": "Missing or invalid units of service",
    "477": "Diagnosis code pointer is missing or invalid",
    "479": "Other carrier payer ID is missing or invalid",
    "480": "Entity's claim filing indicator",
    "481": "Claim/submission format is invalid",
    "484": "Business application currently not available",
    "496": "Submitter not approved for electronic claim submissions on behalf of this entity",
    "500": "Entity's postal/ZIP code",
    "501": "Entity's state/province",
    "502": "Entity's city",
    "503": "Entity's street address",
    "504": "Entity's last name",
    "505": "Entity's first name",
    "509": "External cause of injury code",
    "510": "Future date",
    "511": "Invalid character",
    "512": "Length invalid for receiver's application system",
    "535": "Claim frequency code",
    "560": "Entity's additional/secondary identifier",
    "562": "Entity's National Provider Identifier (NPI)",
    "583": "Line item charge amount",
    "584": "Line item control number",
    "673": "Patient reason for visit",
    "684": "Rejected: syntax error noted for this claim; see the 999 for details",
    "700": "ICD-10 code",
    "718": "Claim/service not submitted within the required timeframe (timely filing)",
    "732": "Information submitted inconsistent with billing guidelines",
    "733": "Prefix for entity's contract/member number",
    "743": "Entity's credential/enrollment information",
    "746": "Duplicate submission",
    "755": "Entity's primary identifier",
    "772": "The greatest level of diagnosis code specificity is required",
}

# STC01-3 and NM101, element 98 Entity Identifier Code: the parties a 277CA names.
ENTITY_MEANINGS = {
    "36": "employer",
    "40": "receiver",
    "41": "submitter",
    "77": "service location",
    "82": "rendering provider",
    "85": "billing provider",
    "87": "pay-to provider",
    "AY": "clearinghouse",
    "DN": "referring provider",
    "IL": "subscriber",
    "PR": "payer",
    "QC": "patient",
}

# What the sets in a file are, for the message when the wrong one is uploaded (ST01, element 143).
_TRANSACTION_NAMES = {
    "837": "an 837 claim file",
    "835": "an 835 remittance advice",
    "999": "a 999 implementation acknowledgment",
    "997": "a 997 functional acknowledgment",
    "277": "a 277 claim acknowledgement/status",
    "276": "a 276 claim status request",
    "270": "a 270 eligibility request",
    "271": "a 271 eligibility response",
}


def _meaning(table: dict[str, str], code: str) -> str:
    return table.get(code, f"code {code}")


class AckParseError(ValueError):
    """The text is not an acknowledgement we can read; the message says why and what to do."""


# --- the tokenizer --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Delimiters:
    """Read from the ISA segment, whose layout is fixed so that a reader can learn them from it."""

    element: str  # the character after "ISA"
    repetition: str  # ISA11 (005010); "" when ISA11 is not a separator
    component: str  # ISA16
    segment: str  # the character right after ISA16


@dataclass(frozen=True)
class Segment:
    id: str
    elements: tuple[str, ...]  # elements[0] is XX01
    delimiters: Delimiters

    def element(self, position: int) -> str:
        """XXnn (1-based); "" when the segment stops before it."""
        return self.elements[position - 1] if 0 < position <= len(self.elements) else ""

    def components(self, position: int) -> list[str]:
        """The components of a composite XXnn (STC01 is category:status:entity); [] when XXnn is empty."""
        value = self.element(position)
        return value.split(self.delimiters.component) if value else []


def tokenize(text: str | bytes) -> tuple[Delimiters, list[Segment]]:
    """Split an X12 interchange into segments, with the delimiters its ISA declares.

    Newlines between segments are tolerated (most files put one after each terminator). The text must start
    with ISA and end with IEA: anything else is not an interchange, or a truncated one.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    text = text.lstrip("\ufeff \t\r\n")
    if not text:
        raise AckParseError("The file is empty: there is no acknowledgement in it.")
    if not text.startswith("ISA"):
        where = "it has other text before its ISA segment" if "ISA" in text else "it has no ISA segment"
        raise AckParseError(f"This is not an X12 acknowledgement: {where}. Upload the 999 or 277CA file "
                            "exactly as the clearinghouse sent it.")
    element = text[3:4]
    if not element or element.isalnum() or element.isspace():
        raise AckParseError("This is not an X12 acknowledgement: the ISA segment has no element separator.")
    # ISA16 (the component separator) follows the 16th element separator; the segment terminator follows it.
    at = -1
    for _ in range(16):
        at = text.find(element, at + 1)
        if at < 0:
            break
    if at < 0 or len(text) < at + 3:
        raise AckParseError("The ISA segment is cut short: the file is damaged or truncated. Ask the "
                            "clearinghouse to send it again.")
    component, terminator = text[at + 1], text[at + 2]
    isa11 = text[:at].split(element)[11]
    repetition = isa11 if len(isa11) == 1 and not isa11.isalnum() else ""
    if len({element, component, terminator}) < 3 or terminator.isalnum():
        raise AckParseError("The ISA segment declares clashing delimiters: the file is not valid X12.")
    delimiters = Delimiters(element=element, repetition=repetition, component=component, segment=terminator)

    truncated = AckParseError("The file is truncated: it ends without the IEA (interchange trailer) segment. "
                              "Download it again from the clearinghouse.")
    pieces = [raw.strip("\r\n") for raw in text.split(terminator)]
    pieces = [raw for raw in pieces if raw]
    segments = []
    for number, raw in enumerate(pieces, start=1):
        parts = raw.split(element)
        if not (2 <= len(parts[0]) <= 3 and parts[0].isalnum()):
            if number == len(pieces):
                raise truncated  # cut in the middle of a segment
            raise AckParseError(f"Segment {number} does not start with a segment id ({parts[0][:12]!r}): "
                                "the file is damaged or not X12.")
        segments.append(Segment(id=parts[0].upper(), elements=tuple(parts[1:]), delimiters=delimiters))
    if segments[-1].id != "IEA":
        raise truncated
    # A file may hold several interchanges back to back; each IEA closes the ISA before it.
    isa = None
    for segment in segments:
        if segment.id == "ISA":
            if isa is not None:
                raise truncated
            isa = segment
        elif segment.id == "IEA":
            if isa is None:
                raise AckParseError("An IEA trailer has no ISA header: the file is damaged.")
            if segment.element(2).strip() != isa.element(13).strip():
                raise AckParseError(f"The IEA control number ({segment.element(2)}) does not match the ISA's "
                                    f"({isa.element(13)}): the file is damaged. Download it again.")
            isa = None
    return delimiters, segments


@dataclass
class _TransactionSet:
    """One ST..SE, with the envelope around it."""

    isa: Segment
    gs: Segment | None
    st: Segment
    body: list[Segment]  # between ST and SE


def _transaction_sets(segments: list[Segment], expected: str) -> list[_TransactionSet]:
    sets: list[_TransactionSet] = []
    isa = gs = current = None
    for segment in segments:
        if segment.id == "ISA":
            isa = segment
        elif segment.id == "GS":
            gs = segment
        elif segment.id == "ST":
            if current is not None:
                raise AckParseError(f"Transaction set {current.st.element(2)} has no SE trailer: the file is "
                                    "truncated or damaged.")
            current = _TransactionSet(isa=isa, gs=gs, st=segment, body=[])
        elif segment.id == "SE":
            if current is None:
                raise AckParseError("An SE trailer has no ST header: the file is damaged.")
            sets.append(current)
            current = None
        elif current is not None:
            current.body.append(segment)
    if current is not None:
        raise AckParseError(f"Transaction set {current.st.element(2)} has no SE trailer: the file is truncated.")
    if not sets:
        raise AckParseError(f"This interchange holds no transaction set, so it is not {_TRANSACTION_NAMES[expected]}"
                            " (it may be a TA1 interchange acknowledgement).")
    for found in sets:
        kind = found.st.element(1)
        if kind != expected:
            what = _TRANSACTION_NAMES.get(kind, f"transaction set {kind or '(none)'}")
            raise AckParseError(f"This file is {what} (ST01={kind}), not {_TRANSACTION_NAMES[expected]}. "
                                "Check which file was uploaded.")
    return sets


def _int(value: str, what: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise AckParseError(f"{what} is {value!r}, not a number: the file is damaged.")


def _amount(value: str, what: str) -> Decimal | None:
    if not value:
        return None
    try:
        return Decimal(value)
    except InvalidOperation:
        raise AckParseError(f"{what} is {value!r}, not an amount: the file is damaged.")


def _date(value: str, what: str) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.datetime.strptime(value, "%Y%m%d").date()
    except ValueError:
        raise AckParseError(f"{what} is {value!r}, not a CCYYMMDD date: the file is damaged.")


def _date_range(dtp: Segment, what: str) -> tuple[dt.date | None, dt.date | None]:
    """DTP02 D8 (one date) or RD8 (CCYYMMDD-CCYYMMDD)."""
    start, _, end = dtp.element(3).partition("-")
    first = _date(start, what)
    return first, _date(end, what) if end else first


# --- 999 -----------------------------------------------------------------------------------------------


@dataclass
class ElementError:
    """IK4: one element of the segment that failed."""

    segment_id: str
    position: int  # IK401-1: CLM05 is 5
    component_position: int | None  # IK401-2: CLM05-1 is 1
    repetition_position: int | None  # IK401-3
    element_reference: str  # IK402: the data element number (1331 facility code)
    code: str  # IK403
    bad_value: str = ""  # IK404, a copy of what we sent; may be PHI, so the messages leave it out

    @property
    def meaning(self) -> str:
        return _meaning(ELEMENT_ERROR_CODES, self.code)

    @property
    def reference(self) -> str:
        """CLM05, CLM05-1, or HI01-2 (repeat 3)."""
        name = f"{self.segment_id}{self.position:02d}"
        if self.component_position:
            name += f"-{self.component_position}"
        if self.repetition_position:
            name += f" (repeat {self.repetition_position})"
        return name


@dataclass
class SegmentError:
    """IK3: a segment of our transaction set that failed, with its element errors (IK4)."""

    segment_id: str  # IK301
    position: int  # IK302: the segment's count in the set, ST being 1
    loop_id: str  # IK303: 2300, 2400, ...
    code: str  # IK304; empty when only IK4s say what is wrong
    patient_control_number: str = ""  # CTX*CLM01: the claim (our CLM01) the error is in
    element_errors: list[ElementError] = field(default_factory=list)

    @property
    def meaning(self) -> str:
        return _meaning(SEGMENT_ERROR_CODES, self.code) if self.code else ""

    @property
    def where(self) -> str:
        parts = [f"segment {self.segment_id} at position {self.position}"]
        if self.loop_id:
            parts.append(f"loop {self.loop_id}")
        if self.patient_control_number:
            parts.append(f"claim {self.patient_control_number}")
        return ", ".join(parts)

    def messages(self) -> list[str]:
        """One sentence per problem: 'Required data element missing (IK403=1) in CLM05-1 (segment CLM at ...)'."""
        found = [f"{e.meaning} (IK403={e.code}) in {e.reference} ({self.where})" for e in self.element_errors]
        # IK304=8 only says "see the IK4s"; any other code is a problem of the segment itself.
        if self.code and (self.code != "8" or not found):
            found.insert(0, f"{self.meaning} (IK304={self.code}): {self.where}")
        return found or [f"Error in {self.where}"]


@dataclass
class SetAck:
    """AK2..IK5: how one of our transaction sets (ST02) fared."""

    transaction_set_id: str  # AK201: 837
    control_number: str  # AK202: our ST02
    implementation_reference: str  # AK203: 005010X222A1
    code: str = ""  # IK501
    syntax_error_codes: list[str] = field(default_factory=list)  # IK502-IK506
    segment_errors: list[SegmentError] = field(default_factory=list)

    @property
    def code_meaning(self) -> str:
        return _meaning(SET_ACK_CODES, self.code)

    @property
    def accepted(self) -> bool:
        """A, or E (accepted with errors noted: the claims go on, the errors are worth fixing)."""
        return self.code in SET_ACCEPTED

    @property
    def errors(self) -> list[str]:
        found = [message for error in self.segment_errors for message in error.messages()]
        found += [f"{_meaning(SET_ERROR_CODES, c)} (IK50{i + 2}={c})" for i, c in enumerate(self.syntax_error_codes)]
        return found

    @property
    def patient_control_numbers(self) -> list[str]:
        """The claims (CLM01) the 999 names in its errors, in order, each once."""
        return list(dict.fromkeys(e.patient_control_number for e in self.segment_errors if e.patient_control_number))


@dataclass
class FunctionalAck:
    """One 999 transaction set: the acknowledgement of one of our functional groups (GS06)."""

    functional_id: str  # AK101: HC for an 837
    group_control_number: str  # AK102: the GS06 of our 837 file
    version: str  # AK103: 005010X222A1
    ack_interchange_control_number: str  # the 999's own ISA13 (the clearinghouse's; a 999 does not echo ours)
    usage_indicator: str  # ISA15: T test, P production
    code: str = ""  # AK901
    sets_included: int = 0  # AK902
    sets_received: int = 0  # AK903
    sets_accepted: int = 0  # AK904
    group_error_codes: list[str] = field(default_factory=list)  # AK905-AK909
    sets: list[SetAck] = field(default_factory=list)

    @property
    def code_meaning(self) -> str:
        return _meaning(GROUP_ACK_CODES, self.code)

    @property
    def accepted_sets(self) -> list[SetAck]:
        return [s for s in self.sets if s.accepted]

    @property
    def rejected_sets(self) -> list[SetAck]:
        return [s for s in self.sets if not s.accepted]

    @property
    def group_errors(self) -> list[str]:
        return [f"{_meaning(GROUP_ERROR_CODES, c)} (AK9{i + 5:02d}={c})" for i, c in enumerate(self.group_error_codes)]

    def set_ack(self, control_number: str) -> SetAck | None:
        return next((s for s in self.sets if s.control_number == control_number), None)


def parse_999_all(text: str | bytes) -> list[FunctionalAck]:
    """Every 999 in the file: one per functional group acknowledged."""
    _, segments = tokenize(text)
    return [_read_999(found) for found in _transaction_sets(segments, "999")]


def parse_999(text: str | bytes) -> FunctionalAck:
    """The 999 answering one 837P file (one functional group, which is what we send)."""
    acks = parse_999_all(text)
    if len(acks) > 1:
        raise AckParseError(f"This 999 acknowledges {len(acks)} functional groups "
                            f"({', '.join(a.group_control_number for a in acks)}): read it with parse_999_all.")
    return acks[0]


def _read_999(found: _TransactionSet) -> FunctionalAck:
    ack: FunctionalAck | None = None
    current_set: SetAck | None = None
    current_error: SegmentError | None = None
    for segment in found.body:
        if segment.id == "AK1":
            ack = FunctionalAck(functional_id=segment.element(1), group_control_number=segment.element(2),
                                version=segment.element(3),
                                ack_interchange_control_number=found.isa.element(13).strip(),
                                usage_indicator=found.isa.element(15).strip())
            continue
        if ack is None:
            raise AckParseError(f"The 999 has {segment.id} before its AK1 segment: the file is damaged.")
        if segment.id == "AK2":
            current_set = SetAck(transaction_set_id=segment.element(1), control_number=segment.element(2),
                                 implementation_reference=segment.element(3))
            current_error = None
            ack.sets.append(current_set)
        elif segment.id == "IK3":
            if current_set is None:
                raise AckParseError("The 999 has an IK3 outside an AK2 transaction set: the file is damaged.")
            current_error = SegmentError(segment_id=segment.element(1),
                                         position=_int(segment.element(2), "IK302 (segment position)"),
                                         loop_id=segment.element(3), code=segment.element(4))
            current_set.segment_errors.append(current_error)
        elif segment.id == "CTX":
            # The business unit CTX names the claim the error sits in (CTX01-1 CLM01, CTX01-2 its value).
            context = segment.components(1)
            if current_error is not None and len(context) > 1 and context[0] == "CLM01":
                current_error.patient_control_number = context[1]
        elif segment.id == "IK4":
            if current_error is None:
                raise AckParseError("The 999 has an IK4 with no IK3 before it: the file is damaged.")
            where = segment.components(1) + ["", "", ""]
            current_error.element_errors.append(ElementError(
                segment_id=current_error.segment_id,
                position=_int(where[0], "IK401 (element position)"),
                component_position=_int(where[1], "IK401-2") if where[1] else None,
                repetition_position=_int(where[2], "IK401-3") if where[2] else None,
                element_reference=segment.element(2), code=segment.element(3), bad_value=segment.element(4)))
        elif segment.id == "IK5":
            if current_set is None:
                raise AckParseError("The 999 has an IK5 outside an AK2 transaction set: the file is damaged.")
            current_set.code = segment.element(1)
            current_set.syntax_error_codes = [c for c in segment.elements[1:6] if c]
            current_set, current_error = None, None
        elif segment.id == "AK9":
            ack.code = segment.element(1)
            ack.sets_included = _int(segment.element(2), "AK902")
            ack.sets_received = _int(segment.element(3), "AK903")
            ack.sets_accepted = _int(segment.element(4), "AK904")
            ack.group_error_codes = [c for c in segment.elements[4:9] if c]
    if ack is None or not ack.code:
        raise AckParseError("The 999 lacks its AK1 or AK9 segment: the file is damaged.")
    return ack


# --- 277CA ---------------------------------------------------------------------------------------------


@dataclass
class StatusInfo:
    """One status composite of an STC segment (STC01, or STC10/STC11 for a second and third)."""

    category: str  # STC01-1, code list 507
    code: str  # STC01-2, code list 508
    entity: str = ""  # STC01-3, element 98: whose data the status is about
    action: str = ""  # STC03: WQ accepted, U rejected
    effective_date: dt.date | None = None  # STC02
    message: str = ""  # STC12 free text, when the sender gives one

    @property
    def category_meaning(self) -> str:
        return _meaning(CATEGORY_MEANINGS, self.category)

    @property
    def code_meaning(self) -> str:
        return _meaning(STATUS_CODE_MEANINGS, self.code)

    @property
    def entity_meaning(self) -> str:
        return _meaning(ENTITY_MEANINGS, self.entity) if self.entity else ""

    @property
    def rejects(self) -> bool:
        # STC03 U is the 277CA's reject action (X12 RFI 2203); the category says so too for A3/A4/A6/A7/A8.
        return self.action == "U" or self.category in REJECTED_CATEGORIES

    @property
    def accepts(self) -> bool:
        return not self.rejects and (self.action == "WQ" or self.category in ACCEPTED_CATEGORIES)

    def describe(self) -> str:
        """'Rejected for invalid information (A7): Entity's National Provider Identifier (NPI) (562), billing ...'"""
        text = f"{self.category_meaning} ({self.category}): {self.code_meaning} ({self.code})"
        if self.entity:
            text += f", {self.entity_meaning} ({self.entity})"
        return text + (f". {self.message}" if self.message else "")


def _statuses(stc: Segment) -> list[StatusInfo]:
    date = _date(stc.element(2), "STC02 (status date)")
    found = []
    for position in (1, 10, 11):
        parts = stc.components(position)
        if parts:
            parts += ["", "", ""]
            found.append(StatusInfo(category=parts[0], code=parts[1], entity=parts[2], action=stc.element(3),
                                    effective_date=date, message=stc.element(12)))
    return found


@dataclass
class LineAck:
    """2220D: a service line the 277CA reports; it does so only for a line that caused the claim's rejection."""

    procedure_qualifier: str  # SVC01-1: HC (CPT/HCPCS)
    procedure_code: str  # SVC01-2
    modifiers: list[str]  # SVC01-3..6
    charge: Decimal | None  # SVC02
    units: Decimal | None  # SVC07
    line_control_number: str = ""  # REF*FJ: our REF*6R
    service_date_from: dt.date | None = None  # DTP*472
    service_date_to: dt.date | None = None
    statuses: list[StatusInfo] = field(default_factory=list)

    @property
    def outcome(self) -> str:
        return "rejected" if any(s.rejects for s in self.statuses) else "pending"

    def describe(self) -> str:
        line = self.line_control_number or "without a line control number"
        procedure = "-".join([self.procedure_code, *self.modifiers])
        return f"Line {line} ({procedure}): " + "; ".join(s.describe() for s in self.statuses)


@dataclass
class ClaimAck:
    """2200D: one of our claims, found by its patient control number (TRN02 = our CLM01)."""

    patient_control_number: str
    batch_reference: str  # the 837's BHT03 the claim came in (2200B TRN02)
    billing_provider_id: str  # 2100C NM109 (an NPI when NM108 is XX)
    statuses: list[StatusInfo] = field(default_factory=list)
    payer_claim_number: str = ""  # REF*1K: quote it in REF*F8 on a replacement (7) or void (8)
    clearinghouse_trace_number: str = ""  # REF*D9
    total_charge: Decimal | None = None  # STC04: the total the receiver read (our CLM02)
    service_date_from: dt.date | None = None  # DTP*472
    service_date_to: dt.date | None = None
    line_acks: list[LineAck] = field(default_factory=list)

    @property
    def outcome(self) -> str:
        """'rejected' | 'accepted' | 'pending'.

        Rejected when any claim status rejects or a line was rejected (2220D is reported only for a line that
        "caused the rejection of a claim", X12 RFI 2203). Accepted when a status accepts it (A0/A1 at the
        clearinghouse, A2/A5 at the payer, or action WQ). Anything else (an E category, an unknown one) is pending.
        """
        if any(s.rejects for s in self.statuses) or any(line.outcome == "rejected" for line in self.line_acks):
            return "rejected"
        return "accepted" if any(s.accepts for s in self.statuses) else "pending"

    @property
    def in_adjudication(self) -> bool:
        """A2 (or A5, split on acceptance): the payer itself took the claim in; A1 alone is a receipt only."""
        return self.outcome == "accepted" and any(s.category in IN_ADJUDICATION_CATEGORIES for s in self.statuses)

    @property
    def problems(self) -> list[str]:
        """What a biller has to fix, in plain English: the rejecting statuses and rejected lines."""
        found = [s.describe() for s in self.statuses if s.rejects]
        return found + [line.describe() for line in self.line_acks if line.outcome == "rejected"]


@dataclass
class ProviderAck:
    """2000C: the billing provider level, with its own status and counts."""

    identifier_qualifier: str  # NM108: XX NPI, FI tax id
    identifier: str  # NM109
    statuses: list[StatusInfo] = field(default_factory=list)
    accepted_quantity: int | None = None  # QTY*QA
    rejected_quantity: int | None = None  # QTY*QC
    accepted_amount: Decimal | None = None  # AMT*YU
    rejected_amount: Decimal | None = None  # AMT*YY


@dataclass
class BatchAck:
    """2000A + 2000B: who answers (payer or clearinghouse) for which of our 837 transaction sets."""

    source_type: str  # 'payer' (NM1*PR) | 'clearinghouse' (NM1*AY)
    source_name: str
    source_id: str  # 2100A NM109: the payer id, or the clearinghouse's ETIN
    source_trace: str = ""  # 2200A TRN02: the source's own batch number
    received_date: dt.date | None = None  # DTP*050
    processed_date: dt.date | None = None  # DTP*009
    receiver_name: str = ""  # 2100B: us
    receiver_id: str = ""
    batch_reference: str = ""  # 2200B TRN02: the BHT03 of our 837 (005010X214 TRN note)
    statuses: list[StatusInfo] = field(default_factory=list)
    accepted_quantity: int | None = None  # QTY*90
    rejected_quantity: int | None = None  # QTY*AA
    accepted_amount: Decimal | None = None  # AMT*YU
    rejected_amount: Decimal | None = None  # AMT*YY
    providers: list[ProviderAck] = field(default_factory=list)

    @property
    def rejected(self) -> bool:
        """2200B STC03 U: the whole 837 transaction set was rejected for submitter-level errors."""
        return any(s.rejects for s in self.statuses)


@dataclass
class ClaimAckReport:
    """A 277CA file: its batches and every claim it reports on."""

    ack_interchange_control_number: str  # the 277CA's own ISA13 (the first one, if the file holds several)
    sender_id: str  # ISA06
    usage_indicator: str  # ISA15: T test, P production
    batches: list[BatchAck] = field(default_factory=list)
    claims: list[ClaimAck] = field(default_factory=list)

    @property
    def accepted_claims(self) -> list[ClaimAck]:
        return [c for c in self.claims if c.outcome == "accepted"]

    @property
    def rejected_claims(self) -> list[ClaimAck]:
        return [c for c in self.claims if c.outcome == "rejected"]

    @property
    def pending_claims(self) -> list[ClaimAck]:
        return [c for c in self.claims if c.outcome == "pending"]

    def claim(self, patient_control_number: str) -> ClaimAck | None:
        return next((c for c in self.claims if c.patient_control_number == patient_control_number), None)


def parse_277ca(text: str | bytes) -> ClaimAckReport:
    """Read a 277CA (005010X214): batch, provider and claim statuses, payer claim numbers, rejected lines."""
    _, segments = tokenize(text)
    sets = _transaction_sets(segments, "277")
    isa = sets[0].isa
    report = ClaimAckReport(ack_interchange_control_number=isa.element(13).strip(),
                            sender_id=isa.element(6).strip(), usage_indicator=isa.element(15).strip())
    for found in sets:
        version = found.st.element(3) or (found.gs.element(8) if found.gs else "")
        if "X214" not in version:
            kind = "a claim status response to a 276 inquiry" if "X212" in version else f"version {version!r}"
            raise AckParseError(f"This 277 is {kind}, not a 277CA claim acknowledgement (005010X214).")
        _read_277ca(found, report)
    return report


def _read_277ca(found: _TransactionSet, report: ClaimAckReport) -> None:
    level = ""
    batch: BatchAck | None = None
    provider: ProviderAck | None = None
    claim: ClaimAck | None = None
    line: LineAck | None = None
    for segment in found.body:
        sid = segment.id
        if sid == "HL":
            level, claim, line = segment.element(3), None, None
            if level == "20":
                batch, provider = BatchAck(source_type="", source_name="", source_id=""), None
                report.batches.append(batch)
            elif level in ("21", "19", "PT") and batch is None:
                raise AckParseError(f"The 277CA has an HL level {level} before its information source (HL 20).")
            elif level == "19":
                provider = ProviderAck(identifier_qualifier="", identifier="")
                batch.providers.append(provider)
            elif level not in ("21", "PT"):
                raise AckParseError(f"The 277CA has an unknown HL level {level!r} (HL03): the file is damaged.")
        elif sid == "NM1":
            if level == "20":
                batch.source_type = {"PR": "payer", "AY": "clearinghouse"}.get(segment.element(1), segment.element(1))
                batch.source_name, batch.source_id = segment.element(3), segment.element(9)
            elif level == "21":
                batch.receiver_name, batch.receiver_id = segment.element(3), segment.element(9)
            elif level == "19":
                provider.identifier_qualifier, provider.identifier = segment.element(8), segment.element(9)
            # 2100D (NM1*QC) is the patient's name and member id: PHI we do not need, so it is not kept.
        elif sid == "TRN":
            if level == "20":
                batch.source_trace = segment.element(2)
            elif level == "21":
                batch.batch_reference = segment.element(2)
            elif level == "PT":
                # Each 2200D (TRN*2) is one claim; a patient may have several.
                claim = ClaimAck(patient_control_number=segment.element(2), batch_reference=batch.batch_reference,
                                 billing_provider_id=provider.identifier if provider else "")
                line = None
                report.claims.append(claim)
        elif sid == "STC":
            statuses = _statuses(segment)
            if line is not None:
                line.statuses += statuses
            elif claim is not None:
                claim.statuses += statuses
                if claim.total_charge is None:
                    claim.total_charge = _amount(segment.element(4), "STC04 (total claim charge)")
            elif level == "19":
                provider.statuses += statuses
            elif level == "21":
                batch.statuses += statuses
        elif sid in ("QTY", "AMT"):
            _read_total(segment, batch if level == "21" else provider if level == "19" else None)
        elif sid == "DTP":
            qualifier = segment.element(1)
            if level == "20" and qualifier in ("050", "009"):
                date = _date(segment.element(3), f"DTP*{qualifier}")
                if qualifier == "050":
                    batch.received_date = date
                else:
                    batch.processed_date = date
            elif qualifier == "472" and claim is not None:
                dated = line if line is not None else claim
                dated.service_date_from, dated.service_date_to = _date_range(segment, "DTP*472")
        elif sid == "REF" and claim is not None:
            qualifier, value = segment.element(1), segment.element(2)
            if line is not None and qualifier == "FJ":
                line.line_control_number = value
            elif line is None and qualifier == "1K":
                claim.payer_claim_number = value
            elif line is None and qualifier == "D9":
                claim.clearinghouse_trace_number = value
        elif sid == "SVC":
            if claim is None:
                raise AckParseError("The 277CA has a service line (SVC) outside a claim: the file is damaged.")
            procedure = segment.components(1) + ["", ""]
            line = LineAck(procedure_qualifier=procedure[0], procedure_code=procedure[1],
                           modifiers=[m for m in procedure[2:6] if m],
                           charge=_amount(segment.element(2), "SVC02 (line charge)"),
                           units=_amount(segment.element(7), "SVC07 (units)"))
            claim.line_acks.append(line)


def _read_total(segment: Segment, level: BatchAck | ProviderAck | None) -> None:
    """QTY 90/QA accepted, AA/QC rejected claims; AMT YU accepted, YY rejected amounts (2200B and 2200C)."""
    if level is None:
        return
    qualifier, value = segment.element(1), segment.element(2)
    if segment.id == "QTY" and qualifier in ("90", "QA", "AA", "QC"):
        count = _int(value, f"QTY*{qualifier}")
        if qualifier in ("90", "QA"):
            level.accepted_quantity = count
        else:
            level.rejected_quantity = count
    elif segment.id == "AMT" and qualifier in ("YU", "YY"):
        amount = _amount(value, f"AMT*{qualifier}")
        if qualifier == "YU":
            level.accepted_amount = amount
        else:
            level.rejected_amount = amount
