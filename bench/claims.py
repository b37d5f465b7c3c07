"""Claims at scale (issue 6; DESIGN.md budgets): the review queue and the claim page among 100 000 claims, a
1 000-claim 837P export, and a 60-second dictation from upload to "needs review" without the LLM.

It works in a database of its own on the bench server (Django's test-database machinery: created and migrated
at the start, dropped at the end) and keeps files in a temporary media folder, so nothing it writes stays.

1. Seeds one spine practice's two years: 5 surgeons, 3 payers, 2 000 patients (names, birth dates, addresses
   and member ids encrypted through the real models), then BENCH_CLAIMS (default 100 000) claims by COPY
   (psycopg 3) with 1-6 lines and 1-4 diagnoses each, findings behind their error and warning counts, statuses
   mostly exported or approved and 3 000 waiting for review. 300 claims carry their dictation (recording,
   transcript with word timings, signature, the engine's reading), so their claim page pays for the transcript
   and its evidence. Evidence quotes are encrypted once per distinct value and reused (a valid ciphertext each).
   VACUUM ANALYZE follows, as autovacuum would leave the tables.
2. Server time through Django's test client (in-process, the whole middleware stack, after warm-up): the queue
   (default filter, all statuses with errors, all statuses, a keyset "load more" page, a POSTed patient search)
   and the claim page for random claims; median, p95 and max ms; SQL statements per request, the statement
   repeated most (an N+1 shows as one statement per row) and the slowest one; EXPLAIN ANALYZE of the queue's
   page query and its counts query (does the page use claim_queue_idx?). Budget: p95 under 100 ms.
3. claims_export of 1 000 approved claims as one 837P, timed whole and split (loading and locking the claims,
   claim documents, readiness checks, write_837p, pyx12, our own checks, encrypted storage, revisions; the rest
   is the control number, the export row and its many-to-many rows, marking and the audit entry). Budget: 10 s.
4. A ~60 s spine dictation (text written for this benchmark) spoken by espeak-ng: recording_upload, then the
   transcription task's function and the coding task's function in-process, with the Whisper model and the coding
   engine loaded first, as a worker holds them (their load times are printed apart). Budget: under 15 s on
   2 CPU cores. Skipped, saying so, without espeak-ng.

Figures are printed, never asserted; bench/run.py records them. Standalone: .venv/bin/python bench/claims.py.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import wave
from collections import Counter
from collections.abc import Callable, Iterable
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if __name__ == "__main__":  # standalone: Redis and Django on the bench data folder, as bench/run.py sets them up
    sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
    import run as bench_run

from databases import own_database  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, override_settings  # noqa: E402
from django.utils import timezone  # noqa: E402

from audio.models import Recording, RecordingStatus, Transcript, TranscriptSignature  # noqa: E402
from billy import services as billy_services  # noqa: E402
from billy.identifiers import npi_with_check_digit  # noqa: E402
from billy.models import EdiSettings, Facility, Provider, Role  # noqa: E402
from billy.phi import encrypt_text  # noqa: E402
from claims import selectors  # noqa: E402
from claims.models import (  # noqa: E402
    Claim,
    ClaimDiagnosis,
    ClaimFinding,
    ClaimLine,
    ClaimRevision,
    ClaimStatus,
    CodedTranscript,
)
from patients.models import Coverage, Patient, Payer, PayerType  # noqa: E402
from patients.services import member_id_index, patient_indexes  # noqa: E402

CLAIMS = int(os.environ.get("BENCH_CLAIMS", "100000"))
PATIENTS = 2_000
# Per 100 000 claims: two years of a spine practice, most of it sent, the biller's queue a few weeks deep.
STATUS_MIX = {ClaimStatus.EXPORTED: 89_000, ClaimStatus.APPROVED: 6_000, ClaimStatus.NEEDS_REVIEW: 3_000,
              ClaimStatus.REJECTED: 1_000, ClaimStatus.VOID: 500, ClaimStatus.PROCESSING: 500}
DICTATED = 300
EXPORT_CLAIMS = 1_000
REQUESTS = 60
WARM_UP = 5
PAGE_BUDGET_MS = 100
EXPORT_BUDGET_S = 10
DICTATION_BUDGET_S = 15

# Encounters as coded: service lines (CPT, modifiers, units, line charge), diagnoses in pointer order, place of
# service. Each line points at A, and at B too when the claim has a second diagnosis.
ENCOUNTERS = [
    ([("63030", "LT", 1, "4200.00")], ["M51.16", "M54.16"], "22", "lumbar"),
    ([("63030", "RT", 1, "4200.00"), ("63035", "RT", 1, "1450.00")], ["M51.16", "M48.062", "M54.17"], "22", "lumbar"),
    ([("63047", "", 1, "5100.00"), ("63048", "", 2, "2400.00")], ["M48.062", "M48.061", "M43.16"], "22", "lumbar"),
    ([("22551", "", 1, "9800.00"), ("22552", "", 1, "2900.00"), ("22845", "", 1, "3400.00"),
      ("22853", "", 2, "2600.00"), ("20930", "", 1, "600.00")], ["M50.122", "M50.121", "M47.12"], "22", "cervical"),
    ([("22633", "", 1, "12800.00"), ("22840", "", 1, "3900.00"), ("22853", "", 1, "1300.00"),
      ("20936", "", 1, "700.00"), ("20930", "", 1, "600.00"), ("69990", "", 1, "900.00")],
     ["M43.16", "M48.062", "M51.16", "M54.16"], "22", "lumbar"),
    ([("22612", "", 1, "10400.00"), ("22614", "", 1, "3100.00"), ("22840", "", 1, "3900.00"),
      ("20936", "", 1, "700.00")], ["M43.16", "M48.062", "M51.36"], "22", "lumbar"),
    ([("62323", "", 1, "950.00")], ["M54.16", "M51.16"], "11", "injection"),
    ([("62321", "", 1, "900.00")], ["M50.121", "M54.12"], "11", "injection"),
    ([("64483", "RT", 1, "1100.00"), ("64484", "RT", 1, "520.00")], ["M54.17", "M51.17"], "11", "injection"),
    ([("64493", "50", 1, "1300.00"), ("64494", "50", 1, "640.00")], ["M47.816"], "11", "injection"),
    ([("64635", "LT", 1, "1700.00"), ("64636", "LT", 2, "1200.00")], ["M47.816", "M47.817"], "11", "injection"),
    ([("64490", "", 1, "1150.00"), ("64491", "", 1, "560.00"), ("64492", "", 1, "560.00")],
     ["M47.812", "M54.2"], "11", "injection"),
    ([("22514", "", 1, "3900.00")], ["M80.08XA", "M81.0"], "22", "lumbar"),
    ([("63650", "", 2, "6400.00"), ("63685", "", 1, "2100.00")], ["G89.29", "M96.1"], "22", "lumbar"),
]
EXTRA_DIAGNOSES = ["Z98.1", "M62.830", "E66.9", "F17.210"]
DESCRIPTIONS = {
    "M51.16": "Intervertebral disc disorders with radiculopathy, lumbar region",
    "M51.17": "Intervertebral disc disorders with radiculopathy, lumbosacral region",
    "M51.36": "Other intervertebral disc degeneration, lumbar region",
    "M54.16": "Radiculopathy, lumbar region", "M54.17": "Radiculopathy, lumbosacral region",
    "M54.12": "Radiculopathy, cervical region", "M54.2": "Cervicalgia",
    "M48.061": "Spinal stenosis, lumbar region without neurogenic claudication",
    "M48.062": "Spinal stenosis, lumbar region with neurogenic claudication",
    "M43.16": "Spondylolisthesis, lumbar region",
    "M50.121": "Cervical disc disorder at C4-C5 level with radiculopathy",
    "M50.122": "Cervical disc disorder at C5-C6 level with radiculopathy",
    "M47.12": "Other spondylosis with myelopathy, cervical region",
    "M47.812": "Spondylosis without myelopathy or radiculopathy, cervical region",
    "M47.816": "Spondylosis without myelopathy or radiculopathy, lumbar region",
    "M47.817": "Spondylosis without myelopathy or radiculopathy, lumbosacral region",
    "M80.08XA": "Age-related osteoporosis with current pathological fracture, vertebra(e), initial encounter",
    "M81.0": "Age-related osteoporosis without current pathological fracture",
    "G89.29": "Other chronic pain", "M96.1": "Postlaminectomy syndrome, not elsewhere classified",
    "Z98.1": "Arthrodesis status", "M62.830": "Muscle spasm of back", "E66.9": "Obesity, unspecified",
    "F17.210": "Nicotine dependence, cigarettes, uncomplicated",
}
ERROR_FINDINGS = [
    ("scrub", "NCCI-PTP", "63047 and 63030 at the same interspace are a column 1/column 2 pair: 63030 is bundled "
     "unless a distinct-service modifier is supported.", "NCCI PTP edits, Medicare physician practitioner table"),
    ("scrub", "MUE", "64484 billed with 3 units: the MUE for this code is 4 per day, but the note names two levels.",
     "CMS MUE table, practitioner services"),
    ("scrub", "LCD", "Facet joint injections need 3 months of conservative care documented (LCD L38773).",
     "LCD L38773 Facet joint interventions for pain management"),
]
WARNING_FINDINGS = [
    ("coding", "CONFIDENCE", "The side of the laminotomy was read from one mention only: check LT/RT.", ""),
    ("scrub", "GLOBAL-PERIOD", "A claim for this patient 40 days ago carries a 90-day global period.", ""),
    ("scrub", "MODIFIER", "The payer prefers XS to 59 for a separate structure.", "Payer rules"),
]
POLICY_PASSAGE = ("Medicare contractors will consider the service reasonable and necessary when the medical record "
                  "documents the indication, the levels treated, the imaging guidance used, and the response to a "
                  "prior diagnostic block of at least 80 percent relief lasting the expected duration of the agent.")
FAMILY_NAMES = ["Okafor", "Lindqvist", "Moreau", "Castellanos", "Nakamura", "Brennan", "Haddad", "Kowalczyk",
                "Abernathy", "Delacroix", "Oyelaran", "Petrovic", "Whitfield", "Saldana", "Ivanova", "McAllister",
                "Fontaine", "Quintero", "Achterberg", "Balogun", "Thibodeaux", "Yamamoto", "Rasmussen", "Duchesne",
                "Ferreira", "Gallagher", "Hollings", "Iyer", "Jablonski", "Kettering", "Lombardi", "Mbeki",
                "Novak", "Ostrowski", "Pereira", "Quist", "Rinaldi", "Sorensen", "Tanaka", "Underwood", "Vasquez",
                "Wojcik", "Xiong", "Yilmaz", "Zielinski", "Ashworth", "Bergstrom", "Cardenas", "Dimitrov", "Eklund"]
GIVEN_NAMES = ["Maya", "Olu", "Ingrid", "Tomas", "Keiko", "Sean", "Rania", "Piotr", "June", "Andre", "Ada",
               "Milan", "Grace", "Luis", "Nadia", "Ewan", "Claire", "Rafael", "Henk", "Tunde", "Remy", "Hiro",
               "Signe", "Lucie", "Joao", "Aoife", "Ruth", "Priya", "Marek", "Walt", "Rosa", "Thabo", "Vera", "Pawel",
               "Bea", "Oskar", "Gianna", "Nils", "Emi", "Doris"]
STREETS = ["Prairie Rose Ln", "Maple Ave", "Oak Street", "Lakeview Dr", "Harbor Rd", "Elm Court", "Cedar Way"]
CITIES = [("Columbus", "OH", "43215"), ("Dublin", "OH", "43017"), ("Westerville", "OH", "43081"),
          ("Grove City", "OH", "43123"), ("Delaware", "OH", "43015")]

# The notes dictated claims rest on (written for this benchmark): one per kind of encounter.
NOTES = {
    "lumbar": (
        "Operative note. Preoperative diagnosis: lumbar spinal stenosis at L4-L5 with neurogenic claudication and "
        "grade one degenerative spondylolisthesis. Procedure: laminectomy at L4-L5 with bilateral foraminotomies, "
        "posterolateral arthrodesis at L4-L5 and segmental pedicle screw instrumentation from L4 to L5 with local "
        "autograft and allograft. The patient was positioned prone. A midline incision was made and the "
        "paraspinal muscles were elevated to the transverse processes. Fluoroscopy confirmed the level. Pedicle "
        "screws were placed at L4 and L5. The ligamentum flavum was removed and the L5 nerve roots were "
        "decompressed. The transverse processes were decorticated and the graft was laid posterolaterally. Rods "
        "were secured. No dural tear occurred. The patient tolerated the procedure well."),
    "cervical": (
        "Operative note. Diagnosis: cervical disc herniation at C5-C6 with left C6 radiculopathy and spondylosis "
        "at C4-C5. Procedure: anterior cervical discectomy and fusion at C4-C5 and C5-C6 with interbody cages and "
        "an anterior plate, with allograft. A transverse incision was made on the left. The platysma was divided "
        "and the prevertebral space was developed. Fluoroscopy confirmed the levels. Complete discectomies were "
        "performed and the posterior longitudinal ligament was removed. The cages were packed with allograft and "
        "tapped into place. The plate was secured with screws. The wound was closed in layers."),
    "injection": (
        "Procedure note. Diagnosis: right L5 radiculopathy from an L4-L5 disc protrusion and lumbar facet "
        "arthropathy. Procedure: right L4-L5 and L5-S1 transforaminal epidural steroid injection under "
        "fluoroscopic guidance. The patient was placed prone and the skin was prepped. Under fluoroscopy a "
        "twenty-two gauge needle was advanced to the right L4-L5 foramen and then the L5-S1 foramen. Contrast "
        "showed epidural spread without vascular uptake. Eighty milligrams of triamcinolone with lidocaine was "
        "injected. The patient reported eighty percent relief of leg pain before discharge."),
}
EVIDENCE_WORDS = {"lumbar": ["laminectomy at L4-L5", "bilateral foraminotomies", "posterolateral arthrodesis",
                             "pedicle screw instrumentation", "autograft", "allograft", "spinal stenosis at L4-L5",
                             "spondylolisthesis", "neurogenic claudication"],
                  "cervical": ["anterior cervical discectomy and fusion", "interbody cages", "anterior plate",
                               "allograft", "C5-C6", "C6 radiculopathy", "spondylosis"],
                  "injection": ["transforaminal epidural steroid injection", "fluoroscopic guidance", "L5-S1",
                                "L4-L5 foramen", "right L5 radiculopathy", "facet arthropathy"]}

# The dictation of part 4 (about 150 words; written for this benchmark).
DICTATION = (
    "Operative note. Preoperative diagnosis: lumbar spinal stenosis at L4-L5 with neurogenic claudication, and "
    "grade one degenerative spondylolisthesis at L4-L5. Postoperative diagnosis: same. Procedure: laminectomy at "
    "L4-L5 with bilateral foraminotomies, posterolateral arthrodesis at L4-L5, and segmental pedicle screw "
    "instrumentation from L4 to L5, with local autograft and morselized allograft. Anesthesia: general "
    "endotracheal. The patient was positioned prone on a Jackson table and the lumbar spine was prepped and "
    "draped. A midline incision was made and the paraspinal muscles were elevated to the transverse processes of "
    "L4 and L5. Fluoroscopy confirmed the level. Pedicle screws were placed bilaterally at L4 and L5. A complete "
    "laminectomy of L4 was performed, the ligamentum flavum was removed, and the L4 and L5 nerve roots were "
    "decompressed through generous foraminotomies. The transverse processes were decorticated and the graft was "
    "laid posterolaterally. Rods were secured. No dural tear occurred. Estimated blood loss was two hundred "
    "milliliters. The patient tolerated the procedure well.")


def _ms_figures(values: list[float]) -> dict:
    ordered = sorted(values)
    p95 = statistics.quantiles(ordered, n=100)[94] if len(ordered) > 1 else ordered[0]
    return {"median": round(statistics.median(ordered), 1), "p95": round(p95, 1), "max": round(ordered[-1], 1)}


# --- a database of our own ------------------------------------------------------------------------------------


def _copy(model, columns: list[str], rows: Iterable[tuple]) -> int:
    """COPY rows (values in `columns` order, PHI already encrypted, JSON already text) into the model's table;
    the columns left out take the field's default (timestamps: now). Returns the rows written."""
    fields = {f.attname: f for f in model._meta.concrete_fields}
    now = timezone.now()
    rest = []
    for name, field in fields.items():
        if name in columns or field.primary_key:
            continue
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            value = now
        else:
            value = field.get_default()  # "" for text, None where NULL is allowed
        rest.append((field.column, json.dumps(value) if field.get_internal_type() == "JSONField" and value is not None
                     else value))
    names = [fields[c].column for c in columns] + [column for column, _ in rest]
    extra = tuple(value for _, value in rest)
    sql = (f"COPY {connection.ops.quote_name(model._meta.db_table)} "
           f"({', '.join(connection.ops.quote_name(n) for n in names)}) FROM STDIN")
    count = 0
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row(row + extra)
            count += 1
    return count


