"""The payer rule language: every condition with a claim that passes and one that fails, every validation error
with its key path, and the seed rules written from CMS policy."""

from __future__ import annotations

import datetime as dt
import json
from importlib import resources

import pytest

from billing import payer_rules
from billing.payer_rules import RuleError, compile_rule, compile_rules, load_seed_rules, rule_findings
from billing.scrub import PriorClaim, ScrubClaim, ScrubLine

DOS = dt.date(2026, 5, 4)


def claim(*lines: ScrubLine, **fields) -> ScrubClaim:
    fields.setdefault("payer_type", "medicare")
    return ScrubClaim(lines=tuple(lines), date_of_service=DOS, **fields)


def rule(when, *, message="{rule}: {codes}", **fields):
    return compile_rule(rule_id=fields.pop("rule_id", "TEST-RULE"), when=when, severity=fields.pop("severity", "error"),
                        message=message, **fields)


def fired(claim_, *rules):
    return [(f.rule, f.severity, f.lines) for f in rule_findings(claim_, rules)]


def prior(days_before: int, *codes: str, same_provider: bool = True) -> PriorClaim:
    return PriorClaim(DOS - dt.timedelta(days=days_before), tuple(ScrubLine(code) for code in codes),
                      reference=f"IB{days_before:08d}", same_provider=same_provider)


# --- conditions --------------------------------------------------------------------------------------------


def test_codes_any_names_the_lines_with_the_codes_and_fills_them_in():
    r = rule({"codes_any": ["20930", "20936"]}, message="{codes} on line {lines} for {payer} on {dos}")
    assert fired(claim(ScrubLine("22612"), ScrubLine("22840")), r) == []
    [finding] = rule_findings(claim(ScrubLine("22612"), ScrubLine("20936"), ScrubLine("20930")), [r])
    assert (finding.rule, finding.severity, finding.lines) == ("TEST-RULE", "error", (1, 2))
    assert finding.message == "20930, 20936 on line 2, 3 for Medicare on 2026-05-04"
    assert finding.source_ref == "payer-rule:TEST-RULE"


def test_a_code_range_expands_against_the_catalogue():
    r = rule({"codes_any": ["64490-64495"]})
    assert fired(claim(ScrubLine("64483")), r) == []
    assert fired(claim(ScrubLine("64483"), ScrubLine("64494")), r) == [("TEST-RULE", "error", (1,))]


def test_codes_all_needs_every_code_and_codes_none_needs_none_of_them():
    both = rule({"codes_all": ["22633", "22853"]})
    assert fired(claim(ScrubLine("22633")), both) == []
    assert fired(claim(ScrubLine("22633"), ScrubLine("22840"), ScrubLine("22853")), both) == [
        ("TEST-RULE", "error", (0, 2))]
    without = rule({"all": [{"codes_any": ["69990"]}, {"codes_none": ["63081-63308"]}]})
    assert fired(claim(ScrubLine("63081"), ScrubLine("69990")), without) == []
    assert fired(claim(ScrubLine("63030"), ScrubLine("69990")), without) == [("TEST-RULE", "error", (1,))]


def test_modifiers_missing_checks_the_lines_with_the_rules_own_codes():
    r = rule({"codes_any": ["64483"], "modifiers_missing": ["KX"]}, message="{codes} needs {modifiers}")
    assert fired(claim(ScrubLine("64483", modifiers=("KX",)), ScrubLine("62323")), r) == []
    [finding] = rule_findings(claim(ScrubLine("62323"), ScrubLine("64483", modifiers=("RT",))), [r])
    assert finding.lines == (1,) and finding.message == "64483 needs KX"


def test_modifiers_missing_is_satisfied_by_any_one_of_the_modifiers_listed():
    r = rule({"modifiers_missing": {"codes": ["63047"], "modifiers": ["59", "XS"]}})
    assert fired(claim(ScrubLine("63047", modifiers=("XS",))), r) == []
    assert fired(claim(ScrubLine("63047")), r) == [("TEST-RULE", "error", (0,))]


def test_modifiers_present_fires_on_a_line_carrying_one():
    r = rule({"modifiers_present": {"codes": ["22612"], "modifiers": ["80", "82", "AS"]}},
             message="Remove {modifiers} from the surgeon's claim")
    assert fired(claim(ScrubLine("22612", modifiers=("62",))), r) == []
    [finding] = rule_findings(claim(ScrubLine("22612", modifiers=("82",))), [r])
    assert finding.message == "Remove 82 from the surgeon's claim"


