"""`manage.py voice_to_claim`: one claim JSON per file, in order, with evidence, rationale, payer and charges;
one 837P holding every file's claim (checked by pyx12); CMS-1500 PDFs; audio transcribed by the worker's engine."""

import datetime as dt
import io
import json
import re
import shutil
import subprocess
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pdfplumber
import pytest
from django.core.management import CommandError, call_command

from billing.models import FeeScheduleEntry
from billy import identifiers
from claims.x12_checks import pyx12_problems, split_segments, validate_837p

DICTATIONS = Path(__file__).resolve().parents[2] / "billing" / "tests" / "dictations"

# Short spine notes of our own, written into each test's folder.
ACDF_NOTE = ("Procedure: anterior cervical discectomy and fusion at C5-C6 with an interbody cage and anterior plate.\n"
             "Diagnosis: cervical disc herniation at C5-C6 with radiculopathy.\n"
             "The disc was removed, the cage placed and the plate fixed with four screws. No complications.\n")
MICRODISCECTOMY_NOTE = ("Procedure: left L4-L5 laminotomy and microdiscectomy.\n"
                        "Diagnosis: lumbar disc herniation at L4-L5 with left L5 radiculopathy.\n"
                        "The herniated fragment was removed and the nerve root decompressed. No complications.\n")
NO_DIAGNOSIS_NOTE = "Procedure: left L4-L5 laminotomy and microdiscectomy. No complications.\n"
# Spoken by espeak-ng and heard by tiny.en: "laminotomy and microdiscectomy" comes back as written (a sentence
# before the procedure made tiny.en hear "in Ottoman" for "laminotomy", so the procedure comes first).
SPOKEN_NOTE = ("Procedure: left L4-L5 laminotomy and microdiscectomy. Diagnosis: lumbar disc herniation at L4-L5 "
               "with radiculopathy. No complications.")
DOS = "2026-05-04"


def run(*args) -> list[dict]:
    out = StringIO()
    call_command("voice_to_claim", *args, stdout=out)
    return [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]


def notes(folder: Path, **texts: str) -> list[str]:
    paths = []
    for stem, text in texts.items():
        path = folder / f"{stem}.txt"
        path.write_text(text, encoding="utf-8")
        paths.append(str(path))
    return paths


def segments_named(text: str, tag: str) -> list[tuple[str, ...]]:
    return [s.elements for s in split_segments(text)[1] if s.elements[0] == tag]


def test_each_file_gives_one_claim_in_order_with_evidence_and_rationale_on_every_code(db):
    files = [DICTATIONS / "acdf_three_level_cage.txt", DICTATIONS / "nothing_billable.txt",
             DICTATIONS / "lumbar_rfa_left.txt"]
    claims = run(*map(str, files))
    assert [sorted(line["cpt"] for line in c["service_lines"]) for c in claims] == [
        ["20930", "22551", "22552", "22846", "22853"], [], ["64635", "64636"]]
    assert claims[0]["payer"] == {"name": "Medicare", "payer_id": "MEDICARE"}
    for claim in claims:
        assert claim["status"] == "needs_review"
        for item in claim["service_lines"] + claim["diagnoses"]:
            assert item["rationale"] and item["evidence"]
            for evidence in item["evidence"]:
                assert claim["transcript"][evidence["start"]:evidence["end"]].strip() == evidence["text"]
    assert any(f["rule"] == "PX-NONE" for f in claims[1]["findings"])


def test_a_patient_brings_their_coverage_and_their_practices_fees(world):
    FeeScheduleEntry.objects.create(practice=world.practice, code="64635", charge=Decimal("1450.00"),
                                    effective_from=dt.date(2026, 1, 1))
    FeeScheduleEntry.objects.create(practice=world.practice, code="64636", charge=Decimal("610.00"),
                                    effective_from=dt.date(2026, 1, 1))
    [claim] = run(str(DICTATIONS / "lumbar_rfa_left.txt"), "--patient", str(world.patient.pk),
                  "--date-of-service", "2026-06-01")
    assert claim["payer"] == {"name": "Medicare Part B (test MAC)", "payer_id": "15202"}
    assert claim["patient"]["member_id"] == "1EG4TE5MK73" and claim["patient"]["dob"] == "1956-03-02"
    charges = {line["cpt"]: (line["units"], line["charge"]) for line in claim["service_lines"]}
    assert charges["64635"] == (1, "1450.00")
    assert charges["64636"][1] == f"{Decimal('610.00') * charges['64636'][0]:.2f}"


