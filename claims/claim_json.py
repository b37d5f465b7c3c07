"""The claim JSON (CMS-1500 shaped) built from a coding result: the contract in DESIGN.md.

Until the claims app stores claims, `voice_to_claim` prints this object straight from the engine; the stored
claim and `GET /claims/<id>.json` will return the same shape.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from billing import cpt
from billing.coding import CodingContext, CodingResult


@dataclass(frozen=True)
class PatientInfo:
    name: str = ""
    dob: str | None = None
    sex: str = "U"
    member_id: str = ""


@dataclass(frozen=True)
class PayerInfo:
    name: str = "Medicare"
    payer_id: str = "MEDICARE"


def claim_json(result: CodingResult, *, transcript: str, context: CodingContext, patient: PatientInfo | None = None,
               payer: PayerInfo | None = None, claim_id: str | None = None,
               price: Callable[[str, list[str]], Decimal | None] | None = None) -> dict:
    """The claim JSON of DESIGN.md. `price(code, modifiers)` is the charge per unit (the practice's fee
    schedule on the date of service, billing.selectors.FeeTable.charge); lines it cannot price say "0.00"."""
    patient = patient or PatientInfo()
    payer = payer or PayerInfo()
    dos = (context.date_of_service or date.today()).isoformat()
    letters = "ABCDEFGHIJKL"
    diagnoses = [
        {"pointer": letters[i], "code": dx.code, "description": dx.description, "confidence": dx.confidence,
         "rationale": dx.rationale, "evidence": [e.as_json() for e in dx.evidence]}
        for i, dx in enumerate(result.diagnoses[:12])
    ]
    lines = []
    for line in result.lines:
        per_unit = price(line.cpt, list(line.modifiers)) if price else None
        charge = (per_unit if per_unit is not None else Decimal("0.00")) * line.units
        catalogued = cpt.get(line.cpt)
        entry = {
            "cpt": line.cpt, "description": catalogued.descriptor if catalogued else "",
            "modifiers": list(line.modifiers[:4]), "units": line.units,
            "dx_pointers": line.dx_pointers[:4], "date_of_service": dos, "place_of_service": context.place_of_service,
            "charge": f"{charge:.2f}", "confidence": round(line.confidence, 2),
            "evidence": [e.as_json() for e in line.evidence], "rationale": line.rationale,
            "levels": list(line.levels),
        }
        if line.drug:
            entry["drug"] = line.drug
        lines.append(entry)
    findings = [f.as_json() for f in result.findings]
    if len(result.diagnoses) > 12:
        findings.append({"rule": "DX-OVER-12", "severity": "warning", "lines": [],
                         "message": f"{len(result.diagnoses)} diagnoses documented; a claim carries 12.",
                         "source": {"title": "", "passage": ""}})
    return {
        "claim_id": claim_id or f"draft-{uuid.uuid4().hex[:12]}",
        "status": "needs_review",
        "patient": {"name": patient.name, "dob": patient.dob, "sex": patient.sex, "member_id": patient.member_id},
        "payer": {"name": payer.name, "payer_id": payer.payer_id},
        "diagnoses": diagnoses,
        "service_lines": lines,
        "withheld_lines": [
            {"cpt": line.cpt, "units": line.units, "modifiers": line.modifiers, "reason": finding.message}
            for line, finding in result.withheld
        ],
        "findings": findings,
        "transcript": transcript,
    }


def stored_claim_json(claim) -> dict:
    """The same shape from a stored claim (GET /claims/<id>.json): the biller's lines, diagnoses and findings."""
    import json

    patient = claim.patient
    coverage = claim.coverage
    diagnoses = [{"pointer": dx.pointer, "code": dx.code, "description": dx.description,
                  "confidence": dx.confidence, "rationale": dx.rationale,
                  "evidence": json.loads(dx.evidence_json or "[]")} for dx in claim.diagnoses.all()]
    lines = []
    for line in claim.lines.all():
        entry = {"cpt": line.cpt, "description": (cpt.get(line.cpt).descriptor if cpt.get(line.cpt) else ""),
                 "modifiers": line.modifier_list, "units": line.units, "dx_pointers": list(line.dx_pointers),
                 "date_of_service": claim.date_of_service.isoformat(), "place_of_service": line.place_of_service,
                 "charge": f"{line.charge:.2f}", "confidence": line.confidence,
                 "evidence": json.loads(line.evidence_json or "[]"), "rationale": line.rationale,
                 "levels": line.level_list}
        if line.drug_json:
            entry["drug"] = line.drug_json
        lines.append(entry)
    findings = [finding_json(f) for f in claim.findings.all()]
    transcript = json.loads(claim.coding.claim_json).get("transcript", "") if claim.coding_id else ""
    return {
        "claim_id": claim.number, "status": claim.status, "version": claim.version,
        "patient": {"name": patient.display_name, "dob": patient.birth_date.isoformat() if patient.birth_date else None,
                    "sex": patient.sex, "member_id": (coverage.member_id or "") if coverage else ""},
        "payer": {"name": claim.payer.name if claim.payer else "",
                  "payer_id": claim.payer.payer_id if claim.payer else ""},
        "frequency_code": claim.frequency_code, "total_charge": f"{claim.total_charge:.2f}",
        "diagnoses": diagnoses, "service_lines": lines, "findings": findings, "transcript": transcript,
    }


def finding_json(f) -> dict:
    """A stored ClaimFinding in the claim JSON's shape (billing.results.Finding.as_json), with its origin."""
    source = {"title": f.source_title, "passage": f.source_passage}
    if f.source_section:
        source["section"] = f.source_section
    if f.source_ref:
        source["ref"] = f.source_ref
    return {"rule": f.rule, "severity": f.severity, "lines": f.lines, "message": f.message, "source": source,
            "origin": f.origin, **({"fix": f.fix} if f.fix else {}), **({"item": f.item} if f.item else {})}


def time_evidence(claim: dict, words) -> None:
    """audio_start_s on every evidence quote of the claim JSON: when its first word is said
    (`words`: audio.evidence_time.timed_words of the text the claim was coded from)."""
    from audio.evidence_time import audio_start_s

    for item in (*claim["diagnoses"], *claim["service_lines"], *claim["findings"]):
        for evidence in item.get("evidence", []):
            evidence["audio_start_s"] = audio_start_s(words, evidence["start"], evidence["end"])
