"""billing.diagnoses: ICD-10-CM codes from short dictation sentences, and the findings a coder must see."""

from __future__ import annotations

import time
from datetime import date

import pytest

from billing import icd
from billing.diagnoses import code_diagnoses
from billing.note import Note, spoken_to_written


def codes_of(text: str, **kwargs) -> set[str]:
    return {c.code for c in code_diagnoses(Note(text), **kwargs).codes}


def rules_of(text: str) -> list[str]:
    return [f.rule for f in code_diagnoses(Note(text)).findings]


# (note text, the codes a coder would bill). Each row is one rule of CODING_GUIDE.md / the Official Guidelines.
CASES = [
    # Cervical disc disorders by level (M50.x2x since FY2021): high, mid by level, cervicothoracic.
    ("Postoperative diagnosis: C6-C7 disc protrusion with right arm radiculopathy.\nProcedure: C6-7 ACDF.",
     {"M50.123"}),
    ("Diagnosis: C4-5 and C5-6 herniated discs with radiculopathy.\nProcedure: ACDF C4-C6.", {"M50.121", "M50.122"}),
    ("Diagnosis: C3-4 disc extrusion with myelopathy.\nProcedure: C3-4 ACDF.", {"M50.01"}),
    ("Diagnosis: herniated disc at C7-T1.\nProcedure: C7-T1 discectomy.", {"M50.23"}),
    ("Diagnosis: C5-6 degenerative disc disease.\nProcedure: C5-6 arthroplasty.", {"M50.322"}),
    ("Diagnosis: cervical myelopathy due to a C5-6 disc herniation.\nProcedure: C5-6 ACDF.", {"M50.022"}),
    # The level of a cervical disc comes from the procedure when the diagnosis names only the region.
    ("Diagnosis: cervical disc herniation with radiculopathy.\nProcedure: C5-C6 anterior discectomy and fusion.",
     {"M50.122"}),
    # Thoracic and lumbar discs by region; L5-S1 is lumbosacral; two levels can need two codes.
    ("Diagnosis: T7-T8 disc herniation with myelopathy.\nProcedure: T7-8 discectomy.", {"M51.04"}),
    ("Diagnosis: L3-4 HNP.\nProcedure: L3-4 microdiscectomy.", {"M51.26"}),
    ("Diagnosis: L5-S1 disc herniation with left S1 radiculopathy.\nProcedure: L5-S1 discectomy.", {"M51.17"}),
    ("Indication: lumbar radiculopathy caused by disc protrusions at L4-L5 and L5-S1.\nProcedure: TFESI.",
     {"M51.16", "M51.17"}),
    ("Diagnosis: lumbar disc bulge.\nProcedure: L4-5 interlaminar epidural injection.", {"M51.26"}),
    ("Diagnosis: annular tear at L4-5.\nProcedure: L4-5 discography.", {"M51.A0"}),
    # Lumbar disc degeneration by pain type (FY2025), chosen from the tabular titles.
    ("Diagnosis: L4-5 degenerative disc disease.\nProcedure: L4-5 fusion.", {"M51.369"}),
    ("Diagnosis: L4-5 degenerative disc disease with low back pain.\nProcedure: L4-5 fusion.", {"M51.360"}),
    ("Diagnosis: L4-5 disc degeneration with right leg pain.\nProcedure: L4-5 fusion.", {"M51.361"}),
    ("Diagnosis: L4-5 DDD with low back pain and left leg pain.\nProcedure: L4-5 fusion.", {"M51.362"}),
    ("Diagnosis: L5-S1 degenerative disc disease with discogenic back pain.\nProcedure: L5-S1 fusion.", {"M51.370"}),
    ("Diagnoses:\n1. Lumbar degenerative disc disease at L5-S1.\n2. Sciatica.\nProcedure: L5-S1 fusion.", {"M51.371"}),
    # Spinal stenosis by region; lumbar split by neurogenic claudication.
    ("Diagnosis: lumbar spinal stenosis with neurogenic claudication.\nProcedure: L3-4 laminectomy.", {"M48.062"}),
    ("Diagnosis: lumbar stenosis without neurogenic claudication.\nProcedure: L3-4 laminectomy.", {"M48.061"}),
    ("Diagnosis: central canal stenosis at C5-6.\nProcedure: C5-6 ACDF.", {"M48.02"}),
    ("Diagnosis: foraminal stenosis at L5-S1.\nProcedure: L5-S1 foraminotomy.", {"M48.07"}),
    ("Diagnosis: stenosis with neurogenic claudication at L4-5 and L5-S1.\nProcedure: laminectomy.",
     {"M48.062", "M48.07"}),
    # Spondylosis: with myelopathy M47.1-, with radiculopathy M47.2-, else M47.81- (facet arthropathy included).
    ("Diagnosis: cervical spondylosis with myelopathy.\nProcedure: C4-6 ACDF.", {"M47.12"}),
    ("Diagnosis: cervical spondylotic myelopathy.\nProcedure: laminoplasty.", {"M47.12"}),
    ("Diagnosis: lumbar spondylosis with radiculopathy.\nProcedure: L4-5 TFESI.", {"M47.26"}),
    ("Diagnosis: thoracic spondylosis.\nProcedure: T8-9 facet injection.", {"M47.814"}),
    ("Diagnosis: facet arthropathy at L4-5 and L5-S1.\nProcedure: medial branch blocks.", {"M47.816", "M47.817"}),
    ("Diagnosis: cervical facet arthrosis.\nProcedure: C4-5 medial branch block.", {"M47.812"}),
    ("Diagnosis: lumbar facet syndrome.\nProcedure: L4-5 medial branch block.", {"M47.896"}),
    ("Diagnoses:\n1. Lumbar spondylosis.\n2. Lumbar radiculopathy.\nProcedure: L4-5 TFESI.", {"M47.26"}),
    ("Diagnosis: cervical spondylosis with radiculopathy and cord compression.\nProcedure: C5-6 ACDF.",
     {"M47.12", "M47.22"}),
    # Spondylolisthesis and spondylolysis by region; Excludes1 keeps M43.0- off with M43.1-.
    ("Diagnosis: degenerative spondylolisthesis at L4-5.\nProcedure: L4-5 TLIF.", {"M43.16"}),
    ("Diagnosis: isthmic spondylolisthesis at L5-S1 with pars defects.\nProcedure: L5-S1 TLIF.", {"M43.17"}),
    # Radiculopathy alone by region (the root names the region).
    ("Diagnosis: cervical radiculopathy.\nProcedure: C7-T1 interlaminar epidural injection.", {"M54.12"}),
    ("Diagnosis: right L5 radiculopathy.\nProcedure: right L5 transforaminal epidural injection.", {"M54.16"}),
    ("Diagnosis: thoracic radiculitis.\nProcedure: T9 transforaminal injection.", {"M54.14"}),
    # Excludes1: radiculopathy and pain are not coded beside the disc code of their region.
    ("Diagnoses:\n1. Lumbar radiculopathy.\n2. L4-5 disc herniation.\nProcedure: L4-5 microdiscectomy.", {"M51.16"}),
    ("Diagnoses:\n1. Low back pain.\n2. L4-5 disc protrusion.\nProcedure: L4-5 epidural injection.", {"M51.26"}),
    ("Diagnoses:\n1. Neck pain.\n2. C5-6 herniated disc.\nProcedure: C5-6 ACDF.", {"M50.222"}),
    # Sacroiliac joint.
    ("Diagnosis: left sacroiliitis.\nProcedure: left SI joint injection.", {"M46.1"}),
    ("Diagnosis: sacroiliac joint dysfunction.\nProcedure: SI joint fusion.", {"M53.3"}),
    # Fractures: cause decides the category, the 7th character the encounter.
    ("Diagnosis: osteoporotic compression fracture of T12.\nProcedure: T12 kyphoplasty.", {"M80.08XA"}),
    ("Diagnosis: osteoporotic L2 fracture, subsequent encounter with routine healing.\nProcedure: brace check.",
     {"M80.08XD"}),
    ("Diagnosis: T12 wedge compression fracture after a fall.\nProcedure: T12 kyphoplasty.", {"S22.080A"}),
    ("Diagnosis: L2 unstable burst fracture from a fall.\nProcedure: T12-L3 fusion.", {"S32.022A"}),
    # M84.5- "code also underlying neoplasm": the vertebral metastasis C79.51 (primary site left to a coder).
    ("Diagnosis: pathologic fracture of L3 due to metastatic breast cancer.\nProcedure: L3 kyphoplasty.",
     {"M84.58XA", "C79.51"}),
    ("Diagnosis: L1 compression fracture.\nProcedure: L1 vertebroplasty.", {"M48.56XA"}),
    # After-effects of spine surgery, kept even when written as history.
    ("Diagnosis: failed back surgery syndrome.\nProcedure: spinal cord stimulator trial.", {"M96.1"}),
    ("Diagnosis: history of L4-5 laminectomy with postlaminectomy syndrome.\nProcedure: SCS trial.", {"M96.1"}),
    ("Diagnosis: pseudarthrosis at L4-5 after prior fusion.\nProcedure: revision fusion.", {"M96.0"}),
    # Curves: region is the span of the curve (thoracic and lumbar = thoracolumbar).
    ("Diagnosis: neuromuscular scoliosis.\nProcedure: posterior spinal fusion T2-L4.", {"M41.45"}),
    ("Diagnosis: adolescent idiopathic scoliosis of the thoracic spine.\nProcedure: fusion.", {"M41.124"}),
    ("Diagnosis: adult degenerative scoliosis of the lumbar spine.\nProcedure: L1-S1 fusion.", {"M41.86"}),
    # Pain practice diagnoses.
    ("Diagnosis: myofascial pain syndrome.\nProcedure: trigger point injections.", {"M79.18"}),
    ("Diagnosis: cervical dystonia.\nProcedure: botulinum toxin injection.", {"G24.3"}),
    ("Diagnosis: occipital neuralgia.\nProcedure: greater occipital nerve block.", {"M54.81"}),
    # Symptoms alone are coded as symptoms, by side; back pain with sciatica is M54.4-.
    ("Diagnosis: neck pain.\nProcedure: cervical facet injection.", {"M54.2"}),
    ("Indication: low back pain radiating into the left leg.\nProcedure: L5-S1 epidural injection.",
     {"M54.50", "M79.605"}),
    ("Diagnosis: chronic low back pain with right sciatica.\nProcedure: caudal epidural.", {"M54.41"}),
    ("Diagnosis: left sciatica.\nProcedure: left L5-S1 transforaminal injection.", {"M54.32"}),
    # A symptom on the diagnosis line and its cause in the indication: code the cause.
    ("Preoperative diagnosis: low back pain.\nIndications: lumbar facet arthropathy on imaging.\n"
     "Procedure: L4-5 facet injection.", {"M47.816"}),
    # Postoperative first; "same" sends the reader to the preoperative diagnosis.
    ("Preoperative diagnosis: lumbar stenosis.\nPostoperative diagnosis: L4-5 disc herniation.\nProcedure: "
     "L4-5 discectomy.", {"M51.26"}),
    ("Preoperative diagnosis: L4-5 disc herniation.\nPostoperative diagnosis: Same.\nProcedure: discectomy.",
     {"M51.26"}),
    # A "without" on one list item does not reach the next.
    ("Postoperative diagnoses:\n1. Cervical spondylosis without myelopathy.\n2. Myofascial pain syndrome.",
     {"M47.812", "M79.18"}),
    # Negated, family and uncertain statements are not coded.
    ("Diagnosis: lumbar stenosis. No spondylolisthesis. Family history of scoliosis.\nProcedure: L3-4 ILESI.",
     {"M48.061"}),
    # The body of the report may add specificity: spondylosis found at surgery links to the radiculopathy.
    ("Postoperative diagnosis: right cervical radiculopathy.\nFindings: large uncovertebral osteophytes narrowed "
     "the right C6 foramen.\nProcedure: C5-6 foraminotomy.", {"M47.22"}),
    # The indication adds the manifestation the diagnosis line leaves out, at the same level.
    ("Postoperative diagnosis: C5-6 disc herniation.\nIndications: the disc herniation at C5-C6 causes left arm "
     "radiculopathy.\nProcedure: C5-6 ACDF.", {"M50.122"}),
    # With no label at all, a short opening statement may state the diagnosis.
    ("Lumbar radiculopathy at L4-5. Procedure: L4-5 transforaminal injection.", {"M54.16"}),
    # A lesion "compressing the cord" is spondylogenic cord compression (M47.1-); "compressing the root" is the
    # radiculopathy of the disc disorder (M50.1-/M51.1-).
    ("Indications: MRI shows cervical spondylosis compressing the spinal cord at C4-5.\nProcedure: laminoplasty.",
     {"M47.12"}),
    ("Indications: a new disc herniation at L5-S1 compressing the right S1 nerve root.\nProcedure: discectomy.",
     {"M51.17"}),
    ("Indications: a C5-6 disc protrusion impinging on the left C6 root.\nProcedure: C5-6 ACDF.", {"M50.122"}),
    # A slip named by its vertebrae is at the interspace between them: L5 on S1 is lumbosacral.
    ("Postoperative diagnosis: degenerative spondylolisthesis of L5 on S1.\nProcedure: L5-S1 fusion.", {"M43.17"}),
    ("Postoperative diagnosis: grade 2 anterolisthesis L4 on L5.\nProcedure: L4-5 fusion.", {"M43.16"}),
    ("Diagnosis: L5-S1 spondylolisthesis.\nProcedure: L5-S1 fusion.", {"M43.17"}),
    # A capital R or L before a limb is the side (CRPS by limb and side).
    ("Dx: CRPS type I, R lower extremity.\nProcedure: lumbar sympathetic block.", {"G90.521"}),
    ("Dx: CRPS I L upper extremity.\nProcedure: stellate ganglion block.", {"G90.512"}),
    # "Consistent with" / "working diagnosis" in the indication of a procedure note names what is treated.
    ("Indications: persistent back and leg pain since his laminectomy, consistent with post-laminectomy "
     "syndrome with lumbar radiculopathy.\nProcedure: spinal cord stimulator implant.", {"M96.1", "M54.16"}),
    ("Indications: hand clumsiness and gait imbalance. The working diagnosis is cervical spondylotic myelopathy.\n"
     "Procedure: C3-6 laminoplasty.", {"M47.12"}),
]


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[c[0][:60] for c in CASES])
def test_it_codes_the_documented_diagnosis(text, expected):
    assert codes_of(text) == expected


