import csv
from pathlib import Path

import pytest

from billing import cpt

SHARED_FACTS = Path(__file__).resolve().parents[3] / "shared" / "data" / "reference" / "cpt_spine_facts.csv"

# The 68 codes of /work/shared/data/reference/cpt_spine_facts.csv, held here so the test runs without ../shared.
# fmt: off
SHARED_FACTS_CODES = (
    "22551", "22552", "22554", "22600", "22610", "22612", "22614", "22630", "22632", "22633", "22634", "22840",
    "22842", "22843", "22844", "22845", "22846", "22847", "22853", "22854", "22859", "20930", "20931", "20936",
    "20937", "20938", "20939", "63020", "63030", "63035", "63042", "63044", "63045", "63046", "63047", "63048",
    "63075", "63076", "62321", "62323", "64479", "64480", "64483", "64484", "64490", "64491", "64492", "64493",
    "64494", "64495", "64633", "64634", "64635", "64636", "22510", "22511", "22512", "22513", "22514", "22515",
    "27279", "63650", "63685", "61783", "95940", "95941", "G0453", "69990",
)
# fmt: on

VALID_ROWS = [
    list(cpt.COLUMNS),
    [
        "63030",
        "Lumbar microdiscectomy, one interspace",
        "CPT",
        "N",
        "",
        "interspace",
        "one",
        "1",
        "090",
        "lumbar",
        "laminotomy_discectomy",
        "",
        "",
        "domain knowledge",
        "",
        "",
        "",
    ],
    [
        "63035",
        "Each further interspace",
        "CPT",
        "Y",
        "63030",
        "interspace",
        "count",
        "1",
        "ZZZ",
        "any",
        "laminotomy_discectomy",
        "",
        "",
        "domain knowledge",
        "",
        "",
        "",
    ],
    [
        "22842",
        "Posterior segmental fixation, 3-6 segments",
        "CPT",
        "Y",
        "63030",
        "vertebra_spanned",
        "one",
        "0",
        "ZZZ",
        "any",
        "instrumentation_posterior",
        "",
        "",
        "verify",
        "primaries to check",
        "3",
        "6",
    ],
]


def _shared_facts_rows():
    if not SHARED_FACTS.exists():
        pytest.skip(f"{SHARED_FACTS} not present (it lives outside the project)")
    with SHARED_FACTS.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _write(tmp_path, rows):
    path = tmp_path / "cpt.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)
    return path


def _with(row_index, column, value):
    rows = [list(row) for row in VALID_ROWS]
    rows[row_index][cpt.COLUMNS.index(column)] = value
    return rows


def test_the_explicit_list_holds_68_distinct_codes():
    assert len(SHARED_FACTS_CODES) == len(set(SHARED_FACTS_CODES)) == 68


@pytest.mark.parametrize("code", SHARED_FACTS_CODES)
def test_every_shared_facts_code_is_in_the_catalogue(code):
    assert cpt.get(code) is not None


def test_the_explicit_list_matches_the_shared_facts_file():
    assert sorted(row["code"] for row in _shared_facts_rows()) == sorted(SHARED_FACTS_CODES)


def test_no_descriptor_copies_the_shared_facts_descriptor():
    for row in _shared_facts_rows():
        ours = cpt.get(row["code"]).descriptor
        assert ours.strip().casefold() != row["our_descriptor"].strip().casefold(), row["code"]


def test_add_on_flags_match_the_shared_facts():
    for row in _shared_facts_rows():
        assert cpt.is_add_on(row["code"]) == row["add_on"].startswith("Y"), row["code"]


def test_global_days_match_the_shared_facts_where_they_state_one():
    for row in _shared_facts_rows():
        stated = [token for token in row["global_days"].split() if token in cpt.GLOBAL_DAYS]
        if stated:
            assert cpt.get(row["code"]).global_days == stated[0], row["code"]


def test_every_descriptor_is_under_140_characters():
    for entry in cpt.catalogue().values():
        assert 0 < len(entry.descriptor) < 140, entry.code


