"""The 837P writer and its checks, on claims built by hand (every name, number and address is fictional).

Every file a test writes must pass `validate_837p` (pyx12 and our own rules). The golden files under
tests/golden/ are the reviewed output: a change in them is a reviewed change. After a deliberate change to the
writer, regenerate them with

    BILLY_UPDATE_GOLDEN=1 .venv/bin/python -m pytest claims/tests/test_export_837.py

and read the diff before committing. No test here touches the database.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from billy.identifiers import npi_with_check_digit
from claims.claim_document import (
    Address,
    ClaimBatch,
    ClaimDocument,
    DiagnosisEntry,
    DrugInfo,
    Envelope,
    FacilityParty,
    PatientParty,
    PayerParty,
    ProviderParty,
    ServiceLineEntry,
    SubscriberParty,
)
from claims.export_837 import Export837Error, write_837p
from claims.x12_checks import own_problems, split_segments, validate_837p

GOLDEN = Path(__file__).parent / "golden"
UPDATE_GOLDEN = os.environ.get("BILLY_UPDATE_GOLDEN") == "1"

SURGERY_DAY = dt.date(2026, 5, 4)
CLINIC_DAY = dt.date(2026, 5, 6)

NORTH_SPINE = ProviderParty(
    npi=npi_with_check_digit("123456789"), entity="2", organisation_name="North Spine Associates LLC",
    taxonomy="207X00000X", tax_id="31-1234567", tax_id_type="EI", phone="(614) 555-0150",
    address=Address("4100 Riverside Dr", "Columbus", "OH", "43221-1234", line2="Suite 200"))
LAKESIDE_PAIN = ProviderParty(
    npi=npi_with_check_digit("223344556"), entity="2", organisation_name="Lakeside Pain Center",
    taxonomy="208VP0014X", tax_id="341112223", tax_id_type="EI",
    address=Address("9 Harbor St", "Sandusky", "OH", "448701234"))
DR_OKAFOR = ProviderParty(npi=npi_with_check_digit("198765432"), family_name="Okafor", given_name="Adaeze",
                          middle_name="Nkem", credential="MD", taxonomy="207XS0117X")
DR_LINDQVIST = ProviderParty(npi=npi_with_check_digit("176543210"), family_name="Lindqvist", given_name="Tove",
                             credential="DO", taxonomy="208100000X")
DR_REYES = ProviderParty(npi=npi_with_check_digit("165432109"), family_name="Reyes", given_name="Samuel",
                         credential="MD")
RIVERSIDE_HOSPITAL = FacilityParty(name="Riverside Surgical Hospital", npi=npi_with_check_digit("287654321"),
                                   address=Address("3535 Olentangy River Rd", "Columbus", "OH", "432142908"))
MEDICARE = PayerParty(name="Medicare Part B (test MAC)", payer_id="15202")
BUCKEYE = PayerParty(name="Buckeye Health Plan", payer_id="BKH77",
                     address=Address("PO Box 4400", "Dayton", "OH", "45401"))

HARROW = PatientParty(family_name="Harrow", given_name="Imelda", middle_name="June", birth_date=dt.date(1951, 8, 19),
                      sex="F", address=Address("27 Larkspur Ln", "Dublin", "OH", "43017"))
RILEY_QUILL = PatientParty(family_name="Quill", given_name="Riley", birth_date=dt.date(2003, 10, 30), sex="F",
                           address=Address("88 Maple Ave", "Westerville", "OH", "43081"))
MORGAN_QUILL = SubscriberParty(member_id="BKH908877123", relationship="19", filing_indicator="CI",
                               group_number="GRP7731", family_name="Quill", given_name="Morgan",
                               birth_date=dt.date(1979, 2, 11), sex="M",
                               address=Address("88 Maple Ave", "Westerville", "OH", "43081"))


def line(cpt: str, charge: str, pointers: str, *, units: int = 1, day: dt.date = SURGERY_DAY, place: str = "22",
         **extra) -> ServiceLineEntry:
    return ServiceLineEntry(cpt=cpt, units=units, charge=Decimal(charge), dx_pointers=tuple(pointers),
                            date_of_service=day, place_of_service=place, **extra)


def acdf_claim(**changes) -> ClaimDocument:
    """A two-level anterior cervical discectomy and fusion, C5-C6 and C6-C7, billed to Medicare Part B."""
    claim = ClaimDocument(
        patient_control_number="NSA-26-0001",
        billing_provider=NORTH_SPINE,
        patient=HARROW,
        subscriber=SubscriberParty(member_id="1EG4TE5MK73"),
        payer=MEDICARE,
        diagnoses=(DiagnosisEntry("A", "M50.122"), DiagnosisEntry("B", "M50.123")),
        lines=(
            line("22551", "4850.00", "A", line_control_number="NSA-26-0001-1"),
            line("22552", "1275.00", "B", line_control_number="NSA-26-0001-2"),
            line("22845", "1950.00", "AB", line_control_number="NSA-26-0001-3"),
            line("22853", "1500.00", "AB", units=2, line_control_number="NSA-26-0001-4"),
            line("20930", "310.00", "AB", line_control_number="NSA-26-0001-5"),
        ),
        place_of_service="22",
        rendering_provider=DR_OKAFOR,
        referring_provider=DR_REYES,
        facility=RIVERSIDE_HOSPITAL,
        onset_date=dt.date(2026, 1, 15),
    )
    return replace(claim, **changes)


def injection_claim(**changes) -> ClaimDocument:
    """Bilateral L5-S1 transforaminal epidural steroid injection in the office, with the steroid's NDC."""
    claim = ClaimDocument(
        patient_control_number="NSA-26-0002",
        billing_provider=NORTH_SPINE,
        patient=RILEY_QUILL,
        subscriber=MORGAN_QUILL,
        payer=BUCKEYE,
        diagnoses=(DiagnosisEntry("A", "M54.17"), DiagnosisEntry("B", "M51.17")),
        lines=(
            line("64483", "1800.00", "AB", day=CLINIC_DAY, place="11", modifiers=("50",)),
            line("J1030", "45.00", "A", day=CLINIC_DAY, place="11",
                 drug=DrugInfo(ndc="00009347501", quantity=Decimal("1"), unit="ML")),
        ),
        place_of_service="11",
        rendering_provider=DR_LINDQVIST,
        prior_authorization="PA-55120",
        amount_paid=Decimal("40.00"),
    )
    return replace(claim, **changes)


