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
    # the discectomy that prepares a disc space for fusion or a disc replacement is part of that code
    ("Procedure: anterior lumbar interbody fusion L5-S1 with discectomy and a PEEK cage.", {"22558": 1, "22853": 1}),
    ("Procedure: C6-C7 anterior cervical discectomy with total disc arthroplasty and bilateral foraminotomies.",
     {"22856": 1}),
    # corpectomy: the arthrodesis across one defect is one unit; the cage in the defect is 22854
    ("Procedure: C5 corpectomy with anterior interbody arthrodesis C4-C5 and C5-C6, an expandable cage and an "
     "anterior plate C4 to C6.", {"63081": 1, "22554-51": 1, "22854": 1, "22845": 1}),
    # through the pedicle: 63055 thoracic, not a lumbar laminotomy
    ("Procedure: right T8-T9 transpedicular approach with thoracic discectomy.", {"63055": 1}),
    ("Procedure: right T7-T8 hemilaminotomy and discectomy.", {"63046": 1}),
    # deformity: osteotomies by segment, pelvic fixation beyond the sacrum
    ("PROCEDURES:\n1. Pedicle subtraction osteotomy L3.\n2. Posterior spinal arthrodesis for scoliosis T10 to S1.\n"
     "3. Pedicle screw instrumentation T10 to S1 with iliac screws.",
     {"22207": 1, "22802-51": 1, "22843": 1, "22848": 1}),
    ("Indications: cervical myelopathy; mild kyphosis on imaging.\nProcedure: posterior cervical laminectomy and "
     "fusion C3-C6.",
     {"22600-51": 1, "22614": 2, "63045": 1, "63048": 2}),
    # laminae named one by one count one segment each
    ("Procedure: laminectomy of C3, C4, C5 and C6.", {"63045": 1, "63048": 3}),
    # a laminectomy away from the interbody fusion is a distinct level (XS); next to it, 63052
    ("Procedure: L4-L5 TLIF with posterolateral fusion at L4-L5 and pedicle screws L4-L5, and laminectomy at L2-L3.",
     {"22633": 1, "22840": 1, "63047-XS-51": 1}),
    # screws after a lateral interbody fusion are posterior instrumentation too
    ("Procedure: left XLIF at L3-L4 and L4-L5 with PEEK cages, and percutaneous pedicle screws L3 to L5.",
     {"22558": 1, "22585": 1, "22853": 2, "22842": 1}),
    # removing a construct: the solid fusion found is not a new arthrodesis
    ("Procedure: removal of posterior segmental instrumentation L4-S1. The fusion was solid.", {"22852": 1}),
    # SI joint lateral branch ablation; cervical "RF ablation"; foramina named by their nerve roots
    ("Procedure: bilateral sacroiliac joint lateral branch radiofrequency ablation under fluoroscopy.",
     {"64625-50": 1}),
    ("Procedure: right C5, C6 and C7 medial branch RF ablation under fluoroscopy.", {"64633-RT": 1, "64634-RT": 1}),
    ("Procedure: bilateral L5 and S1 transforaminal epidural steroid injections under fluoroscopy.",
     {"64483-50": 1, "64484-50": 1}),
    # discography: the injection per level and, in a facility, the professional reading per level
    ("Procedure: lumbar discography at L3-L4, L4-L5 and L5-S1 under fluoroscopy.", {"62290": 3, "72295-26": 3}),
    # clinic shorthand for sides and headers
    ("Proc: b/l L3-4 and L4-5 MBB under fluoro.", {"64493-50": 1, "64494-50": 1}),
    ("Planned: L L5-S1 + L S1 TFESI.\nPerformed: L L5-S1 TFESI only, under fluoro.", {"64483-LT": 1}),
    ("Proc: R C5-6 & C6-7 facet RFA under fluoro.", {"64633-RT": 1, "64634-RT": 1}),
    ("Proc: b/l greater occipital nerve blocks.", {"64405-50": 1}),
    ("Proc: b/l L4-5 laminotomies + microdiscectomy.", {"63030-50": 1}),
    # A side told in the narrative at another level than the listed one is that level's: the listed right L5-S1
    # microdiscectomy is not made bilateral by a left L4-L5 hemilaminotomy told after it.
    ("Procedure: right L5-S1 microdiscectomy. Findings: a large extruded fragment. A left-sided L4-L5 "
     "hemilaminotomy was then performed as well.", {"63030": 1}),
    # The narrative at the listed level keeps its side (the same procedure, told again).
    ("Procedure: L5-S1 microdiscectomy. A right L5-S1 hemilaminotomy was performed and the fragment removed.",
     {"63030": 1}),
    ("Procedure: L4-L5 laminotomy. A bilateral L4-L5 laminotomy was performed.", {"63030-50": 1}),
    ("Pre/post dx: painful hardware; s/p L3-L5 instrumented posterolateral fusion.\nProc: removal of posterior "
     "segmental instrumentation L3-L5. Exploration of fusion L3-L5.", {"22852": 1}),
    # the laminotomy of a PLIF's own interspaces is part of it; a lateral transpsoas fusion is anterior
    ("Procedure: PLIF L4-L5 and L5-S1 with bilateral laminotomies at L4-L5 and L5-S1, PEEK cages and pedicle "
     "screws L4 to S1.", {"22630": 1, "22632": 1, "22853": 2, "22842": 1}),
    ("Proc: L lateral transpsoas interbody fusion L3-4 + L4-5 with PEEK cages.", {"22558": 1, "22585": 1, "22853": 2}),
    ("Procedure: TLIF with posterolateral fusion L4-L5, pedicle screws L4-L5; laminectomy of L3 for stenosis.",
     {"22633": 1, "22840": 1, "63047-XS-51": 1}),
    # templated pain notes give levels and side on their own lines
    ("PROCEDURE: Lumbar MBB #2, fluoro guided\nLEVELS: L2, L3, L4 MB + L5 DR (L3-4, L4-5, L5-S1 facets)\n"
     "SIDE: Bilateral", {"64493-50": 1, "64494-50": 1, "64495-50": 1}),
    # a numbered item's levels can sit on sub-item lines; a parenthesis can sit inside the approach words
    ("PROCEDURES:\n1. Transforaminal lumbar interbody fusion (left-sided approach):\n   a. L3-4\n   b. L4-5\n"
     "2. Posterolateral (intertransverse) arthrodesis L3-4 and L4-5.", {"22633": 1, "22634": 1}),
    # unpunctuated speech: headers run together, levels said as words
    ("preoperative diagnosis herniated disc L four L five right side postoperative diagnosis same procedure right L "
     "four L five hemilaminotomy and microdiscectomy anesthesia general indications leg pain", {"63030": 1}),
    ("procedure anterior cervical discectomy and fusion at c five six and c six seven with PEEK cages",
     {"22551": 1, "22552": 1, "22853": 2}),
    # plans, earlier operations and denied co-surgery are not this session's work
    ("Procedure: bilateral SI joint injections under fluoro. We may do medial branch blocks down the road.",
     {"27096-50": 1}),
    ("Procedure: SCS trial with two percutaneous 8-contact leads. He had an L4-S1 laminectomy in 2019.",
     {"63650": 2}),
    ("Co-surgeon: none.\nProcedure: L4-L5 PLIF with a PEEK cage.", {"22630": 1, "22853": 1}),
    # growth factor and marrow graft
    ("Procedure: L5-S1 ALIF with a PEEK cage and rhBMP-2.", {"22558": 1, "22853": 1, "20930": 1}),
    ("Procedure: posterolateral fusion L4-L5 with pedicle screws L4-L5 and bone marrow aspirate from the iliac crest.",
     {"22612": 1, "22840": 1, "20939": 1}),
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