@pytest.mark.parametrize(("args", "message"), [
    (["--place-of-service", "office"], "two digits"),
    (["--date-of-service", "06/01/2026"], "YYYY-MM-DD"),
    (["--patient", "999999"], "No patient with id 999999"),
    (["--practice", "999999"], "No practice with id 999999"),
    (["--format", "pdf"], "--format pdf writes files: give --out"),
    (["--json", "--format", "x12"], "not allowed with argument"),
])
def test_bad_arguments_get_a_specific_error(db, args, message):
    with pytest.raises(CommandError, match=message):
        run(str(DICTATIONS / "lumbar_rfa_left.txt"), *args)


def test_a_missing_or_binary_file_is_named(db, tmp_path):
    with pytest.raises(CommandError, match="No such file"):
        run(str(tmp_path / "absent.txt"))
    binary = tmp_path / "scan.txt"
    binary.write_bytes(b"\xff\xfe\x00\x81 not text")
    with pytest.raises(CommandError, match="not UTF-8"):
        run(str(binary))


# --- --format x12 ------------------------------------------------------------------------------------------------


def test_x12_writes_one_interchange_with_every_files_claim_that_pyx12_accepts(db, tmp_path):
    files = notes(tmp_path, acdf=ACDF_NOTE, microdiscectomy=MICRODISCECTOMY_NOTE)
    out, err = StringIO(), StringIO()
    call_command("voice_to_claim", *files, "--format", "x12", "--date-of-service", DOS,
                 "--out", str(tmp_path / "batch.837"), stdout=out, stderr=err)
    text = (tmp_path / "batch.837").read_text(encoding="ascii")
    assert out.getvalue() == ""
    assert validate_837p(text) == []
    # pyx12 really reads it: the same file with a subscriber code it does not know is refused.
    assert pyx12_problems(text.replace("SBR*P*18", "SBR*Q*18"))
    assert [len(segments_named(text, tag)) for tag in ("ISA", "ST", "CLM")] == [1, 1, 2]
    assert [hi[1:] for hi in segments_named(text, "HI")] == [("ABK:M50122",), ("ABK:M5116",)]  # no dot in X12
    assert [sv1[1] for sv1 in segments_named(text, "SV1")] == ["HC:22551", "HC:22845", "HC:22853", "HC:63030"]
    assert all(clm[2] != "0" for clm in segments_named(text, "CLM"))  # priced: an 837P refuses 0.00


def test_x12_without_practice_data_carries_the_demo_parties_and_says_the_charges_are_demo(db, tmp_path):
    files = notes(tmp_path, acdf=ACDF_NOTE)
    out, err = StringIO(), StringIO()
    call_command("voice_to_claim", *files, "--format", "x12", "--date-of-service", DOS, stdout=out, stderr=err)
    text = out.getvalue()  # no --out: standard output
    assert validate_837p(text) == []
    [isa] = segments_named(text, "ISA")
    assert (isa[6].strip(), isa[8].strip(), isa[13], isa[15]) == ("DEMO", "DEMO", "000000001", "T")
    [billing] = [nm1 for nm1 in segments_named(text, "NM1") if nm1[1] == "85"]
    assert billing[3] == "DEMO SPINE PRACTICE" and identifiers.npi_problem(billing[9]) is None
    [subscriber] = [nm1 for nm1 in segments_named(text, "NM1") if nm1[1] == "IL"]
    assert subscriber[3:5] == ("DEMO", "PATIENT")
    assert ("NTE", "ADD", "IAMBILLY DEMO DATA - NOT A REAL CLAIM") in segments_named(text, "NTE")
    assert segments_named(text, "SV1")[0][2] == "8450"  # 22551 in billing/data/demo_fees.csv
    assert "acdf.txt: 22551, 22845, 22853 priced with the DEMO fee schedule" in err.getvalue()


