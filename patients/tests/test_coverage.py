"""Coverage: who pays on a date of service, chosen by a selector; bad dates, overlaps and member ids refused."""

import datetime as dt

import pytest
from django.db import IntegrityError, connection, transaction

from billy.models import AuditEvent
from billy.services import BillyError
from patients.models import ClaimFilingIndicator, Coverage, Payer, PayerType, Relationship
from patients.selectors import coverage_in_force
from patients.services import CoverageInput, coverage_add, coverage_end, coverage_update

pytestmark = pytest.mark.django_db

# The Medicare Beneficiary Identifier format (CMS): no S, L, O, I, B or Z among the letters.
LETTER, ALNUM = "[AC-HJKMNP-RT-Y]", "[AC-HJKMNP-RT-Y0-9]"
MBI = f"[1-9]{LETTER}{ALNUM}[0-9]{LETTER}{ALNUM}[0-9]{LETTER}{{2}}[0-9]{{2}}"


def membership(world):
    return world.biller.memberships.get()


@pytest.fixture
def commercial(world):
    return Payer.objects.create(practice=world.practice, name="Summit Health PPO", payer_id="SMT01",
                                payer_type=PayerType.COMMERCIAL,
                                claim_filing_indicator=ClaimFilingIndicator.PPO)


def add(world, payer, **values):
    data = {"payer_id": payer.pk, "order": 2, "member_id": "SMT-88213", "effective_from": dt.date(2024, 1, 1)}
    return coverage_add(membership=membership(world), patient=world.patient, data=CoverageInput(**(data | values)))


def test_the_coverage_in_force_follows_the_date_of_service(world, commercial):
    old = add(world, commercial, effective_from=dt.date(2022, 1, 1), effective_to=dt.date(2023, 12, 31))
    new = add(world, commercial, member_id="SMT-99001", effective_from=dt.date(2024, 1, 1))
    patient = world.patient
    assert coverage_in_force(patient=patient, date_of_service=dt.date(2021, 3, 31)).in_order() == []
    on_2023 = coverage_in_force(patient=patient, date_of_service=dt.date(2023, 12, 31))
    assert (on_2023.primary, on_2023.secondary) == (world.coverage, old)
    on_2024 = coverage_in_force(patient=patient, date_of_service=dt.date(2024, 1, 1))
    assert on_2024.in_order() == [world.coverage, new]
    coverage_end(membership=membership(world), coverage=world.coverage, last_day=dt.date(2025, 6, 30))
    after = coverage_in_force(patient=patient, date_of_service=dt.date(2025, 7, 1))
    assert (after.primary, after.secondary) == (None, new)


def test_an_overlapping_coverage_of_the_same_order_is_refused_with_the_clash_named(world, commercial):
    clash = "already has primary coverage with Medicare Part B .* from 2021-04-01 with no end"
    with pytest.raises(BillyError, match=clash):
        add(world, commercial, order=1)
    assert world.patient.coverages.count() == 1


def test_the_database_refuses_an_overlap_even_when_the_service_is_bypassed(world, commercial):
    with pytest.raises(IntegrityError), transaction.atomic():
        Coverage.objects.create(patient=world.patient, payer=commercial, order=1, member_id="X",
                                effective_from=dt.date(2030, 1, 1))


def test_an_end_date_before_the_start_is_refused_by_the_service_and_the_database(world, commercial):
    with pytest.raises(BillyError, match="ends before it starts"):
        add(world, commercial, effective_from=dt.date(2024, 5, 1), effective_to=dt.date(2024, 4, 30))
    with pytest.raises(IntegrityError), transaction.atomic():
        Coverage.objects.create(patient=world.patient, payer=commercial, order=3, member_id="X",
                                effective_from=dt.date(2024, 5, 1), effective_to=dt.date(2024, 4, 30))


def test_a_member_id_that_does_not_fit_the_payers_pattern_is_refused_with_an_example(world):
    world.payer.member_id_pattern = MBI
    world.payer.member_id_example = "1EG4-TE5-MK73"
    world.payer.save()
    world.coverage.delete()
    with pytest.raises(BillyError, match=r"1EG4TE5MK7 is not a member id .* \(for example 1EG4-TE5-MK73\)"):
        add(world, world.payer, order=1, member_id="1EG4TE5MK7")
    ok = add(world, world.payer, order=1, member_id="1eg4te5mk73")
    assert ok.member_id == "1EG4TE5MK73"


