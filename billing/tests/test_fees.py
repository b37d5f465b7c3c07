"""The fee schedule: the CSV file, all-or-nothing imports, the database's own guard against overlaps, the
claim-line lookup by date of service and modifier, the page, the admin and the commands."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from importlib import resources

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction

from billing import cpt, fees, selectors, services
from billing.models import FeeScheduleEntry
from billing.services import FeeScheduleImportError
from billy.models import AuditEvent

HEADER = "code,modifier,charge,effective_from,effective_to"
JAN_1 = dt.date(2026, 1, 1)


def csv_bytes(*lines: str) -> bytes:
    return "\n".join((HEADER, *lines)).encode() + b"\n"


def entry(practice, code="22551", charge="8000.00", start=JAN_1, end=None, modifier=""):
    return FeeScheduleEntry.objects.create(practice=practice, code=code, modifier=modifier, charge=Decimal(charge),
                                           effective_from=start, effective_to=end)


def schedule(practice) -> list[tuple]:
    return list(FeeScheduleEntry.objects.filter(practice=practice).order_by("code", "modifier", "effective_from")
                .values_list("code", "modifier", "charge", "effective_from", "effective_to"))


GOOD = "22551,,8450.00,2026-01-01,"


# --- the file ------------------------------------------------------------------------------------------------

BAD_FILES = [
    pytest.param(csv_bytes(GOOD, "63030,,4600.00,2026-01-01,", "63047,,5500.00,2026-01-01,",
                           "20552,,240.00,2026-01-01,", "20553,,280.00,2026-01-01,", "99999,,100.00,2026-01-01,"),
                 ["line 7: 99999 is not a code IamBilly knows"], id="unknown code"),
    pytest.param(csv_bytes("2255,,100.00,2026-01-01,"),
                 ["line 2: '2255' is not a CPT or HCPCS code: a code is 5 characters, like 22551 or J1040"],
                 id="malformed code"),
    pytest.param(csv_bytes("22551.0,,100.00,2026-01-01,"),
                 ["line 2: '22551.0' is not a CPT or HCPCS code: a code is 5 characters, like 22551 or J1040"],
                 id="code turned into a number by a spreadsheet"),
    pytest.param(csv_bytes(",,100.00,2026-01-01,"), ["line 2: the code is missing"], id="missing code"),
    pytest.param(csv_bytes("22551,ABC,100.00,2026-01-01,"),
                 ["line 2: modifier 'ABC' is not a 2-character modifier like 26, TC or 50 (leave it empty for the "
                  "charge that applies whatever the modifier)"], id="bad modifier"),
    pytest.param(csv_bytes('22551,,"12,50",2026-01-01,'),
                 ["line 2: charge '12,50' is not an amount: write dollars and cents like 1250.00 (a point before "
                  "the cents, no comma, no $ sign)"], id="decimal comma"),
    pytest.param(csv_bytes("22551,,-3,2026-01-01,"), ["line 2: charge -3 is negative: a charge is 0.00 or more"],
                 id="negative"),
    pytest.param(csv_bytes("22551,,abc,2026-01-01,"),
                 ["line 2: charge 'abc' is not an amount: write dollars and cents like 1250.00 (a point before "
                  "the cents, no comma, no $ sign)"], id="not a number"),
    pytest.param(csv_bytes("22551,,$8450.00,2026-01-01,"),
                 ["line 2: charge '$8450.00' is not an amount: write dollars and cents like 1250.00 (a point "
                  "before the cents, no comma, no $ sign)"], id="currency sign"),
    pytest.param(csv_bytes("22551,,12.505,2026-01-01,"), ["line 2: charge 12.505 has more than 2 decimal places"],
                 id="three decimals"),
    pytest.param(csv_bytes("22551,,NaN,2026-01-01,"),
                 ["line 2: charge 'NaN' is not an amount: write dollars and cents like 1250.00 (a point before "
                  "the cents, no comma, no $ sign)"], id="NaN"),
    pytest.param(csv_bytes("22551,,10000000.00,2026-01-01,"),
                 ["line 2: charge 10000000.00 is too large (at most 9999999.99)"], id="too large"),
    pytest.param(csv_bytes("22551,,,2026-01-01,"), ["line 2: the charge is missing"], id="missing charge"),
    pytest.param(csv_bytes("22551,,100.00,2026-13-01,"),
                 ["line 2: effective_from '2026-13-01' is not a date: write it as YYYY-MM-DD, like 2026-01-01"],
                 id="month 13"),
    pytest.param(csv_bytes("22551,,100.00,2026-01-01,2026-02-30"),
                 ["line 2: effective_to '2026-02-30' is not a date: write it as YYYY-MM-DD, like 2026-01-01"],
                 id="February 30"),
    pytest.param(csv_bytes("22551,,100.00,01.01.2026,"),
                 ["line 2: effective_from '01.01.2026' is not a date: write it as YYYY-MM-DD, like 2026-01-01"],
                 id="dotted date"),
    pytest.param(csv_bytes("22551,,100.00,1926-01-01,"),
                 ["line 2: effective_from 1926-01-01 is not a plausible date of service: check the year"],
                 id="implausible year"),
    pytest.param(csv_bytes("22551,,100.00,,"), ["line 2: effective_from is missing"], id="missing start"),
    pytest.param(csv_bytes("22551,,100.00,2026-06-01,2026-01-31"),
                 ["line 2: effective_to 2026-01-31 is before effective_from 2026-06-01"], id="reversed dates"),
    pytest.param(csv_bytes(GOOD, "63030,,4600.00,2026-01-01,", GOOD),
                 ["line 4: 22551 (no modifier) from 2026-01-01 on repeats line 2 (from 2026-01-01 on): one charge "
                  "per code and modifier on any date of service"], id="duplicate line"),
    pytest.param(csv_bytes("77003,26,110.00,2026-01-01,2026-12-31", "77003,26,120.00,2026-06-01,"),
                 ["line 3: 77003-26 from 2026-06-01 on overlaps line 2 (2026-01-01 to 2026-12-31): one charge per "
                  "code and modifier on any date of service"], id="overlapping dates"),
    pytest.param(csv_bytes("22551,,8450.00"),
                 ["line 2: expected 5 values (code,modifier,charge,effective_from,effective_to), found 3"],
                 id="missing columns"),
    pytest.param(csv_bytes("22551,,1,250.00,2026-01-01,"),
                 ["line 2: expected 5 values (code,modifier,charge,effective_from,effective_to), found 6 (a comma "
                  "inside the charge? write 1250.00, not 1,250.00)"], id="thousands comma unquoted"),
    pytest.param(b"code,modifier,charge,effective_from\n22551,,8450.00,2026-01-01\n",
                 ["line 1: the header lacks the column effective_to (it must be "
                  "code,modifier,charge,effective_from,effective_to)"], id="header lacks a column"),
    pytest.param(b"code,modifier,charge,effective_from,effective_to,note\n",
                 ["line 1: the header has unknown column 'note' (it must be "
                  "code,modifier,charge,effective_from,effective_to)"], id="header has an extra column"),
    pytest.param(b"22551,,8450.00,2026-01-01,\n",
                 ["line 1: the first line must be the header code,modifier,charge,effective_from,effective_to "
                  "(found 22551,,8450.00,2026-01-01,)"], id="no header"),
    pytest.param(b"code;modifier;charge;effective_from;effective_to\n22551;;8450,00;2026-01-01;\n",
                 ["line 1: the values are separated by semicolons; IamBilly reads comma-separated files: save it "
                  "again as CSV (comma delimited)"], id="semicolons"),
    pytest.param(csv_bytes(GOOD) + "63030,,4600.00,2026-01-01,\n".encode("utf-16"),
                 ["line 3: the file is not UTF-8 text (byte 0xFF cannot be read): save it again as CSV UTF-8 "
                  "(comma delimited)"], id="not UTF-8"),
    pytest.param(csv_bytes(GOOD, "63030,,4600.00,2026-01-01,") + "20552,,12.00,2026-01-01,Défaut\n".encode("latin-1"),
                 ["line 4: the file is not UTF-8 text (byte 0xE9 cannot be read): save it again as CSV UTF-8 "
                  "(comma delimited)"], id="latin-1"),
    pytest.param(csv_bytes(GOOD) + b"\x00\x01\x02", ["line 3: the file holds binary data, not CSV text: export the "
                                                    "fee schedule as CSV"], id="binary"),
    pytest.param(b"PK\x03\x04\x14\x00\x06\x00", ["This is a spreadsheet workbook (.xlsx or .ods), not a CSV file: in "
                                                 "the spreadsheet choose Save As, then CSV UTF-8 (comma delimited)."],
                 id="xlsx"),
    pytest.param(b"", ["The file is empty: it needs the header code,modifier,charge,effective_from,effective_to and "
                       "one line per charge."], id="empty"),
    pytest.param(b"\r\n  \n", ["The file is empty: it needs the header code,modifier,charge,effective_from,"
                               "effective_to and one line per charge."], id="blank lines only"),
    pytest.param(csv_bytes(), ["The file has a header but no charges: add one line per charge under "
                               "code,modifier,charge,effective_from,effective_to."], id="header only"),
]


@pytest.mark.parametrize(("data", "expected"), BAD_FILES)
def test_the_parser_names_the_line_and_the_problem(data, expected):
    parsed = fees.parse(data)
    assert [str(error) for error in parsed.errors] == expected
    assert parsed.rows == []  # a file with a problem yields nothing to load


def test_the_parser_reports_every_bad_line_of_a_file_not_just_the_first():
    parsed = fees.parse(csv_bytes(GOOD, "99999,,1.00,2026-01-01,", "63030,,4600.00,2026-01-01,",
                                  "63047,,-5,2026-13-01,", "2255,,100.00,2026-01-01,"))
    assert [str(e) for e in parsed.errors] == [
        "line 3: 99999 is not a code IamBilly knows",
        "line 5: charge -5 is negative: a charge is 0.00 or more",
        "line 5: effective_from '2026-13-01' is not a date: write it as YYYY-MM-DD, like 2026-01-01",
        "line 6: '2255' is not a CPT or HCPCS code: a code is 5 characters, like 22551 or J1040",
    ]


def test_the_parser_reads_what_spreadsheets_write():
    # Excel's "CSV UTF-8": a byte order mark, CRLF, M/D/YYYY dates; columns in another order; blank lines.
    data = ("\ufeffEffective_From,Code,Modifier,Charge,Effective_To\r\n"
            "1/1/2026,22551,,8450,\r\n"
            "\r\n"
            "01/01/2026,77003,tc,180.5,12/31/2026\r\n"
            "2026-01-01, j1040 ,,32.00,\r\n").encode()
    parsed = fees.parse(data)
    assert parsed.errors == []
    assert [(r.line, r.code, r.modifier, r.charge, r.effective_from, r.effective_to) for r in parsed.rows] == [
        (2, "22551", "", Decimal("8450.00"), JAN_1, None),
        (4, "77003", "TC", Decimal("180.50"), JAN_1, dt.date(2026, 12, 31)),
        (5, "J1040", "", Decimal("32.00"), JAN_1, None),
    ]


def test_rows_of_one_code_with_different_modifiers_or_consecutive_dates_do_not_collide():
    parsed = fees.parse(csv_bytes("77003,,290.00,2026-01-01,", "77003,26,110.00,2026-01-01,",
                                  "77003,TC,180.00,2025-01-01,2025-12-31", "77003,TC,185.00,2026-01-01,"))
    assert parsed.ok and len(parsed.rows) == 4


def test_a_zero_charge_is_allowed():
    assert fees.parse(csv_bytes("69990,,0.00,2026-01-01,")).rows[0].charge == Decimal("0.00")


def test_the_written_file_reads_back_to_the_same_rows():
    rows = fees.parse(csv_bytes("77003,TC,180.00,2025-01-01,2025-12-31", "22551,,8450.00,2026-01-01,",
                                "77003,TC,185.10,2026-01-01,")).rows
    text = fees.write(rows)
    assert text.splitlines()[0] == HEADER
    assert text.splitlines()[1] == "22551,,8450.00,2026-01-01,"
    again = fees.parse(text.encode()).rows
    strip = [(r.code, r.modifier, r.charge, r.effective_from, r.effective_to) for r in rows]
    assert sorted(strip) == sorted((r.code, r.modifier, r.charge, r.effective_from, r.effective_to) for r in again)


def test_the_demo_file_prices_every_catalogue_code_from_2026():
    data = (resources.files("billing") / "data" / "demo_fees.csv").read_bytes()
    parsed = fees.parse(data)
    assert parsed.errors == []
    blank = {row.code for row in parsed.rows if not row.modifier}
    assert blank == set(cpt.catalogue())
    assert all(row.effective_from == JAN_1 and row.effective_to is None for row in parsed.rows)
    assert all(row.charge > 0 for row in parsed.rows)


# --- the database --------------------------------------------------------------------------------------------

def test_the_database_refuses_overlapping_dates_for_one_practice_code_and_modifier(world):
    entry(world.practice, start=JAN_1, end=dt.date(2026, 6, 30))
    with pytest.raises(IntegrityError), transaction.atomic():
        entry(world.practice, start=dt.date(2026, 6, 30))  # one shared day is an overlap: both ends are included
    entry(world.practice, start=dt.date(2026, 7, 1))  # the day after is fine
    entry(world.practice, modifier="50", start=JAN_1)  # so is another modifier
    entry(world.other_practice, start=JAN_1)  # and another practice
    with pytest.raises(IntegrityError), transaction.atomic():
        entry(world.practice, start=dt.date(2025, 1, 1))  # open-ended on both: overlaps everything after


def test_the_database_refuses_a_negative_charge_and_reversed_dates(world):
    with pytest.raises(IntegrityError), transaction.atomic():
        entry(world.practice, charge="-1.00")
    with pytest.raises(IntegrityError), transaction.atomic():
        entry(world.practice, start=dt.date(2026, 6, 1), end=dt.date(2026, 5, 31))


# --- importing -----------------------------------------------------------------------------------------------

def biller_membership(world):
    return world.biller.memberships.get()


def test_an_import_loads_every_line_and_audits_counts_only(world):
    result = services.fee_schedule_import(membership=biller_membership(world), replace=False, csv_bytes=csv_bytes(
        GOOD, "77003,26,110.00,2026-01-01,", "77003,,290.00,2026-01-01,2026-12-31"))
    assert (result.added, result.ended, result.removed) == (3, 0, 0)
    assert result.summary() == "Loaded 3 charges."
    assert len(schedule(world.practice)) == 3
    event = AuditEvent.objects.filter(action="fee_schedule.import").latest("sequence")
    assert event.actor_id == world.biller.pk and event.practice_id == world.practice.pk
    assert event.detail == {"mode": "add", "via": "upload", "added": 3, "ended": 0, "removed": 0}


def test_a_file_with_one_bad_line_leaves_the_schedule_exactly_as_it_was(world):
    entry(world.practice, code="63030", charge="4000.00", start=dt.date(2025, 1, 1))
    entry(world.practice, code="22551", charge="8000.00", start=dt.date(2025, 1, 1))
    before = schedule(world.practice)
    events = AuditEvent.objects.count()
    good_lines = [f"{code},,100.00,2026-01-01," for code in list(cpt.catalogue())[:40]]
    for replace in (False, True):
        with pytest.raises(FeeScheduleImportError) as refused:
            services.fee_schedule_import(membership=biller_membership(world), replace=replace,
                                         csv_bytes=csv_bytes(*good_lines, "22551,,12.505,2026-01-01,"))
        assert [str(e) for e in refused.value.errors] == ["line 42: charge 12.505 has more than 2 decimal places"]
        assert str(refused.value) == "Nothing was loaded: the file has 1 problem. Fix it and load the whole file again."
        assert schedule(world.practice) == before
    assert AuditEvent.objects.count() == events


def test_a_physician_cannot_import(world):
    with pytest.raises(services.BillyError, match="Only a biller or an admin"):
        services.fee_schedule_import(membership=world.physician.memberships.get(), csv_bytes=csv_bytes(GOOD),
                                     replace=False)
    assert not FeeScheduleEntry.objects.exists()


def test_adding_a_price_change_ends_the_running_charge_the_day_before(world):
    entry(world.practice, code="22551", charge="8000.00", start=dt.date(2025, 1, 1))
    entry(world.practice, code="63030", charge="4000.00", start=dt.date(2025, 1, 1))
    result = services.fee_schedule_import(membership=biller_membership(world), replace=False,
                                          csv_bytes=csv_bytes("22551,,8450.00,2026-07-01,"))
    assert (result.added, result.ended, result.removed) == (1, 1, 0)
    assert result.summary() == "Loaded 1 charge: 1 earlier charge ended the day before the new one starts."
    assert schedule(world.practice) == [
        ("22551", "", Decimal("8000.00"), dt.date(2025, 1, 1), dt.date(2026, 6, 30)),
        ("22551", "", Decimal("8450.00"), dt.date(2026, 7, 1), None),
        ("63030", "", Decimal("4000.00"), dt.date(2025, 1, 1), None),  # not in the file: untouched
    ]


def test_adding_a_line_over_an_existing_charge_is_refused_with_the_line_and_nothing_changes(world):
    entry(world.practice, code="22551", charge="8000.00", start=JAN_1)
    before = schedule(world.practice)
    with pytest.raises(FeeScheduleImportError) as refused:
        services.fee_schedule_import(membership=biller_membership(world), replace=False,
                                     csv_bytes=csv_bytes("63030,,4600.00,2026-01-01,", GOOD))
    assert [str(e) for e in refused.value.errors] == [
        "line 3: 22551 (no modifier) from 2026-01-01 on overlaps the charge already in the schedule from 2026-01-01 "
        "on ($8000.00): to change charges already in the schedule upload with Replace, or change the dates"]
    assert schedule(world.practice) == before


def test_adding_a_bounded_line_that_would_leave_later_dates_unpriced_is_refused(world):
    entry(world.practice, code="22551", charge="8000.00", start=JAN_1)
    with pytest.raises(FeeScheduleImportError) as refused:
        services.fee_schedule_import(membership=biller_membership(world), replace=False,
                                     csv_bytes=csv_bytes("22551,,8450.00,2026-07-01,2026-09-30"))
    assert [str(e) for e in refused.value.errors] == [
        "line 2: 22551 (no modifier) 2026-07-01 to 2026-09-30 would cut short the charge already in the schedule "
        "from 2026-01-01 on ($8000.00) and leave no charge after 2026-09-30: add a line for the dates after it, "
        "or upload with Replace"]
    # With the dates after it in the file too, the change is clear and loads.
    services.fee_schedule_import(membership=biller_membership(world), replace=False, csv_bytes=csv_bytes(
        "22551,,8450.00,2026-07-01,2026-09-30", "22551,,8600.00,2026-10-01,"))
    assert [row[2:] for row in schedule(world.practice)] == [
        (Decimal("8000.00"), JAN_1, dt.date(2026, 6, 30)),
        (Decimal("8450.00"), dt.date(2026, 7, 1), dt.date(2026, 9, 30)),
        (Decimal("8600.00"), dt.date(2026, 10, 1), None),
    ]


def test_replace_makes_the_file_the_schedule_from_its_first_date_and_keeps_earlier_dates(world):
    entry(world.practice, code="63030", charge="3900.00", start=dt.date(2025, 1, 1), end=dt.date(2025, 12, 31))
    entry(world.practice, code="22551", charge="8000.00", start=dt.date(2025, 1, 1))
    entry(world.practice, code="63047", charge="5000.00", start=dt.date(2026, 3, 1))
    entry(world.practice, code="20552", charge="200.00", start=JAN_1)
    entry(world.other_practice, code="22551", charge="1.00", start=JAN_1)
    result = services.fee_schedule_import(membership=biller_membership(world), replace=True, csv_bytes=csv_bytes(
        "22551,,8450.00,2026-01-01,", "63030,,4600.00,2026-01-01,"))
    assert (result.added, result.ended, result.removed) == (2, 1, 2)
    assert result.summary() == ("Loaded 2 charges; the schedule from 2026-01-01 on is now this file: 1 earlier "
                                "charge ended the day before the new one starts, 2 charges from that date on removed.")
    assert schedule(world.practice) == [
        ("22551", "", Decimal("8000.00"), dt.date(2025, 1, 1), dt.date(2025, 12, 31)),  # ended the day before
        ("22551", "", Decimal("8450.00"), JAN_1, None),
        ("63030", "", Decimal("3900.00"), dt.date(2025, 1, 1), dt.date(2025, 12, 31)),  # earlier: kept
        ("63030", "", Decimal("4600.00"), JAN_1, None),
        # 63047 (started after the file's first date) and 20552 (not in the file) are gone.
    ]
    assert schedule(world.other_practice) == [("22551", "", Decimal("1.00"), JAN_1, None)]
    event = AuditEvent.objects.filter(action="fee_schedule.import").latest("sequence")
    assert event.detail == {"mode": "replace", "via": "upload", "added": 2, "ended": 1, "removed": 2}


def test_replacing_with_the_same_file_twice_gives_the_same_schedule(world):
    data = csv_bytes(GOOD, "77003,26,110.00,2026-01-01,")
    services.fee_schedule_import(membership=biller_membership(world), replace=True, csv_bytes=data)
    first = schedule(world.practice)
    services.fee_schedule_import(membership=biller_membership(world), replace=True, csv_bytes=data)
    assert schedule(world.practice) == first


def test_an_export_loaded_back_with_replace_round_trips(world):
    services.fee_schedule_load_demo(practice=world.practice)
    services.fee_schedule_import(membership=biller_membership(world), replace=False, csv_bytes=csv_bytes(
        "22551,,8900.00,2027-01-01,", "64483,LT,700.00,2025-01-01,2025-12-31"))
    exported = fees.write(selectors.fee_schedule_rows(practice_id=world.practice.pk)).encode()
    before = schedule(world.practice)
    services.fee_schedule_import(membership=biller_membership(world), replace=True, csv_bytes=exported)
    assert schedule(world.practice) == before
    services.fee_schedule_import(membership=world.outsider.memberships.get(), replace=True, csv_bytes=exported)
    assert schedule(world.other_practice) == before


def test_the_demo_schedule_loads_once_and_never_overwrites_a_schedule(world):
    demo_rows = len(fees.parse((resources.files("billing") / "data" / "demo_fees.csv").read_bytes()).rows)
    assert services.fee_schedule_load_demo(practice=world.practice) == demo_rows == len(schedule(world.practice))
    assert services.fee_schedule_load_demo(practice=world.practice) == 0
    assert selectors.fee_schedule_gaps(practice_id=world.practice.pk, date_of_service=dt.date(2026, 5, 1)) == []
    entry(world.other_practice, code="22551", charge="1.00", start=JAN_1)
    assert services.fee_schedule_load_demo(practice=world.other_practice) == 0
    assert len(schedule(world.other_practice)) == 1


# --- the claim-line lookup ------------------------------------------------------------------------------------

@pytest.fixture
def priced(world):
    entry(world.practice, code="22551", charge="8000.00", start=dt.date(2025, 1, 1), end=dt.date(2025, 12, 31))
    entry(world.practice, code="22551", charge="8450.00", start=JAN_1, end=dt.date(2026, 12, 31))
    entry(world.practice, code="77003", charge="290.00", start=JAN_1)
    entry(world.practice, code="77003", modifier="26", charge="110.00", start=JAN_1)
    entry(world.practice, code="64483", modifier="50", charge="1335.00", start=JAN_1)
    entry(world.other_practice, code="63030", charge="4600.00", start=JAN_1)
    return world


LOOKUPS = [
    ("22551", (), dt.date(2024, 12, 31), None),  # before every range
    ("22551", (), dt.date(2025, 1, 1), Decimal("8000.00")),  # first day included
    ("22551", (), dt.date(2025, 12, 31), Decimal("8000.00")),  # last day included
    ("22551", (), dt.date(2026, 1, 1), Decimal("8450.00")),  # the next generation
    ("22551", ("59",), dt.date(2026, 6, 1), Decimal("8450.00")),  # a modifier without its own row
    ("22551", (), dt.date(2027, 1, 1), None),  # after the last range
    ("77003", ("26",), dt.date(2026, 6, 1), Decimal("110.00")),  # the modifier's own row wins
    ("77003", ("TC",), dt.date(2026, 6, 1), Decimal("290.00")),  # no TC row: the blank one
    ("77003", ("59", "26"), dt.date(2026, 6, 1), Decimal("110.00")),  # any of the line's modifiers
    (" 77003 ", (" 26",), dt.date(2026, 6, 1), Decimal("110.00")),  # spaces are ignored
    ("77003", ("", "tc"), dt.date(2026, 6, 1), Decimal("290.00")),
    ("64483", ("50",), dt.date(2026, 6, 1), Decimal("1335.00")),
    ("64483", (), dt.date(2026, 6, 1), None),  # only a bilateral charge: a plain line has none
    ("63030", (), dt.date(2026, 6, 1), None),  # the other practice's charge is never used
    ("J1040", (), dt.date(2026, 6, 1), None),
]


@pytest.mark.parametrize(("code", "modifiers", "date_of_service", "expected"), LOOKUPS)
def test_a_claim_line_is_priced_by_date_of_service_and_modifier(priced, code, modifiers, date_of_service, expected,
                                                               django_assert_num_queries):
    with django_assert_num_queries(1):
        assert selectors.fee_for(practice_id=priced.practice.pk, code=code, modifiers=modifiers,
                                 date_of_service=date_of_service) == expected
    with django_assert_num_queries(1):
        table = selectors.fee_schedule_on(practice_id=priced.practice.pk, date_of_service=date_of_service)
    with django_assert_num_queries(0):
        assert table.charge(code, modifiers) == expected


def test_when_two_of_a_lines_modifiers_have_rows_the_first_one_prices_it(priced):
    entry(priced.practice, code="77003", modifier="TC", charge="180.00", start=JAN_1)
    on = dt.date(2026, 6, 1)
    table = selectors.fee_schedule_on(practice_id=priced.practice.pk, date_of_service=on)
    assert table.charge("77003", ["TC", "26"]) == Decimal("180.00")
    assert selectors.fee_for(practice_id=priced.practice.pk, code="77003", modifiers=["26", "TC"],
                             date_of_service=on) == Decimal("110.00")


def test_a_fee_table_holds_only_the_practices_charges_in_effect_that_day(priced):
    table = selectors.fee_schedule_on(practice_id=priced.practice.pk, date_of_service=dt.date(2026, 6, 1))
    assert dict(table.charges) == {("22551", ""): Decimal("8450.00"), ("77003", ""): Decimal("290.00"),
                                   ("77003", "26"): Decimal("110.00"), ("64483", "50"): Decimal("1335.00")}
    other = selectors.fee_schedule_on(practice_id=priced.other_practice.pk, date_of_service=dt.date(2025, 6, 1))
    assert len(other) == 0


# --- the page --------------------------------------------------------------------------------------------------

@pytest.fixture
def biller_client(world, client):
    client.force_login(world.biller)
    return client


def upload(client, data: bytes, *, replace=False):
    handle = io.BytesIO(data)
    handle.name = "fees.csv"
    return client.post("/fees/import/", {"file": handle, "replace": "replace" if replace else "add"})


def test_a_biller_uploads_a_schedule_and_sees_it(world, biller_client):
    response = upload(biller_client, csv_bytes(GOOD, "77003,26,110.00,2026-01-01,2026-12-31"))
    assert response.status_code == 302 and response["Location"] == "/fees/"
    page = biller_client.get("/fees/").content.decode()
    assert "Loaded 2 charges." in page
    assert "8,450.00" in page and cpt.get("22551").descriptor in page
    assert "110.00" in page and "2026-12-31" in page
    assert len(schedule(world.practice)) == 2


def test_a_refused_upload_lists_every_bad_line_and_saves_nothing(world, biller_client):
    entry(world.practice, code="63030", charge="4600.00", start=JAN_1)
    response = upload(biller_client, csv_bytes(GOOD, "99999,,1.00,2026-01-01,", '22552,,"12,50",2026-01-01,',
                                               "63030,,4700.00,2026-06-01,2026-01-01"))
    assert response.status_code == 400
    page = response.content.decode()
    assert "Nothing was loaded: the file has 3 problems." in page
    assert "line 3: 99999 is not a code IamBilly knows" in page
    assert "line 4: charge &#x27;12,50&#x27; is not an amount" in page
    assert "line 5: effective_to 2026-01-01 is before effective_from 2026-06-01" in page
    assert schedule(world.practice) == [("63030", "", Decimal("4600.00"), JAN_1, None)]


def test_an_upload_that_is_not_a_csv_is_explained(world, biller_client):
    response = upload(biller_client, b"PK\x03\x04 a workbook")
    assert response.status_code == 400
    assert "This is a spreadsheet workbook (.xlsx or .ods), not a CSV file" in response.content.decode()
    assert upload(biller_client, b"").status_code == 400  # an empty upload is refused by the form itself


def test_an_admin_replaces_the_schedule_from_the_page(world, client):
    entry(world.practice, code="63030", charge="4600.00", start=JAN_1)
    client.force_login(world.admin)
    response = upload(client, csv_bytes(GOOD), replace=True)
    assert response.status_code == 302
    assert schedule(world.practice) == [("22551", "", Decimal("8450.00"), JAN_1, None)]


def test_the_export_is_the_whole_schedule_as_a_csv_attachment(world, biller_client):
    entry(world.practice, code="22551", charge="8000.00", start=dt.date(2025, 1, 1), end=dt.date(2025, 12, 31))
    entry(world.practice, code="22551", charge="8450.00", start=JAN_1)
    entry(world.practice, code="77003", modifier="26", charge="110.00", start=JAN_1)
    response = biller_client.get("/fees/export.csv")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="fee-schedule-north-spine-associates-')
    assert response.content.decode().splitlines() == [
        HEADER, "22551,,8000.00,2025-01-01,2025-12-31", "22551,,8450.00,2026-01-01,", "77003,26,110.00,2026-01-01,"]


def test_the_filter_answers_htmx_with_the_table_only(world, biller_client):
    services.fee_schedule_load_demo(practice=world.practice)
    response = biller_client.get("/fees/", {"q": "6304"}, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert "HX-Request" in response["Vary"]
    assert "<html" not in body and 'id="entries"' in body
    assert "63047" in body and "63048" in body and "22551" not in body
    words = biller_client.get("/fees/", {"q": "kyphoplasty"}, HTTP_HX_REQUEST="true").content.decode()
    assert "22513" in words and "63047" not in words
    none = biller_client.get("/fees/", {"q": "zzz"}, HTTP_HX_REQUEST="true").content.decode()
    assert "No charge matches" in none


def test_ended_charges_show_only_when_asked(world, biller_client):
    entry(world.practice, code="22551", charge="7777.00", start=dt.date(2020, 1, 1), end=dt.date(2020, 12, 31))
    entry(world.practice, code="22551", charge="8450.00", start=dt.date(2021, 1, 1))
    assert "7,777.00" not in biller_client.get("/fees/").content.decode()
    assert "7,777.00" in biller_client.get("/fees/", {"past": "on"}).content.decode()


def test_the_page_names_codes_that_have_no_charge_today(world, biller_client):
    page = biller_client.get("/fees/").content.decode()
    assert f"{len(cpt.catalogue())} codes IamBilly can bill have no charge today" in page
    services.fee_schedule_load_demo(practice=world.practice)
    assert "no charge today" not in biller_client.get("/fees/").content.decode()


def test_a_physician_gets_404_everywhere_and_anonymous_is_sent_to_sign_in(world, client):
    client.force_login(world.physician)
    assert client.get("/fees/").status_code == 404
    assert client.get("/fees/export.csv").status_code == 404
    assert upload(client, csv_bytes(GOOD)).status_code == 404
    assert not FeeScheduleEntry.objects.exists()
    client.logout()
    for response in (client.get("/fees/"), client.get("/fees/export.csv"), upload(client, csv_bytes(GOOD))):
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert not FeeScheduleEntry.objects.exists()


def test_an_outsider_sees_and_changes_only_their_own_practices_schedule(world, client):
    entry(world.practice, code="22551", charge="8450.00", start=JAN_1)
    client.force_login(world.outsider)
    page = client.get("/fees/").content.decode()
    assert "North Spine" not in page and "8,450.00" not in page and "No charges yet" in page
    assert client.get("/fees/", {"q": "22551"}).content.decode().count("8,450.00") == 0
    assert client.get("/fees/export.csv").content.decode().splitlines() == [HEADER]
    assert upload(client, csv_bytes("22551,,1.00,2026-01-01,"), replace=True).status_code == 302
    assert schedule(world.practice) == [("22551", "", Decimal("8450.00"), JAN_1, None)]
    assert schedule(world.other_practice) == [("22551", "", Decimal("1.00"), JAN_1, None)]


# --- the admin ---------------------------------------------------------------------------------------------------

@pytest.fixture
def fee_admin_client(world, client):
    from django.contrib.auth.models import Permission

    # billy.roles grants these to practice admins; granted here too so this test stands on its own.
    world.admin.user_permissions.add(*Permission.objects.filter(content_type__app_label="billing",
                                                                codename__endswith="feescheduleentry"))
    client.force_login(world.admin)
    return client


def test_the_admin_lists_and_searches_only_the_admins_practice(world, fee_admin_client):
    entry(world.practice, code="22551", charge="8450.00", start=JAN_1)
    entry(world.practice, code="63030", charge="4600.00", start=JAN_1)
    entry(world.other_practice, code="22552", charge="1.00", start=JAN_1)
    page = fee_admin_client.get("/admin/billing/feescheduleentry/", {"q": "2255"}).content.decode()
    assert "22551" in page and "63030" not in page and "22552" not in page
    today = fee_admin_client.get("/admin/billing/feescheduleentry/", {"in_effect": "today"})
    assert today.status_code == 200


def test_an_overlapping_entry_added_in_the_admin_is_refused_with_a_reason(world, fee_admin_client):
    entry(world.practice, code="22551", charge="8450.00", start=JAN_1)
    form = {"practice": world.practice.pk, "code": "22551", "modifier": "", "charge": "9000.00",
            "effective_from": "2026-06-01", "effective_to": ""}
    response = fee_admin_client.post("/admin/billing/feescheduleentry/add/", form)
    assert response.status_code == 200
    assert "already has a charge for this code and modifier" in response.content.decode()
    unknown = fee_admin_client.post("/admin/billing/feescheduleentry/add/", {**form, "code": "99999"})
    assert "99999 is not a code IamBilly knows" in unknown.content.decode()
    other = fee_admin_client.post("/admin/billing/feescheduleentry/add/",
                                  {**form, "practice": world.other_practice.pk, "effective_from": "2025-01-01",
                                   "effective_to": "2025-12-31"})
    assert "Select a valid choice" in other.content.decode()
    added = fee_admin_client.post("/admin/billing/feescheduleentry/add/",
                                  {**form, "code": "77003", "modifier": "tc"})
    assert added.status_code == 302
    assert FeeScheduleEntry.objects.filter(practice=world.practice, code="77003", modifier="TC").exists()
    assert AuditEvent.objects.filter(action="admin.add", object_type="billing.feescheduleentry").exists()


# --- the commands --------------------------------------------------------------------------------------------

def test_import_fees_prints_counts_and_export_fees_writes_the_same_format(world, tmp_path):
    source = tmp_path / "fees.csv"
    source.write_bytes(csv_bytes(GOOD, "77003,26,110.00,2026-01-01,"))
    out = io.StringIO()
    call_command("import_fees", "--practice", str(world.practice.pk), str(source), stdout=out)
    assert out.getvalue().strip() == "North Spine Associates: Loaded 2 charges."
    exported = tmp_path / "out.csv"
    call_command("export_fees", "--practice", str(world.practice.pk), "--out", str(exported), stderr=io.StringIO())
    assert exported.read_text().splitlines() == [HEADER, GOOD, "77003,26,110.00,2026-01-01,"]
    event = AuditEvent.objects.filter(action="fee_schedule.import").latest("sequence")
    assert event.actor_id is None and event.detail["via"] == "command"


def test_import_fees_lists_every_error_and_exits_with_status_1(world, tmp_path):
    source = tmp_path / "fees.csv"
    source.write_bytes(csv_bytes("99999,,1.00,2026-01-01,", "22551,,abc,2026-01-01,"))
    err = io.StringIO()
    with pytest.raises(CommandError, match="Nothing was loaded: the file has 2 problems") as failed:
        call_command("import_fees", "--practice", str(world.practice.pk), str(source), stderr=err)
    assert failed.value.returncode == 1
    assert err.getvalue().splitlines() == [
        f"{source}: line 2: 99999 is not a code IamBilly knows",
        f"{source}: line 3: charge 'abc' is not an amount: write dollars and cents like 1250.00 (a point before "
        "the cents, no comma, no $ sign)",
    ]
    assert not FeeScheduleEntry.objects.exists()
    with pytest.raises(CommandError, match="No practice with id 999999"):
        call_command("import_fees", "--practice", "999999", str(source))
