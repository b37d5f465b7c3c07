"""The demo parties `voice_to_claim --format x12|pdf` uses when no practice data is given: fictional and complete."""

import datetime as dt
import re
from decimal import Decimal

from billy import identifiers
from claims.claim_document import ClaimDocument, DiagnosisEntry, ServiceLineEntry, claim_problems
from claims.demo_parties import DEMO_NOTE, demo_charge, demo_envelope, demo_parties
from claims.export_837 import envelope_problems, export_problems

MBI = re.compile(r"[1-9][AC-HJKMNP-RT-Y][AC-HJKMNP-RT-Y0-9][0-9][AC-HJKMNP-RT-Y][AC-HJKMNP-RT-Y0-9][0-9]"
                 r"[AC-HJKMNP-RT-Y]{2}[0-9]{2}")


def test_a_claim_with_the_demo_parties_lacks_nothing_a_cms1500_or_an_837p_needs():
    parties = demo_parties(payer_name="Medicare", payer_id="MEDICARE", payer_type="medicare")
    claim = ClaimDocument(
        patient_control_number="V2C0001", billing_provider=parties.billing_provider, patient=parties.patient,
        subscriber=parties.subscriber, payer=parties.payer, rendering_provider=parties.rendering_provider,
        diagnoses=(DiagnosisEntry("A", "M50.122"),),
        lines=(ServiceLineEntry(cpt="22551", units=1, charge=Decimal("8450.00"), dx_pointers=("A",),
                                date_of_service=dt.date(2026, 5, 4), place_of_service="22"),),
        additional_information=parties.note)
    assert claim_problems(claim) == [] and export_problems(claim) == []
    assert identifiers.npi_problem(parties.billing_provider.npi) is None
    assert identifiers.ein_problem(parties.billing_provider.tax_id) is None
    assert len(parties.billing_provider.address.postal_code) == 9
    assert parties.patient.family_name == "DEMO" and parties.note == DEMO_NOTE and parties.demo


def test_the_demo_member_id_and_filing_indicator_follow_the_payer():
    medicare = demo_parties(payer_name="Medicare", payer_id="MEDICARE", payer_type="medicare").subscriber
    assert MBI.fullmatch(medicare.member_id) and medicare.filing_indicator == "MB"
    assert demo_parties(payer_name="Medicaid", payer_id="MEDICAID", payer_type="medicaid").subscriber.filing_indicator \
        == "MC"
    other = demo_parties(payer_name="Acme Health", payer_id="ACME1", payer_type="workers_comp")
    assert other.subscriber.filing_indicator == "CI" and other.payer.payer_id == "ACME1"


def test_the_demo_envelope_is_a_test_interchange_numbered_one():
    envelope = demo_envelope(created_at=dt.datetime(2026, 5, 4, 9, 30))
    assert envelope_problems(envelope) == []
    assert (envelope.submitter_id, envelope.receiver_id, envelope.interchange_control_number,
            envelope.usage_indicator) == ("DEMO", "DEMO", 1, "T")


def test_demo_charges_come_from_the_demo_fee_schedule_as_a_fee_schedule_picks_them():
    day = dt.date(2026, 5, 4)
    assert demo_charge("22551", date_of_service=day) == Decimal("8450.00")
    assert demo_charge("64479", ["50"], date_of_service=day) == Decimal("1425.00")  # its own row for 50
    assert demo_charge("64479", ["LT"], date_of_service=day) == demo_charge("64479", date_of_service=day)
    assert demo_charge("99999", date_of_service=day) is None
    # Invented charges: a date before the file's first (2026-01-01) still gets one.
    assert demo_charge("22551", date_of_service=dt.date(2025, 3, 1)) == Decimal("8450.00")
