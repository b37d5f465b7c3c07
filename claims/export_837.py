"""The X12 837P (005010X222A1) writer: a ClaimBatch in, one interchange out, as text.

Pure: it reads the plain data of `claims.claim_document` and knows no model, no database and no clock (every
date comes from the batch), so the same batch always gives the same bytes (the golden-file tests rely on it).

Layout of what it writes: one ISA/GS/ST envelope; loop 1000A (submitter, with PER) and 1000B (receiver); one
2000A billing provider HL per billing provider; under it one 2000B subscriber HL per subscriber and payer; a
claim whose patient is the subscriber (SBR02 = 18) sits in 2300 under the 2000B, a dependent's claim under a
2000C patient HL (PAT01 = the relationship). Loop 2300 carries CLM, dates, amounts, references, the note and HI,
then 2310A referring, 2310B rendering and 2310C service facility; each service line is a 2400 LX with SV1,
DTP*472, REF*6R and, for a drug, 2410 LIN/CTP.

Delimiters: element '*', component ':', repetition '^', segment terminator '~'. Each terminator is followed by a
newline: X12 allows characters between segments, and readers (pyx12, clearinghouses) skip CR/LF after the
terminator, so a file stays readable in an editor and segment N is line N. The ISA is exactly 106 characters
(fixed-width fields, terminator included), which is how readers find the delimiters.

The 837P is refused (Export837Error) rather than written when any claim has a problem: a writer never emits a
claim a payer must reject. The problems are `claim_problems` (claim_document) plus what only the 837P needs
(`export_problems`).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field, replace
from decimal import Decimal

from billy import identifiers
from claims.claim_document import (
    Address,
    ClaimBatch,
    ClaimDocument,
    ClaimProblem,
    Envelope,
    PatientParty,
    PayerParty,
    ProviderParty,
    claim_problems,
)

ELEMENT_SEPARATOR = "*"
COMPONENT_SEPARATOR = ":"
REPETITION_SEPARATOR = "^"
SEGMENT_TERMINATOR = "~"
IMPLEMENTATION_GUIDE = "005010X222A1"  # the HIPAA-adopted 837P (pyx12 has no map for X222A2)
DELIMITERS = ELEMENT_SEPARATOR + COMPONENT_SEPARATOR + REPETITION_SEPARATOR + SEGMENT_TERMINATOR

# PAT01 codes of the 837P 2000C loop (the patient's relationship to the insured, CMS-1500 item 6).
PATIENT_RELATIONSHIPS = {"01": "spouse", "19": "child", "20": "employee", "21": "unknown", "39": "organ donor",
                         "40": "cadaver donor", "53": "life partner", "G8": "other relationship"}
DRUG_UNITS = ("F2", "GR", "ME", "ML", "UN")  # CTP05-1 (2410)
ICD10_WITHOUT_DOT = re.compile(r"[A-Z][0-9][0-9A-Z]{1,5}")  # 3 to 7 characters once the dot is dropped

# What an X12 data element may hold once upper-cased: the basic character set plus the extended set's
# % @ [ ] _ { } \ | < > # $ (X12.6 character sets), minus our four delimiters. Everything else becomes a space.
_NOT_X12 = re.compile(r"""[^A-Z0-9 !"&'()+,\-./;?=%@\[\]_{}\\|<>#$]""")
_NOT_X12_MIXED_CASE = re.compile(r"""[^A-Za-z0-9 !"&'()+,\-./;?=%@\[\]_{}\\|<>#$]""")


class Export837Error(ValueError):
    """A batch that cannot become an 837P; the message says which claim and what a biller must fix."""

    def __init__(self, message: str, problems: dict[str, list[ClaimProblem]] | None = None):
        super().__init__(message)
        self.problems = problems or {}  # claim number (or "envelope") -> its problems, for a screen to list


