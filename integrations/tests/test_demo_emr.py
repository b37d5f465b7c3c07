"""The demo EMR `make run` starts: its invented patients are found and imported with their coverage."""

from __future__ import annotations

import datetime as dt

import pytest

from integrations.demo_emr import MRN_SYSTEM, PATIENTS, seed
from integrations.fhir_testing import fhir_server
from integrations.models import EMRConnection, Vendor
from patients import emr
from patients.selectors import PatientQuery

pytestmark = pytest.mark.django_db


def test_the_demo_emrs_patients_are_found_and_imported_with_coverage(world, settings):
    settings.USE_EMR = True
    with fhir_server() as base_url:
        made = seed(base_url, encounter_day=dt.date(2026, 12, 1))
        assert made == {"Organization": 3, "Practitioner": 1, "Patient": len(PATIENTS), "Coverage": len(PATIENTS),
                        "RelatedPerson": 1, "Encounter": len(PATIENTS)}
        connection = EMRConnection.objects.create(practice=world.practice, name="Demo EHR", vendor=Vendor.FHIR,
                                                  base_url=base_url, is_enabled=True, mrn_system=MRN_SYSTEM)
        found = emr.emr_search(connection=connection, query=PatientQuery(
            family_name="Abernathy", given_name="L", birth_date=dt.date(1949, 8, 17)))
        (record,) = found.records
        assert (record.given_name, record.middle_name, record.mrn) == ("Lucille", "June", "DEMO-EHR-1001")
        # The world's Medicare payer has the demo Medicare's EDI id (15202): the coverage finds it.
        result = emr.patient_import(membership=world.physician.memberships.get(), connection=connection,
                                    emr_id=record.emr_id)
        coverage = result.patient.coverages.get()
        assert (coverage.payer_id, coverage.member_id, coverage.effective_from) == (
            world.payer.pk, "3TQ7WN4HK21", dt.date(2025, 1, 1))
        # A spouse-subscribed commercial plan whose payer the world lacks: left out, saying which payer.
        by_mrn = emr.emr_search(connection=connection, query=PatientQuery(identifier="DEMO-EHR-1003"))
        castellanos = emr.patient_import(membership=world.biller.memberships.get(), connection=connection,
                                         emr_id=by_mrn.records[0].emr_id)
        assert castellanos.left_out == [
            "The coverage with Summit Health PPO (demo) was not imported: no active payer of that name or EDI id in "
            "this practice. Add the payer, then import the patient again."]
