"""NCCI PTP and MUE scrubbing on plain claim data: each rule with a claim that passes and one that fails."""

from __future__ import annotations

import datetime as dt

from billing import scrub
from billing.scrub import MueRule, PtpRule, ScrubLine, build_tables, scrub_lines

DOS = dt.date(2026, 5, 4)
TABLES = build_tables(
    ptp=[PtpRule("22630", "63047", 1, dt.date(2000, 1, 1), rationale="interbody includes its laminectomy"),
         PtpRule("22551", "63075", 0, dt.date(2011, 1, 1), rationale="ACDF includes the discectomy"),
         PtpRule("64483", "77003", 9, dt.date(2011, 1, 1)),
         PtpRule("63030", "69990", 0, dt.date(2000, 1, 1), deleted=dt.date(2020, 12, 31))],
    mue=[MueRule("22551", 1, 2, "first interspace"), MueRule("64484", 2, 1, "additional levels per line")])


def rules(findings):
    return [(f.rule, f.severity, f.lines) for f in findings]


def test_an_indicator_0_pair_is_an_error_no_modifier_bypasses():
    found = scrub_lines([ScrubLine("22551"), ScrubLine("63075", modifiers=("XS",))], date_of_service=DOS,
                        tables=TABLES)
    assert rules(found) == [("NCCI-PTP", "error", (0, 1))]
    assert "remove 63075" in found[0].message and "no modifier bypasses" in found[0].message
    assert "ACDF includes the discectomy" in found[0].source_passage


def test_an_indicator_1_pair_at_another_level_asks_for_xs_or_59_as_the_payer_wants():
    lines = [ScrubLine("22630", levels=("L4-L5",)), ScrubLine("63047", levels=("L3-L4",))]
    [finding] = scrub_lines(lines, date_of_service=DOS, tables=TABLES)
    assert finding.rule == "NCCI-PTP-MODIFIER" and "Add XS to 63047: a different vertebral level" in finding.message
    [for_59] = scrub_lines(lines, date_of_service=DOS, tables=TABLES, distinct_modifier="59")
    assert "Add 59 to 63047" in for_59.message


def test_an_indicator_1_pair_at_the_same_level_is_bundled():
    lines = [ScrubLine("22630", levels=("L4-L5",)), ScrubLine("63047", levels=("L4-L5",))]
    [finding] = scrub_lines(lines, date_of_service=DOS, tables=TABLES)
    assert (finding.rule, finding.severity) == ("NCCI-PTP", "error") and "remove 63047" in finding.message


def test_a_distinct_service_modifier_bypasses_an_indicator_1_edit_with_a_reminder():
    lines = [ScrubLine("63047", modifiers=("XS",), levels=("L3-L4",)), ScrubLine("22630", levels=("L4-L5",))]
    assert rules(scrub_lines(lines, date_of_service=DOS, tables=TABLES)) == [("NCCI-PTP-BYPASSED", "info", (1, 0))]


def test_indicator_9_and_deleted_edits_do_not_apply_and_unrelated_codes_pass():
    assert scrub_lines([ScrubLine("64483"), ScrubLine("77003")], date_of_service=DOS, tables=TABLES) == []
    assert scrub_lines([ScrubLine("63030"), ScrubLine("69990")], date_of_service=DOS, tables=TABLES) == []
    assert scrub_lines([ScrubLine("63030"), ScrubLine("69990")], date_of_service=dt.date(2019, 6, 1),
                       tables=TABLES)[0].rule == "NCCI-PTP"  # in effect then
    assert scrub_lines([ScrubLine("22551"), ScrubLine("22845")], date_of_service=DOS, tables=TABLES) == []


def test_a_date_of_service_mue_adds_the_units_of_every_line():
    assert scrub_lines([ScrubLine("22551")], date_of_service=DOS, tables=TABLES) == []
    [finding] = scrub_lines([ScrubLine("22551"), ScrubLine("22551", modifiers=("59",))], date_of_service=DOS,
                            tables=TABLES)
    assert (finding.rule, finding.lines) == ("MUE", (0, 1))
    assert "2 units of 22551" in finding.message and "cannot be bypassed" in finding.message


def test_a_line_mue_counts_each_line_on_its_own():
    assert scrub_lines([ScrubLine("64484", units=2), ScrubLine("64484", units=2, modifiers=("XS",))],
                       date_of_service=DOS, tables=TABLES) == []
    [finding] = scrub_lines([ScrubLine("64484", units=3)], date_of_service=DOS, tables=TABLES)
    assert finding.rule == "MUE" and finding.lines == (0,) and "per line" in finding.message


def test_the_shipped_spine_seed_flags_the_classic_denials():
    found = scrub_lines([ScrubLine("22551"), ScrubLine("69990")], date_of_service=DOS)
    assert [(f.rule, f.severity) for f in found] == [("NCCI-PTP", "error")]
    assert "IOM 100-04" in found[0].source_title
    seeded = scrub.seed_tables()
    assert seeded.ptp_between("63047", "22630", DOS).modifier_indicator == 1
    assert seeded.mue["63047"].units == 1


def test_edits_read_from_cms_files_scrub_a_claim_and_cite_their_file_and_line():
    from pathlib import Path

    from billing.cms_files import read_mue, read_ptp

    samples = Path(__file__).parent / "cms_samples"
    with (samples / "ptp_practitioner_sample.txt").open(newline="", encoding="utf-8") as ptp, \
            (samples / "mue_practitioner_sample.txt").open(newline="", encoding="utf-8") as mue:
        tables = scrub.tables_from_cms_files(read_ptp(ptp, source="ptp_practitioner_sample.txt"),
                                             read_mue(mue, source="mue_practitioner_sample.txt"))
    [finding] = scrub_lines([ScrubLine("22551"), ScrubLine("63075")], date_of_service=DOS, tables=tables)
    assert finding.rule == "NCCI-PTP" and "ptp_practitioner_sample.txt, line" in finding.source_title
    assert tables.mue["22551"].units >= 1