def write_837p(batch: ClaimBatch) -> str:
    """The batch as one 837P interchange (text, segments separated by '~' and a newline).

    Raises Export837Error, naming each claim and its problems, when the batch holds an invalid claim.
    """
    problems = batch_problems(batch)
    if problems:
        raise Export837Error(_problems_message(problems), problems)
    out = _Segments()
    envelope = batch.envelope
    _write_header(out, envelope)
    hl = 0
    for billing, subscribers in _grouped(batch.claims).items():
        hl += 1
        billing_hl = hl
        out.add("HL", billing_hl, "", "20", "1")
        _write_billing_provider(out, billing, envelope)
        for group in subscribers:
            hl += 1
            subscriber_hl = hl
            # HL04: 1 when 2000C patient loops follow (a dependent's claims), 0 when the claims sit right here.
            out.add("HL", subscriber_hl, billing_hl, "22", "0" if group.is_patient else "1")
            _write_subscriber(out, group.first_claim, group.is_patient)
            for claim in group.claims:
                _write_claim(out, claim)
            for _patient_key, claims in group.patients:
                hl += 1
                out.add("HL", hl, subscriber_hl, "23", "0")
                _write_patient(out, claims[0])
                for claim in claims:
                    _write_claim(out, claim)
    # SE01 counts every segment from ST to SE, both included.
    out.add("SE", out.count_since_st + 1, envelope.transaction_set_control_number)
    out.add("GE", "1", envelope.group_control_number)
    out.add("IEA", "1", f"{envelope.interchange_control_number:09d}")
    return out.text()


def sendable_problems(claim: ClaimDocument) -> list[ClaimProblem]:
    """Everything that keeps one claim off an 837P: the claim's own completeness and what the 837P needs."""
    return claim_problems(claim) + export_problems(claim)


def batch_problems(batch: ClaimBatch) -> dict[str, list[ClaimProblem]]:
    """Everything that keeps the batch from being written: per claim number, and "envelope" for the interchange."""
    problems: dict[str, list[ClaimProblem]] = {}
    envelope = envelope_problems(batch.envelope)
    if not batch.claims:
        envelope.append(ClaimProblem(item="batch", message="The batch holds no claim: there is nothing to send."))
    repeated = Counter(claim.patient_control_number for claim in batch.claims)
    for number in sorted(n for n, times in repeated.items() if times > 1):
        envelope.append(ClaimProblem(item="26", message=f"Claim number {number} is in the batch twice."))
    if envelope:
        problems["envelope"] = envelope
    for claim in batch.claims:
        found = sendable_problems(claim)
        if found:
            problems.setdefault(claim.patient_control_number or "(no claim number)", []).extend(found)
    return problems


def envelope_problems(envelope: Envelope) -> list[ClaimProblem]:
    """What the interchange envelope needs (ISA/GS/ST and loops 1000A/1000B)."""
    problems: list[ClaimProblem] = []

    def need(condition: bool, item: str, message: str) -> None:
        if not condition:
            problems.append(ClaimProblem(item=item, message=message))

    for label, value in (("submitter", envelope.submitter_id), ("receiver", envelope.receiver_id)):
        need(2 <= len(value) <= 15 and _ident(value) == value, "ISA",
             f"The {label} id must be 2-15 letters or digits (ISA06/ISA08): ask the clearinghouse for it.")
    need(bool(_text(envelope.submitter_name, 60)), "1000A", "The submitter's name is missing.")
    need(bool(_text(envelope.receiver_name, 60)), "1000B", "The receiver's (clearinghouse) name is missing.")
    need(bool(_text(envelope.contact_name, 60)), "1000A", "The submitter's EDI contact name is missing.")
    need(identifiers.phone_problem(envelope.contact_phone) is None, "1000A",
         "The submitter's EDI contact phone must be a 10-digit US number.")
    need(1 <= envelope.interchange_control_number <= 999_999_999, "ISA",
         "The interchange control number must be 1-999999999 (ISA13).")
    need(1 <= envelope.group_control_number <= 999_999_999, "GS",
         "The group control number must be 1-999999999 (GS06).")
    need(bool(re.fullmatch(r"\d{4,9}", envelope.transaction_set_control_number)), "ST",
         "The transaction set control number must be 4-9 digits (ST02).")
    need(envelope.usage_indicator in ("T", "P"), "ISA", "The usage indicator must be T (test) or P (production).")
    need(envelope.interchange_id_qualifier in ("01", "14", "20", "27", "28", "29", "30", "33", "ZZ"), "ISA",
         "The interchange id qualifier is not one the 837P allows (ISA05/ISA07; usually ZZ).")
    need(len(envelope.batch_reference) <= 50, "BHT", "The batch reference is at most 50 characters (BHT03).")
    return problems


