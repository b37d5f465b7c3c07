"""The FHIR R4 (US Core) core every vendor profile shares: searches with paging, reads, and the mapping of
Patient, Coverage, Encounter, Practitioner and Organization into plain records.

Transport is integrations.http (timeouts, retries, breaker); each resource is parsed with fhirclient's R4
models, which check element types and required elements, so a malformed answer is refused with the paths
that are wrong instead of being half-read. Extra elements a server adds are tolerated (fhirclient's strict
mode would refuse them); wrong types and missing required elements are not.

US Core identifiers: the MRN is the Patient identifier whose system is the connection's `mrn_system`, else
the one typed MR (HL7 v2 table 0203); the member id is Coverage.subscriberId, else the identifier typed MB;
a payer's EDI id is the payor Organization's identifier in the connection's `payer_id_system`, else one typed
NIIP (national insurance payor identifier); a practitioner's NPI is the identifier in the us-npi system.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import time
from typing import Any

import requests
from fhirclient.models import (
    capabilitystatement,
    coverage,
    documentreference,
    encounter,
    organization,
    patient,
    practitioner,
    relatedperson,
)
from fhirclient.models.fhirabstractbase import FHIRValidationError

from integrations.base import ConnectionSettings, EMRAdapter
from integrations.errors import EMRError
from integrations.http import BACKGROUND, Cache, EMRHttp, NoAuth, RetryPolicy, TokenSource
from integrations.records import (
    CoverageRecord,
    DocumentRecord,
    EncounterRecord,
    PatientRecord,
    PractitionerRecord,
    SubscriberRecord,
)

# fhirclient logs what it skips in lenient mode: element names only, but nothing of it is ours to keep.
logging.getLogger("fhirclient").setLevel(logging.ERROR)

V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
NPI_SYSTEM = "http://hl7.org/fhir/sid/us-npi"
MAX_PAGES = 10  # a search that needs more pages than this is too broad for a person to read anyway
MAX_MERGE_HOPS = 3
_SEX = {"female": "F", "male": "M"}
_MODELS = {
    "Patient": patient.Patient, "Coverage": coverage.Coverage, "Encounter": encounter.Encounter,
    "Practitioner": practitioner.Practitioner, "Organization": organization.Organization,
    "RelatedPerson": relatedperson.RelatedPerson, "DocumentReference": documentreference.DocumentReference,
    "CapabilityStatement": capabilitystatement.CapabilityStatement,
}


def _paths(error: FHIRValidationError, prefix: str = "") -> list[str]:
    """The element paths a validation error names (never the values)."""
    found = []
    for inner in getattr(error, "errors", []) or []:
        path = f"{prefix}.{inner.path}" if prefix and getattr(inner, "path", None) else (
            getattr(inner, "path", None) or prefix)
        if isinstance(inner, FHIRValidationError):
            found += _paths(inner, path or prefix)
        elif "Superfluous entry" in str(inner):
            continue
        else:
            missing = str(inner).split('"')
            name = missing[1] if str(inner).startswith("Non-optional property") and len(missing) > 1 else ""
            found.append(".".join(p for p in (path, name) if p) or "(root)")
    return found


def parse(resource_type: str, data: Any, *, what: str = ""):
    """A fhirclient model of `data`, which must be a `resource_type`; EMRError (malformed) otherwise."""
    what = what or resource_type
    if not isinstance(data, dict):
        raise EMRError(f"The EMR sent a {what} that is not a JSON object.", permanent=True, reason="malformed")
    if data.get("resourceType") != resource_type:
        got = data.get("resourceType")
        got = got if isinstance(got, str) and got.isalpha() and len(got) < 40 else "something else"
        raise EMRError(f"The EMR sent {got} where a {what} was expected.", permanent=True, reason="malformed")
    model = _MODELS[resource_type]
    try:
        return model(data, strict=True)
    except FHIRValidationError as error:
        paths = _paths(error)
        if not paths:  # only elements fhirclient does not know: tolerated
            try:
                return model(data, strict=False)
            except FHIRValidationError:
                paths = ["(root)"]
        shown = ", ".join(sorted(set(paths))[:5])
        raise EMRError(f"The EMR sent a {what} that is not valid FHIR R4 (wrong or missing: {shown}); nothing of "
                       "it was used.", permanent=True, reason="malformed") from None


def _date(value) -> dt.date | None:
    """A full date (YYYY-MM-DD); a partial one ("1960", "1960-02") is no birth date for a claim."""
    if value is None or not isinstance(value.as_json(), str) or len(value.as_json()) < 10:
        return None
    date = value.date
    return date.date() if isinstance(date, dt.datetime) else date


def _datetime(value) -> dt.datetime | dt.date | None:
    if value is None:
        return None
    return value.datetime if len(value.as_json()) > 10 else value.date


def _reference_id(reference, resource_type: str) -> str:
    """"Patient/123" or ".../Patient/123/_history/2" -> "123"; "" when it names another type."""
    text = (getattr(reference, "reference", None) or "").split("/_history/")[0]
    parts = text.rstrip("/").split("/")
    if len(parts) >= 2 and parts[-2] == resource_type:
        return parts[-1]
    return ""


def _typed(identifiers, code: str, system: str = ""):
    for identifier in identifiers or []:
        if system and identifier.system == system and identifier.value:
            return identifier.value
    if system:
        return ""
    for identifier in identifiers or []:
        codings = (identifier.type.coding or []) if identifier.type else []
        if any(c.code == code and (c.system in (None, V2_0203)) for c in codings) and identifier.value:
            return identifier.value
    return ""


def _name(names) -> tuple[str, str, str]:
    """(family, given, middle) of the official name, else the usual one, else the first."""
    if not names:
        return "", "", ""
    chosen = next((n for n in names if n.use == "official"), None) or next(
        (n for n in names if n.use == "usual"), None) or names[0]
    given = chosen.given or []
    return (chosen.family or "").strip(), (given[0] if given else "").strip(), " ".join(given[1:]).strip()


def _address(addresses) -> tuple[str, str, str, str, str]:
    if not addresses:
        return "", "", "", "", ""
    chosen = next((a for a in addresses if a.use == "home"), None) or addresses[0]
    lines = chosen.line or []
    return ((lines[0] if lines else ""), " ".join(lines[1:]), chosen.city or "", (chosen.state or "")[:2].upper(),
            (chosen.postalCode or "")[:10])


def _phone(telecoms) -> str:
    phones = [t for t in telecoms or [] if t.system == "phone" and t.value]
    chosen = next((t for t in phones if t.use in ("home", "mobile")), None) or (phones[0] if phones else None)
    return chosen.value if chosen else ""


class FhirAdapter(EMRAdapter):
    """A FHIR R4 server. A vendor profile subclasses it and overrides the hooks (token_source, search_params)."""

    vendor = "fhir"
    label = "FHIR R4 server"
    page_size = 50  # _count asked of a search (servers cap it at their own maximum)

    def __init__(self, settings: ConnectionSettings, *, cache: Cache, policy: RetryPolicy = BACKGROUND,
                 session: requests.Session | None = None, sleep=time.sleep):
        self.settings = settings
        self.session = session or requests.Session()
        self.auth = self.token_source(cache=cache, policy=policy, session=self.session)
        self.http = EMRHttp(base_url=settings.base_url, key=settings.key, cache=cache, auth=self.auth,
                            policy=policy, session=self.session, sleep=sleep)
        self.skipped = 0  # search entries that were not valid FHIR (left out of the results, counted)
        self._organizations: dict[str, Any] = {}

    # --- vendor hooks ------------------------------------------------------------------------------------------

    def token_source(self, *, cache: Cache, policy: RetryPolicy, session: requests.Session) -> TokenSource:
        return NoAuth()

    def search_params(self, resource_type: str, params: dict) -> dict:
        """The parameters a search sends; a vendor adds what it requires on every search."""
        return params

    # --- FHIR interactions -------------------------------------------------------------------------------------

    def read(self, resource_type: str, emr_id: str, *, what: str = ""):
        if not emr_id or "/" in emr_id or "?" in emr_id:
            raise EMRError(f"That is not a {resource_type} id the EMR could have given.", permanent=True,
                           reason="invalid")
        return parse(resource_type, self.http.get(f"{resource_type}/{emr_id}").body, what=what)

    def search(self, resource_type: str, params: dict, *, limit: int = 50) -> list:
        """Models of the `resource_type` entries of a search, following `next` links up to `limit` (and
        MAX_PAGES); an entry that is not valid FHIR is left out and counted in `self.skipped`."""
        params = {**params, "_count": min(limit, self.page_size)}
        answer = self.http.get(resource_type, params=self.search_params(resource_type, params))
        found: list = []
        for _ in range(MAX_PAGES):
            bundle = answer.body
            if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
                raise EMRError(f"The EMR answered a {resource_type} search with something that is not a Bundle.",
                               permanent=True, reason="malformed")
            entries = bundle.get("entry") or []
            if not isinstance(entries, list):
                raise EMRError("The EMR's search Bundle has entries that are not a list.", permanent=True,
                               reason="malformed")
            for entry in entries:
                resource = entry.get("resource") if isinstance(entry, dict) else None
                mode = (entry.get("search") or {}).get("mode") if isinstance(entry, dict) else None
                if not isinstance(resource, dict) or mode in ("include", "outcome"):
                    continue
                if resource.get("resourceType") != resource_type:
                    continue
                try:
                    found.append(parse(resource_type, resource))
                except EMRError:
                    self.skipped += 1
                if len(found) >= limit:
                    return found
            links = bundle.get("link") or []
            following = next((link.get("url") for link in links
                              if isinstance(link, dict) and link.get("relation") == "next"), None)
            if not following or not isinstance(following, str):
                break
            answer = self.http.get(following)
        return found

    def create(self, resource_type: str, resource: dict) -> str:
        answer = self.http.post(resource_type, body=resource)
        body = answer.body if isinstance(answer.body, dict) else {}
        if isinstance(body.get("id"), str) and body["id"]:
            return body["id"]
        location = answer.headers.get("Location") or answer.headers.get("location") or ""
        emr_id = location.split("/_history/")[0].rstrip("/").rsplit("/", 1)[-1]
        if not emr_id:
            raise EMRError(f"The EMR created the {resource_type} but did not say its id.", permanent=True,
                           reason="malformed")
        return emr_id

    # --- the contract ------------------------------------------------------------------------------------------

    def check(self) -> str:
        statement = parse("CapabilityStatement", self.http.get("metadata").body, what="CapabilityStatement")
        version = statement.fhirVersion or "?"
        if not version.startswith("4.0"):
            raise EMRError(f"The server speaks FHIR {version}; IamBilly needs FHIR R4 (4.0.x).", permanent=True,
                           reason="unsupported")
        software = statement.software.name if statement.software and statement.software.name else "unnamed server"
        issued = ""
        if not isinstance(self.auth, NoAuth):
            self.auth.invalidate()
            self.auth.headers()  # fetches a token: the credentials are checked now, not at the first search
            issued = "; a token was issued"
        # A search proves the token's scopes reach patients (at most one result, which is not kept).
        self.search("Patient", {"_id": "iambilly-connection-test"}, limit=1)
        return f"FHIR {version} ({software[:60]}){issued}; patient search answered."

    def search_patients(self, *, family_name: str = "", given_name: str = "", birth_date: dt.date | None = None,
                        mrn: str = "", limit: int = 20) -> list[PatientRecord]:
        params: dict[str, str] = {}
        if family_name.strip():
            params["family"] = family_name.strip()
        if given_name.strip():
            params["given"] = given_name.strip()
        if birth_date:
            params["birthdate"] = birth_date.isoformat()
        if mrn.strip():
            system = self.settings.mrn_system
            params["identifier"] = f"{system}|{mrn.strip()}" if system else mrn.strip()
        if not params:
            raise EMRError("Say a name, a birth date or an MRN to search the EMR.", permanent=True,
                           reason="invalid")
        return [self.patient_record(p) for p in self.search("Patient", params, limit=limit)]

    def read_patient(self, emr_id: str) -> PatientRecord:
        seen = [emr_id]
        record = self.patient_record(self.read("Patient", emr_id))
        while record.replaced_by:
            if record.replaced_by in seen or len(seen) > MAX_MERGE_HOPS:
                raise EMRError("The EMR's merged patient records point at each other; the chart needs fixing in "
                               "the EMR.", permanent=True, reason="malformed")
            seen.append(record.replaced_by)
            record = self.patient_record(self.read("Patient", record.replaced_by))
        return record

    def patient_record(self, model) -> PatientRecord:
        family, given, middle = _name(model.name)
        line1, line2, city, state, postal = _address(model.address)
        replaced_by = next((_reference_id(link.other, "Patient") for link in model.link or []
                            if link.type == "replaced-by"), "")
        return PatientRecord(
            emr_id=model.id or "", family_name=family, given_name=given, middle_name=middle,
            birth_date=_date(model.birthDate), sex=_SEX.get(model.gender or "", "U"),
            mrn=_typed(model.identifier, "MR", self.settings.mrn_system), address_line1=line1,
            address_line2=line2, city=city, state=state, postal_code=postal, phone=_phone(model.telecom),
            active=model.active is not False, replaced_by=replaced_by)

    def coverages(self, patient_emr_id: str) -> list[CoverageRecord]:
        found = self.search("Coverage", {"beneficiary": f"Patient/{patient_emr_id}"})
        records = [self.coverage_record(c) for c in found]
        return sorted(records, key=lambda r: (r.status != "active", r.order or 99, r.start or dt.date.min))

    def _organization(self, reference):
        emr_id = _reference_id(reference, "Organization")
        if not emr_id:
            return None
        if emr_id not in self._organizations:
            self._organizations[emr_id] = self.read("Organization", emr_id, what="payer Organization")
        return self._organizations[emr_id]

    def coverage_record(self, model) -> CoverageRecord:
        payor = (model.payor or [None])[0]
        org = self._organization(payor) if payor else None
        payer_name = (org.name if org and org.name else "") or (payor.display if payor and payor.display else "")
        payer_identifier = ""
        if org:
            payer_identifier = _typed(org.identifier, "NIIP", self.settings.payer_id_system)
        plan = group = ""
        for item in model.class_fhir or []:
            codes = {c.code for c in (item.type.coding or [])} if item.type else set()
            if "plan" in codes and not plan:
                plan = item.name or item.value or ""
            if "group" in codes and not group:
                group = item.value or ""
        relationship = ""
        if model.relationship and model.relationship.coding:
            relationship = model.relationship.coding[0].code or ""
        subscriber = None
        if relationship and relationship != "self" and model.subscriber:
            subscriber = self._subscriber(model.subscriber)
        period = model.period
        return CoverageRecord(
            emr_id=model.id or "", member_id=model.subscriberId or _typed(model.identifier, "MB") or "",
            payer_name=payer_name, payer_identifier=payer_identifier, plan_name=plan[:100], group_number=group,
            relationship=relationship, order=model.order, status=model.status or "",
            start=_date(period.start) if period else None, end=_date(period.end) if period else None,
            subscriber=subscriber)

    def _subscriber(self, reference) -> SubscriberRecord | None:
        for resource_type in ("RelatedPerson", "Patient"):
            emr_id = _reference_id(reference, resource_type)
            if emr_id:
                model = self.read(resource_type, emr_id, what="subscriber")
                family, given, _ = _name(model.name)
                line1, _, city, state, postal = _address(model.address)
                return SubscriberRecord(emr_id=emr_id, family_name=family, given_name=given,
                                        birth_date=_date(model.birthDate), sex=_SEX.get(model.gender or "", "U"),
                                        address_line1=line1, city=city, state=state, postal_code=postal)
        return None

    def encounters(self, patient_emr_id: str, *, on: dt.date) -> list[EncounterRecord]:
        found = self.search("Encounter", {"patient": f"Patient/{patient_emr_id}", "date": on.isoformat()})
        records = []
        for model in found:
            period = model.period
            type_text = ""
            if model.type:
                first = model.type[0]
                type_text = first.text or next((c.display for c in first.coding or [] if c.display), "") or ""
            practitioners = tuple(filter(None, (_reference_id(p.individual, "Practitioner")
                                                for p in model.participant or [] if p.individual)))
            records.append(EncounterRecord(
                emr_id=model.id or "", status=model.status or "", start=_datetime(period.start) if period else None,
                end=_datetime(period.end) if period else None,
                class_code=(model.class_fhir.code or "") if model.class_fhir else "", type_text=type_text,
                practitioner_ids=practitioners))
        return records

    def read_practitioner(self, emr_id: str) -> PractitionerRecord:
        model = self.read("Practitioner", emr_id)
        family, given, _ = _name(model.name)
        return PractitionerRecord(emr_id=model.id or emr_id, family_name=family, given_name=given,
                                  npi=_typed(model.identifier, "NPI", NPI_SYSTEM))

    def document_resource(self, patient_emr_id: str, document: DocumentRecord) -> dict:
        return {
            "resourceType": "DocumentReference",
            "status": "current",
            "docStatus": "final",
            "type": {"coding": [{"system": "http://loinc.org", "code": document.loinc_code,
                                 "display": document.loinc_display}], "text": document.title},
            "category": [{"coding": [{
                "system": "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category",
                "code": "clinical-note", "display": "Clinical Note"}]}],
            "subject": {"reference": f"Patient/{patient_emr_id}"},
            "date": document.date.isoformat(),
            "description": document.title,
            "content": [{"attachment": {"contentType": "text/plain; charset=utf-8", "title": document.title,
                                        "data": base64.b64encode(document.text.encode("utf-8")).decode("ascii")}}],
        }

    def write_document(self, patient_emr_id: str, document: DocumentRecord) -> str:
        if not self.can_write_documents:
            raise EMRError(f"{self.label} does not accept documents from IamBilly.", permanent=True,
                           reason="unsupported")
        resource = self.document_resource(patient_emr_id, document)
        parse("DocumentReference", resource)  # ours must be valid before it leaves
        return self.create("DocumentReference", resource)