# Notes as they reach the reader: raw speech-to-text, terse clinic shorthand. Each row is one general rule.
WRITTEN_AS_SPOKEN_OR_TERSE = [
    # Spinal instability by region (M53.2-); an incidental finding the procedure does not treat is not coded.
    ("Preoperative diagnosis: L4-5 stenosis with neurogenic claudication and dynamic instability at L4-5.",
     {"M48.062", "M53.2X6"}),
    ("Dx: b/l sacroiliitis. Lumbar XR incidentally shows L5-S1 facet arthropathy - not addressed today.", {"M46.1"}),
    # Spoken headers without a colon are diagnosis sections; "post op same" sends us to the preoperative one.
    ("pre op diagnosis left C7 radiculopathy due to a C6 7 disc herniation period post op same period "
     "procedure left C6-7 foraminotomy period", {"M50.123"}),
    ("the preoperative diagnosis was lumbar stenosis at L3-4 with neurogenic claudication period the "
     "postoperative diagnosis was the same period the procedure was an L3-4 laminectomy period", {"M48.062"}),
    ("pre-op diagnosis C5-6 spondylosis with myelopathy period post-op diagnosis same as pre-op period "
     "procedure performed C5-6 ACDF period", {"M47.12"}),
    # "Post op diagnosis same" with no preoperative one: the diagnosis is in the opening of the dictation.
    ("he has an isthmic spondylolisthesis at L five S one period post op diagnosis same new paragraph what we "
     "did was an L5-S1 TLIF period", {"M43.17"}),
    # "diagnosis" said at the start of a sentence labels that sentence; "diagnosis and ... discussed" does not.
    ("we did an L2 vertebroplasty today period new paragraph diagnosis pathologic fracture L2 due to multiple "
     "myeloma period plan follow up with oncology", {"M84.58XA", "C90.00"}),
    ("the patient was seen today period diagnosis and treatment options were discussed period we did an L4-5 "
     "ESI period", set()),
    # "Dx" is a diagnosis label, alone or with pre/post.
    ("Pt 70 y/o F. Dx: L5-S1 disc herniation with right S1 radicular pain.\nProcedure: right S1 TFESI.",
     {"M51.17"}),
    ("Preop/postop dx: lumbar spinal stenosis L4-5 with neurogenic claudication.\nProcedure: L4-5 laminectomy.",
     {"M48.062"}),
    # Shorthand: w/o negates like "without"; HNP, DDD, LBP, fx, SIJ, radic, b/l.
    ("Dx: lumbar spondylosis w/o myelopathy or radiculopathy L4-5.\nProcedure: L4-5 MBB.", {"M47.816"}),
    ("Dx: L4-5 HNP w/ L5 radic.\nProcedure: L4-5 TFESI.", {"M51.16"}),
    ("Dx: osteoporotic compression fx L1.\nProcedure: L1 kyphoplasty.", {"M80.08XA"}),
    ("Dx: SIJ dysfunction, right.\nProcedure: right SI joint injection.", {"M53.3"}),
    ("Dx: DJD lumbar spine.\nProcedure: L4-5 facet injection.", {"M47.816"}),
    # A shared head noun: "back and leg pain" is back pain and leg pain (M51.36- by pain type).
    ("Dx: L4-5 degenerative disc disease with back and leg pain.\nProcedure: L4-5 TLIF.", {"M51.362"}),
    # A level list between a structure and a pain symptom belongs to the structure.
    ("Dx: lumbar facet arthropathy L4 5 and L5 S1 axial low back pain.\nProcedure: facet injections.",
     {"M47.816", "M47.817"}),
    # Stenosis in the same statement as spondylotic myelopathy is its cord compression (M47.1 inclusion term).
    ("Preoperative diagnosis: cervical spondylotic myelopathy with osteophyte and stenosis behind C5.\n"
     "Procedure: C5 corpectomy.", {"M47.12"}),
    # Facet-mediated pain beside spondylosis of the same region is that spondylosis.
    ("Diagnosis: lumbar spondylosis, facet mediated pain.\nProcedure: L4-5 RFA.", {"M47.816"}),
    # M40 Excludes1 "kyphoscoliosis (M41.-)" applies to kyphoscoliosis only: flatback beside scoliosis is two codes.
    ("Preoperative diagnosis: adult idiopathic lumbar scoliosis with lumbar flatback syndrome.\nProcedure: "
     "T10-S1 fusion.", {"M41.26", "M40.36"}),
    # Pain due to spinal hardware, active treatment (T84.84XA).
    ("Dx: painful retained posterior spinal hardware L4-S1.\nProcedure: removal of instrumentation.", {"T84.84XA"}),
    # Mechanical complication of spinal fixation by kind: breakdown T84.216A, displacement T84.226A.
    ("Dx: broken rods L4-S1.\nProcedure: revision of instrumentation.", {"T84.216A"}),
    ("Dx: loose L5 pedicle screws.\nProcedure: revision of instrumentation.", {"T84.226A"}),
    # "w/ NC" (neurogenic claudication) in terse notes; a lone lower-case "nc" is not it.
    ("Dx: LSS w/ NC.\nProcedure: L4-5 laminectomy.", {"M48.062"}),
    # CRPS by type, limb and side (G90.5-; type II causalgia G56.4-/G57.7-); RLE gives limb and side.
    ("Dx: complex regional pain syndrome type one of the right lower extremity.\nProcedure: SCS trial.",
     {"G90.521"}),
    ("Dx: CRPS I LUE.\nProcedure: stellate ganglion block.", {"G90.512"}),
    ("Dx: CRPS type II, left leg.\nProcedure: lumbar sympathetic block.", {"G57.72"}),
    # Myalgia by site (M79.1-).
    ("Dx: myalgia, left lumbar and gluteal muscles.\nProcedure: trigger point injections.", {"M79.18"}),
    ("Dx: myalgia of the trapezius.\nProcedure: trigger point injections.", {"M79.12"}),
    # M84.5- "code also underlying neoplasm": multiple myeloma by remission status (C90.0-).
    ("Dx: pathologic fracture L2 due to multiple myeloma, not in remission.\nProcedure: L2 vertebroplasty.",
     {"M84.58XA", "C90.00"}),
    ("Dx: pathologic fracture T9 due to multiple myeloma in remission.\nProcedure: T9 kyphoplasty.",
     {"M84.58XA", "C90.01"}),
    # The remission status may be in the history beside the neoplasm, not on the diagnosis line.
    ("Pt with multiple myeloma in remission since 2022.\nDx: pathologic fracture L2 due to multiple myeloma.\n"
     "Procedure: L2 vertebroplasty.", {"M84.58XA", "C90.01"}),
    # A burst fracture not called unstable is stable (index nonessential modifier "(stable)").
    ("Preoperative diagnosis: L1 burst fracture after a fall.\nProcedure: T12-L2 fusion.", {"S32.011A"}),
    # The level of a past operation is not the level of the condition beside it.
    ("Indication: he is status post L5-S1 instrumented fusion and now has adjacent level stenosis with "
     "neurogenic claudication.\nProcedure: L3-4 laminectomy.", {"M48.062"}),
    # ", with ..." after a negated item is affirmed again.
    ("Diagnosis: cervical spondylosis without myelopathy, with left C6 radiculopathy.\nProcedure: C5-6 ACDF.",
     {"M47.22"}),
    ("Diagnosis: lumbar stenosis without myelopathy, with radicular pain, without neurogenic claudication.\n"
     "Procedure: L4-5 laminectomy.", {"M48.061", "M54.16"}),
    # No header at all: the first sentence of the opening that names a condition, and the next one.
    ("this is the dictation for Mr. Jones who is 70 period he is here for his injection today period he has "
     "right L5 radiculopathy from an L4-5 disc herniation period we did a right L4-5 TFESI period", {"M51.16"}),
    # A spoken "indications ..." or "the reason for surgery is ..." labels its sentence.
    ("op note period procedure right C5-6 ACDF period indications he is 45 with a right C6 radiculopathy from a "
     "C5 6 disc herniation period he was intubated", {"M50.122"}),
    # A curve's type is read from its own words, not from the next condition ("neurogenic claudication").
    ("Preoperative diagnosis: adult degenerative lumbar scoliosis with stenosis L2-L5 and neurogenic "
     "claudication.\nProcedure: L2-5 laminectomy and fusion.", {"M41.86", "M48.062"}),
    # A cause the note rules out is no cause ("no fall, no trauma", "atraumatic"): collapsed vertebra M48.5-.
    ("Diagnosis: compression fractures T11 and T12 after bending, no fall, no trauma.\nProcedure: kyphoplasty.",
     {"M48.54XA"}),
    ("Diagnosis: atraumatic L1 compression fracture.\nProcedure: L1 kyphoplasty.", {"M48.56XA"}),
    # Guidelines I.C.13.d: a fracture in a patient with known osteoporosis is M80, wherever the note says so.
    ("Pt: 84 y/o F with age-related osteoporosis. Painful fractures.\nDx: compression fractures T11, T12.\n"
     "Procedure: kyphoplasty.", {"M80.08XA"}),
    ("Pt: 70 y/o F, no osteoporosis on DEXA.\nDx: L1 compression fracture.\nProcedure: kyphoplasty.",
     {"M48.56XA"}),
    # A consent sentence run on after the diagnosis sentence does not silence the diagnosis.
    ("procedure note patient is a 60 year old man with a right C six seven disc protrusion and right C seven "
     "radiculopathy procedure right C six seven transforaminal injection consent signed time out done",
     {"M50.123"}),
    # Neurogenic claudication belongs to the region: a second mention of lumbar stenosis is not "without" it.
    ("he has lumbar stenosis with neurogenic claudication period MRI shows severe stenosis at L3-4 and L4-5 "
     "period procedure L3-5 laminectomy period", {"M48.062"}),
    # "Postoperative diagnosis same, <more>": the preoperative diagnosis and what surgery added.
    ("Preop diagnosis, left S1 radiculopathy from an L5-S1 disc herniation. Postop diagnosis same, with a "
     "sequestered fragment at L5-S1.\nProcedure, left L5-S1 microdiscectomy.", {"M51.17"}),
    # A dictated header with its spoken period: "Diagnosis. ..." at the start of a line.
    ("Procedure note for a 70 year old.\n\nDiagnosis. Osteoporotic compression fracture of L1, initial "
     "encounter.\n\nProcedure, L1 kyphoplasty.", {"M80.08XA"}),
]