def export_problems(claim: ClaimDocument) -> list[ClaimProblem]:
    """What the 837P needs beyond `claim_problems`: addresses, names and codes the implementation guide requires."""
    problems: list[ClaimProblem] = []

    def need(condition: bool, item: str, message: str, line: int | None = None) -> None:
        if not condition:
            problems.append(ClaimProblem(item=item, message=message, line=line))

    patient, subscriber = claim.patient, claim.subscriber
    # Identifiers are sent as given (spaces aside): one holding a character X12 cannot carry is refused, not altered.
    for item, label, value in (("26", "claim number", claim.patient_control_number),
                               ("1a", "insured's member id", subscriber.member_id),
                               ("11", "group number", subscriber.group_number),
                               ("payer", "payer id", claim.payer.payer_id),
                               ("22", "payer's claim number", claim.payer_claim_number),
                               ("23", "prior authorization number", claim.prior_authorization)):
        need(_ident(value) == "".join(value.split()), item,
             f"The {label} holds a character an 837P cannot carry (* : ^ ~ or a non-ASCII letter).")
    is_patient = subscriber.relationship == "18"
    # 837P 2010CA N3/N4 are required; 2010BA N3/N4 are required when the patient is the subscriber.
    patient_address = patient.address or (subscriber.address if is_patient else None)
    need(patient_address is not None, "5", "The patient's address is missing: add it on the patient.")
    _need_address(need, patient_address, "5", "patient's")
    if not is_patient:
        need(subscriber.relationship in PATIENT_RELATIONSHIPS, "6",
             f"The patient's relationship to the insured ({subscriber.relationship!r}) is not an 837P code "
             "(18 self, 01 spouse, 19 child, 20 employee, 21 unknown, 53 life partner, G8 other).")
        _need_address(need, subscriber.address, "7", "insured's")
    need(subscriber.payer_responsibility in ("P", "S", "T"), "1",
         "The payer's responsibility must be P (primary), S (secondary) or T (tertiary).")
    need(bool(re.fullmatch(r"[0-9A-Z]{2}", subscriber.filing_indicator)), "1",
         "The claim filing indicator (insurance type, SBR09) must be a two-character code such as MB or CI.")
    need(bool(_text(claim.payer.name, 60)), "payer", "The payer has no name: set it on the payer (admin).")
    _need_address(need, claim.payer.address, "payer", "payer's")

    billing = claim.billing_provider
    need(bool(_party_last_name(billing)), "33", "The billing provider's name is missing.")
    if billing.address is not None:
        # 837P 2010AA N301: the billing provider's address is a street address; a PO box goes in the pay-to loop.
        need(not identifiers.is_po_box(billing.address.line1 + " " + billing.address.line2), "33",
             "The billing provider's address must be a street address, not a PO box (837P 2010AA).")
        _need_address(need, billing.address, "33", "billing provider's")
    need(billing.entity in ("1", "2"), "33", "The billing provider must be a person (1) or an organisation (2).")
    need(not billing.taxonomy or identifiers.taxonomy_problem(billing.taxonomy) is None, "33b",
         "The billing provider's taxonomy code is not a NUCC code (10 characters ending in X, like 207X00000X).")
    need(not billing.tax_id or len(re.sub(r"\D", "", billing.tax_id)) == 9, "25",
         "The billing provider's tax id (EIN or SSN) must be 9 digits.")
    need(not billing.phone or identifiers.phone_problem(billing.phone) is None, "33",
         "The billing provider's phone must be a 10-digit US number.")
    for who, item, party in (("rendering provider", "24J", claim.rendering_provider),
                             ("referring provider", "17", claim.referring_provider)):
        if party is not None:
            need(bool(_party_last_name(party)), item, f"The {who}'s name is missing.")
            need(not party.taxonomy or identifiers.taxonomy_problem(party.taxonomy) is None, item,
                 f"The {who}'s taxonomy code is not a NUCC code (10 characters ending in X).")
    if claim.referring_provider is not None:
        need(claim.referring_provider.entity == "1", "17", "The referring provider must be a person (837P 2310A).")
    if claim.facility is not None:
        need(bool(_text(claim.facility.name, 60)), "32", "The service facility's name is missing.")
        # 837P 2310C N403, like 2010AA: a US service facility's ZIP code is the full nine digits.
        need(len(identifiers.normalize_postal_code(claim.facility.address.postal_code)) == 9, "32",
             "The service facility needs a nine-digit ZIP code (ZIP+4).")
        _need_address(need, claim.facility.address, "32", "service facility's")

    causes = _related_causes(claim)
    need(len(causes) <= 2, "10", "The 837P carries at most two of employment, auto accident and other accident.")
    if claim.related_to_auto_accident:
        need(identifiers.state_problem(claim.auto_accident_state) is None, "10b",
             "An auto accident claim needs the state where the accident happened.")
    if claim.related_to_auto_accident or claim.related_to_other_accident:
        # 837P 2300 DTP*439: required when CLM11 names an auto (AA) or other (OA) accident.
        need(claim.accident_date is not None, "15", "An accident claim needs the date of the accident.")
    need(claim.release_of_information in ("Y", "I"), "12", "Release of information must be Y or I.")
    need(len(claim.additional_information) <= 80, "19",
         "The additional claim information (NTE) is at most 80 characters: shorten it.")
    for dx in claim.diagnoses:
        need(bool(ICD10_WITHOUT_DOT.fullmatch(_icd(dx.code))), "21",
             f"{dx.code!r} is not an ICD-10-CM code (a letter, a digit, then 1-5 letters or digits).")
    for i, line in enumerate(claim.lines):
        if line.drug is not None:
            need(bool(re.fullmatch(r"\d{11}", line.drug.ndc)), "24A",
                 f"Line {i + 1}: the NDC must be 11 digits (5-4-2, without dashes).", i)
            need(line.drug.quantity > 0, "24A", f"Line {i + 1}: the drug quantity must be more than 0.", i)
            need(line.drug.unit in DRUG_UNITS, "24A",
                 f"Line {i + 1}: the drug unit must be one of {', '.join(DRUG_UNITS)}.", i)
        need(len(line.line_control_number) <= 50 and _ident(line.line_control_number) == line.line_control_number,
             "24", f"Line {i + 1}: the line control number must be at most 50 letters, digits or dashes.", i)
    return problems


