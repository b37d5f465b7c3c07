"""Exports and acknowledgements: an 837P pyx12 accepts, all-or-nothing marking, control numbers that never repeat,
the same bytes on re-download; 999 and 277CA files drive the claims' status."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection

from billy.identifiers import npi_with_check_digit
from billy.models import EdiSettings, Provider
from billy.testing.pytest_plugin import PHI_CANARY
from claims import acks, exports, services
from claims.models import AckOutcome, Claim, ClaimExport, ClaimStatus
from claims.tests.factories import make_claim
from claims.x12_checks import validate_837p

pytestmark = pytest.mark.django_db
ACKS = Path(__file__).parent / "acks"


def _practice_ready(world):
    """Practice data an 837P needs: a billing group, the surgeon as rendering provider, EDI settings; the
    patient's address (loop 2010BA)."""
    billing = Provider.objects.create(
        practice=world.practice, entity="2", organisation_name="North Spine Group",
        npi=npi_with_check_digit("212345678"), taxonomy="207X00000X", tax_id="123456789", tax_id_type="EI",
        is_billing=True, address_line1="100 Main Street", city="Columbus", state="OH", postal_code="432150001")
    rendering = Provider.objects.create(
        practice=world.practice, family_name="Okafor", given_name="Maya", credential="MD",
        npi=npi_with_check_digit("154802316"), taxonomy="207X00000X", is_rendering=True, user=world.physician)
    EdiSettings.objects.create(practice=world.practice, submitter_id="NSA001", submitter_name="North Spine Group",
                               contact_name="Billing Office", contact_phone="6145550142", receiver_id="CLRHOUSE",
                               receiver_name="Test Clearinghouse")
    patient = world.patient
    patient.address_line1, patient.city, patient.state, patient.postal_code = "42 Prairie Rose Ln", "Chatham", "IL", \
        "62629"
    patient.save()
    return billing, rendering


def _approved_claim(world, billing, rendering) -> Claim:
    claim = make_claim(world, status=ClaimStatus.APPROVED)
    Claim.objects.filter(pk=claim.pk).update(billing_provider=billing, rendering_provider=rendering)
    return Claim.objects.get(pk=claim.pk)


def test_an_837p_export_is_valid_marks_its_claims_exported_and_downloads_the_same_bytes(world):
    billing, rendering = _practice_ready(world)
    claims = [_approved_claim(world, billing, rendering) for _ in range(2)]
    export = exports.claims_export(membership=world.biller.memberships.get(), kind="837p",
                                   claim_ids=[c.pk for c in claims])

    content = exports.export_content(export=export)
    text = content.decode("ascii")
    assert validate_837p(text) == []  # pyx12's verdict plus our own checks
    assert text.count("CLM*") == 2 and f"CLM*{claims[0].number}*4200*" in text
    assert "HI*ABK:M5116~" in text and "SV1*HC:63030*4200*UN*1***1~" in text
    assert "NM1*82*1*OKAFOR*MAYA****XX*" in text  # the rendering surgeon, loop 2310B
    assert hashlib.sha256(content).hexdigest() == export.sha256 and export.interchange_control_number == 1
    for claim in claims:
        claim.refresh_from_db()
        assert claim.status == ClaimStatus.EXPORTED and claim.exported_at is not None
        assert claim.revisions.filter(action="exported").exists()
    assert exports.export_content(export=export) == content  # re-download: the same bytes
    with connection.cursor() as cursor:  # and it is stored encrypted
        cursor.execute("SELECT file FROM claims_claimexport")
        [(name,)] = cursor.fetchall()
    stored = (Path(export.file.storage.location) / name).read_bytes()
    assert PHI_CANARY.upper().encode() in content and PHI_CANARY.upper().encode() not in stored.upper()


def test_interchange_numbers_never_repeat(world):
    billing, rendering = _practice_ready(world)
    membership = world.biller.memberships.get()
    numbers = [exports.claims_export(membership=membership, kind="837p",
                                     claim_ids=[_approved_claim(world, billing, rendering).pk]
                                     ).interchange_control_number for _ in range(3)]
    assert numbers == [1, 2, 3]


def test_a_claim_missing_required_data_is_not_exported_and_nothing_is_marked(world):
    billing, rendering = _practice_ready(world)
    ready = _approved_claim(world, billing, rendering)
    lacking = _approved_claim(world, billing, rendering)
    world.coverage.member_id = ""
    world.coverage.save()  # the subscriber id is gone for both (same coverage)
    with pytest.raises(services.ClaimError) as refused:
        exports.claims_export(membership=world.biller.memberships.get(), kind="837p",
                              claim_ids=[ready.pk, lacking.pk])
    assert "item 1a" in str(refused.value) and "Nothing was exported" in str(refused.value)
    assert set(Claim.objects.values_list("status", flat=True)) == {ClaimStatus.APPROVED}
    assert not ClaimExport.objects.exists()
    readiness = exports.export_readiness([lacking])
    assert any("Item 1a" in p for p in readiness[lacking.pk])


def test_a_writer_failure_leaves_no_file_and_no_claim_marked(world, monkeypatch):
    billing, rendering = _practice_ready(world)
    claim = _approved_claim(world, billing, rendering)
    media = Path(ClaimExport._meta.get_field("file").storage.location)
    before = set(media.rglob("*")) if media.exists() else set()
    monkeypatch.setattr("claims.x12_checks.validate_837p", lambda text: ["SV1 broken (test)"])
    with pytest.raises(services.ClaimError, match="failed validation"):
        exports.claims_export(membership=world.biller.memberships.get(), kind="837p", claim_ids=[claim.pk])
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.APPROVED and not ClaimExport.objects.exists()
    assert (set(media.rglob("*")) if media.exists() else set()) == before


