"""Spinal level mentions: table-driven, one row per way a note can name (or seem to name) a level."""

from __future__ import annotations

import pytest

from billing.levels import (
    Interspace,
    LevelMention,
    Vertebra,
    find_level_count,
    find_levels,
    interspaces_between,
    vertebrae_between,
)


def v(name: str) -> Vertebra:
    return Vertebra.parse(name)


def described(text: str) -> list[tuple[str, str, str, str]]:
    """Each mention as (span text, form, interspace names, vertebra names), checking the span on the way."""
    rows = []
    for mention in find_levels(text):
        assert text[mention.start : mention.end] == mention.text
        rows.append(
            (
                mention.text,
                mention.form,
                " ".join(i.name for i in mention.interspaces),
                " ".join(x.name for x in mention.vertebrae),
            )
        )
    return rows


# --- Vertebra -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "name", "index"),
    [
        ("C1", "C1", 0),
        ("c5", "C5", 4),
        ("C 5", "C5", 4),
        ("C7", "C7", 6),
        ("T1", "T1", 7),
        ("t-12", "T12", 18),
        ("L1", "L1", 19),
        ("l4", "L4", 22),
        ("L-4", "L4", 22),
        ("L five", "L5", 23),
        ("S1", "S1", 24),
        ("S5", "S5", 28),
    ],
)
def test_it_parses_a_written_vertebra(written, name, index):
    vertebra = Vertebra.parse(written)
    assert (vertebra.name, vertebra.index) == (name, index)
    assert vertebra.region == name[0]
    assert vertebra.number == int(name[1:])


@pytest.mark.parametrize("written", ["L6", "C8", "T13", "S6", "C0", "L04", "X4", "L", "4", "", "L4-5", "LL4"])
def test_it_refuses_what_is_not_a_vertebra(written):
    with pytest.raises(ValueError):
        Vertebra.parse(written)


@pytest.mark.parametrize("index", [-1, 29])
def test_it_refuses_an_index_outside_the_spine(index):
    with pytest.raises(ValueError):
        Vertebra(index)


@pytest.mark.parametrize(
    ("name", "below", "above"),
    [
        ("C1", "C2", None),
        ("C7", "T1", "C6"),
        ("T12", "L1", "T11"),
        ("L5", "S1", "L4"),
        ("S5", None, "S4"),
    ],
)
def test_next_and_prev_cross_region_borders(name, below, above):
    vertebra = v(name)
    assert (vertebra.next().name if vertebra.next() else None) == below
    assert (vertebra.prev().name if vertebra.prev() else None) == above


def test_vertebrae_order_head_to_tail():
    assert sorted([v("S1"), v("C2"), v("L4"), v("T12")]) == [v("C2"), v("T12"), v("L4"), v("S1")]


# --- Interspace -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("upper", "lower", "name", "region"),
    [
        ("C2", "C3", "C2-C3", "cervical"),
        ("C6", "C7", "C6-C7", "cervical"),
        ("C7", "T1", "C7-T1", "cervicothoracic"),
        ("T6", "T7", "T6-T7", "thoracic"),
        ("T12", "L1", "T12-L1", "thoracolumbar"),
        ("L1", "L2", "L1-L2", "lumbar"),
        ("L4", "L5", "L4-L5", "lumbar"),
        ("L5", "S1", "L5-S1", "lumbosacral"),
    ],
)
def test_an_interspace_is_named_and_placed_in_its_region(upper, lower, name, region):
    interspace = Interspace(v(upper), v(lower))
    assert (interspace.name, interspace.region) == (name, region)


@pytest.mark.parametrize(("upper", "lower"), [("L4", "L4"), ("L4", "S1"), ("L5", "L4"), ("C7", "T2")])
def test_an_interspace_needs_adjacent_vertebrae_head_first(upper, lower):
    with pytest.raises(ValueError):
        Interspace(v(upper), v(lower))


@pytest.mark.parametrize(
    ("top", "bottom", "interspaces", "vertebrae"),
    [
        ("C5", "C7", "C5-C6 C6-C7", "C5 C6 C7"),
        ("C7", "C5", "C5-C6 C6-C7", "C5 C6 C7"),
        ("L4", "S1", "L4-L5 L5-S1", "L4 L5 S1"),
        ("T11", "L2", "T11-T12 T12-L1 L1-L2", "T11 T12 L1 L2"),
        ("L3", "L3", "", "L3"),
    ],
)
def test_between_counts_every_interspace_and_vertebra_whatever_the_order(top, bottom, interspaces, vertebrae):
    assert " ".join(i.name for i in interspaces_between(v(top), v(bottom))) == interspaces
    assert " ".join(x.name for x in vertebrae_between(v(top), v(bottom))) == vertebrae