def _need_address(need, address: Address | None, item: str, whose: str) -> None:
    if address is None:
        return
    need(bool(_text(address.line1, 55)) and bool(_text(address.city, 30)), item,
         f"The {whose} address needs a street and a city.")
    need(identifiers.state_problem(address.state) is None, item, f"The {whose} state is not a US state code.")
    need(identifiers.postal_code_problem(address.postal_code) is None, item,
         f"The {whose} ZIP code must be 5 or 9 digits.")


def _problems_message(problems: dict[str, list[ClaimProblem]]) -> str:
    parts = []
    for number, found in problems.items():
        label = "The envelope" if number == "envelope" else f"Claim {number}"
        details = "; ".join(f"item {p.item}: {p.message}" for p in found)
        parts.append(f"{label} cannot be sent: {details}")
    return "\n".join(parts)


# --- Grouping: one 2000A per billing provider, one 2000B per subscriber ---------------------------------------


@dataclass
class _SubscriberGroup:
    is_patient: bool
    claims: list[ClaimDocument] = field(default_factory=list)  # when the subscriber is the patient
    patients: list[tuple[tuple, list[ClaimDocument]]] = field(default_factory=list)  # else: per 2000C patient

    @property
    def first_claim(self) -> ClaimDocument:
        return self.claims[0] if self.is_patient else self.patients[0][1][0]


