"""The CMS-1500 PDF, read back with pdfplumber: each item's text inside that item's box, page by page.

The people, practices and numbers here are made up; NPIs carry a valid check digit. Set BILLY_UPDATE_GOLDEN=1
to rewrite the golden fields file after a reviewed change (a change of output is a reviewed change).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pdfplumber
import pytest

from billy.identifiers import npi_with_check_digit
from claims import cms1500_pdf
from claims.claim_document import (
    Address,
    ClaimDocument,
    DiagnosisEntry,
    DrugInfo,
    FacilityParty,
    PatientParty,
    PayerParty,
    ProviderParty,
    ServiceLineEntry,
    SubscriberParty,
)
from claims.cms1500_pdf import REGIONS, SLOTS, cms1500_fields, cms1500_page_fields, render_cms1500, slot

GOLDEN = Path(__file__).parent / "golden" / "cms1500_fields_acdf.json"
SHARED_ITEMS = Path(__file__).resolve().parents[3] / "shared" / "data" / "reference" / "cms1500_0212_fields.csv"
# The items of cms1500_0212_fields.csv, held here so the test runs without ../shared ("10a-c" is 10a, 10b, 10c).
CSV_ITEMS = (
    "1", "1a", "2", "3", "4", "5", "6", "7", "8", "9", "9a", "9b", "9c", "9d", "10a-c", "10d", "11", "11a", "11b",
    "11c", "11d", "12", "13", "14", "15", "16", "17", "17a", "17b", "18", "19", "20", "21", "22", "23", "24A", "24B",
    "24C", "24D", "24E", "24F", "24G", "24H", "24I", "24J", "25", "26", "27", "28", "29", "30", "31", "32", "32a",
    "32b", "33", "33a", "33b",
)
FORM_ITEMS = {*CSV_ITEMS, "10", "10a", "10b", "10c"} - {"10a-c"}
SERVICE_DAY = dt.date(2026, 5, 4)
TOLERANCE = 0.5  # points: pdfplumber's rounding of glyph boxes

BILLING = ProviderParty(
    npi=npi_with_check_digit("123456789"), entity="2", organisation_name="North Spine Associates, P.C.",
    taxonomy="207X00000X", tax_id="56-1234567", tax_id_type="EI", phone="2175550100",
    address=Address(line1="1200 Harbor Blvd., Suite 300", city="Springfield", state="IL", postal_code="627041234"))
SURGEON = ProviderParty(npi=npi_with_check_digit("198765432"), family_name="Okafor", given_name="Adaeze",
                        middle_name="N", credential="MD", taxonomy="207XS0117X")
REFERRER = ProviderParty(npi=npi_with_check_digit("155512345"), family_name="Lindqvist", given_name="Tomas",
                         credential="D.O.")
HOSPITAL = FacilityParty(name="Lincoln Memorial Hospital", npi=npi_with_check_digit("287654321"),
                         address=Address(line1="800 E. Carpenter St", city="Springfield", state="IL",
                                         postal_code="62769"))
PATIENT = PatientParty(family_name="Hartwell", given_name="Alma", middle_name="Ruth", birth_date=dt.date(1956, 3, 2),
                       sex="F", phone="2175550177",
                       address=Address(line1="42 Prairie Rose Ln", city="Chatham", state="IL", postal_code="62629"))
MEDICARE = PayerParty(name="Medicare Part B (test MAC)", payer_id="15202",
                      address=Address(line1="PO Box 6475", city="Indianapolis", state="IN", postal_code="462066475"))


def line(cpt: str, charge: str, pointers: str, *, units: int = 1, modifiers: tuple[str, ...] = (),
         place: str = "22", drug: DrugInfo | None = None) -> ServiceLineEntry:
    return ServiceLineEntry(cpt=cpt, units=units, charge=Decimal(charge), dx_pointers=tuple(pointers),
                            date_of_service=SERVICE_DAY, place_of_service=place, modifiers=modifiers, drug=drug)


def acdf_claim() -> ClaimDocument:
    """A two-level anterior cervical discectomy and fusion, C5-C6 and C6-C7, in hospital (POS 22)."""
    return ClaimDocument(
        patient_control_number="IB00000042",
        billing_provider=BILLING,
        patient=PATIENT,
        subscriber=SubscriberParty(member_id="1EG4TE5MK73", filing_indicator="MB"),
        payer=MEDICARE,
        diagnoses=(DiagnosisEntry("A", "M50.122"), DiagnosisEntry("B", "M50.123")),
        lines=(line("22551", "12000.00", "A"), line("22552", "4500.00", "B"),
               line("22845", "3800.00", "AB"), line("22853", "2400.00", "AB", units=2),
               line("20930", "650.00", "AB")),
        rendering_provider=SURGEON,
        referring_provider=REFERRER,
        facility=HOSPITAL,
        prior_authorization="PA2026-04417",
        onset_date=dt.date(2025, 11, 20),
        additional_information="Operative report available on request",
        physician_signature_date=dt.date(2026, 5, 6),
    )


def bilateral_injection_claim() -> ClaimDocument:
    """A bilateral L5-S1 transforaminal epidural injection in the office (POS 11): 64483-50."""
    return replace(
        acdf_claim(), patient_control_number="IB00000043", place_of_service="11",
        diagnoses=(DiagnosisEntry("A", "M54.17"), DiagnosisEntry("B", "M51.17")),
        lines=(line("64483", "1400.00", "AB", modifiers=("50",), place="11"),),
        facility=None, prior_authorization="", onset_date=None, additional_information="")


def eight_line_claim() -> ClaimDocument:
    """Office facet injections and an evaluation: 8 lines, so 2 forms; the drug lines carry their NDC."""
    return replace(
        acdf_claim(), patient_control_number="IB00000044", place_of_service="11",
        diagnoses=(DiagnosisEntry("A", "M47.812"), DiagnosisEntry("B", "M47.816"), DiagnosisEntry("C", "M54.2"),
                   DiagnosisEntry("D", "M54.50"), DiagnosisEntry("E", "G89.29")),
        lines=(line("99214", "210.00", "CD", modifiers=("25",), place="11"),
               line("64490", "1100.00", "A", modifiers=("50",), place="11"),
               line("64491", "900.00", "A", modifiers=("50",), place="11"),
               line("64493", "1050.00", "B", modifiers=("50",), place="11"),
               line("64494", "850.00", "B", modifiers=("50",), place="11"),
               line("77003", "180.00", "AB", modifiers=("26", "59", "XU", "GA"), place="11"),
               line("J1030", "40.00", "AB", units=2, place="11",
                    drug=DrugInfo(ndc="12345067801", quantity=Decimal("2"), unit="ML")),
               line("J2001", "12.50", "AB", units=5, place="11",
                    drug=DrugInfo(ndc="12345098702", quantity=Decimal("2.5"), unit="ML"))),
        facility=None, amount_paid=Decimal("40.00"))


def replacement_claim() -> ClaimDocument:
    """The ACDF claim again, replacing the payer's claim 22199300118450 (frequency 7)."""
    return replace(acdf_claim(), patient_control_number="IB00000045", frequency_code="7",
                   payer_claim_number="22199300118450")