@pytest.mark.parametrize(("text", "expected"), WRITTEN_AS_SPOKEN_OR_TERSE,
                         ids=[c[0][:60] for c in WRITTEN_AS_SPOKEN_OR_TERSE])
def test_it_reads_dictated_and_terse_notes(text, expected):
    assert {c.code for c in code_diagnoses(Note(spoken_to_written(text))).codes} == expected


@pytest.mark.parametrize("text", [c[0] for c in CASES], ids=[c[0][:60] for c in CASES])
def test_every_code_it_proposes_is_billable_and_explained(text):
    note = Note(text)
    for code in code_diagnoses(note).codes:
        assert icd.is_billable(code.code)
        assert code.description == icd.describe(code.code)
        assert code.rationale.endswith(".") and 0 < code.confidence <= 1
        assert code.evidence and all(note.text[e.start:e.end] == e.text for e in code.evidence)


@pytest.mark.parametrize("text", [
    "",
    "   \n  ",
    "The weather was pleasant and the parking lot was full.",
    "Procedure: L4-L5 interlaminar epidural steroid injection under fluoroscopy. No complications.",
    "Diagnosis: no disc herniation.\nProcedure: L4-5 epidural injection.",
    "Diagnosis: possible L4-5 disc herniation; rule out facet arthropathy.\nProcedure: L4-5 epidural injection.",
])
def test_a_note_without_a_documented_diagnosis_gets_no_code_and_a_query(text):
    result = code_diagnoses(Note(text))
    assert result.codes == []
    missing = [f for f in result.findings if f.rule == "DX-MISSING"]
    assert len(missing) == 1 and missing[0].severity == "warning" and "Query the physician" in missing[0].message