# --- the practice and its claims ----------------------------------------------------------------------------


def _world(rng: random.Random) -> dict:
    tag = uuid.uuid4().hex[:6]
    practice = billy_services.practice_create(name=f"Bench Spine {tag}")
    biller = billy_services.user_create(email=f"biller-{tag}@bench.test", full_name="Bench Biller")
    biller_membership = billy_services.membership_grant(user=biller, practice=practice, role=Role.BILLER)
    surgeons = [("Okafor", "Maya"), ("Lindqvist", "Erik"), ("Haddad", "Samir"), ("Brennan", "Aoife"),
                ("Nakamura", "Ken")]
    physicians, physician_memberships, rendering = [], [], {}
    for k, (family, given) in enumerate(surgeons):
        user = billy_services.user_create(email=f"dr-{family.lower()}-{tag}@bench.test",
                                          full_name=f"{given} {family}")
        physician_memberships.append(billy_services.membership_grant(user=user, practice=practice,
                                                                     role=Role.PHYSICIAN))
        physicians.append(user)
        rendering[user.pk] = Provider.objects.create(
            practice=practice, family_name=family, given_name=given, credential="MD",
            npi=npi_with_check_digit(f"15480231{k}"), taxonomy="207X00000X", is_rendering=True, user=user)
    billing = Provider.objects.create(
        practice=practice, entity="2", organisation_name="North Spine Group", npi=npi_with_check_digit("212345678"),
        taxonomy="207X00000X", tax_id="123456789", tax_id_type="EI", is_billing=True,
        address_line1="100 Main Street", city="Columbus", state="OH", postal_code="432150001")
    facility = Facility.objects.create(practice=practice, name="North Spine Surgery Center",
                                       npi=npi_with_check_digit("298765432"), address_line1="200 Hospital Drive",
                                       city="Columbus", state="OH", postal_code="432101234")
    EdiSettings.objects.create(practice=practice, submitter_id="NSA001", submitter_name="North Spine Group",
                               contact_name="Billing Office", contact_phone="6145550142", receiver_id="CLRHOUSE",
                               receiver_name="Test Clearinghouse")
    payers = [Payer.objects.create(practice=practice, name="Medicare Part B (J15)", payer_id="15202",
                                   payer_type=PayerType.MEDICARE),
              Payer.objects.create(practice=practice, name="Anthem Blue Cross Blue Shield", payer_id="00834",
                                   payer_type=PayerType.COMMERCIAL, claim_filing_indicator="BL"),
              Payer.objects.create(practice=practice, name="Aetna", payer_id="60054",
                                   payer_type=PayerType.COMMERCIAL)]
    from billing.services import fee_schedule_load_demo

    fee_schedule_load_demo(practice=practice)  # the dictation's claim is priced from it

    patients = []
    for i in range(PATIENTS):
        family, given = rng.choice(FAMILY_NAMES), rng.choice(GIVEN_NAMES)
        birth = dt.date(1938, 1, 1) + dt.timedelta(days=rng.randrange(365 * 58))
        mrn = f"NSA{i:06d}"
        city, state, postal = rng.choice(CITIES)
        patients.append(Patient(
            practice=practice, family_name=family, given_name=given, birth_date=birth, sex=rng.choice("FM"),
            mrn=mrn, address_line1=f"{rng.randrange(1, 9999)} {rng.choice(STREETS)}", city=city, state=state,
            postal_code=postal, phone=f"614555{rng.randrange(10000):04d}",
            **patient_indexes(practice_id=practice.pk, family_name=family, given_name=given, birth_date=birth,
                              mrn=mrn)))
    patients = Patient.objects.bulk_create(patients, batch_size=500)
    coverages = []
    for patient in patients:
        payer = rng.choices(payers, weights=(45, 30, 25))[0]
        member_id = (f"{rng.randrange(1, 10)}EG{rng.randrange(10)}TE{rng.randrange(10)}MK{rng.randrange(10, 99)}"
                     if payer.payer_type == PayerType.MEDICARE else f"XJH{rng.randrange(10**9):09d}")
        coverages.append(Coverage(patient=patient, payer=payer, order=1, member_id=member_id,
                                  member_id_index=member_id_index(practice_id=practice.pk, member_id=member_id),
                                  effective_from=dt.date(2020, 1, 1)))
    coverages = Coverage.objects.bulk_create(coverages, batch_size=500)
    return {"practice": practice, "biller": biller, "biller_membership": biller_membership,
            "physicians": physicians, "physician_memberships": physician_memberships, "rendering": rendering,
            "billing": billing, "facility": facility, "payers": payers, "patients": patients,
            "coverage_of": {c.patient_id: c for c in coverages}}


