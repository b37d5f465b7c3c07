"""`make bench`: measure, print, and record the figures with the git commit in bench/results/.

Runs against its own embedded database (.data/bench) so the development data is never touched.
Figures are wall-clock on this machine; compare runs on the same machine only.

Foundation figures (more join as the pipeline lands):
- PHI field encryption and decryption per value;
- audit trail append rate (each append is an advisory-locked, HMAC-chained insert);
- patient lookup by blind index among N patients;
- segmented file encryption throughput and one 64 KiB range read (audio seeking);
- server time of the sign-in page and a patient page through the full middleware stack;
- patient lookup by name + birth date among BENCH_PATIENTS (default 100 000) patients (target p95 < 30 ms);
- fee schedule lookup per claim and per line (bench/fees.py);
- speech to text with base and tiny.en: load, real-time factor, WER, level recall (bench/speech.py; skipped,
  saying so, when ../shared or espeak-ng is absent);
- coding accuracy on ../shared/data (CPT, ICD-10-CM, modifier F1, exact claims) and time per transcript
  (bench/coding.py; skipped, saying so, when ../shared is absent).
- policy retrieval (bench/policy.py, in a database of its own): hit@5 on bench/policy_questions.json over the seed
  summaries, search() top-5 latency among BENCH_POLICY_CHUNKS (default 50 000) chunks (targets p95 < 50 ms, 0.9).
- claims at scale (bench/claims.py, in a database of its own): review queue and claim page server time among
  100 000 claims, a 1 000-claim 837P export split by step, a 60 s dictation from upload to needs_review.
- scrubbing (bench/scrub.py, in a database of its own): import of a generated 1 000 000-row PTP file in CMS's
  layout (target < 60 s), and one claim scrubbed with 500 000 and 1 000 000 PTP rows loaded (target p50/p95
  < 20 ms).
- EMR patient search (bench/emr.py): the FHIR round trip to the local FHIR server on loopback (search, read,
  coverages), the search as a person sees it on a Redis miss and hit (target cached p95 < 20 ms), an import.
- the LLM second reader (bench/second_reader.py) on 8 fixed notes of ../shared/data: model load, seconds per note
  and tokens, peak RSS, JSON validity, findings right or wrong against gold, CPT/ICD F1 before and after a biller
  accepts the right ones (targets on 2 cores: < 30 s per note, validity >= 95 %, more right than wrong; skipped,
  saying so, when ../shared or the model is absent).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("BILLY_DATA_DIR", str(ROOT / ".data" / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billy.settings")
# The bench data folder gets its own Redis, like the test suite.
from billy import localredis  # noqa: E402

_redis = None
if not os.environ.get("REDIS_URL"):
    _redis, os.environ["REDIS_URL"] = localredis.start(Path(os.environ["BILLY_DATA_DIR"]) / "redis")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

from billy import filecrypto, services  # noqa: E402
from billy.audit import audit_record  # noqa: E402
from billy.keys import file_keyring  # noqa: E402
from billy.models import Membership, Practice, Role, User  # noqa: E402
from billy.phi import decrypt_text, encrypt_text  # noqa: E402
from patients.models import Patient  # noqa: E402
from patients.selectors import patient_search  # noqa: E402
from patients.services import patient_indexes  # noqa: E402

PATIENTS = int(os.environ.get("BENCH_PATIENTS", "100000"))


def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def ensure_world() -> tuple[Membership, User, Patient]:
    practice = Practice.objects.filter(name="Bench Practice").first() or services.practice_create(name="Bench Practice")
    # No password: the benchmark signs in with force_login.
    user = User.objects.filter(email="bench-biller@bench.test").first() or services.user_create(
        email="bench-biller@bench.test")
    membership = services.membership_grant(user=user, practice=practice, role=Role.BILLER)
    have = Patient.objects.filter(practice=practice).count()
    if have < PATIENTS:
        print(f"  seeding {PATIENTS - have} patients…", flush=True)
        batch = []
        for i in range(have, PATIENTS):
            family, given = f"Family{i:06d}", f"Given{i % 97}"
            birth = dt.date(1940, 1, 1) + dt.timedelta(days=i % 20000)
            mrn = f"B{i:07d}"
            batch.append(Patient(practice=practice, family_name=family, given_name=given, birth_date=birth, mrn=mrn,
                                 **patient_indexes(practice_id=practice.pk, family_name=family, given_name=given,
                                                   birth_date=birth, mrn=mrn)))
            if len(batch) == 2000:
                Patient.objects.bulk_create(batch)
                batch = []
        Patient.objects.bulk_create(batch)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE patients_patient")
    return membership, user, Patient.objects.filter(practice=practice).order_by("pk")[PATIENTS // 2]


def main() -> int:
    call_command("migrate", "--noinput", verbosity=0)
    figures: dict[str, object] = {}
    membership, user, patient = ensure_world()

    enc = timed(lambda: encrypt_text("Okafor-Williams, Maya"), 2000)
    token = encrypt_text("Okafor-Williams, Maya")
    dec = timed(lambda: decrypt_text(token), 2000)
    figures["phi_encrypt_us_median"] = round(statistics.median(enc) * 1000, 1)
    figures["phi_decrypt_us_median"] = round(statistics.median(dec) * 1000, 1)

    start = time.perf_counter()
    for i in range(300):
        audit_record(action="bench.event", object_type="bench", object_id=i)
    figures["audit_appends_per_s"] = round(300 / (time.perf_counter() - start), 1)

    search = timed(lambda: list(patient_search(membership=membership, family_name=patient.family_name,
                                               given_name=patient.given_name, birth_date=patient.birth_date)), 200)
    figures["patient_search_patients"] = PATIENTS
    figures["patient_search_ms_median"] = round(statistics.median(search), 2)
    figures["patient_search_ms_p95"] = round(p(search, 95), 2)

    data = os.urandom(16 * 1024 * 1024)
    sink = io.BytesIO()
    start = time.perf_counter()
    filecrypto.encrypt_stream(io.BytesIO(data), sink, keyring=file_keyring())
    figures["file_encrypt_MB_per_s"] = round(16 / (time.perf_counter() - start), 1)
    blob = io.BytesIO(sink.getvalue())
    ranges = timed(lambda: filecrypto.decrypt_range(blob, 9_000_000, 65536, keyring=file_keyring()), 200)
    figures["file_range_64KiB_ms_median"] = round(statistics.median(ranges), 3)

    client = Client()
    login = timed(lambda: client.get("/accounts/login/"), 100)
    client.force_login(user)
    page = timed(lambda: client.get(f"/patients/{patient.pk}/"), 100)
    figures["login_page_ms_p95"] = round(p(login, 95), 2)
    figures["patient_page_ms_p95"] = round(p(page, 95), 2)

    # Coding accuracy on ../shared dev sets (voice_to_claim + the shared scorer) and engine time per note.
    sys.path.insert(0, str(ROOT / "bench"))
    import coding as coding_bench

    figures.update(coding_bench.main())

    # Fee schedule: one query per claim, then in-memory lookups per line.
    import fees as fees_bench

    figures.update(fees_bench.main())

    # Speech to text: base and tiny.en on the dev dictations spoken by espeak-ng (each model in its own process).
    import speech as speech_bench

    figures.update(speech_bench.main())

    # Claims at scale: queue and claim page among 100 000 claims, a 1 000-claim 837P, a dictation to needs_review
    # (bench/claims.py, in a database of its own). Loaded by path: "claims" is the Django app's name.
    import importlib.util

    spec = importlib.util.spec_from_file_location("claims_bench", ROOT / "bench" / "claims.py")
    claims_bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(claims_bench)
    figures.update(claims_bench.main())

    # Policy retrieval: hit@5 on 30 questions over the seed summaries, top-5 latency among 50 000 chunks
    # (bench/policy.py, in a database of its own).
    import policy as policy_bench

    figures.update(policy_bench.main())

    # Scrubbing at CMS scale: a 1 000 000-row PTP import, one claim scrubbed with 500 000 and 1 000 000 rows loaded
    # (bench/scrub.py, in a database of its own).
    import scrub as scrub_bench

    figures.update(scrub_bench.main())

    # EMR patient search: the FHIR round trip to a local server, and the Redis-cached search (target p95 < 20 ms).
    import emr as emr_bench

    figures.update(emr_bench.main())

    # The LLM second reader on 8 fixed shared notes: speed, JSON validity, and findings right or wrong against gold
    # (bench/second_reader.py; the slowest, about a minute a note on 2 cores).
    import second_reader as second_reader_bench

    figures.update(second_reader_bench.main())

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip() or "unknown"
    record = {"commit": commit, "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
              "machine": f"{os.cpu_count()} cores", "figures": figures}
    width = max(len(k) for k in figures)
    print(f"IamBilly benchmarks at {commit}")
    for key, value in figures.items():
        print(f"  {key:<{width}}  {value}")
    out = ROOT / "bench" / "results" / f"{record['at'][:10]}-{commit}.json"
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"written to {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        localredis.stop(_redis)
