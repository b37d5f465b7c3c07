"""Providers, facilities and EDI settings: identifiers checked the way payers check them, and the demo practice."""

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command

from billy import identifiers
from billy.models import Facility, Provider
from patients.models import Coverage, Payer

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("npi", "problem"), [
    ("1234567893", None),                        # the CMS example NPI
    ("1234567890", "fails the NPI check digit"),
    ("123456789", "exactly 10 digits"),
    ("12345678AB", "exactly 10 digits"),
    ("3234567893", "starts with 1"),
])
def test_npi_check_digit(npi, problem):
    found = identifiers.npi_problem(npi)
    assert (found is None) if problem is None else (problem in found)


def test_every_generated_npi_passes_and_one_changed_digit_fails():
    for stem in ("154802316", "162409875", "254100973", "100000000"):
        npi = identifiers.npi_with_check_digit(stem)
        assert identifiers.npi_problem(npi) is None
        wrong = npi[:-1] + str((int(npi[-1]) + 1) % 10)
        assert "check digit" in identifiers.npi_problem(wrong)


@pytest.mark.parametrize(("line", "is_box"), [
    ("PO Box 1180", True), ("P.O. Box 22", True), ("Post Office Box 9", True), ("Lockbox 4471", True),
    ("2400 Riverside Parkway", False), ("12 Poplar Avenue", False), ("1 Box Elder Court", False),
])
def test_po_boxes_are_recognised(line, is_box):
    assert identifiers.is_po_box(line) is is_box


@pytest.mark.parametrize(("check", "value", "ok"), [
    (identifiers.taxonomy_problem, "207X00000X", True), (identifiers.taxonomy_problem, "207X00000", False),
    (identifiers.ein_problem, "31-4759082", True), (identifiers.ein_problem, "07-1234567", False),
    (identifiers.ssn_problem, "123-45-6789", True), (identifiers.ssn_problem, "666-12-3456", False),
    (identifiers.state_problem, "oh", True), (identifiers.state_problem, "XX", False),
    (identifiers.phone_problem, "(614) 555-0142", True), (identifiers.phone_problem, "555-0142", False),
])
def test_identifier_checks(check, value, ok):
    assert (check(value) is None) is ok


def billing_provider(world, **values):
    data = {"practice": world.practice, "entity": "2", "organisation_name": "North Spine Group",
            "npi": identifiers.npi_with_check_digit("254100973"), "taxonomy": "207X00000X", "tax_id_type": "EI",
            "tax_id": "31-4759082", "is_billing": True, "address_line1": "2400 Riverside Parkway",
            "city": "Columbus", "state": "OH", "postal_code": "432151842"} | values
    return Provider(**data)


def test_a_complete_billing_provider_is_valid_and_its_tax_id_is_encrypted(world):
    from django.db import connection

    provider = billing_provider(world)
    provider.full_clean()
    provider.save()
    with connection.cursor() as cursor:
        cursor.execute("SELECT tax_id FROM billy_provider WHERE id = %s", [provider.pk])
        raw = cursor.fetchone()[0]
    assert "4759082" not in raw and raw.startswith("phi:")


@pytest.mark.parametrize(("values", "field", "message"), [
    ({"npi": "2541009730"}, "npi", "check digit"),
    ({"address_line1": "PO Box 1180"}, "address_line1", "not a PO box"),
    ({"postal_code": "43215"}, "postal_code", "ZIP+4"),
    ({"tax_id": ""}, "tax_id", "tax id"),
    ({"taxonomy": ""}, "taxonomy", "taxonomy"),
    ({"entity": "1", "given_name": "Ann", "family_name": "Lee"}, "npi", "starts with 1"),
])
def test_a_billing_provider_that_a_payer_would_reject_is_refused_with_the_reason(world, values, field, message):
    with pytest.raises(ValidationError) as caught:
        billing_provider(world, **values).full_clean()
    assert message in " ".join(caught.value.message_dict[field])


def test_a_facility_must_have_a_street_address(world):
    facility = Facility(practice=world.practice, name="Pavilion", address_line1="P.O. Box 4", city="Columbus",
                        state="OH", postal_code="43215")
    with pytest.raises(ValidationError) as caught:
        facility.full_clean()
    assert "street address" in caught.value.message_dict["address_line1"][0]


def test_a_payer_member_id_pattern_must_be_a_valid_expression(world):
    payer = Payer(practice=world.practice, name="Odd", payer_id="ODD1", payer_type="commercial",
                  member_id_pattern="[A-Z")
    with pytest.raises(ValidationError) as caught:
        payer.full_clean()
    assert "not a valid regular expression" in caught.value.message_dict["member_id_pattern"][0]


def test_the_practice_page_lists_what_claims_need_and_says_what_is_missing(world, client):
    client.force_login(world.biller)
    empty = client.get("/practice/").content.decode()
    assert "No billing provider" in empty and "No EDI settings" in empty
    assert "Medicare Part B (test MAC)" in empty and "MB" in empty  # the payer and its SBR09
    billing_provider(world).save()
    after = client.get("/practice/").content.decode()
    assert "No billing provider" not in after and "North Spine Group" in after


def test_a_physician_sees_their_own_provider_record_on_their_home_page(world, client):
    Provider.objects.create(practice=world.practice, given_name="Ada", family_name="Quill", credential="MD",
                            npi=identifiers.npi_with_check_digit("154802316"), is_rendering=True,
                            user=world.physician)
    client.force_login(world.physician)
    page = client.get("/").content.decode()
    assert "Ada Quill, MD" in page and identifiers.npi_with_check_digit("154802316") in page


def test_the_demo_seed_builds_a_practice_a_claim_can_use_and_is_idempotent(db, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    call_command("seed_demo", verbosity=0)
    call_command("seed_demo", verbosity=0)
    from billy.models import Practice

    practice = Practice.objects.get(name__endswith="(demo)")
    providers = Provider.objects.filter(practice=practice)
    assert providers.filter(is_billing=True).count() == 1
    surgeons = providers.filter(is_rendering=True, user__isnull=False)
    assert surgeons.count() == 2
    for provider in providers:
        provider.full_clean()  # every demo identifier passes the same checks a real one must
    assert practice.facilities.count() == 2
    assert sorted(practice.payers.values_list("payer_type", flat=True)) == ["commercial", "medicare", "workers_comp"]
    assert practice.patients.count() == 36
    assert Coverage.objects.filter(patient__practice=practice, order=1).count() == 36
    assert Coverage.objects.filter(patient__practice=practice, order=2).exists()
    assert practice.fee_schedule.filter(code="22551").exists()