def test_units_over_adds_the_units_of_every_line_with_the_codes():
    r = rule({"units_over": {"codes": ["62321", "62323"], "max": 1}}, message="{units} units, at most {max}")
    assert fired(claim(ScrubLine("62323")), r) == []
    [finding] = rule_findings(claim(ScrubLine("62323"), ScrubLine("62321", modifiers=("59",))), [r])
    assert finding.lines == (0, 1) and finding.message == "2 units, at most 1"


@pytest.mark.parametrize(("lines", "count"), [
    ((ScrubLine("64493", modifiers=("50",), levels=("L4-L5",)), ScrubLine("64494", modifiers=("50",),
                                                                           levels=("L5-S1",))), 2),
    ((ScrubLine("64493", levels=("L3-L4",)), ScrubLine("64494", levels=("L4-L5",)),
      ScrubLine("64495", levels=("L5-S1",))), 3),
    ((ScrubLine("64493"), ScrubLine("64494"), ScrubLine("64495")), 3),  # levels unknown: units count
    ((ScrubLine("64493", modifiers=("LT",)), ScrubLine("64494", modifiers=("LT",)),
      ScrubLine("64493", modifiers=("RT",)), ScrubLine("64494", modifiers=("RT",))), 2),  # one side counts
    ((ScrubLine("64493", modifiers=("LT",), levels=("L4-L5",)), ScrubLine("64493", modifiers=("RT",),
                                                                          levels=("L4-L5",))), 1),
])
def test_levels_over_counts_distinct_levels_and_falls_back_to_units(lines, count):
    r = rule({"levels_over": {"codes": ["64493-64495"], "max": 2}}, message="{count} levels: {levels}")
    found = rule_findings(claim(*lines), [r])
    if count <= 2:
        assert found == []
    else:
        assert found[0].message.startswith(f"{count} levels: {count} levels")
        assert found[0].lines == tuple(range(len(lines)))


def test_levels_over_names_the_levels_when_all_are_known():
    r = rule({"levels_over": {"codes": ["64483", "64484"], "max": 1}}, message="{levels}")
    [finding] = rule_findings(claim(ScrubLine("64483", levels=("L4-L5",)), ScrubLine("64484", levels=("L5-S1",))), [r])
    assert finding.message == "2 levels (L4-L5, L5-S1)"


def test_groups_over_counts_the_code_groups_present():
    r = rule({"groups_over": {"groups": [["62321", "64479"], ["62323", "64483"]], "max": 1}},
             message="{count} regions ({codes})")
    assert fired(claim(ScrubLine("64483"), ScrubLine("62323")), r) == []
    [finding] = rule_findings(claim(ScrubLine("64479"), ScrubLine("20552"), ScrubLine("64483")), [r])
    assert finding.lines == (0, 2) and finding.message == "2 regions (64479, 64483)"


def test_diagnoses_any_matches_exact_codes_and_prefixes_at_claim_level():
    r = rule({"codes_any": ["64483"], "diagnoses_any": ["M54.1-", "M48.062"]}, message="{diagnoses}")
    assert fired(claim(ScrubLine("64483"), diagnoses=("M54.50", "M48.061")), r) == []
    [finding] = rule_findings(claim(ScrubLine("64483"), diagnoses=("M54.50", "M54.16")), [r])
    assert finding.message == "M54.16" and finding.lines == (0,)


def test_diagnoses_none_fires_when_no_diagnosis_matches():
    r = rule({"diagnoses_none": ["M54.1", "M51.1"]})
    assert fired(claim(ScrubLine("64483"), diagnoses=("M51.16",)), r) == []
    assert fired(claim(ScrubLine("64483"), diagnoses=("M54.50",)), r) == [("TEST-RULE", "error", ())]


@pytest.mark.parametrize(("when", "age", "fires"), [
    ({"age_under": 18}, 17, True), ({"age_under": 18}, 18, False), ({"age_under": 18}, None, False),
    ({"age_over": 64}, 65, True), ({"age_over": 64}, 64, False), ({"age_over": 64}, None, False),
])
def test_age_limits_fire_only_on_a_known_age_past_them(when, age, fires):
    r = rule(when, message="age {age}")
    found = rule_findings(claim(ScrubLine("22612"), patient_age=age), [r])
    assert [f.message for f in found] == ([f"age {age}"] if fires else [])