def _grouped(claims: list[ClaimDocument]) -> dict[ProviderParty, list[_SubscriberGroup]]:
    """Claims by billing provider, then subscriber (and payer), then patient, in the order they first appear."""
    providers: dict[ProviderParty, dict[tuple, _SubscriberGroup]] = {}
    for claim in claims:
        is_patient = claim.subscriber.relationship == "18"
        # The same insured as their own patient (SBR02 18) and as a dependent's insured (SBR02 empty) are two
        # different 2000B loops; a dependent's relationship belongs to its 2000C, not to the subscriber.
        subscriber = replace(claim.subscriber, relationship="18" if is_patient else "")
        key = (subscriber, claim.payer, claim.patient if is_patient else None)
        groups = providers.setdefault(claim.billing_provider, {})
        group = groups.setdefault(key, _SubscriberGroup(is_patient=is_patient))
        if is_patient:
            group.claims.append(claim)
            continue
        patient_key = (claim.patient, claim.subscriber.relationship)
        for known_key, patient_claims in group.patients:
            if known_key == patient_key:
                patient_claims.append(claim)
                break
        else:
            group.patients.append((patient_key, [claim]))
    return {provider: list(groups.values()) for provider, groups in providers.items()}


# --- Loops --------------------------------------------------------------------------------------------------


def _write_header(out: _Segments, envelope: Envelope) -> None:
    created = envelope.created_at
    qualifier = envelope.interchange_id_qualifier
    # ISA is fixed width: every field padded to its exact size (ISA02/04 10, ISA06/08 15, ISA13 9 digits).
    isa = ELEMENT_SEPARATOR.join([
        "ISA", "00", " " * 10, "00", " " * 10,
        qualifier.ljust(2), envelope.submitter_id.ljust(15), qualifier.ljust(2), envelope.receiver_id.ljust(15),
        created.strftime("%y%m%d"), created.strftime("%H%M"), REPETITION_SEPARATOR, "00501",
        f"{envelope.interchange_control_number:09d}",
        "0",  # ISA14: no TA1 interchange acknowledgment requested (the clearinghouse's 999 answers the file)
        envelope.usage_indicator, COMPONENT_SEPARATOR,
    ])
    out.add_raw(isa)
    out.add("GS", "HC", envelope.submitter_id, envelope.receiver_id, _date(created.date()),
            created.strftime("%H%M"), envelope.group_control_number, "X", IMPLEMENTATION_GUIDE)
    out.start_transaction()
    out.add("ST", "837", envelope.transaction_set_control_number, IMPLEMENTATION_GUIDE)
    # BHT02 00 original; BHT06 CH chargeable (a claim, not an encounter).
    out.add("BHT", "0019", "00", _ident(envelope.batch_reference) or str(envelope.interchange_control_number),
            _date(created.date()), created.strftime("%H%M"), "CH")
    out.add("NM1", "41", "2", _text(envelope.submitter_name, 60), "", "", "", "", "46", envelope.submitter_id)
    contact = ["PER", "IC", _text(envelope.contact_name, 60), "TE", identifiers.normalize_phone(envelope.contact_phone)]
    if envelope.contact_email:
        contact += ["EM", _email(envelope.contact_email)]
    out.add(*contact)
    out.add("NM1", "40", "2", _text(envelope.receiver_name, 60), "", "", "", "", "46", envelope.receiver_id)


def _write_billing_provider(out: _Segments, billing: ProviderParty, envelope: Envelope) -> None:
    out.add("PRV", "BI", "PXC", billing.taxonomy)
    out.add(*_provider_name("85", billing))
    _write_address(out, billing.address)
    out.add("REF", billing.tax_id_type, re.sub(r"\D", "", billing.tax_id))
    phone = identifiers.normalize_phone(billing.phone)
    # 2010AA PER: only when it differs from the submitter's contact in 1000A.
    if phone and phone != identifiers.normalize_phone(envelope.contact_phone):
        out.add("PER", "IC", "", "TE", phone)


