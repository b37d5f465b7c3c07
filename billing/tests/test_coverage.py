"""Medical necessity against coverage policies: covered and uncovered diagnoses, pointers, scope, no policy."""

from __future__ import annotations

import datetime as dt

import pytest

from billing.coverage import CoveragePolicy, coverage_findings, diagnosis_matches
from billing.scrub import ScrubClaim, ScrubLine

DOS = dt.date(2026, 5, 4)
ESI = CoveragePolicy(
    policy_id="L39242", title="Epidural Steroid Injections for Pain Management",
    cpt_codes=frozenset({"62321", "62323", "64479", "64480", "64483", "64484"}),
    covered_diagnoses=("M54.1-", "M48.06", "M51.1", "M96.1", "B02.29"),
    payer_types=frozenset({"medicare"}), effective=dt.date(2025, 1, 1),
    document_title="Billing and Coding: Epidural Steroid Injections for Pain Management (A59115)",
    section="ICD-10-CM Codes that Support Medical Necessity, Group 1",
    passage="Group 1 codes support 62321, 62323, 64479-64484.", source_ref="policy-chunk:42")


def claim(*lines: ScrubLine, diagnoses=("M54.16",), **fields) -> ScrubClaim:
    fields.setdefault("payer_type", "medicare")
    return ScrubClaim(lines=tuple(lines), date_of_service=DOS, diagnoses=diagnoses, **fields)


def test_with_no_policy_loaded_one_info_finding_says_medical_necessity_was_not_checked():
    [finding] = coverage_findings(claim(ScrubLine("64483")), [])
    assert (finding.rule, finding.severity, finding.lines) == ("COVERAGE-NO-POLICY", "info", ())
    assert "medical necessity was not checked" in finding.message


@pytest.mark.parametrize(("diagnoses", "pointers"), [
    (("M54.16",), ("A",)),
    (("M54.50", "M48.062"), ("A", "B")),      # one covered diagnosis among the pointed ones is enough
    (("M51.16",), ()),                        # no pointers: every claim diagnosis counts
    (("M54.50", "M96.1"), ()),
])
def test_a_line_pointing_to_a_covered_diagnosis_passes(diagnoses, pointers):
    assert coverage_findings(claim(ScrubLine("64483", dx_pointers=pointers), diagnoses=diagnoses), [ESI]) == []


def test_a_line_whose_diagnoses_are_not_covered_is_an_error_naming_code_diagnoses_and_policy():
    lines = (ScrubLine("64483", dx_pointers=("A",)), ScrubLine("64484", dx_pointers=("B", "C")))
    [finding] = coverage_findings(claim(*lines, diagnoses=("M54.16", "M54.50", "M47.816")), [ESI])
    assert (finding.rule, finding.severity, finding.lines) == ("COVERAGE-DX", "error", (1,))
    assert finding.message.startswith("Line 2 (64484): its diagnoses (M54.50, M47.816) are not among the covered "
                                      "indications of L39242 Epidural Steroid Injections for Pain Management")
    assert "ABN" in finding.fix and "modifier GA" in finding.fix
    assert "Covered: M54.1-, M48.06, M51.1, M96.1, B02.29." in finding.fix
    assert finding.source_title == ESI.document_title and finding.source_section == ESI.section
    assert finding.source_passage == ESI.passage and finding.source_ref == "policy-chunk:42"


@pytest.mark.parametrize("modifier", ["GA", "GZ", "GX"])
def test_a_line_that_already_says_it_may_not_be_covered_gets_no_finding(modifier):
    uncovered = ScrubLine("64483", modifiers=("RT",), dx_pointers=("A",))
    assert coverage_findings(claim(uncovered, diagnoses=("M54.50",)), [ESI])
    marked = ScrubLine("64483", modifiers=("RT", modifier), dx_pointers=("A",))
    assert coverage_findings(claim(marked, diagnoses=("M54.50",)), [ESI]) == []


def test_the_pointers_decide_even_when_another_claim_diagnosis_is_covered():
    found = coverage_findings(claim(ScrubLine("64483", dx_pointers=("B",)), diagnoses=("M54.16", "M54.50")), [ESI])
    assert [(f.rule, f.lines) for f in found] == [("COVERAGE-DX", (0,))]


def test_a_line_with_no_diagnosis_at_all_is_not_covered():
    [finding] = coverage_findings(claim(ScrubLine("62323"), diagnoses=()), [ESI])
    assert "points to no diagnosis" in finding.message


def test_the_fix_outside_medicare_speaks_of_the_payers_notice_rules():
    uncovered = ScrubClaim(lines=(ScrubLine("64483"),), date_of_service=DOS, diagnoses=("M54.50",),
                           payer_type="commercial")
    commercial = CoveragePolicy("CP-0123", "Spinal injections", frozenset({"64483"}), ("M54.1",))
    [finding] = coverage_findings(uncovered, [commercial])
    assert "GA" not in finding.fix and "patient-liability" in finding.fix
    assert finding.source_title == "CP-0123 Spinal injections"


@pytest.mark.parametrize("policy", [
    CoveragePolicy("L1", "Medicaid only", frozenset({"64483"}), ("M54.1",), payer_types=frozenset({"medicaid"})),
    CoveragePolicy("L2", "Another MAC", frozenset({"64483"}), ("M54.1",), payer_ids=frozenset({"01112"})),
    CoveragePolicy("L3", "Not yet", frozenset({"64483"}), ("M54.1",), effective=dt.date(2026, 6, 1)),
    CoveragePolicy("L4", "Retired", frozenset({"64483"}), ("M54.1",), ends=dt.date(2026, 5, 3)),
    CoveragePolicy("L5", "Other codes", frozenset({"22633"}), ("M43.16",)),
])
def test_a_policy_out_of_scope_or_for_other_codes_gives_no_finding(policy):
    assert coverage_findings(claim(ScrubLine("64483"), diagnoses=("M54.50",), payer_id="04412"), [policy]) == []


def test_a_policy_for_one_mac_applies_to_its_payer_id():
    policy = CoveragePolicy("L2", "One MAC", ["64483"], ["M54.1"], payer_ids=[" 04412 "])
    found = coverage_findings(claim(ScrubLine("64483"), diagnoses=("M54.50",), payer_id="04412"), [policy])
    assert [f.rule for f in found] == ["COVERAGE-DX"]


def test_each_policy_in_scope_that_does_not_cover_the_line_is_named():
    other = CoveragePolicy("L9", "Second policy", frozenset({"64483"}), ("M48.06",))
    found = coverage_findings(claim(ScrubLine("64483"), diagnoses=("M51.16",)), [ESI, other])
    assert [(f.rule, f.lines) for f in found] == [("COVERAGE-DX", (0,))] and "L9" in found[0].message


@pytest.mark.parametrize(("pattern", "code", "matches"), [
    ("M54.1", "M54.16", True), ("M54.1-", "M54.16", True), ("M54.16", "M54.16", True), ("m5416", "M54.16", True),
    ("M54.16", "M54.17", False), ("M54.1", "M54.50", False), ("M48.06", "M48.062", True), ("", "M54.16", False),
])
def test_a_covered_pattern_is_a_code_or_a_prefix(pattern, code, matches):
    assert diagnosis_matches(pattern, code) is matches