def test_sex_in_fires_on_the_listed_sexes():
    r = rule({"sex_in": ["F"]}, message="{sex}")
    assert fired(claim(ScrubLine("22612"), patient_sex="M"), r) == []
    assert [f.message for f in rule_findings(claim(ScrubLine("22612"), patient_sex="F"), [r])] == ["F"]


def test_place_of_service_reads_the_claim_and_each_lines_own():
    office = rule({"codes_any": ["J3301"], "place_of_service_not_in": ["11"]}, message="POS {pos}")
    assert fired(claim(ScrubLine("J3301"), place_of_service="11"), office) == []
    assert [f.message for f in rule_findings(claim(ScrubLine("J3301"), place_of_service="22"), [office])] == ["POS 22"]
    facility = rule({"place_of_service_in": ["22", "24"]})
    assert fired(claim(ScrubLine("64483", place_of_service="11"), place_of_service="11"), facility) == []
    assert fired(claim(ScrubLine("64483", place_of_service="24"), place_of_service="11"), facility) == [
        ("TEST-RULE", "error", ())]


ESI_HISTORY = {"history": {"codes": ["62322", "62323", "64483", "64484"], "days": 365, "max": 4}}


def test_history_counts_distinct_earlier_dates_in_the_window_plus_this_one():
    r = rule(ESI_HISTORY, message="session {count} in {days} days, after {dates}; at most {max}")
    three = (prior(30, "64483"), prior(90, "64483", "64484"), prior(200, "62323"))
    assert fired(claim(ScrubLine("64483"), prior_claims=three), r) == []
    four = (*three, prior(365, "64483", same_provider=False))  # exactly 365 days before; other provider counts
    [finding] = rule_findings(claim(ScrubLine("64484"), ScrubLine("64483"), prior_claims=four), [r])
    assert finding.lines == (0, 1)
    assert finding.message == ("session 5 in 365 days, after 2025-05-04, 2025-10-16, 2026-02-03, 2026-04-04; "
                               "at most 4")


def test_history_ignores_dates_outside_the_window_other_codes_and_repeats_of_one_date():
    r = rule(ESI_HISTORY)
    priors = (prior(30, "64483"), prior(30, "64484"), prior(90, "64483"), prior(366, "64483"),
              prior(120, "64493"), prior(150, "62321"), prior(-10, "64483"))
    assert fired(claim(ScrubLine("64483"), prior_claims=priors), r) == []


def test_history_never_fires_for_a_claim_without_the_codes():
    r = rule(ESI_HISTORY)
    priors = tuple(prior(days, "64483") for days in (10, 20, 30, 40, 50))
    assert fired(claim(ScrubLine("64493"), prior_claims=priors), r) == []
    assert fired(claim(ScrubLine("64483"), prior_claims=priors), r) == [("TEST-RULE", "error", (0,))]


def test_any_all_and_not_combine_conditions():
    r = rule({"any": [{"units_over": {"codes": ["62321"], "max": 1}},
                      {"all": [{"codes_any": ["62323"]}, {"not": {"diagnoses_any": ["M54.1"]}}]}]})
    assert fired(claim(ScrubLine("62321"), ScrubLine("62323"), diagnoses=("M54.16",)), r) == []
    assert fired(claim(ScrubLine("62321"), ScrubLine("62323"), diagnoses=("M48.062",)), r) == [
        ("TEST-RULE", "error", (1,))]
    assert fired(claim(ScrubLine("62321", units=2)), r) == [("TEST-RULE", "error", (0,))]


# --- scope ---------------------------------------------------------------------------------------------------


def test_a_rule_applies_only_to_its_payers_and_dates():
    when = {"codes_any": ["20930"]}
    line = ScrubLine("20930")
    assert fired(claim(line, payer_type="commercial"), rule(when, payer_types=["medicare"])) == []
    assert fired(claim(line), rule(when, payer_types=["medicare"])) == [("TEST-RULE", "error", (0,))]
    assert fired(claim(line, payer_id="04412"), rule(when, payer_ids=["01112"])) == []
    assert fired(claim(line, payer_id="01112"), rule(when, payer_ids=["01112"])) == [("TEST-RULE", "error", (0,))]
    assert fired(claim(line), rule(when, effective="2026-06-01")) == []
    assert fired(claim(line), rule(when, ends=dt.date(2026, 5, 3))) == []
    assert fired(claim(line), rule(when, effective="2026-05-04", ends="2026-05-04")) == [("TEST-RULE", "error", (0,))]