def test_codes_are_five_characters_and_match_their_kind():
    for code, entry in cpt.catalogue().items():
        assert code == entry.code
        assert len(code) == 5
        assert code[0].isdigit() if entry.kind == "CPT" else code[0].isalpha()


def test_every_add_on_names_a_primary_in_the_catalogue():
    for entry in cpt.catalogue().values():
        if entry.add_on:
            assert any(cpt.get(p) for p in entry.primaries), entry.code
        else:
            assert entry.primaries == (), entry.code


def test_zzz_global_days_belong_to_add_ons():
    for entry in cpt.catalogue().values():
        if entry.global_days == "ZZZ":
            assert entry.add_on, entry.code


def test_includes_and_excludes_name_codes_in_the_catalogue():
    for entry in cpt.catalogue().values():
        for other in entry.includes + entry.excludes_with:
            assert cpt.get(other) is not None, (entry.code, other)


def test_rows_marked_verify_say_what_to_check():
    for entry in cpt.catalogue().values():
        assert entry.verified in cpt.VERIFIED
        if entry.verified == "verify":
            assert entry.source_note, entry.code


@pytest.mark.parametrize(
    ("add_on", "primary"),
    [
        ("22552", "22551"),
        ("22614", "22612"),
        ("22614", "22630"),
        ("22632", "22630"),
        ("22634", "22633"),
        ("63048", "63047"),
        ("63035", "63030"),
        ("63044", "63042"),
        ("63053", "63052"),
        ("63052", "22630"),
        ("64480", "64479"),
        ("64484", "64483"),
        ("64492", "64491"),
        ("64495", "64494"),
        ("64636", "64635"),
        ("22512", "22511"),
        ("22515", "22513"),
        ("22585", "22558"),
        ("22858", "22856"),
        ("22853", "22551"),
        ("20930", "22612"),
        ("22842", "22612"),
    ],
)
def test_an_add_on_lists_its_primary(add_on, primary):
    assert cpt.is_add_on(add_on)
    assert primary in cpt.get(add_on).primaries
    assert cpt.get(primary) is not None


def test_primary_codes_are_not_add_ons():
    for code in ("22551", "22630", "22633", "63030", "63047", "64483", "64493", "64635", "22513", "27279", "63650"):
        assert not cpt.is_add_on(code), code


def test_an_unknown_code_is_neither_found_nor_an_add_on():
    assert cpt.get("99999") is None
    assert not cpt.is_add_on("99999")


def test_get_tolerates_case_and_spaces():
    assert cpt.get(" g0453 ").code == "G0453"


@pytest.mark.parametrize("code", ["22851", "0054T", "0055T"])
def test_deleted_or_unused_codes_are_absent(code):
    assert cpt.get(code) is None


@pytest.mark.parametrize(
    ("approach", "segments", "expected"),
    [
        ("posterior", 1, "22840"),
        ("posterior", 2, "22840"),
        ("posterior", 3, "22842"),
        ("posterior", 6, "22842"),
        ("posterior", 7, "22843"),
        ("posterior", 12, "22843"),
        ("posterior", 13, "22844"),
        ("posterior", 20, "22844"),
        ("anterior", 1, None),
        ("anterior", 2, "22845"),
        ("anterior", 3, "22845"),
        ("anterior", 4, "22846"),
        ("anterior", 7, "22846"),
        ("anterior", 8, "22847"),
        ("anterior", 15, "22847"),
    ],
)
def test_instrumentation_code_follows_the_segments_spanned(approach, segments, expected):
    assert cpt.instrumentation_code(approach=approach, segments=segments) == expected


@pytest.mark.parametrize(("approach", "segments"), [("lateral", 3), ("posterior", 0), ("anterior", -2)])
def test_instrumentation_code_rejects_a_bad_question(approach, segments):
    with pytest.raises(ValueError):
        cpt.instrumentation_code(approach=approach, segments=segments)


