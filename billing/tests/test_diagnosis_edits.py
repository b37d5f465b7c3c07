"""Diagnosis edits: invalid and header codes, Excludes1 pairs, laterality and the payer's bilateral convention."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest

from billing import icd
from billing.diagnosis_edits import diagnosis_code_findings, excludes1_findings, laterality_findings
from billing.scrub import ScrubClaim, ScrubLine

DOS = dt.date(2026, 5, 4)
BUNDLED_DATA = Path(icd.cm.__file__).parent / "data"


def claim(*lines: ScrubLine, diagnoses=(), **fields) -> ScrubClaim:
    return ScrubClaim(lines=tuple(lines), date_of_service=fields.pop("date_of_service", DOS), diagnoses=diagnoses,
                      **fields)


def found(findings):
    return [(f.rule, f.severity, f.lines) for f in findings]


# --- validity ------------------------------------------------------------------------------------------------


def test_valid_billable_codes_pass():
    assert diagnosis_code_findings(claim(ScrubLine("22633", dx_pointers=("A", "B")),
                                         diagnoses=("M43.16", "M48.062", "m51.360"))) == []


@pytest.mark.parametrize(("written", "words"), [
    ("722.0", "It looks like an ICD-9 code"),
    ("hello", "'hello' is not an ICD-10-CM code"),
    ("Z99.999", "Z99.999 is not a code of ICD-10-CM April 2026, the ICD-10-CM release in effect on 2026-05-04"),
])
def test_an_invalid_code_is_an_error_on_the_lines_pointing_to_it(written, words):
    lines = (ScrubLine("64483", dx_pointers=("A",)), ScrubLine("64484", dx_pointers=("B", "A")))
    [finding] = diagnosis_code_findings(claim(*lines, ScrubLine("77003", dx_pointers=("B",)),
                                              diagnoses=(written, "M54.16")))
    assert (finding.rule, finding.severity, finding.lines) == ("ICD-INVALID", "error", (0, 1))
    assert words in finding.message and finding.message.startswith("Diagnosis A")


@pytest.mark.parametrize(("header", "children"), [
    ("M54.5", ["M54.50 (Low back pain, unspecified)", "M54.51 (Vertebrogenic low back pain)",
               "M54.59 (Other low back pain)"]),
    ("M51.36", ["M51.360", "M51.361", "M51.362", "M51.369"]),
    ("M80.08", ["M80.08XA", "M80.08XD", "M80.08XS"]),
])
def test_a_header_code_is_not_billable_and_the_fix_names_the_codes_below_it(header, children):
    [finding] = diagnosis_code_findings(claim(ScrubLine("22633", dx_pointers=("B",)), diagnoses=("M43.16", header)))
    assert (finding.rule, finding.severity, finding.lines) == ("ICD-NOT-BILLABLE", "error", (0,))
    assert f"Diagnosis B {header}" in finding.message and "header" in finding.message
    assert all(child in finding.fix for child in children)
    assert finding.source_section.startswith("I.B.2")


def test_a_category_names_its_nearest_billable_codes_first_and_says_how_many_more():
    [finding] = diagnosis_code_findings(claim(diagnoses=("M54",)))
    assert finding.fix.startswith("Code to full specificity, choosing what the note documents: M54.2 (Cervicalgia), "
                                  "M54.6 (Pain in thoracic spine)")
    assert re.search(r"and \d+ more \(code search lists them\)\.$", finding.fix)


@pytest.fixture
def release_without_m5459(tmp_path, monkeypatch):
    """An imported FY2027 release (from 2026-10-01) in which M54.59 no longer exists."""
    folder = tmp_path / "fy2027"
    folder.mkdir()
    tabular = (BUNDLED_DATA / "icd10c-tabular-April-1-2026.xml").read_text(encoding="utf-8")
    tabular, removed = re.subn(r"<diag>\s*<name>M54\.59</name>\s*<desc>[^<]*</desc>\s*</diag>", "", tabular)
    assert removed == 1
    (folder / "tabular.xml").write_text(tabular, encoding="utf-8")
    codes = (BUNDLED_DATA / "code-list-April-2026.txt").read_text(encoding="utf-8")
    (folder / "codes.txt").write_text("\n".join(c for c in codes.splitlines() if c != "M5459") + "\n")
    (folder / "manifest.json").write_text(json.dumps({
        "name": "ICD-10-CM FY2027 (test)", "effective": "2026-10-01", "tabular_file": "tabular.xml",
        "codes_file": "codes.txt"}))
    monkeypatch.setenv(icd.RELEASES_DIR_ENV, str(tmp_path))
    yield
    with icd.code_set(icd.BUNDLED):
        pass  # put the bundled release back for the rest of the suite


def test_a_code_is_checked_against_the_release_in_effect_on_the_date_of_service(release_without_m5459):
    before = claim(diagnoses=("M54.59",), date_of_service=dt.date(2026, 9, 30))
    assert diagnosis_code_findings(before) == []
    after = claim(ScrubLine("64483", dx_pointers=("A",)), diagnoses=("M54.59",), date_of_service=dt.date(2026, 10, 1))
    [finding] = diagnosis_code_findings(after)
    assert (finding.rule, finding.lines) == ("ICD-INVALID", (0,))
    assert "not a code of ICD-10-CM FY2027 (test), the ICD-10-CM release in effect on 2026-10-01" in finding.message


# --- Excludes1 -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("diagnoses", "owner", "remove"), [
    (("M54.16", "M51.16"), "M54.1", "M54.16"),   # radiculopathy with a lumbar disc disorder with radiculopathy
    (("M51.16", "M54.16"), "M51.1", "M54.16"),   # either order: the NOS note on M51.1 agrees
    (("M54.12", "M50.122"), "M54.1", "M54.12"),  # cervical disc disorder M50.1
    (("M47.26", "M54.16"), "M54.1", "M54.16"),   # spondylosis with radiculopathy M47.2-
    (("M54.50", "M51.26"), "M54.5", "M54.50"),   # low back pain due to disc displacement
])
def test_an_excludes1_pair_is_an_error_citing_the_note(diagnoses, owner, remove):
    lines = (ScrubLine("64483", dx_pointers=("A",)), ScrubLine("64484", dx_pointers=("A",)),
             ScrubLine("62323", dx_pointers=("B",)), ScrubLine("77003"))
    [finding] = excludes1_findings(claim(*lines, diagnoses=diagnoses))
    assert (finding.rule, finding.severity, finding.lines) == ("ICD-EXCLUDES1", "error", (0, 1, 2))
    assert f"the Excludes1 note at {owner} excludes" in finding.message
    assert finding.source_passage.startswith(f"{owner} Excludes1: ")
    assert "I.A.12.a" in finding.source_title
    assert finding.fix.startswith(f"Remove {remove}:") and "unrelated" in finding.fix


@pytest.mark.parametrize("diagnoses", [
    ("M47.816", "M54.16"),   # spondylosis WITHOUT radiculopathy is not excluded
    ("M50.122", "M50.123"),
    ("M48.062", "M43.16", "M51.16"),
    ("M54.16", "722.0"),     # an unreadable code is diagnosis_code_findings' business
])
def test_codes_that_may_be_reported_together_pass(diagnoses):
    assert excludes1_findings(claim(diagnoses=diagnoses)) == []


def test_every_excluded_pair_among_several_diagnoses_is_found():
    result = excludes1_findings(claim(diagnoses=("M51.16", "M48.062", "M54.16", "M54.41")))
    pairs = {(f.message.split(" ")[0], f.message.split(" and ")[1].split(" ")[0]) for f in result}
    assert pairs == {("M51.16", "M54.16"), ("M51.16", "M54.41")}


# --- laterality ----------------------------------------------------------------------------------------------


def test_a_line_with_50_and_a_side_is_an_error():
    assert laterality_findings(claim(ScrubLine("64483", modifiers=("50",)))) == []
    [finding] = laterality_findings(claim(ScrubLine("64483", modifiers=("50", "RT"))))
    assert (finding.rule, finding.severity, finding.lines) == ("LATERALITY-50-AND-SIDE", "error", (0,))
    assert "50 (both sides) and RT (one side)" in finding.message


@pytest.mark.parametrize(("modifier", "diagnosis", "mismatch"), [
    ("RT", "M54.41", False),   # lumbago with sciatica, right side
    ("LT", "M54.41", True),
    ("LT", "M54.32", False),   # sciatica, left side
    ("RT", "M54.32", True),
    ("LT", "M54.16", False),   # names no side
])
def test_a_side_modifier_must_agree_with_the_side_its_diagnosis_names(modifier, diagnosis, mismatch):
    result = laterality_findings(claim(ScrubLine("64483", modifiers=(modifier,), dx_pointers=("A",)),
                                       diagnoses=(diagnosis,)))
    assert found(result) == ([("LATERALITY-DX-MISMATCH", "error", (0,))] if mismatch else [])
    if mismatch:
        assert diagnosis in result[0].message and "its diagnosis names the" in result[0].message


def test_a_side_is_not_a_mismatch_when_one_pointed_diagnosis_names_it():
    line = ScrubLine("64483", modifiers=("LT",), dx_pointers=("A", "B"))
    assert laterality_findings(claim(line, diagnoses=("M54.41", "M54.42"))) == []


def test_with_the_50_convention_a_left_and_a_right_line_of_one_code_should_be_combined():
    lines = (ScrubLine("64483", modifiers=("LT",), levels=("L4-L5",)), ScrubLine("64484", modifiers=("LT",)),
             ScrubLine("64483", modifiers=("RT",), levels=("L4-L5",)))
    [finding] = laterality_findings(claim(*lines, bilateral="50"))
    assert (finding.rule, finding.severity, finding.lines) == ("BILATERAL-COMBINE", "warning", (0, 2))
    assert "one line of 64483 with 50 and 1 unit" in finding.fix
    assert laterality_findings(claim(*lines, bilateral="LT-RT")) == []


def test_left_and_right_at_different_levels_are_two_unilateral_services():
    lines = (ScrubLine("64483", modifiers=("LT",), levels=("L4-L5",)),
             ScrubLine("64483", modifiers=("RT",), levels=("L5-S1",)))
    assert laterality_findings(claim(*lines, bilateral="50")) == []


def test_with_the_lt_rt_convention_a_line_with_50_should_be_split():
    [finding] = laterality_findings(claim(ScrubLine("64493", modifiers=("50",)), bilateral="LT-RT"))
    assert (finding.rule, finding.severity, finding.lines) == ("BILATERAL-SPLIT", "warning", (0,))
    assert "64493-LT and 64493-RT" in finding.fix
    assert laterality_findings(claim(ScrubLine("64493", modifiers=("50",)), bilateral="50")) == []


@pytest.mark.parametrize(("code", "indicator_words"), [
    ("62323", "indicator 0"),   # interlaminar epidural: one session, no bilateral payment
    ("22633", "indicator 0"),
    ("J3301", "indicator 9"),   # a drug: the concept does not apply
])
def test_50_on_a_code_whose_bilateral_indicator_does_not_allow_it_is_an_error(code, indicator_words):
    [finding] = laterality_findings(claim(ScrubLine(code, modifiers=("50",)), bilateral="LT-RT"))
    assert (finding.rule, finding.severity, finding.lines) == ("BILATERAL-NOT-ALLOWED", "error", (0,))
    assert indicator_words in finding.message and finding.fix == f"Remove 50 from {code}."


def test_50_on_a_code_that_allows_it_passes():
    lines = (ScrubLine("63030", modifiers=("50",)), ScrubLine("64635", modifiers=("50",)))
    assert laterality_findings(claim(*lines)) == []