# --- find_levels ----------------------------------------------------------------------------------------------

INTERSPACE = "interspace"
RANGE = "range"
VERTEBRA = "vertebra"
LIST = "list"

FOUND = [
    # one interspace, written every way a typist writes it
    ("ACDF at C5-C6 today.", [("C5-C6", INTERSPACE, "C5-C6", "C5 C6")]),
    ("Disc herniation C5-6 with cord contact.", [("C5-6", INTERSPACE, "C5-C6", "C5 C6")]),
    ("Foraminal stenosis at C5/6.", [("C5/6", INTERSPACE, "C5-C6", "C5 C6")]),
    ("Cage placed at C5–C6 after discectomy.", [("C5–C6", INTERSPACE, "C5-C6", "C5 C6")]),
    ("Decompression at C5 — C6.", [("C5 — C6", INTERSPACE, "C5-C6", "C5 C6")]),
    ("level confirmed as C5 - C6 on lateral view", [("C5 - C6", INTERSPACE, "C5-C6", "C5 C6")]),
    ("lower case c5-c6 from the transcript", [("c5-c6", INTERSPACE, "C5-C6", "C5 C6")]),
    ("TLIF at L5-S1 interspace.", [("L5-S1", INTERSPACE, "L5-S1", "L5 S1")]),
    ("Spondylolisthesis of L5/S1.", [("L5/S1", INTERSPACE, "L5-S1", "L5 S1")]),
    ("Degenerated L5S1 disc.", [("L5S1", INTERSPACE, "L5-S1", "L5 S1")]),
    ("Herniation at C7-T1 on the left.", [("C7-T1", INTERSPACE, "C7-T1", "C7 T1")]),
    ("Kyphosis across T12-L1.", [("T12-L1", INTERSPACE, "T12-L1", "T12 L1")]),
    ("Central stenosis at L 4-5.", [("L 4-5", INTERSPACE, "L4-L5", "L4 L5")]),
    ("Microdiscectomy L4 to 5 on the right.", [("L4 to 5", INTERSPACE, "L4-L5", "L4 L5")]),
    ("Fused L4 to L5 only.", [("L4 to L5", INTERSPACE, "L4-L5", "L4 L5")]),
    ("(l4-5)", [("l4-5", INTERSPACE, "L4-L5", "L4 L5")]),
    ("Collapse at T-11 - 12 was noted.", [("T-11 - 12", INTERSPACE, "T11-T12", "T11 T12")]),
    # Whisper drops the hyphen: two adjacent vertebrae in a row are the disc between them
    ("Anterior discectomy C5 C6 with allograft.", [("C5 C6", INTERSPACE, "C5-C6", "C5 C6")]),
    ("Anterior discectomy at C5, C6 was done.", [("C5, C6", INTERSPACE, "C5-C6", "C5 C6")]),
    ("Exposure of C2 C3 was difficult.", [("C2 C3", INTERSPACE, "C2-C3", "C2 C3")]),
    (
        "Discectomies at C5 C6 and C6 C7.",
        [("C5 C6", INTERSPACE, "C5-C6", "C5 C6"), ("C6 C7", INTERSPACE, "C6-C7", "C6 C7")],
    ),
    (
        "Discectomies at C5 C6, C6 C7.",
        [("C5 C6", INTERSPACE, "C5-C6", "C5 C6"), ("C6 C7", INTERSPACE, "C6-C7", "C6 C7")],
    ),
    (
        "Laminotomy L4, L5 and L5-S1 on the left.",
        [("L4, L5", INTERSPACE, "L4-L5", "L4 L5"), ("L5-S1", INTERSPACE, "L5-S1", "L5 S1")],
    ),
    # spoken numbers
    ("Fusion at C five six.", [("C five six", INTERSPACE, "C5-C6", "C5 C6")]),
    ("Disc at L four five is collapsed.", [("L four five", INTERSPACE, "L4-L5", "L4 L5")]),
    ("Disc at L Four Five is collapsed.", [("L Four Five", INTERSPACE, "L4-L5", "L4 L5")]),
    ("Then L five S one was prepared.", [("L five S one", INTERSPACE, "L5-S1", "L5 S1")]),
    ("Plate from C five to C seven.", [("C five to C seven", RANGE, "C5-C6 C6-C7", "C5 C6 C7")]),
    ("Disc at T twelve L one.", [("T twelve L one", INTERSPACE, "T12-L1", "T12 L1")]),
    ("Screws at L four two screws each.", [("L four", VERTEBRA, "", "L4")]),
    (
        "ACDF C four five and five six.",
        [("C four five", INTERSPACE, "C4-C5", "C4 C5"), ("five six", INTERSPACE, "C5-C6", "C5 C6")],
    ),
    # ranges imply everything in between
    ("Plate spanning C5 to C7.", [("C5 to C7", RANGE, "C5-C6 C6-C7", "C5 C6 C7")]),
    ("Laminectomy C5 through C7.", [("C5 through C7", RANGE, "C5-C6 C6-C7", "C5 C6 C7")]),
    ("Laminoplasty from C3 to C6.", [("C3 to C6", RANGE, "C3-C4 C4-C5 C5-C6", "C3 C4 C5 C6")]),
    ("Laminoplasty C3-C6.", [("C3-C6", RANGE, "C3-C4 C4-C5 C5-C6", "C3 C4 C5 C6")]),
    ("Instrumented fusion L4 to S1.", [("L4 to S1", RANGE, "L4-L5 L5-S1", "L4 L5 S1")]),
    (
        "Rods from T10 to L2.",
        [("T10 to L2", RANGE, "T10-T11 T11-T12 T12-L1 L1-L2", "T10 T11 T12 L1 L2")],
    ),
    ("A C4-C6 plate was sized.", [("C4-C6", RANGE, "C4-C5 C5-C6", "C4 C5 C6")]),
    ("Two-level ACDF C4-6.", [("C4-6", RANGE, "C4-C5 C5-C6", "C4 C5 C6")]),
    ("Posterior fusion L4-L5-S1.", [("L4-L5-S1", RANGE, "L4-L5 L5-S1", "L4 L5 S1")]),
    ("Discectomy C5-6-7.", [("C5-6-7", RANGE, "C5-C6 C6-C7", "C5 C6 C7")]),
    ("Fusion C5-6/C6-7.", [("C5-6/C6-7", RANGE, "C5-C6 C6-C7", "C5 C6 C7")]),
    ("Fusion from L5 up to L3.", [("L5", VERTEBRA, "", "L5"), ("L3", VERTEBRA, "", "L3")]),
    ("Fusion from L5 to L3.", [("L5 to L3", RANGE, "L3-L4 L4-L5", "L3 L4 L5")]),
    ("Fixation T9 thru T11.", [("T9 thru T11", RANGE, "T9-T10 T10-T11", "T9 T10 T11")]),
    # lists of interspaces, and the bare "5-6" that continues the region before it
    (
        "Discectomy at C4-C5, C5-C6.",
        [("C4-C5", INTERSPACE, "C4-C5", "C4 C5"), ("C5-C6", INTERSPACE, "C5-C6", "C5 C6")],
    ),
    (
        "Discectomy at C4-5, 5-6.",
        [("C4-5", INTERSPACE, "C4-C5", "C4 C5"), ("5-6", INTERSPACE, "C5-C6", "C5 C6")],
    ),
    (
        "ACDF C3-4, 4-5, and 5-6.",
        [
            ("C3-4", INTERSPACE, "C3-C4", "C3 C4"),
            ("4-5", INTERSPACE, "C4-C5", "C4 C5"),
            ("5-6", INTERSPACE, "C5-C6", "C5 C6"),
        ],
    ),
    (
        "TLIF L3-4 and 4-5.",
        [("L3-4", INTERSPACE, "L3-L4", "L3 L4"), ("4-5", INTERSPACE, "L4-L5", "L4 L5")],
    ),
    (
        "Stenosis T12-L1, 1-2.",
        [("T12-L1", INTERSPACE, "T12-L1", "T12 L1"), ("1-2", INTERSPACE, "L1-L2", "L1 L2")],
    ),
    (
        "Fusion L4-5 and L5-S1.",
        [("L4-5", INTERSPACE, "L4-L5", "L4 L5"), ("L5-S1", INTERSPACE, "L5-S1", "L5 S1")],
    ),
    (
        "Injection bilateral L4-5 and L5-S1 facets.",
        [("L4-5", INTERSPACE, "L4-L5", "L4 L5"), ("L5-S1", INTERSPACE, "L5-S1", "L5 S1")],
    ),
    (
        "Cages at C5-C6 and C6-C7.",
        [("C5-C6", INTERSPACE, "C5-C6", "C5 C6"), ("C6-C7", INTERSPACE, "C6-C7", "C6 C7")],
    ),
    # lone vertebrae and lists of them: no interspace implied
    ("Medial branch blocks of L3, L4 and L5.", [("L3, L4 and L5", LIST, "", "L3 L4 L5")]),
    (
        "Blocks at L3 and L4 medial branches and L5 dorsal ramus.",
        [("L3 and L4", LIST, "", "L3 L4"), ("L5", VERTEBRA, "", "L5")],
    ),
    ("Blocks at L3, L4 medial branches.", [("L3, L4", LIST, "", "L3 L4")]),
    ("Balloon in the L1 vertebral body.", [("L1", VERTEBRA, "", "L1")]),
    ("Kyphoplasty for T12 and L1 compression fractures.", [("T12 and L1", LIST, "", "T12 L1")]),
    ("Kyphoplasty for T12, L1 compression fractures.", [("T12, L1", LIST, "", "T12 L1")]),
    ("Pedicle screws at L4, L5 and S1.", [("L4, L5 and S1", LIST, "", "L4 L5 S1")]),
    ("Screws placed L3, L4, L5, S1.", [("L3, L4, L5, S1", LIST, "", "L3 L4 L5 S1")]),
    ("Decompressed L4 L5 pedicle screws later.", [("L4 L5", LIST, "", "L4 L5")]),
    ("The C5, C6 nerve roots were free.", [("C5, C6", LIST, "", "C5 C6")]),
    ("Screws at C5 and C6.", [("C5 and C6", LIST, "", "C5 C6")]),
    ("Screws at C5 & C6.", [("C5 & C6", LIST, "", "C5 C6")]),
    ("Needle into the S1 foramen.", [("S1", VERTEBRA, "", "S1")]),
    ("Tenderness at L5.", [("L5", VERTEBRA, "", "L5")]),
    ("Radiculopathy in the L-5 distribution.", [("L-5", VERTEBRA, "", "L5")]),
    ("Odontoid screw into C2.", [("C2", VERTEBRA, "", "C2")]),
    ("Fracture of T2 and T3.", [("T2 and T3", LIST, "", "T2 T3")]),
    ("Screw tract at T1, then the T1-T2 disc.", [("T1", VERTEBRA, "", "T1"), ("T1-T2", INTERSPACE, "T1-T2", "T1 T2")]),
    ("Fractures at L2. L3 intact.", [("L2", VERTEBRA, "", "L2"), ("L3", VERTEBRA, "", "L3")]),
    # levels in the company of things that are not levels
    ("Under C-arm guidance the C5-6 level was marked.", [("C5-6", INTERSPACE, "C5-C6", "C5 C6")]),
    ("T2 images show a T7 fracture.", [("T7", VERTEBRA, "", "T7")]),
    ("Closed with 2-0 Vicryl over L4-5.", [("L4-5", INTERSPACE, "L4-L5", "L4 L5")]),
    ("Surgery 10/02/2007 at L4-5.", [("L4-5", INTERSPACE, "L4-L5", "L4 L5")]),
    ("CPT 63075 for C6-7, dx M50.123.", [("C6-7", INTERSPACE, "C6-C7", "C6 C7")]),
    ("L4-5, 2-3 days of drainage.", [("L4-5", INTERSPACE, "L4-L5", "L4 L5")]),
]