def test_an_uncertain_diagnosis_is_reported_as_not_coded():
    assert "DX-UNCERTAIN" in rules_of("Diagnosis: probable lumbar stenosis.\nProcedure: L3-4 ILESI.")


@pytest.mark.parametrize(("text", "expected"), [
    # On a diagnosis line the conclusion terms of IV.H leave the diagnosis uncertain.
    ("Diagnosis: findings consistent with lumbar stenosis.\nProcedure: L3-4 ILESI.", set()),
    # Doubt terms stay uncertain in the indication too.
    ("Indications: leg pain, possibly from lumbar stenosis.\nProcedure: L3-4 ILESI.", {"M79.606"}),
])
def test_uncertainty_terms_by_where_they_are_written(text, expected):
    assert codes_of(text) == expected


def test_a_conclusion_coded_from_the_indication_is_reported():
    text = "Indications: chronic pain since 2019, consistent with failed back syndrome.\nProcedure: SCS trial."
    assert codes_of(text) == {"M96.1"}
    assert "DX-CONCLUSION" in rules_of(text)


@pytest.mark.parametrize(("text", "written", "status"), [
    ("Diagnosis: lumbar stenosis (724.02).\nProcedure: L3-4 laminectomy.", "724.02", "ICD-9-CM"),
    ("Diagnosis: lumbar disc herniation - 722.10.\nProcedure: L4-5 discectomy.", "722.10", "retired"),
    ("Diagnosis: M51.17 lumbar disc herniation at L4-5.", "M51.17", "a billable ICD-10-CM code"),
    ("Diagnosis: M51.1 lumbar radiculopathy.", "M51.1", "not billable"),
    ("Diagnosis: Z99.999 lumbar stenosis.", "Z99.999", "invalid or retired"),
])
def test_codes_written_in_the_note_are_reported_and_never_copied(text, written, status):
    result = code_diagnoses(Note(text))
    assert written not in {c.code for c in result.codes}
    found = [f for f in result.findings if f.rule == "DX-CODE-IN-TEXT"]
    assert len(found) == 1 and found[0].severity == "info"
    assert f'"{written}"' in found[0].message and status in found[0].message
    assert found[0].evidence[0].text == written