def test_the_payer_placeholder_names_the_payer_id_when_known():
    r = rule({"codes_any": ["20930"]}, message="{payer}", fix="Call {payer}")
    [finding] = rule_findings(claim(ScrubLine("20930"), payer_type="commercial", payer_id="60054"), [r])
    assert finding.message == "the commercial payer (payer id 60054)"
    assert finding.fix == "Call the commercial payer (payer id 60054)"


# --- validation ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("when", "error"), [
    ({"codez_any": ["64483"]}, "when.codez_any: unknown condition"),
    ({}, "when: is empty"),
    ({"units_over": {"codes": ["64483"], "max": 1, "min": 0}},
     "when.units_over.min: unknown key (expected codes, max)"),
    ({"units_over": {"codes": ["64483"]}}, "when.units_over: max is missing"),
    ({"units_over": ["64483"]}, "when.units_over: must be a mapping with codes, max, got list"),
    ({"units_over": {"codes": "64483", "max": 1}}, "when.units_over.codes: must be a list, got str"),
    ({"units_over": {"codes": ["64483"], "max": "2"}}, "when.units_over.max: must be a whole number, got str '2'"),
    ({"units_over": {"codes": ["64483"], "max": True}}, "when.units_over.max: must be a whole number, got bool"),
    ({"levels_over": {"codes": ["64483"], "max": -1}}, "when.levels_over.max: must be 0 or more, got -1"),
    ({"age_under": -3}, "when.age_under: must be 0 or more, got -3"),
    ({"history": {"codes": ["64483"], "days": 0, "max": 4}}, "when.history.days: must be 1 or more, got 0"),
    ({"codes_any": ["64483", "64484", "99999"]}, "when.codes_any[2]: 99999 is not a CPT/HCPCS code IamBilly knows"),
    ({"codes_any": ["6448"]}, "when.codes_any[0]: 6448 is not a CPT/HCPCS code IamBilly knows"),
    ({"codes_any": [64483]}, "when.codes_any[0]: must be text, got int 64483"),
    ({"codes_any": []}, "when.codes_any: is empty"),
    ({"codes_any": ["64495-64490"]}, "when.codes_any[0]: 64495-64490 runs backwards"),
    ({"codes_any": ["6449-64495"]}, "when.codes_any[0]: 6449-64495 is not a code range like 64490-64495"),
    ({"codes_any": ["63400-63500"]}, "when.codes_any[0]: no CPT/HCPCS code IamBilly knows falls in 63400-63500"),
    ({"codes_any": ["64490-J1030"]}, "when.codes_any[0]: 64490-J1030 mixes two kinds of code"),
    ({"diagnoses_any": ["M54.1", "Z99.99"]}, "when.diagnoses_any[1]: Z99.99 matches no ICD-10-CM code"),
    ({"diagnoses_none": ["722.0"]}, "when.diagnoses_none[0]: '722.0' is not an ICD-10-CM code or prefix"),
    ({"modifiers_present": {"codes": ["64483"], "modifiers": ["5"]}},
     "when.modifiers_present.modifiers[0]: '5' is not a two-character modifier"),
    ({"modifiers_present": {"codes": ["64483"], "mods": ["50"]}}, "when.modifiers_present.mods: unknown key"),
    ({"modifiers_missing": ["KX"]}, "when: modifiers_missing/modifiers_present need codes"),
    ({"sex_in": ["X"]}, "when.sex_in[0]: 'X' is not F, M or U"),
    ({"place_of_service_in": ["2"]}, "when.place_of_service_in[0]: '2' is not a two-digit place of service code"),
    ({"groups_over": {"groups": [["64483"]], "max": 1}}, "when.groups_over.groups: must be a list of at least two"),
    ({"groups_over": {"groups": [["64483"], ["1234X"]], "max": 1}},
     "when.groups_over.groups[1][0]: 1234X is not a CPT/HCPCS code IamBilly knows"),
    ({"all": []}, "when.all: must be a non-empty list of conditions"),
    ({"not": "64483"}, "when.not: must be a mapping of conditions, got str"),
    ({"all": [{"codes_any": ["64483"]}, {"any": [{"levels_over": {"codes": ["64483"], "max": -2}}]}]},
     "when.all[1].any[0].levels_over.max: must be 0 or more, got -2"),
])
def test_a_bad_condition_is_refused_naming_its_key_path(when, error):
    with pytest.raises(RuleError) as raised:
        rule(when, message="x")
    assert str(raised.value).startswith(error)


