"""The demo EMR `make run` starts: the local FHIR R4 server (integrations.fhir_testing) filled with invented
patients of the demo practice's EMR, their coverage with the demo payers, the demo surgeon, and encounters.

None of these patients is in IamBilly at first: a physician finds one through the patient search (which asks
the EMR once an admin has set up the connection) and imports it with its coverage. Every name, date and number
is invented; MBIs follow CMS's format and NPIs carry valid check digits, and belong to no one.
"""

from __future__ import annotations

import datetime as dt

import requests

from billy.demo import PAYERS, SURGEONS
from billy.identifiers import npi_with_check_digit

V2 = "http://terminology.hl7.org/CodeSystem/v2-0203"
MRN_SYSTEM = "urn:iambilly:demo-ehr:mrn"
# family, given, middle, birth date, sex, MRN, street, coverage: (payer kind, member id, relationship)
PATIENTS = [
    ("Abernathy", "Lucille", "June", "1949-08-17", "female", "DEMO-EHR-1001", "88 Wickham Row",
     ("medicare", "3TQ7WN4HK21", "self")),
    ("Benedetti", "Orlando", "", "1962-01-30", "male", "DEMO-EHR-1002", "1207 Garnet Hill Road",
     ("commercial", "SMT771204", "self")),
    ("Castellanos", "Wren", "A", "1971-11-05", "female", "DEMO-EHR-1003", "9 Foxglove Terrace",
     ("commercial", "SMT771390", "spouse")),
    ("Delacroix", "Ivo", "", "1944-04-22", "male", "DEMO-EHR-1004", "410 Tidewater Street",
     ("medicare", "5RM2JD8TP64", "self")),
]


def _post(base: str, resource: dict) -> str:
    answer = requests.post(f"{base}/{resource['resourceType']}", json=resource, timeout=10,
                           headers={"Content-Type": "application/fhir+json"})
    answer.raise_for_status()
    return answer.json()["id"]


def seed(base_url: str, *, encounter_day: dt.date | None = None) -> dict[str, int]:
    """Fill an empty FHIR server with the demo EMR's records; returns how many of each it made."""
    base = base_url.rstrip("/")
    day = encounter_day or dt.date.today()
    payers = {}
    for name, payer_id, kind, *_ in PAYERS:
        payers[kind] = _post(base, {"resourceType": "Organization", "name": name, "type": [{"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/organization-type", "code": "pay"}]}],
            "identifier": [{"type": {"coding": [{"system": V2, "code": "NIIP"}]}, "value": payer_id}]})
    _email, _full, given, family, _credential, _taxonomy, stem = SURGEONS[0]
    surgeon = _post(base, {"resourceType": "Practitioner", "name": [{"family": family, "given": [given]}],
                           "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi",
                                           "value": npi_with_check_digit(stem)}]})
    made = {"Organization": len(payers), "Practitioner": 1, "Patient": 0, "Coverage": 0, "RelatedPerson": 0,
            "Encounter": 0}
    for family, given, middle, birth, sex, mrn, street, (kind, member_id, relationship) in PATIENTS:
        patient = _post(base, {
            "resourceType": "Patient", "active": True,
            "identifier": [{"type": {"coding": [{"system": V2, "code": "MR"}]}, "system": MRN_SYSTEM, "value": mrn}],
            "name": [{"use": "official", "family": family, "given": [given, *([middle] if middle else [])]}],
            "gender": sex, "birthDate": birth,
            "address": [{"use": "home", "line": [street], "city": "Columbus", "state": "OH", "postalCode": "43215"}],
            "telecom": [{"system": "phone", "use": "home", "value": "614-555-0142"}]})
        made["Patient"] += 1
        coverage = {"resourceType": "Coverage", "status": "active", "order": 1, "subscriberId": member_id,
                    "beneficiary": {"reference": f"Patient/{patient}"},
                    "payor": [{"reference": f"Organization/{payers[kind]}"}],
                    "relationship": {"coding": [{"code": relationship}]}, "period": {"start": "2025-01-01"}}
        if relationship != "self":
            spouse = _post(base, {"resourceType": "RelatedPerson", "patient": {"reference": f"Patient/{patient}"},
                                  "name": [{"family": family, "given": ["Teodor"]}], "gender": "male",
                                  "birthDate": "1968-02-14",
                                  "address": [{"line": [street], "city": "Columbus", "state": "OH",
                                               "postalCode": "43215"}]})
            coverage["subscriber"] = {"reference": f"RelatedPerson/{spouse}"}
            made["RelatedPerson"] += 1
        if kind == "commercial":
            coverage["class"] = [{"type": {"coding": [{"code": "group"}]}, "value": "GRP-20417"},
                                 {"type": {"coding": [{"code": "plan"}]}, "value": "PPO", "name": "Summit Choice PPO"}]
        _post(base, coverage)
        made["Coverage"] += 1
        _post(base, {"resourceType": "Encounter", "status": "finished",
                     "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                     "type": [{"text": "Spine procedure"}], "subject": {"reference": f"Patient/{patient}"},
                     "participant": [{"individual": {"reference": f"Practitioner/{surgeon}"}}],
                     "period": {"start": f"{day.isoformat()}T08:00:00Z", "end": f"{day.isoformat()}T09:30:00Z"}})
        made["Encounter"] += 1
    return made