@pytest.mark.parametrize(("text", "expected"), FOUND, ids=[row[0] for row in FOUND])
def test_it_finds_the_levels_a_note_names(text, expected):
    assert described(text) == expected


NOT_LEVELS = [
    "A cage of L4-5 mm was too tall.",
    "Cage height L4-5mm.",
    "Fluoroscopy with the C-arm in lateral position.",
    "T1-weighted images were reviewed.",
    "Bright on T2 images.",
    "T2 signal change in the cord.",
    "T1 and T2 weighted images were obtained.",
    "Sagittal T2 shows edema.",
    "T2W and T1W sequences.",
    "Batch ABC5 of the graft.",
    "HbA1c was 7.",
    "Surgery on 10/02/2007.",
    "Closed with 2-0 Vicryl and 3-0 Monocryl.",
    "Billed 63075 and 22551.",
    "Diagnosis M51.16 and S32.010A.",
    "Malignant carcinoid C7A.0.",
    "Call 555-123-4567 for questions.",
    "Takes one to two weeks.",
    "Pain 5-6 out of 10.",
    "A cone beam scan, tone was normal.",
    "The patient's two children came.",
    "Transitional L6 vertebra.",
    "Transitional L5-6 segment.",
    "C8 radiculopathy.",
    "Wound 5 cm, C5 to 7 days of collar.",
    "Dosage 4 mg IV.",
    "C5 mm was written by mistake.",
]


