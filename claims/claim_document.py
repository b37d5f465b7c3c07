"""A professional claim as plain data: what the 837P writer, the CMS-1500 PDF and the claim checks read.

These dataclasses know no Django model. `claims.services` builds them from a stored Claim (and its practice's
providers, facility, payer and coverage); the writers (`claims.export_837`, `claims.cms1500_pdf`) and the
completeness check (`claim_problems`) take them as they are, so each can be tested without a database.

Values are as a person would write them on the CMS-1500: ICD-10-CM codes with their dot (M50.122: the 837P
writer drops it), dates as `datetime.date`, money as `Decimal`, pointers as letters A-L (the 837P writes 1-12).
Each field names the CMS-1500 (02/12) item and the 837P 005010X222A1 loop/segment it lands in.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from billy import identifiers

DX_LETTERS = "ABCDEFGHIJKL"
MAX_DIAGNOSES = 12        # CMS-1500 item 21 A-L; 837P HI holds 12
MAX_POINTERS = 4          # item 24E; SV107 composite of 4
MAX_MODIFIERS = 4         # item 24D; SV101-3..6
MAX_LINES_837 = 50        # 837P loop 2400 repeats 50 times per claim
LINES_PER_FORM = 6        # a paper CMS-1500 holds 6 service lines; a longer claim continues on more pages


@dataclass(frozen=True)
class Address:
    line1: str
    city: str
    state: str
    postal_code: str  # 5 or 9 digits (a billing provider's needs 9: 837P 2010AA N403)
    line2: str = ""


@dataclass(frozen=True)
class ProviderParty:
    """A billing (item 33, 2010AA), rendering (24J, 2310B), referring (17, 2310A) provider."""

    npi: str
    entity: str = "1"  # NM102: 1 a person, 2 an organisation
    family_name: str = ""
    given_name: str = ""
    middle_name: str = ""
    credential: str = ""
    organisation_name: str = ""
    taxonomy: str = ""  # PRV03 (billing: PRV*BI, rendering: PRV*PE)
    tax_id: str = ""  # item 25, REF*EI or REF*SY (billing provider only); digits only
    tax_id_type: str = ""  # "EI" | "SY"
    address: Address | None = None
    phone: str = ""  # digits only, 10

    @property
    def name(self) -> str:
        """As printed on the form: an organisation's name, or 'Family, Given M' for a person."""
        if self.entity == "2":
            return self.organisation_name
        initial = f" {self.middle_name[:1]}" if self.middle_name else ""
        return f"{self.family_name}, {self.given_name}{initial}".strip(", ")


@dataclass(frozen=True)
class FacilityParty:
    """Service facility location: item 32 / 32a, 837P loop 2310C."""

    name: str
    address: Address
    npi: str = ""


@dataclass(frozen=True)
class PatientParty:
    """The patient: items 2, 3, 5; 837P 2010BA when the patient is the subscriber, else loop 2000C/2010CA."""

    family_name: str
    given_name: str
    birth_date: dt.date | None
    sex: str  # F | M | U
    middle_name: str = ""
    address: Address | None = None
    phone: str = ""


@dataclass(frozen=True)
class SubscriberParty:
    """The insured (items 1a, 4, 6, 7, 11): 837P loop 2000B SBR and 2010BA."""

    member_id: str  # item 1a, NM109 (MI)
    relationship: str = "18"  # item 6; SBR02 = 18 when the patient is the subscriber, else PAT01 (01, 19, 20, ...)
    payer_responsibility: str = "P"  # SBR01: P primary, S secondary, T tertiary
    filing_indicator: str = "MB"  # SBR09: MB Medicare Part B, MC Medicaid, CI commercial, ...
    group_number: str = ""  # item 11, SBR03
    plan_name: str = ""  # item 11c, SBR04 (only when there is no group number)
    # When relationship != "18", the subscriber's own details (when 18 they are the patient's):
    family_name: str = ""
    given_name: str = ""
    middle_name: str = ""
    birth_date: dt.date | None = None
    sex: str = ""
    address: Address | None = None


@dataclass(frozen=True)
class PayerParty:
    """Item top right / 11c; 837P loop 2010BB NM1*PR."""

    name: str
    payer_id: str  # NM109 with qualifier PI
    address: Address | None = None


@dataclass(frozen=True)
class DiagnosisEntry:
    pointer: str  # A..L (item 21)
    code: str  # ICD-10-CM with the dot: M50.122


@dataclass(frozen=True)
class DrugInfo:
    """Item 24 shaded area / 837P loop 2410 LIN*N4 + CTP: a drug billed with its NDC (office injections)."""

    ndc: str  # 11 digits, 5-4-2 without dashes
    quantity: Decimal
    unit: str = "ML"  # CTP05-1: F2 international unit, GR gram, ME milligram, ML millilitre, UN unit