@pytest.mark.parametrize("code", ["77003", "72275", "99213", "99024", "J2001", "G0260", "22633"])
def test_codes_outside_the_spine_catalogue_are_accepted_from_the_allow_list_and_the_j_code_shape(code):
    assert fired(claim(ScrubLine(code)), rule({"codes_any": [code]})) == [("TEST-RULE", "error", (0,))]


@pytest.mark.parametrize(("fields", "error"), [
    ({"message": "{units} units"}, "message: {units} has no value in this rule"),
    ({"message": "{codes.__class__}"}, "message: {codes.__class__} is not a placeholder"),
    ({"fix": "call {patient_name}"}, "fix: {patient_name} is not a placeholder"),
    ({"message": "{count}", "when": {"not": {"history": {"codes": ["64483"], "days": 365, "max": 4}}}},
     "message: {count} has no value in this rule"),
    ({"message": "  "}, "message: must say what is wrong"),
    ({"severity": "fatal"}, "severity: must be one of error, warning, info, got 'fatal'"),
    ({"rule_id": "esi one region"}, "rule_id: use capital letters, digits and hyphens"),
    ({"payer_types": ["medicare", "medicarex"]}, "payer_types[1]: 'medicarex' is not a payer type"),
    ({"payer_types": "medicare"}, "payer_types: must be a list, got str"),
    ({"payer_ids": [" "]}, "payer_ids[0]: is empty"),
    ({"effective": "2026-13-01"}, "effective: must be a date written YYYY-MM-DD, got '2026-13-01'"),
    ({"effective": "2026-06-01", "ends": "2026-01-01"}, "ends: 2026-01-01 is before effective 2026-06-01"),
    ({"when": ["codes_any"]}, "when: must be a mapping of conditions, got list"),
    ({"source_title": 7}, "source_title: must be text, got int"),
])
def test_a_bad_rule_is_refused_naming_the_field(fields, error):
    arguments = {"rule_id": "TEST-RULE", "when": {"codes_any": ["64483"]}, "severity": "error", "message": "x"}
    arguments.update(fields)
    with pytest.raises(RuleError) as raised:
        compile_rule(**arguments)
    assert str(raised.value).startswith(error)


def test_every_whitelisted_placeholder_its_condition_gives_is_accepted():
    r = rule({"history": {"codes": ["64483"], "days": 365, "max": 0}},
             message="{rule} {payer} {dos} {lines} {codes} {count} {dates} {days} {max}")
    [finding] = rule_findings(claim(ScrubLine("64483")), [r])
    assert finding.message == "TEST-RULE Medicare 2026-05-04 1 64483 1  365 0"


@pytest.mark.parametrize(("entries", "error"), [
    ({"rule_id": "A1"}, "rules.json: must be a list of rules"),
    (["x"], "rules.json rule 0: must be a mapping"),
    ([{"rule_id": "A1", "when": {"codes_any": ["64483"]}, "severity": "info", "message": "m", "owner": "x"}],
     "rules.json rule 0 (A1): owner: unknown key"),
    ([{"rule_id": "A1", "when": {"codes_any": ["64483"]}, "severity": "info", "message": "m", "status": "ok"}],
     "rules.json rule 0 (A1): status: must be verify or verified"),
    ([{"rule_id": "A1", "severity": "info", "message": "m"}], "rules.json rule 0 (A1): when is missing"),
    ([{"rule_id": "A1", "when": {"codes_any": ["64483"]}, "severity": "info", "message": "m"},
      {"rule_id": "A1", "when": {"codes_any": ["64484"]}, "severity": "info", "message": "m"}],
     "rules.json rule 1 (A1): rule_id A1 is used twice"),
    ([{"rule_id": "A1", "when": {"codes_any": ["99999"]}, "severity": "info", "message": "m"}],
     "rules.json rule 0 (A1): when.codes_any[0]: 99999 is not a CPT/HCPCS code IamBilly knows"),
])
def test_a_bad_rule_list_is_refused_naming_the_entry(entries, error):
    with pytest.raises(RuleError) as raised:
        compile_rules(entries, where="rules.json")
    assert str(raised.value).startswith(error)


# --- the seed rules ------------------------------------------------------------------------------------------