@pytest.mark.parametrize("text", NOT_LEVELS)
def test_it_finds_no_level_where_there_is_none(text):
    assert find_levels(text) == []


def test_spans_point_into_the_original_text():
    text = "Procedure: fusion from C3 to C6, then L4-5."
    first, second = find_levels(text)
    assert (first.start, first.end, first.text) == (23, 31, "C3 to C6")
    assert (second.start, second.end, second.text) == (38, 42, "L4-5")


def test_a_mention_is_a_plain_value():
    (mention,) = find_levels("L5-S1")
    assert mention == LevelMention(
        start=0,
        end=5,
        text="L5-S1",
        interspaces=(Interspace(v("L5"), v("S1")),),
        vertebrae=(v("L5"), v("S1")),
        form=INTERSPACE,
    )


# --- find_level_count -----------------------------------------------------------------------------------------

LEVEL_COUNTS = [
    ("Two-level ACDF.", [("Two-level", 2)]),
    ("A 2-level fusion.", [("2-level", 2)]),
    ("three level laminectomy", [("three level", 3)]),
    ("single-level TLIF", [("single-level", 1)]),
    ("a one level discectomy", [("one level", 1)]),
    ("fusion at 4 levels", [("4 levels", 4)]),
    ("a multilevel decompression", []),
    ("multi-level and multiple levels", []),
    ("the L4-5 level", []),
    ("the L5-S1 level", []),
    ("the adjacent segment one level above", []),
    ("level 2 of 3", []),
    ("two-level ACDF and one-level TLIF", [("two-level", 2), ("one-level", 1)]),
]