@dataclass(frozen=True)
class ServiceLineEntry:
    """Item 24 A-J; 837P loop 2400 LX, SV1, DTP*472."""

    cpt: str
    units: int
    charge: Decimal  # the line's total charge (item 24F, SV102): per-unit fee x units
    dx_pointers: tuple[str, ...]  # letters, 1-4 (item 24E)
    date_of_service: dt.date
    place_of_service: str  # two digits (item 24B, SV105 when it differs from CLM05-1)
    modifiers: tuple[str, ...] = ()
    emergency: bool = False  # item 24C, SV109
    drug: DrugInfo | None = None
    line_control_number: str = ""  # REF*6R: our line id, so a 277CA or 835 can be matched to it


@dataclass(frozen=True)
class ClaimDocument:
    """One CMS-1500 claim (837P loop 2300 and below)."""

    patient_control_number: str  # item 26, CLM01 (our claim number; never PHI, at most 20 characters)
    billing_provider: ProviderParty
    patient: PatientParty
    subscriber: SubscriberParty
    payer: PayerParty
    diagnoses: tuple[DiagnosisEntry, ...]
    lines: tuple[ServiceLineEntry, ...]
    place_of_service: str = "22"  # CLM05-1: the claim's place; lines may differ
    frequency_code: str = "1"  # CLM05-3 / item 22: 1 original, 7 replacement, 8 void
    payer_claim_number: str = ""  # item 22 original ref no. / REF*F8, required when frequency is 7 or 8
    rendering_provider: ProviderParty | None = None
    referring_provider: ProviderParty | None = None
    facility: FacilityParty | None = None
    prior_authorization: str = ""  # item 23, REF*G1
    accept_assignment: bool = True  # item 27, CLM07 (A / C)
    provider_signature_on_file: bool = True  # item 31, CLM06 (Y / N)
    benefits_assigned: bool = True  # item 13, CLM08 (Y / N)
    release_of_information: str = "Y"  # item 12, CLM09 (Y / I)
    related_to_employment: bool = False  # item 10a, CLM11 EM
    related_to_auto_accident: bool = False  # item 10b, CLM11 AA
    auto_accident_state: str = ""  # item 10b place (state), CLM11-4
    related_to_other_accident: bool = False  # item 10c, CLM11 OA
    onset_date: dt.date | None = None  # item 14, DTP*431
    accident_date: dt.date | None = None  # item 15 (qualifier 439), DTP*439: the 837P needs it when CLM11 has AA or OA
    amount_paid: Decimal = Decimal("0.00")  # item 29, AMT*F5 (patient amount paid)
    additional_information: str = ""  # item 19, NTE*ADD (80 characters)
    physician_signature_date: dt.date | None = None  # item 31 date

    @property
    def total_charge(self) -> Decimal:
        """Item 28, CLM02: the sum of the lines' charges (the 837P requires CLM02 = sum of SV102)."""
        return sum((line.charge for line in self.lines), Decimal("0.00"))

    def pointer_numbers(self, line: ServiceLineEntry) -> list[int]:
        """SV107: the line's letters as 1-based positions of the claim's diagnoses."""
        position = {dx.pointer: i + 1 for i, dx in enumerate(self.diagnoses)}
        return [position[p] for p in line.dx_pointers if p in position]


@dataclass(frozen=True)
class Envelope:
    """The interchange and the submitter/receiver (ISA, GS, ST, BHT, loops 1000A and 1000B)."""

    submitter_id: str  # ISA06, GS02, 1000A NM109
    submitter_name: str
    contact_name: str
    contact_phone: str  # digits only
    receiver_id: str  # ISA08, GS03, 1000B NM109
    receiver_name: str
    interchange_control_number: int  # ISA13 (9 digits) and IEA02; never repeats for a submitter
    group_control_number: int  # GS06, GE02
    created_at: dt.datetime
    contact_email: str = ""
    interchange_id_qualifier: str = "ZZ"  # ISA05 and ISA07
    usage_indicator: str = "T"  # ISA15: T test, P production
    transaction_set_control_number: str = "0001"  # ST02 / SE02
    batch_reference: str = ""  # BHT03: our export batch id


@dataclass(frozen=True)
class ClaimProblem:
    """Something a claim lacks before it can be sent: which CMS-1500 item, and what to do."""

    item: str  # "1a", "24J", "33a", ...
    message: str
    line: int | None = None  # 0-based service line, when the problem is one line's