def corrected_accident_claim(**changes) -> ClaimDocument:
    """A replacement (frequency 7) of an office visit after a car accident, with the payer's original claim number."""
    day = dt.date(2026, 4, 20)
    claim = injection_claim(
        patient_control_number="NSA-26-0003",
        diagnoses=(DiagnosisEntry("A", "S13.4XXA"), DiagnosisEntry("B", "V43.52XA")),
        lines=(line("99204", "325.00", "AB", day=day, place="11"), line("72040", "120.50", "A", day=day, place="11")),
        frequency_code="7",
        payer_claim_number="2026111000123",
        prior_authorization="",
        amount_paid=Decimal("0.00"),
        related_to_auto_accident=True,
        auto_accident_state="OH",
        onset_date=dt.date(2026, 4, 18),
        accident_date=dt.date(2026, 4, 18),
        additional_information="Corrected claim: cervical x-ray was 2-3 views, not 4.",
    )
    return replace(claim, **changes)


def envelope(**changes) -> Envelope:
    value = Envelope(submitter_id="NORTHSPINE01", submitter_name="North Spine Associates LLC",
                     contact_name="Dana Whitcombe", contact_phone="6145550142", contact_email="edi@northspine.test",
                     receiver_id="CLEARHOUSE", receiver_name="Test Clearinghouse", interchange_control_number=4711,
                     group_control_number=4712, created_at=dt.datetime(2026, 5, 7, 9, 30),
                     batch_reference="BATCH-2026-05-07-1")
    return replace(value, **changes)


def batch(*claims: ClaimDocument, **envelope_changes) -> ClaimBatch:
    return ClaimBatch(envelope=envelope(**envelope_changes), claims=list(claims))


def written(claims_batch: ClaimBatch, golden: str | None = None) -> str:
    """The 837P of the batch, checked by pyx12 and our rules, and equal to its golden file when one is named."""
    text = write_837p(claims_batch)
    assert validate_837p(text) == []
    if golden:
        path = GOLDEN / golden
        if UPDATE_GOLDEN:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(text.encode("ascii"))
        assert path.exists(), f"No golden file {path.name}: run with BILLY_UPDATE_GOLDEN=1 and review it."
        assert path.read_bytes() == text.encode("ascii"), (
            f"The 837P differs from {path.name}. If the change is intended, rerun with BILLY_UPDATE_GOLDEN=1 "
            "and review the diff.")
    return text