def _status_list(rng: random.Random) -> list[str]:
    statuses = []
    for status, per_100k in STATUS_MIX.items():
        statuses += [status] * max(1, round(per_100k * CLAIMS / 100_000))
    statuses = (statuses + [ClaimStatus.EXPORTED] * CLAIMS)[:CLAIMS]
    rng.shuffle(statuses)
    return statuses


def _day_of_service(rng: random.Random, status: str, today: dt.date) -> dt.date:
    # Work in progress is recent; what was sent spreads over the two years.
    if status in (ClaimStatus.NEEDS_REVIEW, ClaimStatus.PROCESSING, ClaimStatus.APPROVED):
        back = rng.randrange(1, 45)
    elif status == ClaimStatus.REJECTED:
        back = rng.randrange(5, 90)
    else:
        back = rng.randrange(20, 730)
    return today - dt.timedelta(days=back)


def _segments_json(text: str) -> str:
    """Word timings as the transcription stores them (about 0.38 s a word, 12 words a segment)."""
    words = text.split()
    segments = []
    for first in range(0, len(words), 12):
        chunk = words[first:first + 12]
        start = first * 0.38
        segments.append({"start": round(start, 2), "end": round(start + len(chunk) * 0.38, 2),
                         "text": " " + " ".join(chunk),
                         "words": [{"start": round(start + j * 0.38, 2), "end": round(start + (j + 1) * 0.38, 2),
                                    "word": " " + w, "probability": 0.93} for j, w in enumerate(chunk)]})
    return json.dumps(segments)