def codes_of_note(text: str) -> Counter:
    result = code_note(text)
    return Counter({f"{line.cpt}{''.join('-' + m for m in line.modifiers)}": line.units for line in result.lines})


@pytest.mark.parametrize(("text", "expected"), [
    # A dictated self-correction: only the level meant is coded, and its "no" is no negation.
    ("Procedure, anterior cervical discectomy and fusion at C4-5, sorry, scratch that, at C5-6 and C6-7, with PEEK "
     "cages.", {"22551": 1, "22552": 1, "22853": 2}),
    ("Procedure, right transforaminal epidural injection at, um, L3-4, no, L4-5, under fluoroscopy.",
     {"64483-RT": 1}),
    # A template's yes/no box that says no is not a procedure done.
    ("Procedure: lumbar interlaminar epidural steroid injection under fluoroscopy.\n"
     "Transforaminal performed: [ ] yes [X] no\nLevel: L4-L5", {"62323": 1}),
    # An SI joint injection called intra-articular is still the SI joint (27096), not a facet joint.
    ("Procedure: bilateral SI joint intra-articular injections under fluoroscopy.", {"27096-50": 1}),
    # Medial branch targets on a line of their own give the joints.
    ("Procedure: bilateral lumbar medial branch blocks under fluoroscopy.\n"
     "Targets (bilateral): L2, L3 and L4 medial branches.", {"64493-50": 1, "64494-50": 1}),
    # A disc replacement includes the foraminotomies done with it (22856: decompression of the roots).
    ("Procedure was a C5-6 cervical total disc arthroplasty.\n\nWe did bilateral foraminotomies at C5-6, then "
     "placed the disc.", {"22856": 1}),
])
def test_dictated_and_templated_forms(text, expected):
    assert codes_of_note(text) == Counter(expected)