def test_every_seed_rule_compiles_is_marked_verify_and_names_its_cms_source():
    raw = json.loads((resources.files("billing") / "data" / payer_rules.SEED_FILE).read_text(encoding="utf-8"))
    assert {entry["status"] for entry in raw} == {"verify"}
    rules = load_seed_rules()
    assert [r.rule_id for r in rules] == [entry["rule_id"] for entry in raw]
    assert all(r.source_title and r.source_passage.startswith("Summary in our words") for r in rules)
    assert {"MCR-STATUS-B-BONE-GRAFT", "ESI-ONE-REGION", "ESI-TF-LEVELS", "ESI-IL-ONE-LEVEL", "ESI-FREQUENCY",
            "FACET-LEVELS", "FACET-RFA-FREQUENCY"} <= {r.rule_id for r in rules}


def _seed_ids(claim_):
    return [(f.rule, f.severity, f.lines) for f in rule_findings(claim_, load_seed_rules())]


L = ScrubLine
SESSIONS = (prior(40, "64483"), prior(120, "64483"), prior(200, "62323"))


@pytest.mark.parametrize(("passing", "failing", "expected"), [
    (claim(L("22612"), L("22840")), claim(L("22612"), L("20936")), ("MCR-STATUS-B-BONE-GRAFT", "info", (1,))),
    (claim(L("62323"), L("64483")), claim(L("64479"), L("64483")), ("ESI-ONE-REGION", "error", (0, 1))),
    (claim(L("64483", modifiers=("50",), levels=("L4-L5",)), L("64484", modifiers=("50",), levels=("L5-S1",))),
     claim(L("64483", levels=("L3-L4",)), L("64484", units=2, levels=("L4-L5", "L5-S1"))),
     ("ESI-TF-LEVELS", "error", (0, 1))),
    (claim(L("62321")), claim(L("62321", units=2)), ("ESI-IL-ONE-LEVEL", "error", (0,))),
    (claim(L("64483"), prior_claims=SESSIONS),
     claim(L("64483"), prior_claims=(*SESSIONS, prior(300, "64484", same_provider=False))),
     ("ESI-FREQUENCY", "error", (0,))),
    (claim(L("64493", modifiers=("50",)), L("64494", modifiers=("50",))),
     claim(L("64493"), L("64494"), L("64495")), ("FACET-LEVELS", "error", (0, 1, 2))),
    (claim(L("64635"), prior_claims=(prior(200, "64635"), prior(400, "64635"))),
     claim(L("64635"), prior_claims=(prior(200, "64635"), prior(300, "64635"))),
     ("FACET-RFA-FREQUENCY", "error", (0,))),
    (claim(L("64493")), claim(L("64493"), L("77003")), ("INJECTION-IMAGING-INCLUDED", "error", (0, 1))),
    (claim(L("62323")), claim(L("62323"), L("72275")), ("EPIDUROGRAPHY-WITH-ESI", "error", (0, 1))),
    (claim(L("63081"), L("69990")), claim(L("63030"), L("69990")), ("MCR-69990-NOT-PAYABLE", "error", (1,))),
    (claim(L("64483"), L("J3301", units=4), place_of_service="11"),
     claim(L("64483"), L("J3301", units=4), place_of_service="22"), ("DRUG-SUPPLY-IN-FACILITY", "warning", (1,))),
    (claim(L("22514"), L("22515", units=2)), claim(L("22513"), L("22515", units=3)), ("PVA-LEVELS", "warning", (0, 1))),
])
def test_each_seed_rule_passes_a_clean_claim_and_flags_the_classic_denial(passing, failing, expected):
    assert _seed_ids(passing) == []
    assert _seed_ids(failing) == [expected]


def test_medicare_seed_rules_leave_a_commercial_claim_alone():
    assert _seed_ids(claim(L("64479"), L("64483"), L("20930"), payer_type="commercial")) == []


def test_code_and_diagnosis_lists_parse_for_coverage_policies_with_the_same_checks():
    assert payer_rules.parse_codes(["62321", "64479-64484"], "procedure codes") == frozenset(
        {"62321", "64479", "64480", "64483", "64484"})
    assert payer_rules.parse_diagnosis_patterns(["m54.1-", "M48.06"], "covered ICD-10-CM") == ("M54.1", "M48.06")
    with pytest.raises(RuleError, match=r"^procedure codes\[1\]: 99999 is not a CPT/HCPCS code IamBilly knows"):
        payer_rules.parse_codes(["62321", "99999"], "procedure codes")
    with pytest.raises(RuleError, match=r"^covered ICD-10-CM\[0\]: Z99.99 matches no ICD-10-CM code"):
        payer_rules.parse_diagnosis_patterns(["Z99.99"], "covered ICD-10-CM")
