"""The global surgical period: lines billed inside an earlier surgery's global days by the same provider."""

from __future__ import annotations

import datetime as dt

import pytest

from billing.history_rules import global_period_findings
from billing.scrub import PriorClaim, ScrubClaim, ScrubLine

SURGERY_DAY = dt.date(2026, 3, 2)
FUSION = PriorClaim(SURGERY_DAY, (ScrubLine("22633"), ScrubLine("22840"), ScrubLine("20936")), reference="IB00000012")
KYPHOPLASTY = PriorClaim(SURGERY_DAY, (ScrubLine("22514"),), reference="IB00000040")


def claim(days_after: int, *lines: ScrubLine, prior: PriorClaim = FUSION) -> ScrubClaim:
    return ScrubClaim(lines=tuple(lines), date_of_service=SURGERY_DAY + dt.timedelta(days=days_after),
                      prior_claims=(prior,))


def found(claim_):
    return [(f.rule, f.severity, f.lines) for f in global_period_findings(claim_)]


def test_a_procedure_inside_a_90_day_global_without_a_modifier_is_a_warning_naming_the_surgery():
    [finding] = global_period_findings(claim(30, ScrubLine("63047")))
    assert (finding.rule, finding.severity, finding.lines) == ("GLOBAL-PERIOD", "warning", (0,))
    assert "IB00000012 (22633 on 2026-03-02, 90-day global period through 2026-05-31)" in finding.message
    assert "58" in finding.fix and "78" in finding.fix and "79" in finding.fix
    assert "ch. 12, sec. 40" in finding.source_title


@pytest.mark.parametrize("modifier", ["58", "78", "79"])
def test_a_procedure_with_58_78_or_79_passes(modifier):
    assert found(claim(30, ScrubLine("63047", modifiers=(modifier, "XS")))) == []


@pytest.mark.parametrize(("modifiers", "flagged"), [
    ((), True), (("24",), False), (("25",), False), (("57",), False), (("79",), True),
])
def test_a_visit_in_the_global_needs_24_25_or_57(modifiers, flagged):
    result = global_period_findings(claim(20, ScrubLine("99213", modifiers=modifiers)))
    assert [f.rule for f in result] == (["GLOBAL-PERIOD"] if flagged else [])
    if flagged:
        assert "add 24" in result[0].fix and "57" in result[0].fix and "visit" in result[0].message


def test_the_postoperative_visit_code_needs_no_modifier():
    assert found(claim(14, ScrubLine("99024"))) == []


def test_every_unmodified_line_gets_its_own_finding():
    lines = (ScrubLine("64483", modifiers=("79",)), ScrubLine("64484"), ScrubLine("99214"))
    assert found(claim(45, *lines)) == [("GLOBAL-PERIOD", "warning", (1,)), ("GLOBAL-PERIOD", "warning", (2,))]


@pytest.mark.parametrize(("days_after", "prior", "inside"), [
    (0, FUSION, False),       # the day of surgery itself is that claim's own business
    (1, FUSION, True),
    (90, FUSION, True),       # the last day of a 090 global
    (91, FUSION, False),
    (-5, FUSION, False),      # the "prior" surgery is later than this claim
    (10, KYPHOPLASTY, True),  # 010 global
    (11, KYPHOPLASTY, False),
])
def test_the_global_period_runs_from_the_day_after_surgery_through_its_last_day(days_after, prior, inside):
    assert bool(found(claim(days_after, ScrubLine("63047"), prior=prior))) is inside


def test_a_surgery_by_another_provider_or_with_no_global_period_does_not_count():
    other = PriorClaim(SURGERY_DAY, FUSION.lines, reference="IB00000099", same_provider=False)
    injection = PriorClaim(SURGERY_DAY, (ScrubLine("64483"), ScrubLine("64484")), reference="IB00000007")
    assert found(claim(30, ScrubLine("63047"), prior=other)) == []
    assert found(claim(30, ScrubLine("63047"), prior=injection)) == []


def test_a_claim_with_no_reference_still_reads_sensibly():
    unnamed = PriorClaim(SURGERY_DAY, (ScrubLine("63030"),))
    [finding] = global_period_findings(claim(5, ScrubLine("63030", modifiers=("RT",)), prior=unnamed))
    assert "an earlier claim (63030 on 2026-03-02" in finding.message