def test_modifier_51_goes_to_the_procedure_worth_less():
    # Cervical laminectomy (63045, work RVU 17.95) outranks posterior fusion (22600, 17.40); lumbar fusion (22612,
    # 23.53) outranks laminectomy (63047, 15.37): the lesser one takes 51 whatever order the note lists them in.
    cervical = cpt_of("Procedure: posterior fusion C4-C5 with lateral mass screws C4 and C5, and C4 laminectomy.")
    assert cervical["22600-51"] == 1 and cervical["63045"] == 1
    lumbar = cpt_of("Procedure: L4 laminectomy, and posterolateral fusion L4-L5 with pedicle screws L4 and L5.")
    assert lumbar["63047-51"] == 1 and lumbar["22612"] == 1


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
    "posterior_cervical_fusion.txt": {"22600-51": 1, "22614": 1, "63045": 1, "63048": 1, "22842": 1, "20936": 1},
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
    # raw speech-to-text: spoken punctuation and headers, levels as "L4 5" and "C 5-6"
    "spoken_tlif_with_distinct_laminectomy.txt": {"22633": 1, "22840": 1, "22853": 1, "63047-XS-51": 1, "20930": 1,
                                                  "20936": 1},
    "spoken_cervical_foraminotomy.txt": {"63020": 1},
}


@pytest.mark.parametrize("name", sorted(END_TO_END))
def test_whole_dictations(name):
    result = code_note((DICTATIONS / name).read_text())
    codes = Counter({f"{line.cpt}{''.join('-' + m for m in line.modifiers)}": line.units for line in result.lines})
    assert codes == Counter(END_TO_END[name])
    for line in result.lines:
        assert line.rationale and line.evidence and 0 < line.confidence <= 1


def test_spoken_punctuation_keeps_every_offset_of_the_transcript():
    from billing.note import spoken_to_written

    said = "pre op diagnosis L4 5 stenosis period post op diagnosis same period new paragraph procedure was a " \
           "laminectomy period in the postoperative period she walked"
    written = spoken_to_written(said)
    assert len(written) == len(said)
    assert written.count(".") == 3 and "postoperative period she" in written
    result = code_note(said)
    assert [line.cpt for line in result.lines] == ["63047"]
    evidence = result.lines[0].evidence[0]
    assert said[evidence.start:evidence.end].startswith("a laminectomy")


def test_the_co_surgeon_modifier_goes_on_the_shared_primary_only():
    result = code_note("Co-surgeons: vascular surgery performed the exposure. Procedure: L5-S1 anterior lumbar "
                       "interbody fusion with a PEEK cage.")
    assert {line.cpt: line.modifiers for line in result.lines} == {"22558": ["62"], "22853": []}


def test_an_add_on_without_its_primary_is_left_off_with_a_finding():
    result = code_note("Procedure: L4-L5 interlaminar epidural steroid injection under fluoroscopy. Navigation was "
                       "used.")
    assert [line.cpt for line in result.lines] == ["62323"]
    assert any(f.rule == "PX-ADDON-NO-PRIMARY" and "61783" in f.message for f in result.findings)


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