def segments(text: str) -> list[str]:
    return [s for s in text.replace("\n", "").split("~") if s]


def changed(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"{old!r} is not in the file exactly once"
    return text.replace(old, new)


# --- What the writer writes ---------------------------------------------------------------------------------


def test_it_writes_a_medicare_acdf_claim_that_matches_its_golden_file():
    text = written(batch(acdf_claim()), golden="acdf_medicare.837")

    assert "HI*ABK:M50122*ABF:M50123~" in text
    assert "CLM*NSA-26-0001*9885***22:B:1*Y*A*Y*Y~" in text
    assert "SV1*HC:22551*4850*UN*1***1~" in text
    assert "SV1*HC:22552*1275*UN*1***2~" in text
    assert "SV1*HC:22845*1950*UN*1***1:2~" in text
    assert "SV1*HC:22853*1500*UN*2***1:2~" in text
    assert "SV1*HC:20930*310*UN*1***1:2~" in text
    assert "REF*6R*NSA-26-0001-5~" in text
    assert "DTP*472*D8*20260504~" in text and "DTP*431*D8*20260115~" in text


def test_it_writes_the_medicare_patient_as_the_subscriber_with_demographics():
    found = segments(written(batch(acdf_claim())))

    assert "SBR*P*18*******MB" in found
    subscriber_at = found.index("NM1*IL*1*HARROW*IMELDA*JUNE***MI*1EG4TE5MK73")
    assert found[subscriber_at + 1: subscriber_at + 5] == [
        "N3*27 LARKSPUR LN", "N4*DUBLIN*OH*43017", "DMG*D8*19510819*F",
        "NM1*PR*2*MEDICARE PART B (TEST MAC)*****PI*15202"]
    assert not any(s.startswith(("PAT*", "NM1*QC")) for s in found)


def test_it_writes_the_billing_provider_rendering_referring_and_facility_loops():
    found = segments(written(batch(acdf_claim())))
    billing_at = found.index("HL*1**20*1")

    assert found[billing_at + 1: billing_at + 7] == [
        "PRV*BI*PXC*207X00000X",
        f"NM1*85*2*NORTH SPINE ASSOCIATES LLC*****XX*{NORTH_SPINE.npi}",
        "N3*4100 RIVERSIDE DR*SUITE 200",
        "N4*COLUMBUS*OH*432211234",
        "REF*EI*311234567",
        "PER*IC**TE*6145550150",  # the practice's phone: not the EDI contact's of 1000A
    ]
    hi_at = found.index("HI*ABK:M50122*ABF:M50123")
    assert found[hi_at + 1: hi_at + 7] == [
        f"NM1*DN*1*REYES*SAMUEL****XX*{DR_REYES.npi}",
        f"NM1*82*1*OKAFOR*ADAEZE*NKEM***XX*{DR_OKAFOR.npi}",
        "PRV*PE*PXC*207XS0117X",
        f"NM1*77*2*RIVERSIDE SURGICAL HOSPITAL*****XX*{RIVERSIDE_HOSPITAL.npi}",
        "N3*3535 OLENTANGY RIVER RD",
        "N4*COLUMBUS*OH*432142908",
    ]


def test_it_writes_a_dependents_two_claims_under_one_subscriber_and_one_patient_as_its_golden_file():
    text = written(batch(injection_claim(), corrected_accident_claim()), golden="dependent_commercial_two_claims.837")
    found = segments(text)

    assert [s for s in found if s.startswith("HL*")] == ["HL*1**20*1", "HL*2*1*22*1", "HL*3*2*23*0"]
    assert "SBR*P**GRP7731******CI" in found
    subscriber_at = found.index("NM1*IL*1*QUILL*MORGAN****MI*BKH908877123")
    # 2010BA carries no DMG when the patient is someone else: the only DMG is the patient's, in 2010CA.
    assert found[subscriber_at + 1: subscriber_at + 3] == ["N3*88 MAPLE AVE", "N4*WESTERVILLE*OH*43081"]
    assert [s for s in found if s.startswith("DMG*")] == ["DMG*D8*20031030*F"]
    patient_at = found.index("HL*3*2*23*0")
    assert found[patient_at + 1: patient_at + 3] == ["PAT*19", "NM1*QC*1*QUILL*RILEY"]
    assert [s for s in found if s.startswith("CLM*")] == [
        "CLM*NSA-26-0002*1845***11:B:1*Y*A*Y*Y", "CLM*NSA-26-0003*445.5***11:B:7*Y*A*Y*Y**AA:::OH"]


def test_it_writes_a_bilateral_injection_and_its_drug_with_the_ndc():
    text = written(batch(injection_claim()))

    assert "SV1*HC:64483:50*1800*UN*1***1:2~" in text
    assert "SV1*HC:J1030*45*UN*1***1~\nDTP*472*D8*20260506~\nLIN**N4*00009347501~\nCTP****1*ML~" in text
    assert "AMT*F5*40~\nREF*G1*PA-55120~" in text


def test_it_writes_a_replacement_claim_with_frequency_7_and_the_payers_claim_number():
    text = written(batch(corrected_accident_claim()))

    assert "*11:B:7*" in text
    assert "REF*F8*2026111000123~" in text
    assert "DTP*431*D8*20260418~\nDTP*439*D8*20260418~" in text
    assert "HI*ABK:S134XXA*ABF:V4352XA~" in text
    # The delimiter ':' in the note becomes a space: free text never carries a separator.
    assert "NTE*ADD*CORRECTED CLAIM CERVICAL X-RAY WAS 2-3 VIEWS, NOT 4.~" in text


def test_the_isa_is_fixed_width_and_names_the_delimiters():
    text = written(batch(acdf_claim()))
    isa = text.split("\n")[0]

    assert len(isa) == 106
    assert isa == ("ISA*00*          *00*          *ZZ*NORTHSPINE01   *ZZ*CLEARHOUSE     *260507*0930*^*00501*"
                   "000004711*0*T*:~")
    assert all(row.endswith("~") for row in text.splitlines())
    assert text.endswith("~\n")


def test_it_writes_the_envelope_control_numbers_as_given():
    found = segments(written(batch(acdf_claim(), interchange_control_number=987654321, group_control_number=55,
                                   transaction_set_control_number="000123")))

    assert found[0].split("*")[13] == "987654321"
    assert found[1] == "GS*HC*NORTHSPINE01*CLEARHOUSE*20260507*0930*55*X*005010X222A1"
    assert found[2] == "ST*837*000123*005010X222A1"
    assert found[3] == "BHT*0019*00*BATCH-2026-05-07-1*20260507*0930*CH"
    assert found[-3:] == [f"SE*{len(found) - 4}*000123", "GE*1*55", "IEA*1*987654321"]


def test_it_groups_claims_under_one_billing_provider_and_one_subscriber_each():
    second_visit = acdf_claim(patient_control_number="NSA-26-0009", lines=(line("99024", "0.01", "A"),))
    other_practice = injection_claim(patient_control_number="LPC-26-0001", billing_provider=LAKESIDE_PAIN)
    found = segments(written(batch(acdf_claim(), other_practice, second_visit)))

    loops = [s for s in found if s.startswith(("HL*", "CLM*"))]
    assert [s.split("***")[0] if s.startswith("CLM") else s for s in loops] == [
        "HL*1**20*1", "HL*2*1*22*0", "CLM*NSA-26-0001*9885", "CLM*NSA-26-0009*0.01",
        "HL*3**20*1", "HL*4*3*22*1", "HL*5*4*23*0", "CLM*LPC-26-0001*1845",
    ]


def test_it_writes_a_lines_place_of_service_only_when_it_differs_from_the_claims():
    claim = acdf_claim(lines=(line("22551", "4850.00", "A"), line("99024", "0.01", "A", place="11")))
    text = written(batch(claim))

    assert "SV1*HC:22551*4850*UN*1***1~" in text
    assert "SV1*HC:99024*0.01*UN*1*11**1~" in text


def test_it_upper_cases_names_and_drops_accents_and_delimiters():
    patient = replace(HARROW, family_name="  o'Brien-Núñez*~ ", given_name="Zoë^", middle_name="")
    text = written(batch(acdf_claim(patient=patient, additional_information="line one\nline two: ok~")))

    assert "NM1*IL*1*O'BRIEN-NUNEZ*ZOE****MI*1EG4TE5MK73~" in text
    assert "NTE*ADD*LINE ONE LINE TWO OK~" in text


def test_it_writes_a_surgeon_billing_in_their_own_name_without_repeating_them_as_rendering_provider():
    solo = replace(NORTH_SPINE, entity="1", organisation_name="", family_name="Okafor", given_name="Adaeze",
                   tax_id="123-45-6789", tax_id_type="SY", phone="614-555-0142")
    claim = acdf_claim(billing_provider=solo, rendering_provider=solo, referring_provider=None,
                       lines=(line("22551", "4850.00", "AB", emergency=True),), benefits_assigned=False,
                       accept_assignment=False, release_of_information="I", related_to_employment=True)
    found = segments(written(batch(claim)))

    billing_at = found.index(f"NM1*85*1*OKAFOR*ADAEZE****XX*{NORTH_SPINE.npi}")
    # The same phone as the EDI contact (1000A PER) is not repeated in 2010AA; nor is 2310B sent for the biller.
    assert found[billing_at + 3: billing_at + 5] == ["REF*SY*123456789", "HL*2*1*22*0"]
    assert not any(s.startswith(("NM1*82", "PRV*PE")) for s in found)
    assert "SV1*HC:22551*4850*UN*1***1:2**Y" in found
    assert "CLM*NSA-26-0001*4850***22:B:1*Y*C*N*I**EM" in found


# --- What the writer refuses --------------------------------------------------------------------------------


def test_it_refuses_a_claim_without_the_insureds_member_id():
    claim = acdf_claim(subscriber=SubscriberParty(member_id=""))

    with pytest.raises(Export837Error) as refused:
        write_837p(batch(claim))

    message = str(refused.value)
    assert "Claim NSA-26-0001" in message and "item 1a" in message and "member id is missing" in message
    assert [p.item for p in refused.value.problems["NSA-26-0001"]] == ["1a"]


def test_it_refuses_a_claim_with_a_line_charged_zero():
    claim = acdf_claim(lines=(line("22551", "0.00", "A"),))

    refused = r"Claim NSA-26-0001 cannot be sent: item 24F: Line 1: the charge is 0\.00"
    with pytest.raises(Export837Error, match=refused):
        write_837p(batch(claim))


def test_it_names_every_invalid_claim_of_the_batch():
    good, bad = acdf_claim(), injection_claim(patient=replace(RILEY_QUILL, address=None))
    accident = corrected_accident_claim(accident_date=None)

    with pytest.raises(Export837Error) as refused:
        write_837p(batch(good, bad, accident))

    assert set(refused.value.problems) == {"NSA-26-0002", "NSA-26-0003"}
    assert "item 5: The patient's address is missing" in str(refused.value)
    assert "item 15: An accident claim needs the date of the accident" in str(refused.value)


def test_it_refuses_an_identifier_it_would_have_to_alter_and_a_claim_number_sent_twice():
    with pytest.raises(Export837Error, match="item 1a: The insured's member id holds a character"):
        write_837p(batch(acdf_claim(subscriber=SubscriberParty(member_id="1EG4*TE5MK73"))))
    with pytest.raises(Export837Error, match="Claim number NSA-26-0001 is in the batch twice"):
        write_837p(batch(acdf_claim(), acdf_claim()))


def test_it_refuses_an_empty_batch_and_a_bad_envelope():
    with pytest.raises(Export837Error, match="no claim"):
        write_837p(batch())
    with pytest.raises(Export837Error, match="The envelope cannot be sent: item ISA: The submitter id"):
        write_837p(batch(acdf_claim(), submitter_id="NORTH SPINE ASSOCIATES"))


def test_its_error_is_a_value_error():
    assert issubclass(Export837Error, ValueError)


# --- What the validator catches -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def valid_text() -> str:
    return written(batch(acdf_claim()))


def test_the_validator_flags_a_diagnosis_sent_with_its_dot(valid_text):
    problems = validate_837p(changed(valid_text, "HI*ABK:M50122*", "HI*ABK:M50.122*"))

    assert any("M50.122 is sent with a dot" in p for p in problems), problems


def test_the_validator_flags_a_total_that_is_not_the_sum_of_the_lines(valid_text):
    problems = validate_837p(changed(valid_text, "CLM*NSA-26-0001*9885*", "CLM*NSA-26-0001*9890*"))

    assert problems == ["Claim NSA-26-0001 (segment 22, CLM): CLM02 9890 is not the sum of the line charges "
                        "(SV102 add up to 9885)."]


def test_the_validator_flags_an_npi_with_a_bad_check_digit(valid_text):
    good = DR_OKAFOR.npi
    bad = good[:9] + str((int(good[9]) + 1) % 10)
    problems = validate_837p(changed(valid_text, f"XX*{good}~", f"XX*{bad}~"))

    assert any("(NM1*82)" in p and "fails the NPI check digit" in p for p in problems), problems


def test_the_validator_flags_a_pointer_to_a_fifth_diagnosis(valid_text):
    problems = validate_837p(changed(valid_text, "SV1*HC:22551*4850*UN*1***1~", "SV1*HC:22551*4850*UN*1***5~"))

    assert any("diagnosis pointer 5 points to no diagnosis" in p for p in problems), problems


def test_the_validator_flags_five_modifiers(valid_text):
    problems = validate_837p(changed(valid_text, "SV1*HC:22551*", "SV1*HC:22551:62:80:59:XS:KX*"))

    assert any("5 procedure modifiers" in p for p in problems), problems


def test_the_validator_flags_a_wrong_segment_count(valid_text):
    found = segments(valid_text)
    count = found[-3].split("*")[1]
    problems = validate_837p(changed(valid_text, f"SE*{count}*0001~", f"SE*{int(count) + 1}*0001~"))

    assert any("SE01 says" in p for p in problems), problems


def test_the_validator_flags_more_than_fifty_lines():
    claim = acdf_claim(lines=tuple(line("99024", "1.00", "A") for _ in range(50)))
    rows = written(batch(claim)).splitlines(keepends=True)
    se_at = next(i for i, row in enumerate(rows) if row.startswith("SE*"))
    count = int(rows[se_at].split("*")[1])
    rows[se_at:se_at + 1] = ["LX*51~\n", "SV1*HC:99024*1*UN*1***1~\n", "DTP*472*D8*20260504~\n",
                             f"SE*{count + 3}*0001~\n"]
    text = changed("".join(rows), "CLM*NSA-26-0001*50***", "CLM*NSA-26-0001*51***")

    assert any("51 service lines; an 837P claim holds at most 50" in p for p in validate_837p(text))


def test_pyx12_really_rejects_a_broken_file(valid_text):
    """pyx12 is not a rubber stamp: a file our own rules accept but the implementation guide forbids fails."""
    missing_zip = changed(valid_text, "N4*COLUMBUS*OH*432211234~\n", "")
    bad_code = changed(valid_text, "*22:B:1*", "*22:Q:1*")

    delimiters, found = split_segments(bad_code)
    assert own_problems(found, delimiters) == []
    assert any(p.startswith("pyx12, segment 22 (CLM)") and "Facility Code Qualifier" in p
               for p in validate_837p(bad_code))
    assert any(p.startswith("pyx12") and "(N4) missing" in p for p in validate_837p(missing_zip))


def test_the_validator_reports_text_that_is_not_x12():
    assert validate_837p("") == ["The file does not begin with a complete ISA segment (106 characters)."]
    assert validate_837p("ST*837*0001~") != []


def test_pyx12_messages_stay_out_of_the_application_log(valid_text, caplog):
    """pyx12 quotes the file's values (names, member ids): they must not reach the log."""
    with caplog.at_level(logging.DEBUG):
        problems = validate_837p(changed(valid_text, "DMG*D8*19510819*F", "DMG*D8*19511319*F"))

    assert any("19511319" in p for p in problems)
    assert not [r for r in caplog.records if r.name.startswith("pyx12")]
    assert logging.getLogger("pyx12").propagate is True


def test_every_golden_file_is_a_valid_837p():
    files = sorted(GOLDEN.glob("*.837"))

    assert [f.name for f in files] == ["acdf_medicare.837", "dependent_commercial_two_claims.837"]
    for path in files:
        assert validate_837p(path.read_text(encoding="ascii")) == [], path.name