def test_a_code_written_in_the_note_does_not_change_the_coding():
    assert codes_of("Diagnosis: lumbar stenosis (ICD-9 724.02) at L3-4.\nProcedure: L3-4 laminectomy.") == {
        "M48.061"}


def test_a_dose_or_a_temperature_is_not_taken_for_an_icd9_code():
    text = "Indication: lumbar radiculopathy, temperature 100.4 F.\nProcedure: 120.5 mg injected at L4-5."
    assert "DX-CODE-IN-TEXT" not in rules_of(text)


@pytest.mark.parametrize(("text", "expected_codes"), [
    # "with" and "without" the same manifestation: the detail is dropped and the physician queried.
    ("Diagnoses:\n1. Cervical spondylosis with myelopathy.\n2. Cervical spondylosis without myelopathy.",
     {"M47.812"}),
    # A radiculopathy listed beside "spondylosis without radiculopathy".
    ("Diagnoses:\n1. Lumbar spondylosis without radiculopathy.\n2. Lumbar radiculopathy.\nProcedure: TFESI.",
     {"M47.816"}),
    # Left in one diagnosis, right in another.
    ("Diagnoses:\n1. Left L5 radiculopathy.\n2. Right L5 radiculopathy.\nProcedure: L5 nerve root block.", {"M54.16"}),
    # The diagnosis side against the side of a lateral procedure.
    ("Diagnosis: left L4 radiculopathy.\nProcedure: right L4-5 transforaminal epidural steroid injection.",
     {"M54.16"}),
])
def test_contradictions_are_flagged_for_a_query(text, expected_codes):
    result = code_diagnoses(Note(text))
    assert {c.code for c in result.codes} == expected_codes
    assert any(f.rule == "DX-CONTRADICTION" and f.severity == "warning" for f in result.findings)


