"""The coding rules, sentence by sentence, and whole dictations end to end (all texts written for these tests)."""

from collections import Counter
from pathlib import Path

import pytest

from billing.coding import CodingContext, code_note, code_procedures, facet_joints
from billing.note import Note
from billing.procedures import read_procedures

DICTATIONS = Path(__file__).parent / "dictations"


def cpt_of(text: str, **context) -> Counter:
    note = Note(text)
    lines, _ = code_procedures(read_procedures(note), note, CodingContext(**context))
    return Counter({f"{line.cpt}{''.join('-' + m for m in line.modifiers)}": line.units for line in lines})


@pytest.mark.parametrize(("text", "expected"), [
    # ACDF: one unit per interspace, the first on 22551
    ("Procedure: anterior cervical discectomy and fusion at C5-C6.", {"22551": 1}),
    ("Procedure: C4-5, C5-6 and C6-7 anterior cervical discectomy and fusion.", {"22551": 1, "22552": 2}),
    ("Procedure: ACDF C3 to C5.", {"22551": 1, "22552": 1}),
    # separate list items for discectomy and fusion make an ACDF (22551 includes the discectomy)
    ("PROCEDURES:\n1. Anterior cervical discectomy C5-C6 and C6-C7.\n2. Anterior interbody fusion C5-C6 and C6-C7.",
     {"22551": 1, "22552": 1}),
    ("Procedure: anterior cervical discectomy at C6-C7 without fusion.", {"63075": 1}),
    # posterolateral fusion counts segments; instrumentation counts vertebrae spanned
    ("Procedure: posterolateral fusion L4-L5 and L5-S1 with pedicle screws L4 to S1.",
     {"22612": 1, "22614": 1, "22842": 1}),
    ("Procedure: posterolateral fusion at L4-L5 with pedicle screw instrumentation at L4 and L5.",
     {"22612": 1, "22840": 1}),
    # interbody + posterolateral at one interspace is the combined code
    ("Procedure: TLIF at L4-L5 and posterolateral fusion at L4-L5 with pedicle screws L4-L5 and a PEEK cage.",
     {"22633": 1, "22840": 1, "22853": 1}),
    ("Procedure: anterior lumbar interbody fusion at L5-S1 with an interbody cage.", {"22558": 1, "22853": 1}),
    # decompressions
    ("Procedure: decompressive laminectomy with foraminotomies at L3-L4 and L4-L5.", {"63047": 1, "63048": 1}),
    ("Procedure: left L5-S1 microdiscectomy.", {"63030": 1}),
    ("Procedure: left L4-5 and L5-S1 laminotomy and discectomy.", {"63030": 1, "63035": 1}),
    ("Procedure: redo right L4-5 discectomy.", {"63042": 1}),
    ("Procedure: left C6-7 laminoforaminotomy.", {"63020": 1}),
    # injections: 50 for bilateral on one line, LT/RT for one side, facet codes count joints
    ("Procedure: bilateral L4-L5 and L5-S1 transforaminal epidural steroid injections with fluoroscopy.",
     {"64483-50": 1, "64484-50": 1}),
    ("Procedure: left L5-S1 transforaminal epidural injection under fluoroscopy.", {"64483-LT": 1}),
    ("Procedure: right C5-C6 transforaminal injection with fluoroscopic guidance.", {"64479-RT": 1}),
    ("Procedure: right L3-L4, L4-L5 and L5-S1 facet joint injections under fluoroscopy.",
     {"64493-RT": 1, "64494-RT": 1, "64495-RT": 1}),
    ("Procedure: bilateral L3-L4 and L4-L5 radiofrequency ablation under fluoroscopy.", {"64635-50": 1, "64636-50": 1}),
    ("Procedure: L4-L5 interlaminar epidural steroid injection under fluoroscopic guidance.", {"62323": 1}),
    ("Procedure: lumbar interlaminar epidural steroid injection without fluoroscopy.", {"62322": 1}),
    ("Procedure: C7-T1 interlaminar epidural steroid injection under fluoroscopy.", {"62321": 1}),
    # other families
    ("Procedure: L2 kyphoplasty under fluoroscopy.", {"22514": 1}),
    ("Procedure: T11 and T12 vertebroplasty with fluoroscopy.", {"22510": 1, "22512": 1}),
    ("Procedure: right sacroiliac joint fusion with three titanium implants.", {"27279-RT": 1}),
    ("Procedure: spinal cord stimulator trial with two percutaneous electrode arrays.", {"63650": 2}),
    ("Procedure: trigger point injections in the trapezius, rhomboid and levator scapulae muscles.", {"20553": 1}),
    ("Procedure: trigger point injection of the left trapezius.", {"20552": 1}),
])
def test_each_rule(text, expected):
    assert cpt_of(text) == Counter(expected)


@pytest.mark.parametrize(("text", "absent"), [
    ("Procedure: L4-L5 laminectomy. No fusion was performed.", "22612"),
    ("Procedure: posterolateral fusion L4-L5 with local autograft. No interbody fusion was performed.", "22633"),
    ("Status post C5-6 anterior cervical fusion. Procedure: trigger point injections of the trapezius.", "22554"),
])
def test_what_the_note_negates_or_places_in_the_past_is_not_coded(text, absent):
    assert absent not in {code.split("-")[0] for code in cpt_of(text)}