def test_a_dependent_needs_the_subscriber_and_self_keeps_no_second_copy(world, commercial):
    with pytest.raises(BillyError, match="subscriber's name and birth date"):
        add(world, commercial, relationship=Relationship.SPOUSE)
    spouse = add(world, commercial, relationship=Relationship.SPOUSE, subscriber_family_name="Quist",
                 subscriber_given_name="Henrik", subscriber_birth_date=dt.date(1950, 8, 9), subscriber_sex="M")
    assert spouse.subscriber_given_name == "Henrik"
    data = CoverageInput(payer_id=commercial.pk, order=2, member_id="SMT-88213", effective_from=dt.date(2024, 1, 1),
                         subscriber_family_name="Quist", subscriber_given_name="Henrik")
    coverage_update(membership=membership(world), coverage=spouse, data=data)
    spouse.refresh_from_db()
    assert spouse.relationship == Relationship.SELF
    assert (spouse.subscriber_family_name, spouse.subscriber_given_name) == (None, None)


def test_member_ids_and_subscribers_are_ciphertext_in_the_raw_table(world, commercial):
    add(world, commercial, member_id="SMT-88213", group_number="GRP-4410", relationship=Relationship.SPOUSE,
        subscriber_family_name="Quistorp", subscriber_given_name="Henrik", subscriber_birth_date=dt.date(1950, 8, 9))
    with connection.cursor() as cursor:
        cursor.execute("SELECT row_to_json(c)::text FROM patients_coverage c")
        raw = " ".join(row[0] for row in cursor.fetchall()).lower()
    for plain in ("smt-88213", "1eg4te5mk73", "grp-4410", "quistorp", "henrik", "1950-08-09"):
        assert plain not in raw


def test_a_payer_of_another_practice_cannot_be_used(world):
    foreign = Payer.objects.create(practice=world.other_practice, name="Lake Mutual", payer_id="LM1",
                                   payer_type=PayerType.COMMERCIAL)
    with pytest.raises(BillyError, match="practice's payers"):
        add(world, foreign)


def test_the_filing_indicator_follows_the_payer_type_unless_chosen(world, commercial):
    assert world.payer.filing_indicator == "MB"
    assert commercial.filing_indicator == "12"
    comp = Payer.objects.create(practice=world.practice, name="State Fund", payer_id="WC001",
                                payer_type=PayerType.WORKERS_COMP)
    assert comp.filing_indicator == "WC"


def test_a_payer_needs_an_edi_id_unless_self_pay(world):
    Payer.objects.create(practice=world.practice, name="Self-pay", payer_type=PayerType.SELF_PAY)
    with pytest.raises(IntegrityError), transaction.atomic():
        Payer.objects.create(practice=world.practice, name="Nameless", payer_type=PayerType.COMMERCIAL)


def test_ending_a_coverage_before_it_started_is_refused(world):
    with pytest.raises(BillyError, match="cannot end before"):
        coverage_end(membership=membership(world), coverage=world.coverage, last_day=dt.date(2020, 1, 1))
    world.coverage.refresh_from_db()
    assert world.coverage.effective_to is None


def test_coverage_writes_are_audited_with_field_names_only(world, commercial):
    coverage = add(world, commercial)
    data = CoverageInput(payer_id=commercial.pk, order=2, member_id="SMT-11111", effective_from=dt.date(2024, 1, 1))
    coverage_update(membership=membership(world), coverage=coverage, data=data)
    event = AuditEvent.objects.filter(action="coverage.update").get()
    assert event.detail == {"fields": ["member_id"]}


def test_coverage_pages_answer_htmx_with_the_form_partial_and_redirect_after_saving(world, client, commercial):
    client.force_login(world.biller)
    url = f"/patients/{world.patient.pk}/coverages/new/"
    form = client.get(url, headers={"HX-Request": "true"})
    assert 'id="coverage-form"' in form.content.decode() and "<html" not in form.content.decode()
    bad = client.post(url, {"payer": commercial.pk, "order": 1, "member_id": "Z1", "effective_from": "2024-01-01",
                            "relationship": "18"}, headers={"HX-Request": "true"})
    assert "already has primary coverage" in bad.content.decode()
    good = client.post(url, {"payer": commercial.pk, "order": 2, "member_id": "Z1", "effective_from": "2024-01-01",
                             "relationship": "18"}, headers={"HX-Request": "true"})
    assert good.status_code == 200 and good["HX-Redirect"] == f"/patients/{world.patient.pk}/"
    end = client.post(f"/patients/coverages/{world.coverage.pk}/end/", {"last_day": "2025-12-31"})
    assert end.status_code == 302
    world.coverage.refresh_from_db()
    assert world.coverage.effective_to == dt.date(2025, 12, 31)


def test_an_outsider_cannot_touch_a_coverage_of_another_practice(world, client):
    client.force_login(world.outsider)
    assert client.get(f"/patients/coverages/{world.coverage.pk}/edit/").status_code == 404
    assert client.post(f"/patients/coverages/{world.coverage.pk}/end/", {"last_day": "2025-12-31"}).status_code == 404
    world.coverage.refresh_from_db()
    assert world.coverage.effective_to is None