def test_the_side_of_an_anterior_approach_is_not_a_contradiction():
    text = "Diagnosis: left C6 radiculopathy from a C5-6 disc herniation.\nProcedure: C5-6 ACDF, right-sided approach."
    assert "DX-CONTRADICTION" not in rules_of(text)


@pytest.mark.parametrize(("text", "code"), [
    ("Diagnosis: cervical disc herniation.\nProcedure: anterior cervical discectomy.", "M50.20"),
    ("Diagnosis: sciatica.\nProcedure: caudal epidural.", "M54.30"),
    ("Diagnosis: scoliosis.\nProcedure: brace fitting.", "M41.9"),
    ("Diagnosis: L1 compression fracture.\nProcedure: L1 kyphoplasty.", "M48.56XA"),
])
def test_a_missing_level_side_or_type_is_coded_as_supported_and_reported(text, code):
    result = code_diagnoses(Note(text))
    assert code in {c.code for c in result.codes}
    assert any(f.rule == "DX-UNSPECIFIED" and f.severity == "info" for f in result.findings)


def test_a_disc_disorder_without_any_region_is_not_guessed():
    text = "Diagnosis: multilevel degenerative disc disease.\nProcedure: trigger point injection."
    result = code_diagnoses(Note(text))
    assert result.codes == []
    assert "DX-UNSPECIFIED" in [f.rule for f in result.findings]