def dependent_claim() -> ClaimDocument:
    """A child covered by her mother's commercial group plan (relationship 19), after a car accident in IL."""
    mother_address = Address(line1="9 Orchard Ct", city="Rochester", state="IL", postal_code="62563")
    return replace(
        bilateral_injection_claim(), patient_control_number="IB00000046",
        patient=PatientParty(family_name="Hartwell", given_name="Mira", birth_date=dt.date(2004, 8, 19), sex="F",
                             address=mother_address),
        subscriber=SubscriberParty(member_id="XKJ882004519", relationship="19", filing_indicator="CI",
                                   group_number="GRP-55120", plan_name="Prairie Choice PPO",
                                   family_name="Hartwell", given_name="Helena", middle_name="J",
                                   birth_date=dt.date(1975, 1, 30), sex="F", address=mother_address),
        payer=PayerParty(name="Prairie Health Plan", payer_id="PHP01"),
        related_to_auto_accident=True, auto_accident_state="IL")


ALL_CLAIMS = (acdf_claim, bilateral_injection_claim, eight_line_claim, replacement_claim, dependent_claim)


def pdf_pages(claims: list[ClaimDocument], *, form_image: bool = True):
    """Each page's words (with their font) as pdfplumber reads them, with the page itself."""
    with pdfplumber.open(io.BytesIO(render_cms1500(claims, form_image=form_image))) as pdf:
        return [(page, page.extract_words(extra_attrs=["fontname", "size"])) for page in pdf.pages], pdf.metadata


