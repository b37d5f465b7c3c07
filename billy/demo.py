"""The demo practice's data: two surgeons with provider records, a billing group, a facility, three payers,
EDI settings, a few dozen synthetic patients with coverage, and the demo fee schedule.

Every name, number and address here is invented. NPIs carry valid check digits so the claim checks accept them;
they are not real providers' numbers. Idempotent: a second run changes nothing.
"""

from __future__ import annotations

import datetime as dt
import random

from django.db import transaction

from billy.identifiers import npi_with_check_digit
from billy.models import EdiSettings, Facility, Membership, PlaceOfService, Practice, Provider, Role
from billy.services import BillyError

SURGEONS = [
    # (email, full name, given, family, credential, taxonomy (NUCC), npi stem)
    ("physician@demo.iambilly.local", "Dr. Maya Okafor", "Maya", "Okafor", "MD", "207X00000X", "154802316"),
    ("surgeon2@demo.iambilly.local", "Dr. Tomas Lindqvist", "Tomas", "Lindqvist", "DO", "2084P0800X", "162409875"),
]
PAYERS = [
    # name, payer id, type, filing indicator, member id pattern, example, distinct modifier, bilateral
    ("Medicare Part B (demo MAC)", "15202", "medicare", "", r"[1-9][AC-HJKMNP-RT-Y][AC-HJKMNP-RT-Y0-9][0-9]"
     r"[AC-HJKMNP-RT-Y][AC-HJKMNP-RT-Y0-9][0-9][AC-HJKMNP-RT-Y]{2}[0-9]{2}", "1EG4TE5MK73", "X", "50"),
    ("Summit Health PPO (demo)", "SMT01", "commercial", "12", r"SMT[0-9]{6}", "SMT004512", "59", "RTLT"),
    ("Keystone Workers' Comp (demo)", "KWC77", "workers_comp", "", "", "", "59", "50"),
]
_FAMILY = ["Alder", "Brennan", "Castellano", "Dunmore", "Eckhardt", "Farrow", "Galloway", "Haverford", "Ibarra",
           "Jessup", "Kowalczyk", "Lindahl", "Marchetti", "Nakamura", "Okonjo", "Pemberton", "Quintero", "Rasmussen",
           "Szabo", "Thornbury", "Underhill", "Valdivia", "Whitcombe", "Yarrow"]
_GIVEN = ["Agnes", "Bernard", "Carmen", "Desmond", "Eleanor", "Felix", "Gloria", "Harold", "Irene", "Julian",
          "Katrin", "Leonard", "Marisol", "Nigel", "Opal", "Percy", "Rosalind", "Stellan"]
_STREETS = ["Larkspur Lane", "Old Mill Road", "Cedar Bluff Drive", "Hawthorne Court", "Quarry Street", "Birchwood Ave"]
PATIENTS = 36
_MBI_LETTERS = "ACDEFGHJKMNPQRTUVWXY"


def _mbi(rng: random.Random) -> str:
    """A Medicare Beneficiary Identifier in CMS's format (digit, letter, alnum, digit, ...): invented."""
    alnum = _MBI_LETTERS + "0123456789"
    shape = [("19", 1), (_MBI_LETTERS, 1), (alnum, 1), ("0123456789", 1), (_MBI_LETTERS, 1), (alnum, 1),
             ("0123456789", 1), (_MBI_LETTERS, 2), ("0123456789", 2)]
    out = ""
    for chars, n in shape:
        out += "".join(rng.choice(chars if chars != "19" else "123456789") for _ in range(n))
    return out