def test_x12_leaves_out_a_claim_with_no_diagnosis_names_the_file_and_exits_2(db, tmp_path):
    files = notes(tmp_path, acdf=ACDF_NOTE, undiagnosed=NO_DIAGNOSIS_NOTE)
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError, match="1 of 2 FILEs left out") as raised:
        call_command("voice_to_claim", *files, "--format", "x12", "--date-of-service", DOS, stdout=out, stderr=err)
    assert raised.value.returncode == 2
    assert "undiagnosed.txt: left out of the 837P: no diagnosis is documented" in err.getvalue()
    assert len(segments_named(out.getvalue(), "CLM")) == 1 and validate_837p(out.getvalue()) == []


def test_x12_with_nothing_that_can_be_sent_writes_nothing(db, tmp_path):
    err = StringIO()
    with pytest.raises(CommandError, match="nothing was written") as raised:
        call_command("voice_to_claim", str(DICTATIONS / "nothing_billable.txt"), "--format", "x12",
                     "--out", str(tmp_path / "none.837"), stdout=StringIO(), stderr=err)
    assert raised.value.returncode == 2 and not (tmp_path / "none.837").exists()
    assert "nothing_billable.txt: left out of the 837P" in err.getvalue()


def test_x12_with_a_patient_carries_the_practices_providers_edi_settings_fees_and_the_coverage(world, tmp_path):
    from billy.models import EdiSettings, Provider

    practice_npi = identifiers.npi_with_check_digit("245678901")
    Provider.objects.create(practice=world.practice, entity="2", organisation_name="North Spine Associates LLC",
                            npi=practice_npi, taxonomy="207X00000X", tax_id_type="EI", tax_id="31-1234567",
                            is_billing=True, address_line1="4100 Riverside Dr", city="Columbus", state="OH",
                            postal_code="43221-1234")
    EdiSettings.objects.create(practice=world.practice, submitter_id="NSA0001", submitter_name="North Spine",
                               contact_name="Billing Office", contact_phone="6145550150", receiver_id="CLEARHOUSE",
                               receiver_name="Test Clearinghouse", usage_indicator="P")
    FeeScheduleEntry.objects.create(practice=world.practice, code="63030", charge=Decimal("5100.00"),
                                    effective_from=dt.date(2026, 1, 1))
    patient = world.patient
    patient.address_line1, patient.city, patient.state, patient.postal_code = "27 Larkspur Ln", "Dublin", "OH", "43017"
    patient.save()
    files = notes(tmp_path, microdiscectomy=MICRODISCECTOMY_NOTE)
    out, err = StringIO(), StringIO()
    call_command("voice_to_claim", *files, "--format", "x12", "--patient", str(patient.pk), "--date-of-service",
                 "2026-06-01", stdout=out, stderr=err)
    text = out.getvalue()
    assert validate_837p(text) == []
    [isa] = segments_named(text, "ISA")
    assert (isa[6].strip(), isa[8].strip(), isa[15]) == ("NSA0001", "CLEARHOUSE", "T")  # a preview: always T
    names = {nm1[1]: nm1 for nm1 in segments_named(text, "NM1")}
    assert names["85"][9] == practice_npi
    assert names["IL"][9] == "1EG4TE5MK73" and names["PR"][9] == "15202"
    assert segments_named(text, "SV1")[0][2] == "5100"  # the practice's fee, not the demo's
    assert not segments_named(text, "NTE") and "DEMO" not in err.getvalue()


# --- --format pdf ------------------------------------------------------------------------------------------------


def pdf_text(path: Path) -> str:
    with pdfplumber.open(io.BytesIO(path.read_bytes())) as pdf:
        return "\n".join(page.extract_text() or "" for page in pdf.pages)


