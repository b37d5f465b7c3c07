"""The scrubber on stored claims: claim_check runs it after every change, and each finding is stored with the rule,
the lines, the fix and the source it rests on (the Done-when claims of issue 7, and the patient's history)."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.urls import reverse

from billing.models import EditOrigin, ModifierMap
from claims.models import Claim, ClaimDiagnosis, ClaimLine, ClaimStatus
from claims.scrubbing import age_on, prior_claims
from claims.services import claim_check
from claims.tests.factories import make_claim
from patients.models import PayerType

pytestmark = pytest.mark.django_db


def recode(claim: Claim, diagnoses: list[str], lines: list[tuple]) -> dict[str, list]:
    """Give the claim these diagnoses and lines (cpt, units, modifiers, pointers, levels), check it, and return its
    scrub findings by rule."""
    claim.diagnoses.all().delete()
    claim.lines.all().delete()
    ClaimDiagnosis.objects.bulk_create([ClaimDiagnosis(claim=claim, position=i, code=code)
                                        for i, code in enumerate(diagnoses)])
    ClaimLine.objects.bulk_create([
        ClaimLine(claim=claim, position=i, cpt=cpt, units=units, modifiers=",".join(modifiers), dx_pointers=pointers,
                  levels=",".join(levels), charge=Decimal("100.00"))
        for i, (cpt, units, modifiers, pointers, levels) in enumerate(lines)])
    by_rule: dict[str, list] = {}
    for finding in claim_check(claim=claim):
        if finding.origin == "scrub":
            by_rule.setdefault(finding.rule, []).append(finding)
    return by_rule


def test_69990_billed_with_an_acdf_is_an_ncci_edit_with_its_fix_and_source(world):
    claim = make_claim(world)
    found = recode(claim, ["M50.122"], [("22551", 1, [], "A", ["C5-C6"]), ("69990", 1, [], "A", [])])
    [edit] = found["NCCI-PTP"]
    assert (edit.severity, edit.lines, edit.fix) == ("error", [0, 1], "Remove 69990.")
    assert "22551 and 69990 are never paid together" in edit.message
    assert "NCCI procedure-to-procedure edits" in edit.source_title and "verify" in edit.source_title
    assert edit.source_ref.startswith("ncci:")
    assert "CPT-EXCLUDED-PAIR" not in found  # the NCCI edit says it, with its source: no second finding
    claim.refresh_from_db()
    assert claim.error_count >= 1


@pytest.mark.parametrize(("payer_type", "modifier"), [(PayerType.MEDICARE, "XS"), (PayerType.COMMERCIAL, "59")])
def test_a_decompression_at_another_level_asks_for_the_payers_distinct_modifier(world, payer_type, modifier):
    world.payer.payer_type = payer_type
    world.payer.save()
    claim = make_claim(world)
    found = recode(claim, ["M43.16", "M48.062"],
                   [("22633", 1, [], "A", ["L4-L5"]), ("63047", 1, [], "B", ["L3-L4"])])
    [edit] = found["NCCI-PTP-MODIFIER"]
    assert edit.fix == f"Add {modifier} to 63047: a different vertebral level."
    assert "63047 is at L3-L4, 22633 at L4-L5" in edit.message
    # With the modifier the edit is bypassed, and the biller is told the note must show the distinct level.
    found = recode(claim, ["M43.16", "M48.062"],
                   [("22633", 1, [], "A", ["L4-L5"]), ("63047", 1, [modifier], "B", ["L3-L4"])])
    assert "NCCI-PTP-MODIFIER" not in found and found["NCCI-PTP-BYPASSED"][0].severity == "info"


def test_an_admins_modifier_map_for_one_payer_wins_over_the_payer_types_and_the_practice_has_the_last_word(world):
    ModifierMap.objects.create(name="Test MAC wants 59", payer_type="medicare", payer_ids=world.payer.payer_id,
                               distinct_modifier="59", origin=EditOrigin.ADMIN)
    claim = make_claim(world)
    lines = [("22633", 1, [], "A", ["L4-L5"]), ("63047", 1, [], "A", ["L3-L4"])]
    assert recode(claim, ["M43.16"], lines)["NCCI-PTP-MODIFIER"][0].fix.startswith("Add 59 to 63047")
    world.payer.distinct_modifier = "X"  # the practice's own setting for this payer
    world.payer.save()
    assert recode(claim, ["M43.16"], lines)["NCCI-PTP-MODIFIER"][0].fix.startswith("Add XS to 63047")


def test_units_over_the_mue_are_an_error_naming_the_limit(world):
    claim = make_claim(world)
    found = recode(claim, ["M51.16"], [("63030", 2, [], "A", ["L4-L5"])])
    [mue] = found["MUE"]
    assert mue.severity == "error" and mue.lines == [0]
    assert "2 units of 63030 on this date of service; its MUE is 1" in mue.message
    assert "medically unlikely edits" in mue.source_title


def test_a_diagnosis_outside_the_policys_covered_list_cites_the_policy(world):
    claim = make_claim(world)
    found = recode(claim, ["M54.50"], [("64483", 1, ["RT"], "A", ["L5-S1"])])
    [coverage] = found["COVERAGE-DX"]
    assert coverage.severity == "error" and coverage.lines == [0]
    assert "L39242" in coverage.message and "M54.50" in coverage.message
    assert coverage.source_section == "Covered indications"
    assert "radicular pain or radiculopathy" in coverage.source_passage
    # A covered diagnosis (lumbar radiculopathy) clears it.
    assert "COVERAGE-DX" not in recode(claim, ["M54.16"], [("64483", 1, ["RT"], "A", ["L5-S1"])])


def test_the_patients_earlier_claims_feed_frequency_limits_and_global_periods(world):
    surgery = make_claim(world, status=ClaimStatus.EXPORTED)
    Claim.objects.filter(pk=surgery.pk).update(date_of_service=dt.date(2026, 9, 1))
    recode(Claim.objects.get(pk=surgery.pk), ["M51.16"], [("63030", 1, ["LT"], "A", ["L4-L5"])])
    void = make_claim(world, status=ClaimStatus.VOID)
    Claim.objects.filter(pk=void.pk).update(date_of_service=dt.date(2026, 10, 1))
    claim = make_claim(world)
    Claim.objects.filter(pk=claim.pk).update(date_of_service=dt.date(2026, 10, 20))
    claim.refresh_from_db()
    history = prior_claims(claim)
    assert [(p.reference, p.date_of_service, [line.cpt for line in p.lines]) for p in history] == [
        (surgery.number, dt.date(2026, 9, 1), ["63030"])]
    found = recode(claim, ["M54.16"], [("64483", 1, ["LT"], "A", ["L5-S1"])])
    [global_period] = found["GLOBAL-PERIOD"]
    assert surgery.number in global_period.message and global_period.lines == [0]
    assert "79" in global_period.fix


def test_age_is_whole_years_on_the_date_of_service():
    assert age_on(dt.date(1956, 3, 2), dt.date(2026, 3, 1)) == 69
    assert age_on(dt.date(1956, 3, 2), dt.date(2026, 3, 2)) == 70
    assert age_on(None, dt.date(2026, 3, 2)) is None


def test_a_coverage_finding_cites_the_library_passage_and_the_claim_page_links_to_it(world, client):
    from billing.models import CoveragePolicy
    from billing.scrub_reference import link_coverage_passages
    from billing.tests.policy_factories import make_policy_document

    document = make_policy_document(identifier="L99999", title="Test ESI policy")
    CoveragePolicy.objects.create(
        policy_id="L99999", title="Test ESI policy", payer_type="medicare", cpt_codes="62323",
        covered_diagnoses="M54.1", document_title="Test ESI policy",
        passage="An injection is covered for radicular pain that has lasted four weeks.", origin=EditOrigin.ADMIN)
    assert link_coverage_passages() >= 1
    chunk = document.chunks.get(section="Covered indications")
    claim = make_claim(world)
    found = recode(claim, ["M54.50"], [("62323", 1, [], "A", ["L4-L5"])])
    [cited] = [f for f in found["COVERAGE-DX"] if "L99999" in f.message]
    assert cited.source_ref == f"policy:{document.pk}:{chunk.pk}"
    assert (cited.source_title, cited.source_section) == ("Test ESI policy", "Covered indications")
    url = f"{reverse('policy_document', args=[document.pk])}?chunk={chunk.pk}"
    assert cited.source_url == url
    client.force_login(world.biller)
    page = client.get(f"/claims/{claim.pk}/").content.decode()
    assert f'href="{url}"' in page
    assert "Fix:" in page


def test_a_fifth_esi_session_in_a_region_within_a_year_breaks_the_frequency_limit(world):
    for month in (1, 3, 5, 7):
        earlier = make_claim(world, status=ClaimStatus.EXPORTED)
        Claim.objects.filter(pk=earlier.pk).update(date_of_service=dt.date(2026, month, 10))
        recode(Claim.objects.get(pk=earlier.pk), ["M54.16"], [("64483", 1, ["RT"], "A", ["L5-S1"])])
    claim = make_claim(world)
    Claim.objects.filter(pk=claim.pk).update(date_of_service=dt.date(2026, 9, 10))
    claim.refresh_from_db()
    found = recode(claim, ["M54.16"], [("64483", 1, ["RT"], "A", ["L5-S1"])])
    [limit] = found["ESI-FREQUENCY"]
    assert limit.lines == [0] and "2026-01-10" in limit.message
    # A cervical session does not count against the lumbar region.
    assert "ESI-FREQUENCY" not in recode(claim, ["M54.12"], [("64479", 1, ["RT"], "A", ["C6-C7"])])


def test_69990_added_by_hand_is_one_finding_not_four(world):
    claim = make_claim(world)
    found = recode(claim, ["M50.122"], [("22551", 1, [], "A", ["C5-C6"]), ("69990", 1, [], "A", [])])
    assert "NCCI-PTP" in found
    assert "MCR-69990-NOT-PAYABLE" not in found and "CPT-EXCLUDED-PAIR" not in found
    assert "ADDON-NO-PRIMARY" not in found


def test_the_claim_admin_shows_each_finding_with_its_fix_and_source(world, client):
    from billy.roles import roles_sync

    roles_sync()
    claim = make_claim(world)
    recode(claim, ["M54.50"], [("63030", 2, [], "A", ["L4-L5"]), ("64483", 1, ["RT"], "A", ["L5-S1"])])
    client.force_login(world.admin)
    page = client.get(f"/admin/claims/claim/{claim.pk}/change/").content.decode()
    shown = re.findall(r'<td class="field-rule">\s*<p>([A-Z0-9-]+)</p>', page)
    assert "MUE" in shown and "COVERAGE-DX" in shown
    assert "Bill at most 1 unit of 63030" in page and "medically unlikely edits" in page
    assert "radicular pain or radiculopathy" in page  # the policy passage the coverage finding rests on