def data_words(words):
    return [word for word in words if word["fontname"].startswith("Courier")]


def inside(word, bbox) -> bool:
    x0, top, x1, bottom = bbox
    return (word["x0"] >= x0 - TOLERANCE and word["x1"] <= x1 + TOLERANCE
            and word["top"] >= top - TOLERANCE and word["bottom"] <= bottom + TOLERANCE)


def text_at(words, key: str) -> list[dict]:
    """The data words whose centre lies in the print position of `key`, left to right."""
    x0, top, x1, bottom = slot(key).bbox
    found = [w for w in data_words(words)
             if x0 <= (w["x0"] + w["x1"]) / 2 <= x1 and top <= (w["top"] + w["bottom"]) / 2 <= bottom]
    return sorted(found, key=lambda w: w["x0"])


def assert_page_prints(words, expected: dict[str, str]) -> None:
    """Every field's text at its position and inside its item's box, and no data text anywhere else."""
    claimed = set()
    for key, text in expected.items():
        found = text_at(words, key)
        assert " ".join(w["text"] for w in found) == " ".join(text.split()), key
        where = slot(key)
        region = REGIONS[where.region]
        for word in found:
            assert inside(word, region.bbox), f"{key} {word['text']!r} lies outside the box of item {where.region}"
            claimed.add(id(word))
        # On the grid: left-aligned text starts in its first column, money ends in its last.
        if where.right_aligned:
            assert found[-1]["x1"] == pytest.approx(cms1500_pdf.column_left(where.last_col + 1), abs=1.3), key
        else:
            assert found[0]["x0"] == pytest.approx(cms1500_pdf.column_left(where.col), abs=1.3), key
    strays = [w["text"] for w in data_words(words) if id(w) not in claimed]
    assert strays == []


@pytest.mark.parametrize("make_claim", ALL_CLAIMS, ids=lambda make: make.__name__)
@pytest.mark.parametrize("form_image", [True, False], ids=["form", "data-only"])
def test_every_item_prints_inside_its_box_on_every_page(make_claim, form_image):
    claim = make_claim()
    pages, _ = pdf_pages([claim], form_image=form_image)
    expected_pages = cms1500_page_fields(claim)
    assert len(pages) == len(expected_pages)
    for (page, words), expected in zip(pages, expected_pages, strict=True):
        assert (page.width, page.height) == (612, 792)  # 8.5 x 11 inches
        assert_page_prints(words, expected)


def test_every_print_position_lies_inside_its_item_box_on_the_66_line_grid():
    service_line_keys = []
    for base in cms1500_pdf.ROW_SLOTS:
        item, *rest = base.split(".")
        service_line_keys += [".".join([item, str(row), *rest]) for row in range(1, 7)]
    keys = list(SLOTS) + service_line_keys
    for key in keys:
        where = slot(key)
        region = REGIONS[where.region]
        assert region.first_col <= where.col and where.last_col <= region.last_col, key
        assert region.first_line <= where.line <= region.last_line, key
        assert 1 <= where.line <= 66 and cms1500_pdf.column_left(where.last_col + 1) <= cms1500_pdf.PAGE_WIDTH
        item = key.split(".")[0]
        assert item in FORM_ITEMS | {"carrier", "page"}, key