def _evidence(kind: str, text: str, n: int, rng: random.Random) -> list[str]:
    """n evidence lists (JSON) quoting phrases of the note, with the second the word is heard at."""
    out = []
    for _ in range(n):
        phrase = rng.choice(EVIDENCE_WORDS[kind])
        start = text.find(phrase)
        out.append(json.dumps([{"start": start, "end": start + len(phrase), "text": phrase,
                                "audio_start_s": round(len(text[:start].split()) * 0.38, 2)}]))
    return out


def seed(rng: random.Random) -> dict:
    """The practice, then the claims by COPY. Returns the world and what the measurements pick from."""
    started = time.perf_counter()
    world = _world(rng)
    world_s = time.perf_counter() - started
    practice, biller = world["practice"], world["biller"]
    today = timezone.localdate()
    statuses = _status_list(rng)
    with connection.cursor() as cursor:
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM claims_claim")
        first_id = cursor.fetchone()[0] + 1

    # One plan per claim: (id, status, encounter, diagnoses, day of service, patient, physician, errors, warnings).
    plans = []
    for offset, status in enumerate(statuses):
        encounter = rng.randrange(len(ENCOUNTERS))
        codes = ENCOUNTERS[encounter][1]
        dx = codes[:rng.randint(1, len(codes))]
        if len(dx) < 4 and rng.random() < 0.25:
            dx = dx + [rng.choice(EXTRA_DIAGNOSES)]
        errors = rng.choice((1, 1, 2)) if rng.random() < (0.12 if status == ClaimStatus.NEEDS_REVIEW else 0.02) else 0
        warnings = rng.randint(1, 3) if rng.random() < 0.25 else 0
        plans.append((first_id + offset, status, encounter, tuple(dx), _day_of_service(rng, status, today),
                      rng.choice(world["patients"]), rng.choice(world["physicians"]), errors, warnings))

    # The dictated claims: recording, transcript, signature and the engine's reading, through the models.
    dictated = rng.sample(range(len(plans)), min(DICTATED, len(plans)))
    chain: dict[int, tuple[int, int, list[str], list[str]]] = {}  # claim id -> recording, coding, line/dx evidence
    recordings, transcripts, signatures, codings, evidence_of = [], [], [], [], {}
    for index in dictated:
        claim_id, status, encounter, dx, dos, patient, physician, *_ = plans[index]
        kind = ENCOUNTERS[encounter][3]
        recordings.append(Recording(
            uuid=uuid.uuid4(), practice=practice, patient=patient, physician=physician, date_of_service=dos,
            audio=f"recordings/{practice.pk}/{uuid.uuid4().hex}.audio", sha256=uuid.uuid4().hex * 2,
            size_bytes=2_400_000, format_label="WAV", codec="pcm_s16le", duration_s=75.0,
            status=RecordingStatus.TRANSCRIBED, progress_s=75.0, attempts=1))
        evidence_of[claim_id] = (_evidence(kind, NOTES[kind], len(ENCOUNTERS[encounter][0]), rng),
                                 _evidence(kind, NOTES[kind], len(dx), rng))
    recordings = Recording.objects.bulk_create(recordings)
    for index, recording in zip(dictated, recordings, strict=True):
        kind = ENCOUNTERS[plans[index][2]][3]
        transcripts.append(Transcript(recording=recording, text=NOTES[kind], machine_text=NOTES[kind],
                                      segments_json=_segments_json(NOTES[kind]), changes_json="[]",
                                      model_name="base", device="cpu", real_time_factor=0.12))
    transcripts = Transcript.objects.bulk_create(transcripts)
    for index, recording, transcript in zip(dictated, recordings, transcripts, strict=True):
        claim_id, status, encounter, dx, *_ = plans[index]
        kind = ENCOUNTERS[encounter][3]
        signed = status != ClaimStatus.PROCESSING
        digest = hashlib.sha256(NOTES[kind].encode()).hexdigest()
        if signed:
            signatures.append(TranscriptSignature(
                transcript=transcript, sequence=1, kind="signature", text=NOTES[kind], text_sha256=digest,
                signer=recording.physician, signer_name=recording.physician.full_name,
                attestation="I have reviewed this transcript and it is accurate."))
        lines = ENCOUNTERS[encounter][0]
        claim_document = {"claim_id": f"IB{claim_id:08d}", "status": "needs_review", "transcript": NOTES[kind],
                          "diagnoses": [{"pointer": "ABCD"[i], "code": code, "description": DESCRIPTIONS[code],
                                         "evidence": json.loads(evidence_of[claim_id][1][i])}
                                        for i, code in enumerate(dx)],
                          "service_lines": [{"cpt": cpt, "modifiers": [m for m in [mods] if m], "units": units,
                                             "charge": charge, "evidence": json.loads(evidence_of[claim_id][0][i])}
                                            for i, (cpt, mods, units, charge) in enumerate(lines)]}
        codings.append(CodedTranscript(recording=recording, text_sha256=digest, signed=signed,
                                       claim_json=json.dumps(claim_document),
                                       cpt_summary=", ".join(cpt for cpt, *_ in lines), icd_summary=", ".join(dx),
                                       finding_count=plans[index][7] + plans[index][8], engine_ms=140))
    TranscriptSignature.objects.bulk_create(signatures)
    codings = CodedTranscript.objects.bulk_create(codings)
    for index, recording, coding in zip(dictated, recordings, codings, strict=True):
        claim_id = plans[index][0]
        chain[claim_id] = (recording.pk, coding.pk, *evidence_of[claim_id])

    # Evidence of the other claims: a few dozen encrypted quotes, reused (each a valid ciphertext).
    quote_pool = [encrypt_text(evidence) for kind in NOTES for evidence in _evidence(kind, NOTES[kind], 12, rng)]
    snapshot_pool = {}  # encounter -> encrypted revision snapshot
    for encounter, (lines, dx, pos, _) in enumerate(ENCOUNTERS):
        snapshot_pool[encounter] = encrypt_text(json.dumps({
            "header": {"status": "approved", "place_of_service": pos, "frequency_code": "1"}, "diagnoses": dx,
            "lines": [{"cpt": cpt, "modifiers": mods, "units": units, "charge": charge, "dx_pointers": "A",
                       "place_of_service": pos} for cpt, mods, units, charge in lines]}))
    reviewed = (ClaimStatus.APPROVED, ClaimStatus.EXPORTED, ClaimStatus.VOID)

    def claim_rows():
        for claim_id, status, encounter, _, dos, patient, physician, errors, warnings in plans:
            lines, _, pos, _ = ENCOUNTERS[encounter]
            coverage = world["coverage_of"][patient.pk]
            created = timezone.make_aware(dt.datetime.combine(dos, dt.time(17, rng.randrange(60))))
            reviewed_at = created + dt.timedelta(days=rng.randint(1, 4)) if status in reviewed else None
            exported_at = reviewed_at + dt.timedelta(hours=3) if status == ClaimStatus.EXPORTED else None
            recording_id, coding_id = chain.get(claim_id, (None, None))[:2]
            yield (claim_id, practice.pk, patient.pk, physician.pk, status,
                   {ClaimStatus.EXPORTED: 4, ClaimStatus.APPROVED: 3}.get(status, 2), dos, pos, coverage.payer_id,
                   coverage.pk, world["billing"].pk, world["rendering"][physician.pk].pk,
                   world["facility"].pk if pos == "22" else None,
                   sum((Decimal(charge) for *_, charge in lines), Decimal("0.00")), len(lines), errors, warnings,
                   round(rng.uniform(0.62, 0.99), 2), ", ".join(cpt + (f"-{mods}" if mods else "")
                                                               for cpt, mods, *_ in lines)[:400],
                   biller.pk if reviewed_at else None, reviewed_at, exported_at,
                   "accepted" if exported_at and rng.random() < 0.8 else "", recording_id, coding_id, created,
                   reviewed_at or created)

    def line_rows():
        for claim_id, _, encounter, dx, *_ in plans:
            lines, _, pos, _ = ENCOUNTERS[encounter]
            pointers = "AB" if len(dx) > 1 else "A"
            own = chain.get(claim_id)
            for position, (cpt, mods, units, charge) in enumerate(lines):
                evidence = encrypt_text(own[2][position]) if own else rng.choice(quote_pool)
                yield (claim_id, position, cpt, mods, units, Decimal(charge), pointers, pos,
                       round(rng.uniform(0.62, 0.99), 2), f"{cpt} as documented in the note.", evidence)

    def diagnosis_rows():
        for claim_id, _, _, dx, *_ in plans:
            own = chain.get(claim_id)
            for position, code in enumerate(dx):
                evidence = encrypt_text(own[3][position]) if own else rng.choice(quote_pool)
                yield (claim_id, position, code, DESCRIPTIONS[code], round(rng.uniform(0.7, 0.99), 2), evidence)

    def finding_rows():
        for claim_id, *_, errors, warnings in plans:
            for origin, rule, message, source in rng.sample(ERROR_FINDINGS, errors):
                yield (claim_id, origin, rule, "error", message, json.dumps([0]), source,
                       POLICY_PASSAGE if source else "")
            for origin, rule, message, source in rng.sample(WARNING_FINDINGS, warnings):
                yield (claim_id, origin, rule, "warning", message, "[]", source, POLICY_PASSAGE if source else "")

    def revision_rows():
        for claim_id, status, encounter, *_ in plans:
            if status != ClaimStatus.APPROVED:
                continue
            yield (claim_id, 1, None, "created", snapshot_pool[encounter], "")
            yield (claim_id, 2, biller.pk, "approved", snapshot_pool[encounter], "status")

    started_copy = time.perf_counter()
    counts = {
        "claims": _copy(Claim, ["id", "practice_id", "patient_id", "physician_id", "status", "version",
                                "date_of_service", "place_of_service", "payer_id", "coverage_id",
                                "billing_provider_id", "rendering_provider_id", "facility_id", "total_charge",
                                "line_count", "error_count", "warning_count", "min_confidence", "cpt_summary",
                                "reviewed_by_id", "reviewed_at", "exported_at", "ack_outcome", "recording_id",
                                "coding_id", "created_at", "updated_at"], claim_rows()),
        "lines": _copy(ClaimLine, ["claim_id", "position", "cpt", "modifiers", "units", "charge", "dx_pointers",
                                   "place_of_service", "confidence", "rationale", "evidence_json"], line_rows()),
        "diagnoses": _copy(ClaimDiagnosis, ["claim_id", "position", "code", "description", "confidence",
                                            "evidence_json"], diagnosis_rows()),
        "findings": _copy(ClaimFinding, ["claim_id", "origin", "rule", "severity", "message", "lines",
                                         "source_title", "source_passage"], finding_rows()),
        "revisions": _copy(ClaimRevision, ["claim_id", "number", "author_id", "action", "snapshot_json",
                                           "changed_fields"], revision_rows()),
    }
    copy_s = time.perf_counter() - started_copy
    with connection.cursor() as cursor:
        cursor.execute("SELECT setval(pg_get_serial_sequence('claims_claim', 'id'), (SELECT MAX(id) FROM "
                       "claims_claim))")
    started_vacuum = time.perf_counter()
    with connection.cursor() as cursor:
        for table in ("claims_claim", "claims_claimline", "claims_claimdiagnosis", "claims_claimfinding",
                      "claims_claimrevision", "patients_patient", "patients_coverage"):
            cursor.execute(f"VACUUM (ANALYZE) {table}")
    vacuum_s = time.perf_counter() - started_vacuum
    mix = ", ".join(f"{n:,} {status}" for status, n in Counter(statuses).most_common())
    print(f"claims: seeded {counts['claims']:,} claims ({mix}), "
          f"{counts['lines']:,} lines, {counts['diagnoses']:,} diagnoses, {counts['findings']:,} findings, "
          f"{counts['revisions']:,} revisions, {len(chain)} with their dictation; {PATIENTS:,} patients, "
          f"5 physicians, 3 payers. Practice and patients {world_s:.1f} s, COPY {copy_s:.1f} s, "
          f"VACUUM ANALYZE {vacuum_s:.1f} s", flush=True)
    world.update(plans=plans, chain=chain, counts=counts, seed_s=round(world_s + copy_s + vacuum_s, 1))
    return world


