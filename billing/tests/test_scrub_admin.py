"""The scrub tables in the Django admin: a practice admin lists and edits them, every change kept in the row's
history; a payer rule or coverage policy that names an unknown code is refused with the reason; a change takes
effect on the next scrub."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from billing import scrub
from billing.models import EditOrigin, NCCIEdit, PayerRule
from billing.scrub_reference import scrub_findings

pytestmark = pytest.mark.django_db
DOS = dt.date(2026, 11, 2)

RULE = {"rule_id": "TEST-KX-ON-FACET", "name": "Facet injections need KX", "active": "on", "severity": "error",
        "payer_type": "commercial", "payer_ids": "60054", "effective": "", "ends": "",
        "when": json.dumps({"codes_any": ["64493"], "modifiers_missing": ["KX"]}),
        "message": "{codes} without KX on {dos}.", "fix": "Add KX when the policy's criteria are documented.",
        "source_title": "Test payer manual", "source_section": "Facets", "source_passage": "KX attests ...",
        "origin": EditOrigin.ADMIN}


@pytest.fixture
def admin_client(world, client):
    from billy.roles import roles_sync

    roles_sync()  # the admin role's group carries the scrub tables' permissions
    world.admin.refresh_from_db()
    client.force_login(world.admin)
    return client


def facet_claim() -> scrub.ScrubClaim:
    return scrub.ScrubClaim(lines=(scrub.ScrubLine("64493", dx_pointers=("A",)),), date_of_service=DOS,
                            diagnoses=("M47.816",), payer_type="commercial", payer_id="60054")


def test_each_scrub_table_lists_for_a_practice_admin(admin_client):
    for model in ("ncciedit", "mue", "payerrule", "modifiermap", "coveragepolicy"):
        response = admin_client.get(f"/admin/billing/{model}/")
        assert response.status_code == 200, model
    page = admin_client.get("/admin/billing/ncciedit/", {"q": "63030"}).content.decode()
    assert "69990" in page and "IamBilly seed" in page


def test_a_payer_rule_added_in_the_admin_fires_on_the_next_scrub_and_keeps_its_history(admin_client, world):
    assert not [f for f in scrub_findings(facet_claim()) if f.rule == "TEST-KX-ON-FACET"]
    response = admin_client.post("/admin/billing/payerrule/add/", RULE)
    assert response.status_code == 302, response.content.decode()[:2000]
    [fired] = [f for f in scrub_findings(facet_claim()) if f.rule == "TEST-KX-ON-FACET"]
    assert (fired.severity, fired.message, fired.lines) == ("error", "64493 without KX on 2026-11-02.", (0,))
    rule = PayerRule.objects.get(rule_id="TEST-KX-ON-FACET")
    response = admin_client.post(f"/admin/billing/payerrule/{rule.pk}/change/", {**RULE, "active": ""})
    assert response.status_code == 302
    assert not [f for f in scrub_findings(facet_claim()) if f.rule == "TEST-KX-ON-FACET"]
    history = rule.history.order_by("history_date")
    assert [h.history_type for h in history] == ["+", "~"]
    assert [h.active for h in history] == [True, False] and history.last().history_user == world.admin
    assert admin_client.get(f"/admin/billing/payerrule/{rule.pk}/history/").status_code == 200


@pytest.mark.parametrize(("field", "value", "problem"), [
    ("when", json.dumps({"codes_any": ["99999"]}), "99999 is not a CPT/HCPCS code IamBilly knows"),
    ("when", json.dumps({"codes_anyy": ["64493"]}), "codes_anyy"),
    ("message", "{codes} {patient_name}", "patient_name"),
])
def test_a_payer_rule_with_an_unknown_code_key_or_placeholder_is_refused_with_the_reason(admin_client, field,
                                                                                        value, problem):
    response = admin_client.post("/admin/billing/payerrule/add/", {**RULE, field: value})
    assert response.status_code == 200
    assert problem in response.content.decode()
    assert not PayerRule.objects.filter(rule_id="TEST-KX-ON-FACET").exists()


def test_a_coverage_policy_with_an_unknown_code_is_refused(admin_client):
    form = {"policy_id": "L12345", "title": "Test", "active": "on", "payer_type": "medicare", "payer_ids": "",
            "cpt_codes": "64483 99999", "covered_diagnoses": "M54.1", "document_title": "", "section": "",
            "passage": "", "origin": EditOrigin.ADMIN, "effective": "", "ends": ""}
    response = admin_client.post("/admin/billing/coveragepolicy/add/", form)
    assert response.status_code == 200 and "99999" in response.content.decode()
    response = admin_client.post("/admin/billing/coveragepolicy/add/",
                                 {**form, "cpt_codes": "64483", "covered_diagnoses": "Q99.99"})
    assert response.status_code == 200 and "Q99.99" in response.content.decode()
    response = admin_client.post("/admin/billing/coveragepolicy/add/", {**form, "cpt_codes": "64483"})
    assert response.status_code == 302


def test_an_admin_edit_of_an_ncci_pair_is_in_its_history_and_wins_over_the_seed(admin_client):
    form = {"column1": "22612", "column2": "63047", "effective": "2020-01-01", "deleted": "",
            "modifier_indicator": "0", "rationale": "Payer letter 2026-10", "source": "Payer letter",
            "origin": EditOrigin.ADMIN}
    assert admin_client.post("/admin/billing/ncciedit/add/", form).status_code == 302
    edit = NCCIEdit.objects.get(column1="22612", column2="63047", origin=EditOrigin.ADMIN)
    assert edit.history.count() == 1
    claim = scrub.ScrubClaim(lines=(scrub.ScrubLine("22612", levels=("L4-L5",)),
                                    scrub.ScrubLine("63047", modifiers=("XS",), levels=("L3-L4",))),
                             date_of_service=DOS, diagnoses=("M43.16",), payer_type="medicare")
    [found] = [f for f in scrub_findings(claim) if f.rule.startswith("NCCI")]
    assert found.rule == "NCCI-PTP" and found.fix == "Remove 63047."  # indicator 0: XS does not bypass it
    assert "entered by an admin" in found.source_title


def test_a_seed_row_edited_in_the_admin_becomes_the_admins_and_the_next_seed_load_keeps_it(admin_client):
    from billing.models import CoveragePolicy
    from billing.scrub_reference import load_seed

    policy = CoveragePolicy.objects.get(policy_id="L39242", origin=EditOrigin.SEED)
    form = {"policy_id": "L39242", "title": policy.title, "active": "on", "payer_type": "medicare",
            "payer_ids": "", "cpt_codes": policy.cpt_codes, "covered_diagnoses": policy.covered_diagnoses + " M54.50",
            "document_title": policy.document_title, "section": policy.section, "passage": policy.passage,
            "effective": "", "ends": ""}
    assert admin_client.post(f"/admin/billing/coveragepolicy/{policy.pk}/change/", form).status_code == 302
    policy.refresh_from_db()
    assert policy.origin == EditOrigin.ADMIN and "M54.50" in policy.covered_diagnoses
    load_seed()
    assert list(CoveragePolicy.objects.filter(policy_id="L39242").values_list("origin", flat=True)) == ["admin"]
    esi = scrub.ScrubClaim(lines=(scrub.ScrubLine("64483", dx_pointers=("A",)),), date_of_service=DOS,
                           diagnoses=("M54.50",), payer_type="medicare")
    assert not [f for f in scrub_findings(esi) if f.rule == "COVERAGE-DX"]  # the admin's list now covers it
