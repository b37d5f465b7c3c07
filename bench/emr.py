"""EMR patient search: the FHIR round trip on loopback and the cached search (target p95 < 20 ms).

Starts the local FHIR R4 server (integrations.fhir_testing: medplum in Node, in memory), fills it with
BENCH_EMR_PATIENTS (default 500) invented patients, each with a Coverage and its payer Organization, and times,
through the product's own code on a throwaway practice and EMR connection:
- the adapter's patient search (family + birth date) against the server, each query a different patient:
  the FHIR round trip a search pays on a cache miss (HTTP, medplum's in-memory search, fhirclient parsing);
- a read of one patient, and its coverages (a Coverage search and the payer Organization read);
- patients.emr.emr_search on a miss (the EMR, then the encrypted write to Redis) and on a hit (Redis, decrypt,
  records): the figure a person typing the same patient twice sees;
- patients.emr.patient_import of one patient with its coverage (EMR reads + one transaction).
Says so and returns {} when Node or the server's packages are missing. Django is set up by bench/run.py.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import statistics
import time
import uuid

import requests

V2 = "http://terminology.hl7.org/CodeSystem/v2-0203"
PATIENTS = int(os.environ.get("BENCH_EMR_PATIENTS", "500"))
FAMILIES = ["Ashdown", "Birchall", "Coltrane", "Dawlish", "Everly", "Fenwick", "Garroway", "Holloway", "Inglewood",
            "Jardine", "Kettering", "Langley", "Merriweather", "Northcott", "Oakhurst", "Prescott"]
GIVEN = ["Ada", "Basil", "Clara", "Dorian", "Edith", "Fabian", "Greta", "Hugo", "Ines", "Jasper"]


def _p(values: list[float], pct: int) -> float:
    return statistics.quantiles(values, n=100)[pct - 1] if len(values) > 1 else values[0]


def _ms(fn) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def _post(session: requests.Session, base: str, resource: dict) -> str:
    answer = session.post(f"{base}/{resource['resourceType']}", json=resource, timeout=10)
    answer.raise_for_status()
    return answer.json()["id"]


def main() -> dict:
    from django.conf import settings

    from billy import services
    from billy.models import Role
    from integrations.fhir_testing import fhir_server
    from integrations.models import EMRConnection, Vendor
    from integrations.services import adapter_for
    from patients import emr
    from patients.models import Payer, PayerType
    from patients.selectors import PatientQuery

    settings.USE_EMR = True
    rng = random.Random(20261201)  # noqa: S311 - invented test data, not a secret
    try:
        server = fhir_server()
        base = server.__enter__()
    except RuntimeError as exc:
        print(f"EMR benchmark skipped: {exc}")
        return {}
    practice = services.practice_create(name=f"EMR bench {uuid.uuid4().hex[:6]}")
    try:
        session = requests.Session()
        org = _post(session, base, {"resourceType": "Organization", "name": "Bench Mutual",
                                    "identifier": [{"type": {"coding": [{"system": V2, "code": "NIIP"}]},
                                                    "value": "BM001"}]})
        people = []
        started = time.perf_counter()
        for n in range(PATIENTS):
            family = f"{rng.choice(FAMILIES)}{n:04d}"
            birth = dt.date(1940, 1, 1) + dt.timedelta(days=rng.randrange(0, 25000))
            emr_id = _post(session, base, {
                "resourceType": "Patient", "name": [{"family": family, "given": [rng.choice(GIVEN)]}],
                "birthDate": birth.isoformat(), "gender": rng.choice(["male", "female"]),
                "identifier": [{"type": {"coding": [{"system": V2, "code": "MR"}]}, "value": f"BM-{n:06d}"}]})
            _post(session, base, {"resourceType": "Coverage", "status": "active", "order": 1,
                                  "subscriberId": f"BM{n:07d}", "beneficiary": {"reference": f"Patient/{emr_id}"},
                                  "payor": [{"reference": f"Organization/{org}"}], "period": {"start": "2025-01-01"},
                                  "relationship": {"coding": [{"code": "self"}]}})
            people.append((emr_id, family, birth))
        load_s = time.perf_counter() - started

        user = services.user_create(email=f"emr-bench-{uuid.uuid4().hex[:6]}@bench.test")
        membership = services.membership_grant(user=user, practice=practice, role=Role.BILLER)
        Payer.objects.create(practice=practice, name="Bench Mutual", payer_id="BM001", payer_type=PayerType.COMMERCIAL)
        connection = EMRConnection.objects.create(practice=practice, name="Bench EHR", vendor=Vendor.FHIR,
                                                  base_url=base, is_enabled=True)
        adapter = adapter_for(connection, interactive=True)
        sample = rng.sample(people, 100)
        searches = [_ms(lambda f=f, b=b: adapter.search_patients(family_name=f, birth_date=b)) for _, f, b in sample]
        reads = [_ms(lambda e=e: adapter.read_patient(e)) for e, _, _ in sample[:50]]
        coverages = [_ms(lambda e=e: adapter.coverages(e)) for e, _, _ in sample[:50]]

        queries = [PatientQuery(family_name=f, given_name="", birth_date=b) for _, f, b in rng.sample(people, 100)]
        misses = [_ms(lambda q=q: emr.emr_search(connection=connection, query=q)) for q in queries]
        hits = [_ms(lambda q=q: emr.emr_search(connection=connection, query=q)) for q in queries * 3]
        assert emr.emr_search(connection=connection, query=queries[0]).cached
        imports = [_ms(lambda e=e: emr.patient_import(membership=membership, connection=connection, emr_id=e))
                   for e, _, _ in sample[:20]]
    finally:
        server.__exit__(None, None, None)
        _cleanup(practice)

    figures = {
        "emr_fhir_patients": PATIENTS,
        "emr_fhir_load_s": round(load_s, 1),
        "emr_fhir_search_ms_p50": round(statistics.median(searches), 1),
        "emr_fhir_search_ms_p95": round(_p(searches, 95), 1),
        "emr_fhir_read_ms_p50": round(statistics.median(reads), 1),
        "emr_fhir_coverages_ms_p50": round(statistics.median(coverages), 1),
        "emr_search_miss_ms_p95": round(_p(misses, 95), 1),
        "emr_search_cached_ms_p50": round(statistics.median(hits), 2),
        "emr_search_cached_ms_p95": round(_p(hits, 95), 2),
        "emr_import_ms_p50": round(statistics.median(imports), 1),
    }
    print(f"EMR on loopback (medplum, {PATIENTS} patients with coverage, loaded in {load_s:.1f} s): FHIR patient "
          f"search p50 {figures['emr_fhir_search_ms_p50']} ms / p95 {figures['emr_fhir_search_ms_p95']} ms, read "
          f"p50 {figures['emr_fhir_read_ms_p50']} ms, coverages p50 {figures['emr_fhir_coverages_ms_p50']} ms; "
          f"emr_search miss p95 {figures['emr_search_miss_ms_p95']} ms, cached p50 "
          f"{figures['emr_search_cached_ms_p50']} ms / p95 {figures['emr_search_cached_ms_p95']} ms (target < 20 ms:"
          f" {'met' if figures['emr_search_cached_ms_p95'] < 20 else 'NOT met'}); import with coverage p50 "
          f"{figures['emr_import_ms_p50']} ms")
    return figures


def _cleanup(practice) -> None:
    from django.db import transaction

    from integrations.models import EMRConnection
    from patients.models import Coverage, Patient, PatientEMRMap, Payer

    with transaction.atomic():
        PatientEMRMap.objects.filter(connection__practice=practice).delete()
        Coverage.objects.filter(patient__practice=practice).delete()
        Patient.objects.filter(practice=practice).delete()
        EMRConnection.objects.filter(practice=practice).delete()
        Payer.objects.filter(practice=practice).delete()