# --- server time -----------------------------------------------------------------------------------------------


_LITERALS = re.compile(r"'(?:[^']|'')*'|\b\d+(?:\.\d+)?\b")


def _statement_shape(sql: str) -> str:
    return _LITERALS.sub("?", sql)


def _queries(client: Client, send: Callable[[Client], object]) -> tuple[int, tuple[str, int], tuple[str, float]]:
    """Statements of one request: their number, the one repeated most (shape, times), the slowest (sql, ms)."""
    with CaptureQueriesContext(connection) as captured:
        send(client)
    sqls = [q["sql"] for q in captured.captured_queries]
    shape, repeats = Counter(_statement_shape(s) for s in sqls).most_common(1)[0] if sqls else ("", 0)
    slowest = max(captured.captured_queries, key=lambda q: float(q["time"]), default={"sql": "", "time": "0"})
    return len(sqls), (shape, repeats), (slowest["sql"], float(slowest["time"]) * 1000)


def _measure(name: str, client: Client, sends: list[Callable[[Client], object]], figures: dict,
             problems: list[str], warm_up: list[Callable[[Client], object]] | None = None) -> None:
    """Warm up, time each request (no query capture while timing), then count statements on a few of them."""
    for send in sends[:WARM_UP] if warm_up is None else warm_up:
        send(client)
    times, statuses = [], Counter()
    for send in sends:
        started = time.perf_counter()
        response = send(client)
        times.append((time.perf_counter() - started) * 1000)
        statuses[response.status_code] += 1
    counts, worst_repeat, slowest = [], ("", 0), ("", 0.0)
    for send in sends[:: max(1, len(sends) // 6)]:
        count, repeat, slow = _queries(client, send)
        counts.append(count)
        worst_repeat = max(worst_repeat, repeat, key=lambda r: r[1])
        slowest = max(slowest, slow, key=lambda s: s[1])
    ms = _ms_figures(times)
    figures.update({f"claims_{name}_ms_{k}": v for k, v in ms.items()})
    figures[f"claims_{name}_queries"] = f"{min(counts)}-{max(counts)}" if min(counts) != max(counts) else counts[0]
    status_text = ", ".join(f"{n}x {code}" for code, n in sorted(statuses.items()))
    met = "met" if ms["p95"] < PAGE_BUDGET_MS else "MISSED"
    print(f"  {name}: median {ms['median']} ms, p95 {ms['p95']} ms, max {ms['max']} ms over {len(sends)} requests "
          f"({status_text}); budget p95 < {PAGE_BUDGET_MS} ms {met}; {figures[f'claims_{name}_queries']} SQL "
          f"statements a request; slowest {slowest[1]:.1f} ms: {slowest[0][:160]}")
    if worst_repeat[1] > 3:
        problems.append(f"{name}: one statement runs {worst_repeat[1]} times in a request (N+1?): "
                        f"{worst_repeat[0][:200]}")
    # Counts may differ by a statement or two between claims (a reviewer on approved ones, a signature on dictated
    # ones): the N+1 checks are the repeated statement above and the 1-line / 6-line comparison of the claim page.
    if ms["p95"] >= PAGE_BUDGET_MS:
        problems.append(f"{name}: p95 {ms['p95']} ms misses the {PAGE_BUDGET_MS} ms budget; slowest statement "
                        f"{slowest[1]:.1f} ms: {slowest[0][:300]}")
    if set(statuses) != {200}:
        problems.append(f"{name}: responses {status_text}")


def _get(path: str, data: dict | None = None, **headers) -> Callable[[Client], object]:
    return lambda client: client.get(path, data or {}, **headers)


def _post(path: str, data: dict) -> Callable[[Client], object]:
    return lambda client: client.post(path, data)


def _explain(sql: str) -> tuple[list[str], float, float]:
    """EXPLAIN ANALYZE: the plan's lines (without buffer and cache details), planning and execution ms."""
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
        plan = [row[0] for row in cursor.fetchall()]

    def ms(label: str) -> float:
        return next((float(re.search(r"([\d.]+) ms", line).group(1)) for line in plan if line.startswith(label)), 0.0)

    details = ("Buffers:", "Index Searches:", "Cache Mode:", "Hits:", "Planning:")
    return [line for line in plan if not line.strip().startswith(details)], ms("Planning Time"), ms("Execution Time")


def _captured(client: Client, send: Callable[[Client], object]) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        send(client)
    return [q["sql"] for q in captured.captured_queries]


def measure_pages(world: dict, rng: random.Random) -> dict:
    figures: dict = {}
    problems: list[str] = []
    membership = world["biller_membership"]
    client = Client()
    client.force_login(world["biller"])
    _, cursor = selectors.queue_page(membership=membership, filters=selectors.QueueFilters())
    for _ in range(9):  # "load more" ten pages down the queue
        _, next_cursor = selectors.queue_page(membership=membership, filters=selectors.QueueFilters(), cursor=cursor)
        cursor = next_cursor or cursor
    with_claims = Counter(plan[5].pk for plan in world["plans"])
    searched = [p for p in world["patients"] if with_claims[p.pk]]
    rng.shuffle(searched)
    print(f"claims: server time through the test client, {REQUESTS} requests each after {WARM_UP} warm-up "
          f"(in-process; machine shared with other people's runs, so figures are noisy)")

    _measure("queue", client, [_get("/claims/")] * REQUESTS, figures, problems)

    def after_a_change(client: Client):
        # Right after someone acted the cached status counts are stale: the page goes out without them ...
        selectors.claims_changed(practice_id=membership.practice_id)
        return client.get("/claims/")

    def tabs_after_a_change(client: Client):
        # ... and its tabs ask for them at once (hx-trigger="load"): counted again among 100 000 claims.
        selectors.claims_changed(practice_id=membership.practice_id)
        return client.get("/claims/", {"part": "tabs"}, HTTP_HX_REQUEST="true")

    _measure("queue_after_a_change", client, [after_a_change] * REQUESTS, figures, problems)
    _measure("queue_tabs_after_a_change", client, [tabs_after_a_change] * REQUESTS, figures, problems)
    _measure("queue_all_with_errors", client, [_get("/claims/?status=&has_errors=on")] * REQUESTS, figures, problems)
    _measure("queue_all", client, [_get("/claims/?status=")] * REQUESTS, figures, problems)
    more = [_get("/claims/", {"after": cursor}, HTTP_HX_REQUEST="true")] * REQUESTS
    _measure("queue_load_more", client, more, figures, problems)
    search = [_post("/claims/", {"patient": f"{p.family_name}, {p.given_name}, {p.birth_date.isoformat()}"})
              for p in searched[:REQUESTS]]
    _measure("queue_patient_search", client, search, figures, problems)
    figures["claims_queue_search_claims_per_patient_median"] = statistics.median(with_claims.values())

    ids = [plan[0] for plan in world["plans"]]
    any_claim = [_get(f"/claims/{pk}/") for pk in rng.sample(ids, REQUESTS + WARM_UP)]
    _measure("claim_page", client, any_claim[WARM_UP:], figures, problems, warm_up=any_claim[:WARM_UP])
    dictated = list(world["chain"])
    rng.shuffle(dictated)
    dictated_pages = [_get(f"/claims/{pk}/") for pk in dictated[:REQUESTS + WARM_UP]]
    _measure("claim_page_dictated", client, dictated_pages[WARM_UP:], figures, problems,
             warm_up=dictated_pages[:WARM_UP])
    six_lines = next(plan[0] for plan in world["plans"] if len(ENCOUNTERS[plan[2]][0]) == 6)
    one_line = next(plan[0] for plan in world["plans"] if len(ENCOUNTERS[plan[2]][0]) == 1)
    by_lines = {n: len(_captured(client, _get(f"/claims/{pk}/"))) for n, pk in ((1, one_line), (6, six_lines))}
    print(f"  claim page statements: {by_lines[1]} with 1 line, {by_lines[6]} with 6 lines")
    if by_lines[1] != by_lines[6]:
        problems.append(f"claim page: {by_lines[1]} statements with 1 line, {by_lines[6]} with 6 (N+1 over lines)")

    # The queue's page query as the default queue request runs it, and its counts as the tabs fetch them after a
    # change (when the counts are cached, the page runs no count at all).
    statements = _captured(client, _get("/claims/"))
    page_sql = next(s for s in statements if 'FROM "claims_claim"' in s and "LIMIT 51" in s)
    selectors.claims_changed(practice_id=membership.practice_id)
    counts_sql = next(s for s in _captured(client, _get("/claims/", {"part": "tabs"}, HTTP_HX_REQUEST="true"))
                      if 'FROM "claims_claim"' in s and "COUNT(" in s)
    plan, _, page_ms = _explain(page_sql)
    uses = "claim_queue_idx" in "\n".join(plan)
    figures["claims_queue_uses_claim_queue_idx"] = uses
    figures["claims_queue_page_query_ms"] = page_ms
    print(f"  EXPLAIN ANALYZE of the queue's page query ({page_ms} ms): "
          f"{'uses claim_queue_idx' if uses else 'does NOT use claim_queue_idx'}")
    for line in plan:
        print(f"    {line}")
    plan, _, counts_ms = _explain(counts_sql)
    figures["claims_queue_counts_query_ms"] = counts_ms
    print(f"  EXPLAIN ANALYZE of the queue's counts per status ({counts_ms} ms):")
    for line in plan:
        print(f"    {line}")
    all_sql = next(s for s in _captured(client, _get("/claims/?status=&has_errors=on"))
                   if 'FROM "claims_claim"' in s and "LIMIT 51" in s)
    plan, _, errors_ms = _explain(all_sql)
    print(f"  EXPLAIN ANALYZE of the page query for every status with errors ({errors_ms} ms): "
          + "; ".join(line.strip() for line in plan if "Scan" in line))
    claim_sql = next(s for s in _captured(client, dictated_pages[0])
                     if s.startswith('SELECT "claims_claim"."id"') and s.endswith("LIMIT 1"))
    _, planning_ms, execution_ms = _explain(claim_sql)
    figures["claims_claim_page_query_planning_ms"] = planning_ms
    figures["claims_claim_page_query_execution_ms"] = execution_ms
    print(f"  EXPLAIN ANALYZE of the claim page's claim query (claim_get, {claim_sql.count(' JOIN ')} joins): "
          f"planning {planning_ms} ms, execution {execution_ms} ms")
    if not uses:
        problems.append("queue: the page query does not use claim_queue_idx")
    figures["claims_page_problems"] = problems
    print("  problems: " + ("; ".join(problems) if problems else "none (no N+1, every p95 under budget)"))
    return figures


# --- the 837P export ------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _timed_calls(targets: dict[str, tuple[object, str]], spent: dict[str, float]):
    """Wrap module functions (name -> (module, attribute)) so their time adds up in `spent`; restored after."""
    originals = {}
    for label, (owner, attribute) in targets.items():
        original = getattr(owner, attribute)
        originals[label] = (owner, attribute, original)

        def timed(*args, __original=original, __label=label, **kwargs):
            started = time.perf_counter()
            try:
                return __original(*args, **kwargs)
            finally:
                spent[__label] = spent.get(__label, 0.0) + time.perf_counter() - started

        setattr(owner, attribute, timed)
    try:
        yield
    finally:
        for owner, attribute, original in originals.values():
            setattr(owner, attribute, original)


def measure_export(world: dict, rng: random.Random) -> dict:
    from claims import exports, x12_checks
    from claims.models import ClaimExport

    approved = [plan[0] for plan in world["plans"] if plan[1] == ClaimStatus.APPROVED]
    chosen = rng.sample(approved, min(EXPORT_CLAIMS, len(approved)))
    storage = ClaimExport._meta.get_field("file").storage
    spent: dict[str, float] = {}
    targets = {"load and lock the claims": (exports, "_approved"),
               "claim documents": (exports, "claim_document"),
               "readiness checks": (exports, "sendable_problems"),  # claim data and what the 837P needs
               "write_837p": (exports, "write_837p"),
               "validate_837p: pyx12": (x12_checks, "pyx12_problems"),
               "validate_837p: own checks": (x12_checks, "own_problems"),
               "encrypted storage": (storage, "_save"),
               "revisions": (exports, "_record_exported")}
    started = time.perf_counter()
    error = ""
    with _timed_calls(targets, spent):
        try:
            export = exports.claims_export(membership=world["biller_membership"], claim_ids=chosen, kind="837p")
        except Exception as exc:  # a figure, never an assertion: say what stopped it
            export, error = None, f"{type(exc).__name__}: {exc}"
    total = time.perf_counter() - started
    validate = spent.get("validate_837p: pyx12", 0.0) + spent.get("validate_837p: own checks", 0.0)
    rest = total - sum(spent.values())
    figures = {"claims_export_837p_claims": len(chosen), "claims_export_837p_s": round(total, 2),
               "claims_export_pyx12_share": round(spent.get("validate_837p: pyx12", 0.0) / total, 3)}
    for label, seconds in spent.items():
        figures["claims_export_" + re.sub(r"\W+", "_", label).strip("_") + "_s"] = round(seconds, 3)
    figures["claims_export_validate_837p_s"] = round(validate, 3)
    figures["claims_export_rest_s"] = round(rest, 3)
    if export is not None:
        marked = Claim.objects.filter(pk__in=chosen, status=ClaimStatus.EXPORTED).count()
        print(f"claims: export of {len(chosen):,} approved claims to one 837P: {total:.2f} s (budget < "
              f"{EXPORT_BUDGET_S} s {'met' if total < EXPORT_BUDGET_S else 'MISSED'}); {export.size_bytes:,} bytes, "
              f"ISA13 {export.interchange_control_number}, {marked:,} claims marked exported")
    else:
        print(f"claims: export of {len(chosen):,} approved claims to one 837P stopped after {total:.2f} s: {error}")
        figures["claims_export_error"] = error[:300]
    for label, seconds in sorted(spent.items(), key=lambda item: -item[1]):
        print(f"  {label:<28} {seconds:7.3f} s  {seconds / total:6.1%}")
    print(f"  {'the rest (counter, rows, mark, audit)':<28} {rest:7.3f} s  {rest / total:6.1%}")
    print(f"  validate_837p in all {validate:.3f} s; pyx12's share of the export "
          f"{figures['claims_export_pyx12_share']:.1%}")
    return figures


# --- a dictation from upload to needs_review ------------------------------------------------------------------


def _speak(text: str, folder: Path) -> Path:
    """espeak-ng at a rate that makes the note last about 60 s (its pauses make the rate only approximate)."""
    source, wav = folder / "dictation.txt", folder / "dictation.wav"
    source.write_text(text)
    rate = 160
    for _ in range(4):
        subprocess.run(["espeak-ng", "-s", str(rate), "-w", str(wav), "-f", str(source)], check=True,
                       capture_output=True)
        with wave.open(str(wav)) as audio:
            seconds = audio.getnframes() / audio.getframerate()
        if 57 <= seconds <= 63:
            break
        rate = max(80, min(450, round(rate * seconds / 60)))
    return wav


def measure_dictation(world: dict, rng: random.Random, folder: Path) -> dict:
    if not shutil.which("espeak-ng"):
        print("claims: dictation benchmark skipped: espeak-ng is not installed (apt-get install espeak-ng)")
        return {}
    from audio import speech
    from audio.services import recording_upload
    from audio.tasks import recording_transcribe
    from billing.coding import code_note
    from claims.tasks import recording_code

    wav = _speak(DICTATION, folder)
    with wave.open(str(wav)) as audio:
        audio_s = audio.getnframes() / audio.getframerate()
    started = time.perf_counter()
    loaded = speech.load_model()  # a worker loads it once and keeps it
    model_load_s = time.perf_counter() - started
    started = time.perf_counter()
    code_note(NOTES["cervical"])  # the coding engine's rules and reference data, once per worker too
    engine_load_s = time.perf_counter() - started

    membership = world["physician_memberships"][0]
    patient = rng.choice(world["patients"])
    steps = {}
    started = time.perf_counter()
    with wav.open("rb") as upload:
        recording = recording_upload(membership=membership, patient=patient,
                                     date_of_service=timezone.localdate(), upload=upload,
                                     original_name="dictation.wav")
    steps["upload"] = time.perf_counter() - started
    started = time.perf_counter()
    transcribed = recording_transcribe(recording.pk)
    steps["transcribe"] = time.perf_counter() - started
    started = time.perf_counter()
    coded = recording_code(recording.pk)
    steps["code"] = time.perf_counter() - started
    total = sum(steps.values())
    claim = Claim.objects.filter(recording_id=recording.pk).first()
    transcript = Transcript.objects.filter(recording_id=recording.pk).first()
    heard = transcript.text.lower() if transcript else ""
    terms = ("laminectomy", "foraminotom", "arthrodesis", "pedicle screw", "autograft", "allograft", "l4-l5",
             "spondylolisthesis")
    rtf = transcript.real_time_factor if transcript else None
    status = claim.status if claim else "no claim"
    print(f"claims: a {audio_s:.1f} s dictation ({len(DICTATION.split())} words, espeak-ng) from upload to "
          f"{status} on {os.cpu_count()} cores with Whisper {loaded.name} ({loaded.device}, {loaded.compute_type}, "
          f"{loaded.cpu_threads} threads), without the LLM: {total:.2f} s (budget < {DICTATION_BUDGET_S} s "
          f"{'met' if total < DICTATION_BUDGET_S and status == ClaimStatus.NEEDS_REVIEW else 'MISSED'})")
    print(f"  upload (validate, deduplicate, encrypt, store, queue) {steps['upload']:.2f} s; transcription task "
          f"{steps['transcribe']:.2f} s (real-time factor {rtf}, transcript made: {transcribed}); coding task "
          f"{steps['code']:.2f} s (reading stored: {coded is not None})")
    print(f"  loaded beforehand, once per worker: Whisper {model_load_s:.2f} s, coding engine {engine_load_s:.2f} s; "
          "not counted: the two hand-offs through the ORM broker (django-q2 polls every 0.5 s)")
    if claim:
        rules = ", ".join(f"{f.rule} ({f.severity})" for f in claim.findings.all()) or "none"
        print(f"  the draft: {claim.cpt_summary or 'no lines'}; {claim.line_count} lines; findings: {rules}; "
              f"terms of the note heard: {', '.join(t for t in terms if t in heard) or 'none'}; missed: "
              f"{', '.join(t for t in terms if t not in heard) or 'none'}")
    return {"claims_dictation_audio_s": round(audio_s, 1), "claims_dictation_upload_s": round(steps["upload"], 2),
            "claims_dictation_transcribe_s": round(steps["transcribe"], 2),
            "claims_dictation_code_s": round(steps["code"], 2), "claims_dictation_total_s": round(total, 2),
            "claims_dictation_status": status, "claims_dictation_whisper_load_s": round(model_load_s, 2),
            "claims_dictation_engine_load_s": round(engine_load_s, 2),
            "claims_dictation_real_time_factor": round(rtf, 3) if rtf is not None else None}


def main() -> dict:
    rng = random.Random(20261201)  # noqa: S311 - a repeatable practice, not a secret
    started = time.perf_counter()
    figures: dict = {"claims_load_average_start": round(os.getloadavg()[0], 2)}
    print(f"claims: {os.cpu_count()} cores, load average {figures['claims_load_average_start']} at the start "
          "(other people's runs share this machine)")
    media = Path(tempfile.mkdtemp(prefix="bench-claims-"))
    try:
        with override_settings(MEDIA_ROOT=media / "media"), own_database("bench_claims"):
            world = seed(rng)
            figures["claims_seeded"] = world["counts"]["claims"]
            figures["claims_seed_s"] = world["seed_s"]
            figures.update(measure_pages(world, rng))
            figures.update(measure_export(world, rng))
            figures.update(measure_dictation(world, rng, media))
    finally:
        shutil.rmtree(media, ignore_errors=True)
    figures["claims_bench_s"] = round(time.perf_counter() - started, 1)
    figures["claims_load_average_end"] = round(os.getloadavg()[0], 2)
    print(f"claims: benchmark done in {figures['claims_bench_s']} s (load average {figures['claims_load_average_end']} "
          "at the end); its database was dropped and its files removed")
    return figures


if __name__ == "__main__":
    from django.core.management import call_command

    from billy import localredis

    try:
        call_command("migrate", "--noinput", verbosity=0)
        main()
    finally:
        localredis.stop(bench_run._redis)