def test_instrumentation_segment_ranges_are_recorded():
    ranges = {e.code: (e.segments_min, e.segments_max) for e in cpt.catalogue().values() if e.code[:4] == "2284"}
    assert ranges["22840"] == (None, None)
    assert ranges["22842"] == (3, 6)
    assert ranges["22843"] == (7, 12)
    assert ranges["22844"] == (13, None)
    assert ranges["22845"] == (2, 3)
    assert ranges["22846"] == (4, 7)
    assert ranges["22847"] == (8, None)


def test_instrumentation_is_one_line_per_construct():
    for code in ("22840", "22842", "22843", "22844", "22845", "22846", "22847"):
        entry = cpt.get(code)
        assert (entry.unit_basis, entry.units_per_line) == ("vertebra_spanned", "one"), code


@pytest.mark.parametrize(
    ("code_a", "code_b"),
    [
        ("22551", "63075"),
        ("22633", "63047"),
        ("22633", "22612"),
        ("22630", "63030"),
        ("22630", "63047"),
        ("62323", "77003"),
        ("62323", "77012"),
        ("62323", "72275"),
        ("64483", "77003"),
        ("64493", "77012"),
        ("64635", "77003"),
        ("22513", "77003"),
        ("27279", "77003"),
    ],
)
def test_a_code_includes_the_work_done_at_its_site(code_a, code_b):
    assert cpt.includes(code_a, code_b)
    assert cpt.excluded_together(code_a, code_b)
    assert cpt.excluded_together(code_b, code_a)


def test_includes_is_directional():
    assert not cpt.includes("63075", "22551")
    assert not cpt.includes("77003", "62323")


@pytest.mark.parametrize(
    ("code_a", "code_b"),
    [
        ("69990", "22551"),
        ("69990", "22552"),
        ("69990", "63075"),
        ("69990", "63076"),
        ("69990", "63077"),
        ("69990", "63078"),
        ("22554", "22551"),
        ("22554", "63075"),
        ("22612", "22630"),
        ("62322", "77003"),
        ("20552", "20553"),
        ("22849", "22852"),
    ],
)
def test_codes_excluded_together_either_way(code_a, code_b):
    assert cpt.excluded_together(code_a, code_b)
    assert cpt.excluded_together(code_b, code_a)


@pytest.mark.parametrize(
    ("code_a", "code_b"),
    [("22551", "22853"), ("22551", "22845"), ("22633", "22842"), ("64483", "64484"), ("69990", "63030")],
)
def test_codes_reported_together_are_not_excluded(code_a, code_b):
    # 69990 with 63030 is CPT-valid; Medicare's refusal to pay it is a payer edit, not a catalogue exclusion.
    assert not cpt.excluded_together(code_a, code_b)


def test_imaging_guidance_is_flagged_as_bundled_into_the_injection_codes():
    bundled_into = set(cpt.included_in("77003"))
    assert {"62321", "62323", "64479", "64483", "64490", "64493", "64633", "64635", "22510", "27279"} <= bundled_into
    assert {"62321", "62323", "64483"} <= set(cpt.included_in("72275"))
    assert not ({"62320", "62322"} & bundled_into)


@pytest.mark.parametrize(
    ("code", "unit_basis", "units_per_line"),
    [
        ("22552", "interspace", "count"),
        ("22614", "vertebral_segment", "count"),
        ("63048", "vertebral_segment", "count"),
        ("22853", "device_per_interspace", "count"),
        ("22854", "vertebral_body", "count"),
        ("64480", "foraminal_level", "count"),
        ("64491", "joint_level", "one"),
        ("64636", "joint_level", "count"),
        ("22515", "vertebral_body", "count"),
        ("63650", "array", "count"),
        ("20930", "session", "one"),
        ("69990", "session", "one"),
        ("62323", "session", "one"),
        ("J3301", "drug_dose", "count"),
    ],
)
def test_units_follow_the_coding_guide(code, unit_basis, units_per_line):
    entry = cpt.get(code)
    assert (entry.unit_basis, entry.units_per_line) == (unit_basis, units_per_line)


@pytest.mark.parametrize("code", ["64479", "64480", "64483", "64484", "64490", "64493", "64494", "64635", "27096"])
def test_facet_and_transforaminal_codes_take_modifier_50(code):
    assert cpt.get(code).bilateral_rule == "1"


