"""A stored Claim as the plain ClaimDocument the writers and checks read (claims.claim_document).

The parties come from practice data as it stands when the document is built: the patient and the coverage
(patients), the providers and facility (billy). An export builds them once and writes them into its file, so
a later change of an address does not change a file already sent.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from billy.models import EdiSettings, Facility, Provider
from claims.claim_document import (
    Address,
    ClaimDocument,
    DiagnosisEntry,
    DrugInfo,
    Envelope,
    FacilityParty,
    PatientParty,
    PayerParty,
    ProviderParty,
    ServiceLineEntry,
    SubscriberParty,
)
from claims.models import Claim
from patients.models import Coverage, Patient, Payer


def _digits(value: str | None) -> str:
    return re.sub(r"\D", "", value or "")


def _address(line1, city, state, postal_code, line2="") -> Address | None:
    if not (line1 and city and state and postal_code):
        return None
    return Address(line1=line1, line2=line2 or "", city=city, state=state, postal_code=_digits(postal_code))


def provider_party(provider: Provider | None) -> ProviderParty | None:
    if provider is None:
        return None
    return ProviderParty(
        npi=provider.npi, entity=provider.entity, family_name=provider.family_name, given_name=provider.given_name,
        middle_name=provider.middle_name, credential=provider.credential,
        organisation_name=provider.organisation_name, taxonomy=provider.taxonomy,
        tax_id=_digits(provider.tax_id), tax_id_type=provider.tax_id_type,
        address=_address(provider.address_line1, provider.city, provider.state, provider.postal_code,
                         provider.address_line2),
        phone=_digits(provider.phone))


def facility_party(facility: Facility | None) -> FacilityParty | None:
    if facility is None:
        return None
    address = _address(facility.address_line1, facility.city, facility.state, facility.postal_code,
                       facility.address_line2)
    return FacilityParty(name=facility.name, npi=facility.npi, address=address) if address else None


def patient_party(patient: Patient) -> PatientParty:
    return PatientParty(
        family_name=patient.family_name or "", given_name=patient.given_name or "",
        middle_name=patient.middle_name or "", birth_date=patient.birth_date, sex=patient.sex,
        address=_address(patient.address_line1, patient.city, patient.state, patient.postal_code,
                         patient.address_line2),
        phone=_digits(patient.phone))


def subscriber_party(coverage: Coverage | None) -> SubscriberParty:
    if coverage is None:
        return SubscriberParty(member_id="")
    payer = coverage.payer
    return SubscriberParty(
        member_id=(coverage.member_id or "").upper(), relationship=coverage.relationship,
        payer_responsibility={1: "P", 2: "S", 3: "T"}.get(coverage.order, "P"),
        filing_indicator=payer.filing_indicator, group_number=coverage.group_number or "",
        plan_name=coverage.plan_name if not coverage.group_number else "",
        family_name=coverage.subscriber_family_name or "", given_name=coverage.subscriber_given_name or "",
        birth_date=coverage.subscriber_birth_date, sex=coverage.subscriber_sex or "",
        address=_address(coverage.subscriber_address_line1, coverage.subscriber_city, coverage.subscriber_state,
                         coverage.subscriber_postal_code))


def payer_party(payer: Payer | None) -> PayerParty:
    if payer is None:
        return PayerParty(name="", payer_id="")
    return PayerParty(name=payer.name, payer_id=payer.payer_id,
                      address=_address(payer.address_line1, payer.city, payer.state, payer.postal_code,
                                       payer.address_line2))


def claim_document(claim: Claim) -> ClaimDocument:
    """The claim as the 837P and the CMS-1500 carry it. Reads the claim's lines, diagnoses and parties."""
    diagnoses = tuple(DiagnosisEntry(pointer=dx.pointer, code=dx.code) for dx in claim.diagnoses.all())
    lines = tuple(_line_entry(claim, line) for line in claim.lines.all())
    return ClaimDocument(
        patient_control_number=claim.number,
        billing_provider=provider_party(claim.billing_provider) or ProviderParty(npi=""),
        rendering_provider=provider_party(claim.rendering_provider),
        referring_provider=provider_party(claim.referring_provider),
        facility=facility_party(claim.facility),
        patient=patient_party(claim.patient),
        subscriber=subscriber_party(claim.coverage),
        payer=payer_party(claim.payer),
        diagnoses=diagnoses, lines=lines,
        place_of_service=claim.place_of_service,
        frequency_code=claim.frequency_code,
        payer_claim_number=claim.payer_claim_number,
        prior_authorization=claim.prior_authorization,
        accept_assignment=claim.accept_assignment,
        related_to_employment=claim.related_to_employment,
        related_to_auto_accident=claim.related_to_auto_accident,
        auto_accident_state=claim.auto_accident_state,
        related_to_other_accident=claim.related_to_other_accident,
        onset_date=claim.onset_date,
        accident_date=claim.accident_date,
        amount_paid=claim.amount_paid or Decimal("0.00"),
        additional_information=claim.additional_information or "",
        physician_signature_date=(claim.reviewed_at or claim.created_at or dt.datetime.now()).date(),
    )


def _line_entry(claim: Claim, line) -> ServiceLineEntry:
    drug = None
    if line.drug_json and line.drug_json.get("ndc"):
        drug = DrugInfo(ndc=_digits(line.drug_json["ndc"]), quantity=Decimal(str(line.drug_json.get("ml") or 1)),
                        unit="ML")
    return ServiceLineEntry(
        cpt=line.cpt, units=line.units, charge=line.charge, dx_pointers=tuple(line.dx_pointers),
        date_of_service=claim.date_of_service, place_of_service=line.place_of_service,
        modifiers=tuple(line.modifier_list), drug=drug, line_control_number=f"{claim.number}-{line.position + 1}")


def envelope_for(*, edi: EdiSettings, interchange_control_number: int, created_at: dt.datetime,
                 batch_reference: str) -> Envelope:
    return Envelope(
        submitter_id=edi.submitter_id, submitter_name=edi.submitter_name, contact_name=edi.contact_name,
        contact_phone=_digits(edi.contact_phone), contact_email=edi.contact_email, receiver_id=edi.receiver_id,
        receiver_name=edi.receiver_name, interchange_control_number=interchange_control_number,
        group_control_number=interchange_control_number, created_at=created_at,
        interchange_id_qualifier=edi.interchange_id_qualifier, usage_indicator=edi.usage_indicator,
        batch_reference=batch_reference)