def test_a_statement_outside_spine_coding_is_left_to_a_coder():
    result = code_diagnoses(Note("Postoperative diagnoses:\n1. Lumbar stenosis.\n2. Hypertension."))
    assert {c.code for c in result.codes} == {"M48.061"}
    uncoded = [f for f in result.findings if f.rule == "DX-UNCODED"]
    assert len(uncoded) == 1 and "Hypertension" in uncoded[0].message


def test_excludes1_removals_are_explained():
    result = code_diagnoses(Note("Diagnosis: isthmic spondylolisthesis at L5-S1 with pars defects."))
    assert {c.code for c in result.codes} == {"M43.17"}
    assert any(f.rule == "DX-EXCLUDES1" and f.message.startswith("M43.0") for f in result.findings)


def test_a_code_carries_its_region_levels_evidence_and_rationale():
    text = "Postoperative diagnosis: disc herniations at L4-L5 and L5-S1 with radiculopathy.\nProcedure: TFESI."
    codes = {c.code: c for c in code_diagnoses(Note(text)).codes}
    lumbar, lumbosacral = codes["M51.16"], codes["M51.17"]
    assert (lumbar.region, lumbar.levels) == ("lumbar", ("L4-L5",))
    assert (lumbosacral.region, lumbosacral.levels) == ("lumbosacral", ("L5-S1",))
    assert {e.text for e in lumbar.evidence} >= {"disc herniations", "radiculopathy", "L4-L5"}
    assert lumbar.rationale.startswith('Postoperative diagnosis "disc herniations at L4-L5')
    assert lumbar.confidence >= 0.9