def _write_subscriber(out: _Segments, claim: ClaimDocument, is_patient: bool) -> None:
    subscriber, patient = claim.subscriber, claim.patient
    group = _ident(subscriber.group_number)
    out.add("SBR", subscriber.payer_responsibility, "18" if is_patient else "", group,
            "" if group else _text(subscriber.plan_name, 60), "", "", "", "", subscriber.filing_indicator)
    if is_patient:
        out.add(*_person_name("IL", patient.family_name, patient.given_name, patient.middle_name),
                "", "", "MI", _ident(subscriber.member_id))
        _write_address(out, patient.address or subscriber.address)
        # 2010BA DMG only when the subscriber is the patient ("if not required, do not send").
        _write_demographics(out, patient)
    else:
        out.add(*_person_name("IL", subscriber.family_name, subscriber.given_name, subscriber.middle_name),
                "", "", "MI", _ident(subscriber.member_id))
        _write_address(out, subscriber.address)
    _write_payer(out, claim.payer)


def _write_payer(out: _Segments, payer: PayerParty) -> None:
    out.add("NM1", "PR", "2", _text(payer.name, 60), "", "", "", "", "PI", _ident(payer.payer_id))
    _write_address(out, payer.address)


def _write_patient(out: _Segments, claim: ClaimDocument) -> None:
    patient = claim.patient
    out.add("PAT", claim.subscriber.relationship)
    out.add(*_person_name("QC", patient.family_name, patient.given_name, patient.middle_name))
    _write_address(out, patient.address)
    _write_demographics(out, patient)


def _write_claim(out: _Segments, claim: ClaimDocument) -> None:
    location = _composite(claim.place_of_service, "B", claim.frequency_code)  # B: CMS place-of-service codes
    clm = ["CLM", _ident(claim.patient_control_number), _amount(claim.total_charge), "", "", location,
           _yes_no(claim.provider_signature_on_file), "A" if claim.accept_assignment else "C",
           _yes_no(claim.benefits_assigned), claim.release_of_information]
    causes = _related_causes(claim)
    if causes:
        state = claim.auto_accident_state.upper() if claim.related_to_auto_accident else ""
        # CLM11: up to two related causes in -1 and -2 (-3 is not used in the 837P), the accident state in -4.
        clm += ["", _composite(*(causes + ["", ""])[:2], "", state)]
    out.add(*clm)
    if claim.onset_date:
        out.add("DTP", "431", "D8", _date(claim.onset_date))
    if claim.accident_date:
        out.add("DTP", "439", "D8", _date(claim.accident_date))
    if claim.amount_paid > 0:
        out.add("AMT", "F5", _amount(claim.amount_paid))
    # 2300 REF order of the implementation guide: prior authorization (G1) before the payer claim number (F8).
    if claim.prior_authorization:
        out.add("REF", "G1", _ident(claim.prior_authorization))
    if claim.frequency_code in ("7", "8"):
        out.add("REF", "F8", _ident(claim.payer_claim_number))
    if claim.additional_information:
        out.add("NTE", "ADD", _text(claim.additional_information, 80))
    # HI: the principal diagnosis as ABK, the others as ABF; ICD-10-CM is sent without its dot.
    out.add("HI", *(_composite("ABK" if i == 0 else "ABF", _icd(dx.code)) for i, dx in enumerate(claim.diagnoses)))
    if claim.referring_provider is not None:
        out.add(*_provider_name("DN", claim.referring_provider))
    # 2310B only when the rendering provider is not the billing provider ("if not required, do not send").
    if claim.rendering_provider is not None and claim.rendering_provider.npi != claim.billing_provider.npi:
        out.add(*_provider_name("82", claim.rendering_provider))
        if claim.rendering_provider.taxonomy:
            out.add("PRV", "PE", "PXC", claim.rendering_provider.taxonomy)
    if claim.facility is not None:
        facility = claim.facility
        name = ["NM1", "77", "2", _text(facility.name, 60)]
        out.add(*(name + ["", "", "", "", "XX", facility.npi] if facility.npi else name))
        _write_address(out, facility.address)
    for number, line in enumerate(claim.lines, start=1):
        out.add("LX", number)
        procedure = _composite("HC", line.cpt.upper(), *(m.upper() for m in line.modifiers))
        pointers = _composite(*(str(n) for n in claim.pointer_numbers(line)))
        place = line.place_of_service if line.place_of_service != claim.place_of_service else ""
        out.add("SV1", procedure, _amount(line.charge), "UN", line.units, place, "", pointers, "",
                "Y" if line.emergency else "")
        out.add("DTP", "472", "D8", _date(line.date_of_service))
        if line.line_control_number:
            out.add("REF", "6R", _ident(line.line_control_number))
        if line.drug is not None:
            out.add("LIN", "", "N4", line.drug.ndc)
            out.add("CTP", "", "", "", _quantity(line.drug.quantity), line.drug.unit)


