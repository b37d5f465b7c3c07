"""billing.icd: code shape, billability, Excludes1, 7th characters, versions by date of service, the importer."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import pytest

from billing import icd

BUNDLED_DATA = Path(icd.cm.__file__).parent / "data"


@pytest.mark.parametrize(("written", "expected"), [
    ("M50.122", "M50.122"),
    ("M50122", "M50.122"),
    (" m51.16 ", "M51.16"),
    ("M80.08XA", "M80.08XA"),
    ("m8008xa", "M80.08XA"),
    ("G24.3", "G24.3"),
    ("M54", "M54"),
])
def test_it_normalizes_codes_to_the_dotted_form(written, expected):
    assert icd.normalize(written) == expected


@pytest.mark.parametrize("junk", ["", "722.0", "hello", "M5", "M50.12345", "63075", "L4-L5"])
def test_it_rejects_text_that_cannot_be_a_code(junk):
    with pytest.raises(ValueError):
        icd.normalize(junk)


@pytest.mark.parametrize(("code", "billable"), [
    ("M50.122", True),      # level-specific cervical disc code (FY2021)
    ("M50122", True),
    ("M50.12", False),      # a subcategory: valid, not a leaf
    ("M50", False),         # a category
    ("M51.36", False),      # split by pain type in FY2025
    ("M51.360", True),
    ("M80.08", False),      # needs its 7th character
    ("M80.08XA", True),
    ("M48.062", True),
    ("M54.5", False),       # split in FY2022
    ("M54.50", True),
    ("722.0", False),       # ICD-9
    ("", False),
    ("Z99.999", False),     # shaped like a code, not in the release
])
def test_only_valid_leaf_codes_are_billable(code, billable):
    assert icd.is_billable(code) is billable


def test_it_describes_a_code_from_the_tabular_list():
    assert icd.describe("M50122") == "Cervical disc disorder at C5-C6 level with radiculopathy"
    with pytest.raises(KeyError):
        icd.describe("Z99.999")


def test_excludes1_lists_the_excluded_codes_of_the_code_and_its_ancestors():
    refs = icd.excludes1("M54.16")
    assert {"M50.1", "M51.1-", "M47.2-"} <= set(refs)   # written on M54.1, inherited by M54.16
    assert "M46.4-" in refs                            # written on the block M50-M54


@pytest.mark.parametrize(("ref", "code", "covered"), [
    ("M51.1-", "M51.16", True),
    ("M51.1-", "M51.26", False),
    ("M50.1", "M50.122", True),
    ("M50.-", "M50.320", True),
    ("M43.3-M43.5X9", "M43.4", True),
    ("M43.3-M43.5X9", "M43.5X2", True),
    ("M43.3-M43.5X9", "M43.6", False),
    ("M51.360", "M51.369", False),
])
def test_a_note_reference_covers_codes_below_it_and_inside_its_range(ref, code, covered):
    assert icd.covers(ref, code) is covered


@pytest.mark.parametrize(("a", "b", "conflict"), [
    ("M54.16", "M51.16", True),     # radiculopathy with a lumbar disc disorder with radiculopathy
    ("M51.17", "M54.17", True),     # either order
    ("M54.12", "M50.122", True),    # radiculopathy with cervical disc disorder M50.1
    ("M54.16", "M47.26", True),     # radiculopathy with spondylosis M47.2-
    ("M54.2", "M50.322", True),     # cervicalgia due to cervical disc disorder
    ("M54.50", "M51.26", True),     # lumbago due to disc displacement
    ("M54.50", "M51.360", True),    # FY2025: disc degeneration with discogenic back pain
    ("M80.08XA", "M48.56XA", True),  # osteoporotic fracture vs collapsed vertebra NOS
    ("M47.816", "M54.16", False),   # spondylosis WITHOUT radiculopathy is not excluded
    ("M48.062", "M43.16", False),
    ("M50.122", "M50.123", False),
    ("M54.16", "Z99.999", False),   # an unknown code conflicts with nothing
])
def test_conflicts_reads_excludes1_both_ways(a, b, conflict):
    assert icd.conflicts(a, b) is conflict


@pytest.mark.parametrize(("code", "encounter", "open_fracture", "expected"), [
    ("M80.08", "initial", False, "M80.08XA"),
    ("M80.08", "routine healing", False, "M80.08XD"),
    ("M80.08", "sequela", False, "M80.08XS"),
    ("S32.010", "initial", False, "S32.010A"),   # closed unless documented open
    ("S32.010", "initial", True, "S32.010B"),
    ("M48.56", "delayed healing", False, "M48.56XG"),
    ("S12.400", "initial", False, "S12.400A"),
])
def test_the_7th_character_comes_from_the_tabular_definitions(code, encounter, open_fracture, expected):
    assert icd.seventh_character(code, encounter, open_fracture=open_fracture) == expected
    assert icd.is_billable(expected)


def test_a_7th_character_is_refused_where_the_tabular_defines_none():
    with pytest.raises(ValueError):
        icd.seventh_character("M51.16")
    with pytest.raises(ValueError):
        icd.seventh_character("M48.56", "malunion")   # M48.5 has no malunion extension


@pytest.mark.parametrize(("day", "fiscal_year"), [
    (date(2025, 9, 30), 2025), (date(2025, 10, 1), 2026), (date(2026, 4, 1), 2026), (date(2026, 10, 1), 2027),
])
def test_fiscal_years_start_on_october_first(day, fiscal_year):
    assert icd.fiscal_year(day) == fiscal_year


def test_the_bundled_release_codes_dates_from_its_effective_date():
    version = icd.code_set_for(date(2026, 5, 15), releases_dir="/nonexistent")
    assert version.name == "ICD-10-CM April 2026" and version.note == ""


def test_a_date_before_the_earliest_release_uses_it_and_says_so():
    version = icd.code_set_for(date(2024, 1, 2), releases_dir="/nonexistent")
    assert version.effective == date(2026, 4, 1)
    assert "before the earliest known release" in version.note and "FY2024" in version.note


def test_a_date_past_the_newest_fiscal_year_asks_for_the_next_release():
    version = icd.code_set_for(date(2026, 10, 1), releases_dir="/nonexistent")
    assert version.is_bundled and "FY2027" in version.note


def _write_manifest(folder: Path, name: str, effective: str) -> None:
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps({
        "name": name, "effective": effective, "tabular_file": "tabular.xml", "codes_file": "codes.txt",
    }))


def test_imported_releases_are_chosen_by_date_of_service(tmp_path):
    _write_manifest(tmp_path / "fy2027", "ICD-10-CM FY2027", "2026-10-01")
    _write_manifest(tmp_path / "fy2025", "ICD-10-CM FY2025", "2024-10-01")
    assert icd.code_set_for(date(2024, 10, 1), releases_dir=tmp_path).name == "ICD-10-CM FY2025"
    assert icd.code_set_for(date(2026, 3, 31), releases_dir=tmp_path).name == "ICD-10-CM FY2025"
    assert icd.code_set_for(date(2026, 4, 1), releases_dir=tmp_path).is_bundled
    newest = icd.code_set_for(date(2026, 10, 1), releases_dir=tmp_path)
    assert newest.name == "ICD-10-CM FY2027" and newest.note == ""
    assert newest.tabular_path == tmp_path / "fy2027" / "tabular.xml"


def test_the_releases_folder_can_come_from_the_environment(tmp_path, monkeypatch):
    _write_manifest(tmp_path / "fy2027", "ICD-10-CM FY2027", "2026-10-01")
    monkeypatch.setenv(icd.RELEASES_DIR_ENV, str(tmp_path))
    assert icd.code_set_for(date(2026, 12, 1)).name == "ICD-10-CM FY2027"


_TINY_TABULAR = """<?xml version="1.0" encoding="utf-8"?>
<ICD10CM.tabular><version>2099</version><introduction/>
<chapter><name>13</name><desc>Musculoskeletal</desc>
<section id="M50-M54"><desc>Other dorsopathies</desc>
<diag><name>M54</name><desc>Dorsalgia</desc><diag><name>M54.2</name><desc>Cervicalgia</desc></diag></diag>
</section></chapter></ICD10CM.tabular>
"""


@pytest.mark.parametrize(("tabular", "message"), [
    ("not xml at all", "not an ICD-10-CM tabular file"),
    (_TINY_TABULAR, "lacks the categories"),
    (_TINY_TABULAR.replace("</ICD10CM.tabular>", ""), "could not load"),
])
def test_the_importer_refuses_a_file_that_is_not_a_full_release(tmp_path, tabular, message):
    xml_path, codes_path = tmp_path / "tabular.xml", tmp_path / "codes.txt"
    xml_path.write_text(tabular)
    codes_path.write_text("M54.2 Cervicalgia\n")
    with pytest.raises(icd.ReleaseImportError, match=message):
        icd.import_release(xml_path, codes_path=codes_path, effective=date(2099, 10, 1), dest_dir=tmp_path / "out")
    assert not (tmp_path / "out").exists()
    # The release loaded before the attempt is still the one answering.
    assert icd.loaded_version().is_bundled and icd.is_billable("M50.122")


def test_the_importer_refuses_missing_files(tmp_path):
    with pytest.raises(icd.ReleaseImportError, match="does not exist"):
        icd.import_release(tmp_path / "none.xml", codes_path=tmp_path / "none.txt", effective=date(2026, 10, 1),
                           dest_dir=tmp_path)


def test_an_imported_release_is_copied_with_a_manifest_and_loaded_only_when_needed(tmp_path):
    source = tmp_path / "cdc"
    source.mkdir()
    shutil.copyfile(BUNDLED_DATA / "icd10c-tabular-April-1-2026.xml", source / "icd10cm-tabular-2027.xml")
    shutil.copyfile(BUNDLED_DATA / "code-list-April-2026.txt", source / "icd10cm-codes-2027.txt")
    releases = tmp_path / "releases"

    version = icd.import_release(source / "icd10cm-tabular-2027.xml", codes_path=source / "icd10cm-codes-2027.txt",
                                 effective=date(2026, 10, 1), dest_dir=releases, name="ICD-10-CM FY2027")

    manifest = json.loads((releases / "icd-10-cm-fy2027" / "manifest.json").read_text())
    assert manifest["fiscal_year"] == 2027 and manifest["xml_version"] == "2026"
    assert manifest["billable_codes"] > 70_000 and len(manifest["tabular_sha256"]) == 64
    assert icd.loaded_version().is_bundled   # validation put the previous release back
    chosen = icd.code_set_for(date(2026, 11, 2), releases_dir=releases)
    assert chosen.name == version.name == "ICD-10-CM FY2027"
    with icd.code_set(chosen) as loaded:
        assert loaded.name == "ICD-10-CM FY2027" and icd.is_billable("M51.360")
    with icd.code_set(icd.BUNDLED):
        assert icd.loaded_version().is_bundled