def test_a_claim_someone_reopened_meanwhile_stops_the_export(world):
    billing, rendering = _practice_ready(world)
    claim = _approved_claim(world, billing, rendering)
    Claim.objects.filter(pk=claim.pk).update(status=ClaimStatus.NEEDS_REVIEW)
    with pytest.raises(services.ClaimError, match="no longer approved"):
        exports.claims_export(membership=world.biller.memberships.get(), kind="837p", claim_ids=[claim.pk])


def test_pdf_and_json_exports_carry_every_claim(world):
    import pdfplumber

    billing, rendering = _practice_ready(world)
    claims = [_approved_claim(world, billing, rendering) for _ in range(2)]
    membership = world.biller.memberships.get()
    pdf = exports.claims_export(membership=membership, kind="pdf", claim_ids=[claims[0].pk])
    with pdfplumber.open(io.BytesIO(exports.export_content(export=pdf))) as document:
        text = document.pages[0].extract_text()
    assert "63030" in text and claims[0].number in text and "M5116" in text
    json_export = exports.claims_export(membership=membership, kind="json", claim_ids=[claims[1].pk])
    assert exports.export_content(export=json_export).decode().count('"claim_id"') == 1


def _exported(world, count=2) -> tuple[ClaimExport, list[Claim]]:
    billing, rendering = _practice_ready(world)
    claims = [_approved_claim(world, billing, rendering) for _ in range(count)]
    export = exports.claims_export(membership=world.biller.memberships.get(), kind="837p",
                                   claim_ids=[c.pk for c in claims])
    return export, claims


def test_a_999_rejecting_the_file_returns_its_claims_to_the_queue_with_the_errors(world):
    export, claims = _exported(world)
    text = (ACKS / "999_rejected_set.x12").read_text()
    text = text.replace("AK1*HC*1202*", f"AK1*HC*{export.interchange_control_number}*")
    text = text.replace("AK2*837*0001*005010X222A1~\nIK5*A~\n", "")
    text = text.replace("AK9*P*2*2*1~", "AK9*R*1*1*0~").replace("SE*14*", "SE*12*")
    ack = acks.acknowledgement_import(membership=world.biller.memberships.get(), content=text.encode())
    assert ack.kind == "999" and "2 returned to the queue" in ack.summary
    for claim in claims:
        claim.refresh_from_db()
        assert claim.status == ClaimStatus.NEEDS_REVIEW and claim.ack_outcome == AckOutcome.REJECTED
        assert "Required data element missing" in claim.ack_message
        assert claim.findings.filter(rule="X12-999-REJECTED").exists()
    with pytest.raises(services.ClaimError, match="imported already"):
        acks.acknowledgement_import(membership=world.biller.memberships.get(), content=text.encode())


def test_a_277ca_keeps_the_payers_claim_number_and_returns_a_rejected_claim(world):
    _export, (accepted, rejected) = _exported(world)
    text = (ACKS / "277ca_accepted_and_rejected.x12").read_text()
    text = text.replace("NS2026-000187", accepted.number).replace("NS2026-000188", rejected.number)
    ack = acks.acknowledgement_import(membership=world.biller.memberships.get(), content=text.encode())
    assert ack.summary.startswith("277CA: 1 accepted, 1 rejected")
    accepted.refresh_from_db()
    rejected.refresh_from_db()
    assert accepted.status == ClaimStatus.EXPORTED and accepted.ack_outcome == AckOutcome.ACCEPTED
    assert accepted.payer_claim_number == "EVG2603030001"
    assert rejected.status == ClaimStatus.NEEDS_REVIEW and rejected.ack_outcome == AckOutcome.REJECTED
    assert "NPI" in rejected.ack_message  # status 562: the entity's NPI


def test_a_replacement_of_an_exported_claim_carries_the_payers_claim_number(world):
    _export, (claim,) = _exported(world, count=1)
    Claim.objects.filter(pk=claim.pk).update(payer_claim_number="EVG2603030001")
    claim.refresh_from_db()
    replacement = services.claim_correction_create(membership=world.biller.memberships.get(), claim=claim,
                                                   frequency_code="7")
    assert replacement.frequency_code == "7" and replacement.original_claim == claim
    assert replacement.payer_claim_number == "EVG2603030001" and replacement.status == ClaimStatus.NEEDS_REVIEW
    assert [line.cpt for line in replacement.lines.all()] == ["63030"]
    assert replacement.total_charge == Decimal("4200.00")


def test_an_acknowledgement_that_is_not_x12_or_not_ours_is_refused_clearly(world):
    membership = world.biller.memberships.get()
    with pytest.raises(services.ClaimError, match="cannot be read as X12"):
        acks.acknowledgement_import(membership=membership, content=b"%PDF-1.7 not an ack")
    with pytest.raises(services.ClaimError, match="never exported"):
        acks.acknowledgement_import(membership=membership, content=(ACKS / "999_accepted.x12").read_bytes())


def test_the_exports_page_lists_ready_claims_and_exports_them(world, client):
    billing, rendering = _practice_ready(world)
    claim = _approved_claim(world, billing, rendering)
    client.force_login(world.biller)
    page = client.get("/claims/exports/").content.decode()
    assert claim.number in page and "Ready" in page
    response = client.post("/claims/exports/", {"claim": [claim.pk], "kind": "837p"})
    assert response.status_code == 302
    export = ClaimExport.objects.get()
    download = client.get(f"/claims/exports/{export.pk}/download/")
    assert download.status_code == 200 and download["Content-Disposition"].endswith('.837"')
    assert download.content == exports.export_content(export=export)
    assert dt.date.today().strftime("%Y%m%d") in download.content.decode()  # GS04 / BHT04: today