@pytest.mark.parametrize(("code", "mg"), [("J1030", 40.0), ("J1040", 80.0), ("J3301", 10.0), ("J1100", 1.0)])
def test_drug_supply_codes_state_their_dose_per_unit(code, mg):
    assert cpt.get(code).kind == "HCPCS"
    assert cpt.dose_per_unit_mg(code) == mg


def test_dose_per_unit_is_none_for_a_procedure():
    assert cpt.dose_per_unit_mg("62323") is None


def test_family_returns_its_codes_in_catalogue_order():
    assert [e.code for e in cpt.family("instrumentation_anterior")] == ["22845", "22846", "22847"]
    assert {e.code for e in cpt.family("bone_graft")} == {"20930", "20931", "20936", "20937", "20938", "20939"}
    assert cpt.family("no_such_family") == []
    assert "acdf" in cpt.families()


def test_the_catalogue_is_cached_and_read_only():
    assert cpt.catalogue() is cpt.catalogue()
    with pytest.raises(TypeError):
        cpt.catalogue()["00000"] = cpt.get("22551")


def test_load_returns_typed_rows(tmp_path):
    rows = cpt.load(_write(tmp_path, VALID_ROWS))
    assert list(rows) == ["63030", "63035", "22842"]
    assert rows["63035"].add_on is True
    assert rows["63035"].primaries == ("63030",)
    assert rows["63030"].includes == ()
    assert (rows["22842"].segments_min, rows["22842"].segments_max) == (3, 6)
    assert rows["63030"].segments_min is None


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (_with(1, "code", "6303"), "6303"),
        (_with(1, "code", "630300"), "630300"),
        (_with(1, "kind", "ICD"), "63030"),
        (_with(2, "primaries", ""), "63035"),
        (_with(2, "primaries", "99999"), "63035"),
        (_with(1, "primaries", "63035"), "63030"),
        (_with(1, "global_days", "045"), "63030"),
        (_with(1, "unit_basis", "levels"), "63030"),
        (_with(1, "units_per_line", "many"), "63030"),
        (_with(1, "bilateral_rule", "5"), "63030"),
        (_with(1, "region", "neck"), "63030"),
        (_with(1, "verified", "yes"), "63030"),
        (_with(3, "source_note", ""), "22842"),
        (_with(1, "add_on", "maybe"), "63030"),
        (_with(1, "global_days", "ZZZ"), "63030"),
        (_with(1, "descriptor", "x" * 140), "63030"),
        (_with(1, "descriptor", ""), "63030"),
        (_with(1, "includes", "63030"), "63030"),
        (_with(1, "excludes_with", "6903"), "63030"),
        (_with(3, "segments_min", "7"), "22842"),
        (_with(3, "segments_max", "six"), "22842"),
        (_with(0, "verified", "checked"), "header"),
        (VALID_ROWS + [VALID_ROWS[1]], "duplicate"),
        (VALID_ROWS[:1], "no rows"),
        (VALID_ROWS + [["63040", "too short"]], "columns"),
    ],
)
def test_load_rejects_a_malformed_catalogue(tmp_path, rows, message):
    with pytest.raises(ValueError, match=message):
        cpt.load(_write(tmp_path, rows))


def test_load_rejects_a_drug_row_without_a_dose(tmp_path):
    drug = [
        "J3301",
        "Triamcinolone injectable",
        "HCPCS",
        "N",
        "",
        "drug_dose",
        "count",
        "9",
        "XXX",
        "any",
        "drug_supply",
        "",
        "",
        "domain knowledge",
        "",
        "",
        "",
    ]
    with pytest.raises(ValueError, match="J3301"):
        cpt.load(_write(tmp_path, VALID_ROWS + [drug]))


def test_the_shipped_catalogue_loads_through_the_public_loader():
    path = Path(cpt.__file__).with_name("data") / "cpt_spine.csv"
    assert cpt.load(path).keys() == cpt.catalogue().keys()