@transaction.atomic
def demo_practice_data(*, practice: Practice) -> dict[str, int]:
    """Fill the demo practice (idempotent). Returns what now exists, for the seed command to print."""
    from billing.services import fee_schedule_load_demo
    from patients.models import Payer
    from patients.services import CoverageInput, coverage_add, patient_create

    for email, _full_name, given, family, credential, taxonomy, stem in SURGEONS:
        membership = Membership.objects.filter(practice=practice, user__email=email).select_related("user").first()
        Provider.objects.update_or_create(
            practice=practice, npi=npi_with_check_digit(stem),
            defaults={"given_name": given, "family_name": family, "credential": credential, "taxonomy": taxonomy,
                      "is_rendering": True, "user": membership.user if membership else None},
        )
    billing = Provider(practice=practice, entity="2", organisation_name="Riverside Spine & Pain Group",
                       npi=npi_with_check_digit("254100973"), taxonomy="207X00000X", tax_id_type="EI",
                       tax_id="31-4759082", is_billing=True, address_line1="2400 Riverside Parkway, Suite 310",
                       city="Columbus", state="OH", postal_code="432151842", phone="6145550142")
    if not Provider.objects.filter(practice=practice, npi=billing.npi).exists():
        billing.full_clean()
        billing.save()
    Facility.objects.get_or_create(practice=practice, name="Riverside Surgical Pavilion (demo)", defaults={
        "npi": npi_with_check_digit("276300418"), "address_line1": "2450 Riverside Parkway", "city": "Columbus",
        "state": "OH", "postal_code": "432151842", "default_place_of_service": PlaceOfService.ON_CAMPUS_OUTPATIENT})
    Facility.objects.get_or_create(practice=practice, name="Riverside Pain Clinic (office)", defaults={
        "address_line1": "2400 Riverside Parkway, Suite 120", "city": "Columbus", "state": "OH",
        "postal_code": "43215", "default_place_of_service": PlaceOfService.OFFICE})
    EdiSettings.objects.get_or_create(practice=practice, defaults={
        "submitter_id": "RSPDEMO01", "submitter_name": "Riverside Spine & Pain Group", "contact_name": "Jordan Reyes",
        "contact_phone": "6145550142", "contact_email": "billing@demo.iambilly.local", "receiver_id": "CLRHOUSE",
        "receiver_name": "Demo Clearinghouse", "usage_indicator": "T"})
    payers = {}
    for name, payer_id, kind, indicator, pattern, example, distinct, bilateral in PAYERS:
        payers[kind], _ = Payer.objects.get_or_create(practice=practice, payer_id=payer_id, defaults={
            "name": name, "payer_type": kind, "claim_filing_indicator": indicator, "member_id_pattern": pattern,
            "member_id_example": example, "distinct_modifier": distinct, "bilateral_convention": bilateral})

    biller = Membership.objects.filter(practice=practice, role=Role.BILLER, is_active=True).first()
    if biller and not practice.patients.exists():
        rng = random.Random(20261122)  # noqa: S311 - demo data, the same patients on every machine
        for i in range(PATIENTS):
            family, given = _FAMILY[i % len(_FAMILY)], _GIVEN[(i * 7) % len(_GIVEN)]
            birth = dt.date(1938, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 50))
            try:
                patient = patient_create(
                    membership=biller, family_name=family, given_name=given, birth_date=birth,
                    sex="F" if i % 2 else "M", mrn=f"RSP-{10400 + i}", address_line1=f"{100 + i * 7} {_STREETS[i % 6]}",
                    city="Columbus", state="OH", postal_code=f"432{10 + i % 20:02d}", phone=f"614555{1000 + i:04d}")
            except BillyError:
                continue
            age = (dt.date.today() - birth).days // 365
            start = dt.date(2024, 1, 1)
            if age >= 65:
                coverage_add(membership=biller, patient=patient, data=CoverageInput(
                    payer_id=payers["medicare"].pk, order=1, member_id=_mbi(rng), effective_from=start))
                if i % 3 == 0:
                    coverage_add(membership=biller, patient=patient, data=CoverageInput(
                        payer_id=payers["commercial"].pk, order=2, member_id=f"SMT{rng.randrange(10**6):06d}",
                        effective_from=start, plan_name="Medigap Plan G"))
            elif i % 5 == 0:
                coverage_add(membership=biller, patient=patient, data=CoverageInput(
                    payer_id=payers["workers_comp"].pk, order=1, member_id=f"CLAIM-{rng.randrange(10**7):07d}",
                    effective_from=dt.date(2026, 3, 14), group_number="EMPLOYER-4471"))
            else:
                coverage_add(membership=biller, patient=patient, data=CoverageInput(
                    payer_id=payers["commercial"].pk, order=1, member_id=f"SMT{rng.randrange(10**6):06d}",
                    group_number=f"G{rng.randrange(10**5):05d}", effective_from=start, plan_name="Summit Choice PPO"))
    fee_schedule_load_demo(practice=practice)
    return {
        "providers": practice.providers.count(), "facilities": practice.facilities.count(),
        "payers": practice.payers.count(), "patients": practice.patients.count(),
        "fees": practice.fee_schedule.count(),
    }