def test_the_regions_are_named_for_the_items_of_the_cms1500_field_list():
    assert set(REGIONS) - {"carrier", "24 shaded"} <= FORM_ITEMS
    assert FORM_ITEMS - {"10"} - set(REGIONS) == set()
    if SHARED_ITEMS.exists():
        with SHARED_ITEMS.open(newline="") as f:
            assert [row["item"] for row in csv.DictReader(f)] == list(CSV_ITEMS)


def test_the_acdf_claim_fields_match_the_golden_file():
    fields = cms1500_fields(acdf_claim())
    if os.environ.get("BILLY_UPDATE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(fields, indent=1) + "\n")
    assert fields == json.loads(GOLDEN.read_text())


def test_the_acdf_claim_prints_its_codes_charges_and_pointers_as_nucc_asks():
    fields = cms1500_fields(acdf_claim())
    assert fields["1.medicare"] == "X" and fields["1a"] == "1EG4TE5MK73"
    assert fields["2"] == "HARTWELL, ALMA, R"  # Last, First, Middle initial with commas
    assert (fields["3"], fields["3.female"]) == ("03 02 1956", "X")  # birth dates with 8 digits
    assert fields["6.self"] == "X" and fields["4"] == fields["2"]
    assert fields["11"] == "NONE"  # Medicare primary, no group number
    assert fields["11c"] == "MEDICARE PART B (TEST MAC)" and fields["11d.no"] == "X"
    assert fields["12"] == fields["13"] == fields["31"] == "SIGNATURE ON FILE"
    assert (fields["14"], fields["14.qual"]) == ("11 20 25", "431")
    assert (fields["17.qual"], fields["17"], fields["17b"]) == ("DN", "TOMAS LINDQVIST DO", REFERRER.npi)
    assert (fields["21.ind"], fields["21.A"], fields["21.B"]) == ("0", "M50122", "M50123")  # no dot (NUCC)
    assert [fields[f"24D.{n}"] for n in range(1, 6)] == ["22551", "22552", "22845", "22853", "20930"]
    assert fields["24A.1"] == "05 04 26 05 04 26" and fields["24B.1"] == "22"
    assert (fields["24E.1"], fields["24E.3"]) == ("A", "AB")
    assert (fields["24F.1"], fields["24F.5"], fields["24G.4"]) == ("12000 00", "650 00", "2")
    assert fields["24J.1"] == SURGEON.npi
    assert (fields["25"], fields["25.ein"], fields["26"], fields["27.yes"]) == ("561234567", "X", "IB00000042", "X")
    assert fields["28"] == "23350 00" and "29" not in fields
    assert fields["31.date"] == "05 06 26"
    assert (fields["32.name"], fields["32.street"], fields["32.city"], fields["32a"]) == (
        "LINCOLN MEMORIAL HOSPITAL", "800 E CARPENTER ST", "SPRINGFIELD IL 62769", HOSPITAL.npi)
    assert (fields["33.name"], fields["33.street"], fields["33.city"]) == (
        "NORTH SPINE ASSOCIATES, P.C.", "1200 HARBOR BLVD SUITE 300", "SPRINGFIELD IL 62704-1234")
    assert (fields["33.phone_area"], fields["33.phone"], fields["33a"], fields["33b"]) == (
        "217", "5550100", BILLING.npi, "ZZ207X00000X")
    assert "22.code" not in fields and "24C.1" not in fields and "10b.state" not in fields


def test_a_bilateral_injection_prints_modifier_50_beside_its_code():
    fields = cms1500_fields(bilateral_injection_claim())
    assert (fields["24D.1"], fields["24D.1.modifiers"], fields["24B.1"]) == ("64483", "50", "11")
    pages, _ = pdf_pages([bilateral_injection_claim()], form_image=False)
    assert [w["text"] for w in text_at(pages[0][1], "24D.1.modifiers")] == ["50"]


def test_four_modifiers_land_in_the_four_modifier_columns():
    pages, _ = pdf_pages([eight_line_claim()], form_image=False)
    words = text_at(pages[0][1], "24D.6.modifiers")
    assert [w["text"] for w in words] == ["26", "59", "XU", "GA"]
    for word, col in zip(words, (32, 35, 38, 41), strict=True):
        assert word["x0"] == pytest.approx(cms1500_pdf.column_left(col), abs=1.3)


def test_a_claim_with_eight_lines_prints_two_forms_with_the_total_on_the_last():
    claim = eight_line_claim()
    pages, _ = pdf_pages([claim])
    assert len(pages) == 2
    first, second = (words for _, words in pages)
    assert [w["text"] for w in text_at(first, "page")] == ["PAGE", "1", "OF", "2"]
    assert [w["text"] for w in text_at(second, "page")] == ["PAGE", "2", "OF", "2"]
    assert [w["text"] for w in text_at(first, "28")] == ["CONTINUED"]
    assert [w["text"] for w in text_at(second, "28")] == ["4342", "50"]
    assert claim.total_charge == Decimal("4342.50")
    assert text_at(first, "29") == [] and [w["text"] for w in text_at(second, "29")] == ["40", "00"]
    # The header repeats: the same patient, insured id, diagnoses and billing provider on both forms.
    for key in ("1a", "2", "21.A", "21.E", "26", "33a"):
        assert [w["text"] for w in text_at(first, key)] == [w["text"] for w in text_at(second, key)] != [], key
    # Lines 7 and 8 are rows 1 and 2 of the second form; its rows 3-6 are empty.
    assert [w["text"] for w in text_at(second, "24D.7")] == ["J1030"]
    assert [w["text"] for w in text_at(second, "24D.8")] == ["J2001"]
    assert slot("24D.7").line == slot("24D.1").line
    for row in range(3, 7):
        assert text_at(second, f"24D.{row}") == []


def test_a_drug_line_carries_n4_its_ndc_and_its_quantity_in_the_shaded_half():
    fields = cms1500_fields(eight_line_claim())
    assert fields["24A.7.shaded"] == "N412345067801   ML2"
    assert fields["24A.8.shaded"] == "N412345098702   ML2.5"
    pages, _ = pdf_pages([eight_line_claim()], form_image=False)
    ndc, quantity = text_at(pages[1][1], "24A.8.shaded")
    assert ndc["x0"] == pytest.approx(cms1500_pdf.column_left(1), abs=1.3)
    assert quantity["x0"] == pytest.approx(cms1500_pdf.column_left(17), abs=1.3)  # the quantity from position 17
    assert ndc["bottom"] <= cms1500_pdf.line_top(slot("24A.8").line) + TOLERANCE  # above the line's own data


def test_a_replacement_claim_prints_frequency_7_and_the_payers_claim_number_in_item_22():
    fields = cms1500_fields(replacement_claim())
    assert (fields["22.code"], fields["22.original_ref"]) == ("7", "22199300118450")
    pages, _ = pdf_pages([replacement_claim()])
    assert [w["text"] for w in text_at(pages[0][1], "22.original_ref")] == ["22199300118450"]


def test_a_dependent_patient_prints_the_insured_parent_in_items_4_7_and_11():
    fields = cms1500_fields(dependent_claim())
    assert fields["2"] == "HARTWELL, MIRA"
    assert fields["4"] == "HARTWELL, HELENA, J"
    assert fields["6.child"] == "X" and "6.self" not in fields
    assert (fields["7.street"], fields["7.city"], fields["7.state"], fields["7.zip"]) == (
        "9 ORCHARD CT", "ROCHESTER", "IL", "62563")
    assert (fields["3"], fields["11a"], fields["11a.female"]) == ("08 19 2004", "01 30 1975", "X")
    assert (fields["1.group"], fields["11"], fields["11c"]) == ("X", "GRP-55120", "PRAIRIE CHOICE PPO")
    assert (fields["10b.yes"], fields["10b.state"], fields["10a.no"], fields["10c.no"]) == ("X", "IL", "X", "X")
    assert fields["carrier.1"] == "PRAIRIE HEALTH PLAN" and "carrier.2" not in fields  # no address on file


@pytest.mark.parametrize(("filing_indicator", "box"), [
    ("MB", "1.medicare"), ("MC", "1.medicaid"), ("CH", "1.tricare"), ("VA", "1.champva"), ("CI", "1.group"),
    ("BL", "1.group"), ("WC", "1.other"), ("AM", "1.other"),
])
def test_the_insurance_type_box_follows_the_claim_filing_indicator(filing_indicator, box):
    claim = replace(acdf_claim(), subscriber=replace(acdf_claim().subscriber, filing_indicator=filing_indicator))
    fields = cms1500_fields(claim)
    assert [key for key in fields if key.startswith("1.")] == [box]


def test_the_form_image_draws_the_red_form_with_its_title_pica_and_rules():
    pages, _ = pdf_pages([acdf_claim()])
    page, words = pages[0]
    text = page.extract_text()
    assert "HEALTH INSURANCE CLAIM FORM" in text and "PICA" in text
    assert "PATIENT'S NAME" in text and "FEDERAL TAX I.D. NUMBER" in text
    assert len(page.lines) + len(page.rects) > 100
    labels = [w for w in words if not w["fontname"].startswith("Courier")]
    assert labels and all(w["fontname"].startswith("Helvetica") for w in labels)
    red = {tuple(round(c, 2) for c in line["stroking_color"]) for line in page.lines}
    assert red == {(0.84, 0.11, 0.16)}


def test_without_the_form_image_only_data_is_printed_for_a_pre_printed_form():
    pages, _ = pdf_pages([acdf_claim()], form_image=False)
    page, words = pages[0]
    assert words and data_words(words) == words
    assert "PICA" not in page.extract_text() and "HEALTH" not in page.extract_text()
    assert page.lines == [] and page.rects == [] and page.curves == []


def test_data_and_form_share_positions_so_a_pre_printed_sheet_lines_up():
    with_form, _ = pdf_pages([acdf_claim()])
    data_only, _ = pdf_pages([acdf_claim()], form_image=False)
    drawn = [(w["text"], round(w["x0"], 1), round(w["top"], 1)) for w in data_words(with_form[0][1])]
    printed = [(w["text"], round(w["x0"], 1), round(w["top"], 1)) for w in data_only[0][1]]
    assert drawn == printed


def test_the_pdf_metadata_names_the_claim_number_and_never_the_patient():
    _, metadata = pdf_pages([acdf_claim()])
    assert metadata["Title"] == "CMS-1500 claim IB00000042"
    written = json.dumps(metadata, default=str).lower()
    assert metadata["Author"] == "IamBilly"
    assert "hartwell" not in written and "alma" not in written and "1956" not in written


def test_several_claims_print_one_after_another_in_one_pdf():
    pages, metadata = pdf_pages([acdf_claim(), eight_line_claim(), dependent_claim()])
    assert len(pages) == 4
    assert [[w["text"] for w in text_at(words, "26")] for _, words in pages] == [
        ["IB00000042"], ["IB00000044"], ["IB00000044"], ["IB00000046"]]
    assert metadata["Title"] == "CMS-1500 claims IB00000042, IB00000044, IB00000046"


def test_an_identifier_too_long_for_its_box_is_refused_rather_than_cut():
    claim = replace(acdf_claim(), patient_control_number="IB0000000000000042")  # 18: CLM01 allows 20, item 26 14
    with pytest.raises(ValueError, match="item 26"):
        cms1500_fields(claim)


def test_a_name_too_long_for_its_box_is_cut_at_the_box():
    claim = replace(acdf_claim(), facility=replace(HOSPITAL, name="Lincoln Memorial Hospital Ambulatory Surgery"))
    assert cms1500_fields(claim)["32.name"] == "LINCOLN MEMORIAL HOSPITAL"  # 26 columns, the space dropped


def test_no_claims_are_refused():
    with pytest.raises(ValueError, match="No claims"):
        render_cms1500([])