def test_pdf_writes_one_cms1500_per_file_named_after_it_and_the_codes_read_back(db, tmp_path):
    files = notes(tmp_path, acdf=ACDF_NOTE, microdiscectomy=MICRODISCECTOMY_NOTE)
    out = StringIO()
    call_command("voice_to_claim", *files, "--format", "pdf", "--date-of-service", DOS,
                 "--out", str(tmp_path / "forms"), stdout=out, stderr=StringIO())
    written = sorted(p.name for p in (tmp_path / "forms").iterdir())
    assert written == ["acdf.pdf", "microdiscectomy.pdf"]
    assert out.getvalue().split() == [str(tmp_path / "forms" / "acdf.pdf"),
                                      str(tmp_path / "forms" / "microdiscectomy.pdf")]
    acdf, micro = pdf_text(tmp_path / "forms" / "acdf.pdf"), pdf_text(tmp_path / "forms" / "microdiscectomy.pdf")
    assert all(code in acdf for code in ("22551", "22845", "22853", "M50122")) and "63030" not in acdf
    assert "63030" in micro and "M5116" in micro and "DEMO" in micro


def test_pdf_for_one_file_can_be_a_pdf_path_and_several_files_need_a_directory(db, tmp_path):
    [one] = notes(tmp_path, microdiscectomy=MICRODISCECTOMY_NOTE)
    call_command("voice_to_claim", one, "--format", "pdf", "--out", str(tmp_path / "claim.pdf"), stdout=StringIO(),
                 stderr=StringIO())
    assert "63030" in pdf_text(tmp_path / "claim.pdf")
    with pytest.raises(CommandError, match="is one PDF, but 2 FILEs were given"):
        run(one, str(DICTATIONS / "lumbar_rfa_left.txt"), "--format", "pdf", "--out", str(tmp_path / "two.pdf"))


def test_pdf_leaves_out_a_claim_with_no_diagnosis_and_exits_2(db, tmp_path):
    files = notes(tmp_path, acdf=ACDF_NOTE, undiagnosed=NO_DIAGNOSIS_NOTE)
    err = StringIO()
    with pytest.raises(CommandError, match="left out of the pdf output") as raised:
        call_command("voice_to_claim", *files, "--format", "pdf", "--out", str(tmp_path / "forms"),
                     stdout=StringIO(), stderr=err)
    assert raised.value.returncode == 2 and "undiagnosed.txt: left out of the CMS-1500" in err.getvalue()
    assert sorted(p.name for p in (tmp_path / "forms").iterdir()) == ["acdf.pdf"]


# --- audio ---------------------------------------------------------------------------------------------------------


def test_an_audio_dictation_is_transcribed_coded_and_its_evidence_timed(db, tmp_path, settings):
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (bin/bootstrap test installs it): no speech to transcribe")
    settings.WHISPER_MODEL = "tiny.en"  # the fast model, as the audio tests use
    (tmp_path / "note.txt").write_text(SPOKEN_NOTE, encoding="utf-8")
    wav = tmp_path / "dictation.wav"
    subprocess.run(["espeak-ng", "-s", "150", "-w", str(wav), "-f", str(tmp_path / "note.txt")], check=True)
    [claim] = run(str(wav), "--date-of-service", DOS)
    assert "63030" in [line["cpt"] for line in claim["service_lines"]]
    assert "microdiscectomy" in claim["transcript"].lower()
    evidence = sorted((e for item in claim["service_lines"] + claim["diagnoses"] for e in item["evidence"]),
                      key=lambda e: e["start"])
    assert evidence and all(isinstance(e["audio_start_s"], float) for e in evidence)
    times = [e["audio_start_s"] for e in evidence]
    assert times == sorted(times) and times[-1] > 1.0  # later words, later in the audio (the note lasts ~8 s)
    for e in evidence:
        assert claim["transcript"][e["start"]:e["end"]].strip() == e["text"]


def test_a_corrupt_or_empty_audio_file_is_named_with_the_reason(db, tmp_path):
    corrupt = tmp_path / "dictation-0412.mp3"
    # Bytes of no sound format (fixed, not random: random bytes may hold an MP3 frame sync FFmpeg would try).
    corrupt.write_bytes(bytes(range(256)) * 40)
    with pytest.raises(CommandError, match=re.escape("dictation-0412.mp3 cannot be transcribed (not audio)")):
        run(str(corrupt))
    empty = tmp_path / "blank.wav"
    empty.write_bytes(b"")
    out = StringIO()
    with pytest.raises(CommandError, match=re.escape("blank.wav cannot be transcribed (empty)")):
        call_command("voice_to_claim", str(DICTATIONS / "lumbar_rfa_left.txt"), str(empty), stdout=out)
    assert out.getvalue() == ""  # every FILE is checked before any is coded


