"""`manage.py voice_to_claim`: one claim JSON per file, in order, with evidence, rationale, payer and charges."""

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from billing.models import FeeScheduleEntry

DICTATIONS = Path(__file__).resolve().parents[2] / "billing" / "tests" / "dictations"


def run(*args) -> list[dict]:
    from io import StringIO

    out = StringIO()
    call_command("voice_to_claim", *args, stdout=out)
    return [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]


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
    (["--format", "x12"], "not available yet"),
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