def _write_address(out: _Segments, address: Address | None) -> None:
    if address is None:
        return
    out.add("N3", _text(address.line1, 55), _text(address.line2, 55))
    out.add("N4", _text(address.city, 30), address.state.strip().upper(),
            identifiers.normalize_postal_code(address.postal_code))


def _write_demographics(out: _Segments, patient: PatientParty) -> None:
    out.add("DMG", "D8", _date(patient.birth_date), patient.sex)


def _provider_name(entity_code: str, party: ProviderParty) -> list:
    if party.entity == "2":
        return ["NM1", entity_code, "2", _text(party.organisation_name, 60), "", "", "", "", "XX", party.npi]
    return _person_name(entity_code, party.family_name, party.given_name, party.middle_name) + \
        ["", "", "XX", party.npi]


def _person_name(entity_code: str, family: str, given: str, middle: str) -> list:
    return ["NM1", entity_code, "1", _text(family, 60), _text(given, 35), _text(middle, 25)]


def _party_last_name(party: ProviderParty) -> str:
    return _text(party.organisation_name if party.entity == "2" else party.family_name, 60)


def _related_causes(claim: ClaimDocument) -> list[str]:
    flags = (("EM", claim.related_to_employment), ("AA", claim.related_to_auto_accident),
             ("OA", claim.related_to_other_accident))
    return [code for code, on in flags if on]


# --- Values ---------------------------------------------------------------------------------------------------


def _text(value: str, max_length: int) -> str:
    """A name or free text as X12 wants it: ASCII, upper case, no delimiter, single spaces, at most max_length."""
    ascii_text = unicodedata.normalize("NFKD", value or "").encode("ascii", "ignore").decode("ascii")
    cleaned = " ".join(_NOT_X12.sub(" ", ascii_text.upper()).split())
    return cleaned[:max_length].rstrip()


def _ident(value: str) -> str:
    """An identifier (claim number, member id, authorisation): kept as given, minus spaces at the ends and any
    character X12 cannot carry."""
    return "".join(_NOT_X12_MIXED_CASE.sub("", value or "").split())


def _email(value: str) -> str:
    return _NOT_X12_MIXED_CASE.sub("", value.strip())[:256]


def _icd(code: str) -> str:
    return (code or "").replace(".", "").strip().upper()


def _amount(value: Decimal) -> str:
    """An X12 R (decimal) amount: cents, without trailing zeros after the point (1500.00 -> 1500, 12.50 -> 12.5)."""
    text = f"{value.quantize(Decimal('0.01')):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _quantity(value: Decimal) -> str:
    text = f"{value.normalize():f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _date(value: dt.date | None) -> str:
    return value.strftime("%Y%m%d") if value else ""


def _yes_no(value: bool) -> str:
    return "Y" if value else "N"


def _composite(*components: str) -> str:
    return COMPONENT_SEPARATOR.join(components).rstrip(COMPONENT_SEPARATOR)


class _Segments:
    """The segments written so far, with the count SE01 needs."""

    def __init__(self) -> None:
        self._segments: list[str] = []
        self._st_index = 0

    def add(self, segment_id: str, *elements) -> None:
        values = [str(e) for e in elements]
        while values and values[-1] == "":  # X12: no trailing empty elements
            values.pop()
        self.add_raw(ELEMENT_SEPARATOR.join([segment_id, *values]))

    def add_raw(self, segment: str) -> None:
        self._segments.append(segment)

    def start_transaction(self) -> None:
        self._st_index = len(self._segments)

    @property
    def count_since_st(self) -> int:
        return len(self._segments) - self._st_index

    def text(self) -> str:
        return "".join(f"{segment}{SEGMENT_TERMINATOR}\n" for segment in self._segments)