def test_a_level_taken_from_the_procedure_lowers_confidence_and_says_so():
    code = code_diagnoses(Note("Diagnosis: cervical disc herniation.\nProcedure: C6-7 ACDF.")).codes[0]
    assert code.code == "M50.223" and "from the procedure" in code.rationale and code.confidence < 0.9


def test_diagnoses_come_before_symptoms_in_the_listed_order():
    text = ("Diagnoses:\n1. Left leg pain.\n2. Cervical radiculopathy.\n3. Thoracic stenosis at T10-11.\n"
            "Procedure: C7-T1 epidural injection.")
    assert [c.code for c in code_diagnoses(Note(text)).codes] == ["M54.12", "M48.04", "M79.605"]


def test_a_date_before_the_bundled_release_is_coded_with_it_and_says_so():
    result = code_diagnoses(Note("Diagnosis: lumbar stenosis."), date_of_service=date(2025, 6, 1))
    assert {c.code for c in result.codes} == {"M48.061"}
    assert any(f.rule == "DX-CODE-SET" and "earliest known release" in f.message for f in result.findings)


def test_a_date_inside_the_bundled_release_adds_no_finding():
    result = code_diagnoses(Note("Diagnosis: lumbar stenosis."), date_of_service=date(2026, 6, 1))
    assert "DX-CODE-SET" not in [f.rule for f in result.findings]


def test_one_call_is_fast_once_the_pipeline_is_loaded():
    text = CASES[0][0] * 10
    code_diagnoses(Note(text))
    start = time.perf_counter()
    code_diagnoses(Note(text))
    assert time.perf_counter() - start < 0.5