def test_the_second_primary_procedure_takes_modifier_51():
    codes = cpt_of("Procedure: posterolateral fusion L4-L5 with pedicle screws L4 and L5, and L4-L5 decompressive "
                   "laminectomy.")
    assert codes["63047-51"] == 1 and codes["22612"] == 1


@pytest.mark.parametrize(("nerves_text", "joints"), [
    ("Procedure: left L3 and L4 medial branch blocks.", ["L4-L5"]),
    ("Procedure: right L3, L4 medial branches and L5 dorsal ramus blocks.", ["L4-L5", "L5-S1"]),
    ("Procedure: C4 and C5 medial branch blocks.", ["C4-C5"]),
])
def test_medial_branch_nerves_become_the_joints_they_supply(nerves_text, joints):
    facts = [f for f in read_procedures(Note(nerves_text)).facts if f.kind == "facet_injection"]
    assert facet_joints(facts[0]) == joints


def test_codes_written_in_the_note_are_not_copied():
    result = code_note("Procedure: anterior cervical discectomy C5-6 (63075) and anterior interbody fusion C5-6 "
                       "(22554) with a structural allograft spacer and plate (22845).")
    codes = {line.cpt for line in result.lines}
    assert "63075" not in codes and "22554" not in codes
    assert {"22551", "20931", "22845"} <= codes
    assert any(f.rule == "PX-CODE-IN-TEXT" for f in result.findings)


def test_medicare_leaves_the_microscope_off_with_a_finding_that_says_why():
    result = code_note("Procedure: left L5-S1 microdiscectomy. The operating microscope was used.")
    assert [line.cpt for line in result.lines] == ["63030"]
    assert [line.cpt for line, _ in result.withheld] == ["69990"]
    finding = next(f for f in result.findings if f.rule == "PAYER-EDIT")
    assert "63081-63308" in finding.message and finding.source_title


def test_the_microscope_stays_for_a_corpectomy():
    result = code_note("Procedure: C5 corpectomy with the operating microscope.")
    assert {line.cpt for line in result.lines} >= {"63081", "69990"}


def test_an_office_injection_adds_the_drug_with_units_by_dose():
    text = ("Procedure: L4-L5 interlaminar epidural steroid injection under fluoroscopy. "
            "Triamcinolone 80 mg was injected.")
    assert cpt_of(text, place_of_service="11") == Counter({"62323": 1, "J3301": 8})
    assert cpt_of(text, place_of_service="22") == Counter({"62323": 1})


def test_an_empty_or_non_clinical_note_gets_no_code_and_a_finding():
    for text in ("", "The patient called to reschedule. Her husband will drive."):
        result = code_note(text)
        assert result.lines == []
        assert any(f.rule == "PX-NONE" for f in result.findings)


def test_a_missing_level_is_coded_once_and_flagged():
    result = code_note("Procedure: transforaminal epidural steroid injection on the left under fluoroscopy.")
    assert [(line.cpt, line.units) for line in result.lines] == [("64483", 1)]
    assert any(f.rule == "PX-LEVEL-MISSING" for f in result.findings)


END_TO_END = {
    "acdf_three_level_cage.txt": {"22551": 1, "22552": 2, "22853": 3, "22846": 1, "20930": 1},
    "posterior_cervical_fusion.txt": {"22600": 1, "22614": 1, "63045-51": 1, "63048": 1, "22842": 1, "20936": 1},
    "lumbar_microdiscectomy_right.txt": {"63030": 1},
    "redo_discectomy.txt": {"63042": 1},
    "kyphoplasty_two_level.txt": {"22513": 1, "22515": 1},
    "cervical_mbb_bilateral.txt": {"64490-50": 1, "64491-50": 1},
    "lumbar_rfa_left.txt": {"64635-LT": 1, "64636-LT": 1},
    "caudal_no_fluoro.txt": {"62322": 1},
    "thoracic_tfesi_right.txt": {"64479-RT": 1},
    "tlif_two_level_no_fusion_negated.txt": {"22630": 1, "22632": 1, "22853": 2, "22842": 1, "20936": 1},
    "scs_single_lead.txt": {"63650": 1},
    "nothing_billable.txt": {},
}


@pytest.mark.parametrize("name", sorted(END_TO_END))
def test_whole_dictations(name):
    result = code_note((DICTATIONS / name).read_text())
    codes = Counter({f"{line.cpt}{''.join('-' + m for m in line.modifiers)}": line.units for line in result.lines})
    assert codes == Counter(END_TO_END[name])
    for line in result.lines:
        assert line.rationale and line.evidence and 0 < line.confidence <= 1


def test_a_side_that_changes_between_list_and_description_is_flagged():
    result = code_note("Procedure: left L5-S1 transforaminal epidural steroid injection with fluoroscopy.\n"
                       "Description: the needle was placed in the right L5-S1 foramen and the transforaminal "
                       "injection completed.")
    assert any(f.rule == "PX-CONTRADICTION" for f in result.findings)


def test_a_deleted_code_named_in_the_note_is_called_deleted():
    result = code_note("Procedure: anterior cervical discectomy and fusion C5-6 with a PEEK cage (22851).")
    finding = next(f for f in result.findings if f.rule == "PX-CODE-IN-TEXT")
    assert "22851 (deleted in 2017" in finding.message
    assert "22853" in {line.cpt for line in result.lines}