def claim_problems(claim: ClaimDocument) -> list[ClaimProblem]:
    """What keeps this claim from being a valid 837P / CMS-1500: required data and the limits pyx12 misses.

    Empty means the claim may be exported. Each message says what is missing and where a biller fixes it.
    """
    problems: list[ClaimProblem] = []

    def need(condition: bool, item: str, message: str, line: int | None = None) -> None:
        if not condition:
            problems.append(ClaimProblem(item=item, message=message, line=line))

    need(bool(claim.patient_control_number) and len(claim.patient_control_number) <= 20, "26",
         "The patient account number (claim number) must be 1-20 characters.")
    need(bool(claim.payer.payer_id), "payer", "The payer has no EDI payer id: set it on the payer (admin).")
    need(bool(claim.subscriber.member_id), "1a", "The insured's member id is missing: add it on the coverage.")
    need(bool(claim.patient.family_name and claim.patient.given_name), "2", "The patient's name is incomplete.")
    need(claim.patient.birth_date is not None, "3", "The patient's birth date is missing.")
    need(claim.patient.sex in ("F", "M", "U"), "3", "The patient's sex must be F, M or U.")
    if claim.subscriber.relationship != "18":
        need(bool(claim.subscriber.family_name and claim.subscriber.given_name), "4",
             "The patient is not the insured: the insured's name is needed.")
    billing = claim.billing_provider
    _need_npi(need, billing.npi, "33a", "billing provider")
    need(bool(billing.taxonomy), "33b", "The billing provider has no taxonomy code (837P PRV*BI).")
    need(bool(billing.tax_id) and billing.tax_id_type in ("EI", "SY"), "25",
         "The billing provider's tax id (EIN or SSN) is missing.")
    need(billing.address is not None and len(billing.address.postal_code.replace("-", "")) == 9, "33",
         "The billing provider needs a street address with a nine-digit ZIP code.")
    if claim.rendering_provider is not None:
        _need_npi(need, claim.rendering_provider.npi, "24J", "rendering provider")
    if claim.referring_provider is not None:
        _need_npi(need, claim.referring_provider.npi, "17b", "referring provider")
    if claim.facility is not None and claim.facility.npi:
        _need_npi(need, claim.facility.npi, "32a", "service facility")
    need(claim.frequency_code in ("1", "7", "8"), "22", "The claim frequency must be 1 (original), 7 or 8.")
    if claim.frequency_code in ("7", "8"):
        need(bool(claim.payer_claim_number), "22",
             "A replacement or void claim needs the payer's claim number of the original (REF*F8).")
    need(1 <= len(claim.diagnoses) <= MAX_DIAGNOSES, "21", "A claim needs 1 to 12 diagnosis codes.")
    codes = [dx.code for dx in claim.diagnoses]
    need(len(codes) == len(set(codes)), "21", "A diagnosis code is listed twice.")
    letters = [dx.pointer for dx in claim.diagnoses]
    need(letters == list(DX_LETTERS[: len(letters)]), "21", "Diagnoses must be lettered A, B, C ... in order.")
    need(1 <= len(claim.lines) <= MAX_LINES_837, "24", "A claim needs 1 to 50 service lines.")
    for i, line in enumerate(claim.lines):
        need(len(line.cpt) == 5 and line.cpt.isalnum(), "24D",
             f"Line {i + 1}: {line.cpt!r} is not a CPT/HCPCS code.", i)
        need(len(line.modifiers) <= MAX_MODIFIERS, "24D", f"Line {i + 1}: at most 4 modifiers.", i)
        need(all(len(m) == 2 and m.isalnum() for m in line.modifiers), "24D",
             f"Line {i + 1}: a modifier is two letters or digits.", i)
        need(line.units >= 1, "24G", f"Line {i + 1}: units must be at least 1.", i)
        need(line.charge > 0, "24F", f"Line {i + 1}: the charge is 0.00: price it (fee schedule) before sending.", i)
        need(1 <= len(line.dx_pointers) <= MAX_POINTERS, "24E", f"Line {i + 1}: point to 1-4 diagnoses.", i)
        need(all(p in letters for p in line.dx_pointers), "24E",
             f"Line {i + 1}: a diagnosis pointer names no diagnosis on the claim.", i)
        need(len(line.place_of_service) == 2 and line.place_of_service.isdigit(), "24B",
             f"Line {i + 1}: the place of service is two digits.", i)
    return problems


def _need_npi(need, npi: str, item: str, who: str) -> None:
    problem = identifiers.npi_problem(npi) if npi else f"The {who} has no NPI."
    message = problem if problem and problem.startswith("The ") else f"{who.capitalize()} NPI: {problem}"
    need(problem is None, item, message)


@dataclass
class ClaimBatch:
    """Claims to write in one interchange, with their envelope (export_837.write_837p's input)."""

    envelope: Envelope
    claims: list[ClaimDocument] = field(default_factory=list)