@pytest.mark.parametrize(("text", "expected"), LEVEL_COUNTS, ids=[row[0] for row in LEVEL_COUNTS])
def test_it_reads_how_many_levels_the_note_says(text, expected):
    found = [(text[start:end], count) for start, end, count in find_level_count(text)]
    assert found == expected


# --- a whole note -----------------------------------------------------------------------------------------------

NOTE_PARAGRAPH = (
    "PREOPERATIVE DIAGNOSIS: Cervical spondylosis with myelopathy C4-5, 5-6. "
    "PROCEDURE: Anterior cervical discectomy and fusion C4 to C6 with a C4-C6 plate under C-arm guidance. "
    "MRI: T2 images show cord signal at C5 C6. Closed with 2-0 Vicryl on 10/02/2007. "
    "Second stage: medial branch blocks of L3, L4 and L5 and a 4-5 mm needle, then L4-5 and L5-S1 TLIF. "
)


def test_a_long_note_gives_the_same_levels_every_time():
    note = NOTE_PARAGRAPH * (5000 // len(NOTE_PARAGRAPH) + 1)
    paragraph = described(NOTE_PARAGRAPH)
    assert paragraph == [
        ("C4-5", INTERSPACE, "C4-C5", "C4 C5"),
        ("5-6", INTERSPACE, "C5-C6", "C5 C6"),
        ("C4 to C6", RANGE, "C4-C5 C5-C6", "C4 C5 C6"),
        ("C4-C6", RANGE, "C4-C5 C5-C6", "C4 C5 C6"),
        ("C5 C6", INTERSPACE, "C5-C6", "C5 C6"),
        ("L3, L4 and L5", LIST, "", "L3 L4 L5"),
        ("L4-5", INTERSPACE, "L4-L5", "L4 L5"),
        ("L5-S1", INTERSPACE, "L5-S1", "L5 S1"),
    ]
    for _ in range(100):
        mentions = find_levels(note)
        assert len(mentions) == len(paragraph) * note.count("PREOPERATIVE")
        assert all(before.end <= after.start for before, after in zip(mentions, mentions[1:], strict=False))
