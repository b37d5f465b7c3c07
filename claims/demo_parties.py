"""Demo claim parties: what `voice_to_claim --format x12|pdf` puts on a claim when no practice data is given.

A claim cannot be written without a billing provider, a patient, an insured and an envelope. For a dictation run
from the command line with no --patient, these stand in: every name says DEMO, the NPIs are built with a valid
check digit from made-up digits (billy.identifiers.npi_with_check_digit), phone numbers are in the 555-01xx range
kept for fiction, the envelope says T (test) in ISA15, and each claim carries a note in item 19 (NTE) saying it
is demo data. Demo charges come from billing/data/demo_fees.csv, the invented schedule `make run` loads.

Pure module: no database; the same date gives the same parties.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources
from types import MappingProxyType

from billing import fees
from billy.identifiers import npi_with_check_digit
from claims.claim_document import (
    Address,
    Envelope,
    FacilityParty,
    PatientParty,
    PayerParty,
    ProviderParty,
    SubscriberParty,
)

DEMO_NOTE = "IAMBILLY DEMO DATA - NOT A REAL CLAIM"  # item 19 / NTE*ADD, at most 80 characters

DEMO_BILLING_PROVIDER = ProviderParty(
    npi=npi_with_check_digit("200000001"), entity="2", organisation_name="DEMO SPINE PRACTICE",
    taxonomy="207X00000X",  # NUCC: orthopaedic surgery
    tax_id="990000001", tax_id_type="EI", phone="2175550100",
    # 837P 2010AA: a street address (no PO box) with the nine-digit ZIP.
    address=Address(line1="100 DEMO WAY", city="SPRINGFIELD", state="IL", postal_code="627010001"))
DEMO_SURGEON = ProviderParty(
    npi=npi_with_check_digit("100000001"), family_name="DEMO", given_name="SURGEON", credential="MD",
    taxonomy="207XS0117X")  # NUCC: orthopaedic surgery of the spine
DEMO_PATIENT = PatientParty(
    family_name="DEMO", given_name="PATIENT", birth_date=dt.date(1960, 1, 1), sex="U",
    address=Address(line1="1 DEMO STREET", city="SPRINGFIELD", state="IL", postal_code="62701"))

# The insured's id as the payer issues it. Medicare's is a Medicare Beneficiary Identifier: 11 characters in the
# MBI pattern (digit, letter, letter or digit, digit, letter, letter or digit, digit, two letters, two digits).
DEMO_MEMBER_IDS = {"medicare": "1DM0DE0MA00", "medicaid": "DEMO00000001", "commercial": "DEMO00000001"}
# SBR09, the claim filing indicator: MB Medicare Part B, MC Medicaid, CI commercial insurance.
FILING_INDICATORS = {"medicare": "MB", "medicaid": "MC", "commercial": "CI"}


@dataclass(frozen=True)
class ClaimParties:
    """Who a claim is from, for and to: everything a ClaimDocument holds besides its codes."""

    billing_provider: ProviderParty
    patient: PatientParty
    subscriber: SubscriberParty
    payer: PayerParty
    rendering_provider: ProviderParty | None = None
    facility: FacilityParty | None = None
    note: str = ""  # item 19
    demo: bool = False


def demo_parties(*, payer_name: str, payer_id: str, payer_type: str) -> ClaimParties:
    """The demo practice, surgeon and patient, insured by the payer named (the patient is the insured)."""
    kind = payer_type if payer_type in DEMO_MEMBER_IDS else "commercial"
    return ClaimParties(
        billing_provider=DEMO_BILLING_PROVIDER, rendering_provider=DEMO_SURGEON, patient=DEMO_PATIENT,
        subscriber=SubscriberParty(member_id=DEMO_MEMBER_IDS[kind], filing_indicator=FILING_INDICATORS[kind]),
        payer=PayerParty(name=payer_name, payer_id=payer_id), note=DEMO_NOTE, demo=True)


def demo_envelope(*, created_at: dt.datetime, interchange_control_number: int = 1) -> Envelope:
    """Submitter and receiver DEMO, a test interchange (ISA15 T) numbered 1."""
    return Envelope(
        submitter_id="DEMO", submitter_name="DEMO SUBMITTER", contact_name="DEMO CONTACT",
        contact_phone="2175550100", receiver_id="DEMO", receiver_name="DEMO CLEARINGHOUSE",
        interchange_control_number=interchange_control_number, group_control_number=interchange_control_number,
        created_at=created_at, usage_indicator="T", batch_reference="DEMO")


@functools.cache
def _demo_charges(date_of_service: dt.date) -> Mapping[tuple[str, str], Decimal]:
    """(code, modifier) -> charge in effect on the date. The charges are invented, so a date of service before the
    file's first date (2026-01-01) takes a code's earliest charge rather than none."""
    parsed = fees.parse((resources.files("billing") / "data" / "demo_fees.csv").read_bytes())
    if not parsed.ok:  # a file we ship: a broken one is our bug, said plainly
        raise ValueError("billing/data/demo_fees.csv does not parse: " + "; ".join(map(str, parsed.errors)))
    charges: dict[tuple[str, str], Decimal] = {}
    for row in sorted(parsed.rows, key=lambda r: r.effective_from):
        in_effect = row.effective_from <= date_of_service and (
            row.effective_to is None or date_of_service <= row.effective_to)
        if in_effect or row.key not in charges:
            charges[row.key] = row.charge
    return MappingProxyType(charges)


def demo_charge(code: str, modifiers: Iterable[str] = (), *, date_of_service: dt.date) -> Decimal | None:
    """The demo schedule's charge per unit for a line, or None for a code it does not price.

    Picked as a fee schedule picks (billing.selectors.FeeTable): the first of the line's modifiers with a charge
    of its own (26, TC, 50), else the code's charge whatever the modifier.
    """
    charges = _demo_charges(date_of_service)
    code = code.strip().upper()
    for modifier in (m.strip().upper() for m in modifiers if m and m.strip()):
        if (code, modifier) in charges:
            return charges[(code, modifier)]
    return charges.get((code, ""))