# --- scrubbing ---------------------------------------------------------------------------------------------------

ESI_NOTE = ("Procedure: right L5-S1 transforaminal epidural steroid injection under fluoroscopic guidance.\n"
            "Diagnosis: chronic low back pain without radiculopathy.\n")
TLIF_NOTE = ("Preoperative diagnosis: degenerative spondylolisthesis L4-L5 with spinal stenosis at L3-L4.\n"
             "Procedure: transforaminal lumbar interbody fusion at L4-L5 with posterolateral fusion, pedicle screw "
             "instrumentation L4 to L5 and a PEEK cage, and a separate laminectomy with decompression at L3-L4.\n")


def scrub_rules(claim: dict) -> dict[str, dict]:
    return {f["rule"]: f for f in claim["findings"] if f.get("origin") == "scrub"}


def test_every_claim_is_scrubbed_and_a_diagnosis_outside_the_policy_cites_it(db, tmp_path):
    [esi, tlif] = run(*notes(tmp_path, esi=ESI_NOTE, tlif=TLIF_NOTE), "--date-of-service", DOS)
    assert [(line["cpt"], line["levels"]) for line in esi["service_lines"]] == [("64483", ["L5-S1"])]
    coverage = scrub_rules(esi)["COVERAGE-DX"]
    assert coverage["severity"] == "error" and coverage["lines"] == [0]
    assert "L39242" in coverage["message"] and "radicul" in coverage["source"]["passage"]
    assert coverage["source"]["section"] == "Covered indications" and coverage["fix"]
    # The engine adds XS to the decompression at another level; the scrubber confirms the edit it bypasses.
    assert "XS" in next(line for line in tlif["service_lines"] if line["cpt"] == "63047")["modifiers"]
    bypassed = scrub_rules(tlif)["NCCI-PTP-BYPASSED"]
    assert bypassed["severity"] == "info" and "22633 and 63047" in bypassed["message"]


def test_an_edited_claim_json_is_scrubbed_again_as_it_stands(db, tmp_path):
    [tlif, acdf] = run(*notes(tmp_path, tlif=TLIF_NOTE, acdf=ACDF_NOTE), "--date-of-service", DOS)
    for line in tlif["service_lines"]:
        if line["cpt"] == "63047":
            line["modifiers"] = [m for m in line["modifiers"] if m not in ("XS", "59")]
        if line["cpt"] == "22633":
            line["units"] = 2
    acdf["service_lines"].append({"cpt": "69990", "units": 1, "modifiers": [], "dx_pointers": ["A"]})
    (tmp_path / "tlif.json").write_text(json.dumps(tlif))
    (tmp_path / "acdf.json").write_text(json.dumps(acdf))
    [tlif_again, acdf_again] = run(str(tmp_path / "tlif.json"), str(tmp_path / "acdf.json"),
                                   "--date-of-service", DOS)
    found = scrub_rules(tlif_again)
    assert found["NCCI-PTP-MODIFIER"]["fix"] == "Add XS to 63047: a different vertebral level."
    assert "NCCI procedure-to-procedure edits" in found["NCCI-PTP-MODIFIER"]["source"]["title"]
    assert "2 units of 22633" in found["MUE"]["message"]
    assert "medically unlikely edits" in found["MUE"]["source"]["title"]
    microscope = scrub_rules(acdf_again)["NCCI-PTP"]
    assert microscope["fix"] == "Remove 69990." and "22551 and 69990" in microscope["message"]
    # The engine's own findings ride along once; the scrubber's are made again, never doubled.
    assert len([f for f in tlif_again["findings"] if f["rule"] == "NCCI-PTP-MODIFIER"]) == 1


def test_a_claim_json_that_cannot_be_scrubbed_is_refused_with_the_reason(db, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"service_lines": [{"cpt": "63030", "units": 0}], "diagnoses": []}))
    with pytest.raises(CommandError, match="service line 1 needs a cpt code and whole units of 1 or more"):
        run(str(bad))
    bad.write_text("{not json")
    with pytest.raises(CommandError, match="bad.json is not a claim JSON object"):
        run(str(bad))
