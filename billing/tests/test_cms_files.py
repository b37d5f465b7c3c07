"""CMS NCCI PTP and MUE files read in their published layouts, from the small sample files under cms_samples/.

The samples are written in CMS's layouts (title and copyright lines, the header row, wrapped header cells)
with spine codes; their values are made up and say so in their first line.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from billing.cms_files import CmsFileError, MueEdit, PtpEdit, read_mue, read_ptp

SAMPLES = Path(__file__).parent / "cms_samples"
PTP_TXT = SAMPLES / "ptp_practitioner_sample.txt"
PTP_CSV = SAMPLES / "ptp_practitioner_sample.csv"
MUE_CSV = SAMPLES / "mue_practitioner_sample.csv"
MUE_TXT = SAMPLES / "mue_practitioner_sample.txt"

# The first data line of each sample: the lines above it are its title and header block.
PTP_TXT_FIRST_DATA_LINE = 8
MUE_CSV_FIRST_DATA_LINE = 6


def ptp_from(path: Path) -> list[PtpEdit]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(read_ptp(f, source=path.name))


def mue_from(path: Path) -> list[MueEdit]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(read_mue(f, source=path.name))


def sample_lines_with(path: Path, line_no: int, replace: tuple[str, str]) -> list[str]:
    """The sample's lines with one text replaced on one (1-based) line, to make a malformed data line."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    old, new = replace
    assert old in lines[line_no - 1], f"{old!r} is not on line {line_no} of {path.name}"
    lines[line_no - 1] = lines[line_no - 1].replace(old, new, 1)
    return lines


# --- PTP ------------------------------------------------------------------------------------------------------


def test_it_reads_the_tab_delimited_ptp_file_past_its_title_and_header_block():
    edits = ptp_from(PTP_TXT)

    assert [(e.column1, e.column2) for e in edits] == [
        ("22551", "63075"), ("22551", "69990"), ("22630", "63047"), ("22633", "63047"),
        ("63030", "69990"), ("63047", "63048"), ("64493", "77003"),
    ]
    assert edits[0] == PtpEdit(
        column1="22551", column2="63075", effective=date(2009, 1, 1), deleted=None, modifier_indicator=0,
        rationale="Misuse of column two code with column one code", source=PTP_TXT.name,
        line=PTP_TXT_FIRST_DATA_LINE,
    )
    assert [e.line for e in edits] == list(range(PTP_TXT_FIRST_DATA_LINE, PTP_TXT_FIRST_DATA_LINE + 7))


def test_it_reads_a_star_deletion_date_as_not_deleted_and_a_date_as_the_deletion():
    by_pair = {(e.column1, e.column2): e for e in ptp_from(PTP_TXT)}

    assert by_pair["22630", "63047"].deleted is None
    assert by_pair["22630", "63047"].modifier_indicator == 1
    assert by_pair["63047", "63048"].deleted == date(2015, 12, 31)
    assert by_pair["63047", "63048"].modifier_indicator == 9


def test_it_reads_an_edit_in_existence_before_1996():
    by_pair = {(e.column1, e.column2): e for e in ptp_from(PTP_TXT)}

    assert by_pair["63030", "69990"].effective == date(1996, 1, 1)


def test_the_csv_ptp_file_gives_the_same_edits_as_the_tab_delimited_one():
    def without_position(edits):
        return [(e.column1, e.column2, e.effective, e.deleted, e.modifier_indicator, e.rationale) for e in edits]

    assert without_position(ptp_from(PTP_CSV)) == without_position(ptp_from(PTP_TXT))
    assert ptp_from(PTP_CSV)[0].line == 3


def test_it_strips_quotes_and_whitespace_and_ignores_padding_cells_and_blank_lines():
    lines = [
        "\ufeffSAMPLE title\n",
        "Column 1\tColumn 2\t*=in existence prior to 1996\tEffective Date\tDeletion Date\tModifier\t"
        "PTP Edit Rationale\n",
        ' "22551" \t 69990 \t\t 20090101 \t * \t 0 \t  CPT Manual or CMS manual coding instructions  \t\t\n',
        "\t\t\t\t\t\t\n",
        "22612\t69990\t\t20090101\t*\t0\n",
    ]

    edits = list(read_ptp(lines, source="padded.txt"))

    assert [(e.column1, e.column2, e.rationale, e.line) for e in edits] == [
        ("22551", "69990", "CPT Manual or CMS manual coding instructions", 3),
        ("22612", "69990", "", 5),
    ]


def test_it_finds_the_data_by_shape_when_there_is_no_header_row():
    lines = ["A title line, without the usual header\n", "22551\t63075\t\t20090101\t*\t0\tRationale\n"]

    assert [e.line for e in read_ptp(lines, source="bare.txt")] == [2]


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ("22630", "2263", "column 1 code '2263' is not a HCPCS/CPT code"),
        ("63047", "63-47", "column 2 code '63-47' is not a HCPCS/CPT code"),
        ("20100101", "20101301", "effective date '20101301' is not a date in YYYYMMDD form"),
        ("20100101", "2010-01-01", "effective date '2010-01-01' is not a date in YYYYMMDD form"),
        ("*\t1", "2010011\t1", "deletion date '2010011' is not a date in YYYYMMDD form"),
        ("*\t1", "*\t2", "unknown modifier indicator '2'; expected 0, 1 or 9"),
        ("*\t1", "*\tX", "unknown modifier indicator 'X'"),
        ("\t\t20100101", "\t?\t20100101", "the 'in existence prior to 1996' column holds '?'"),
        ("\t*\t1\tStandards of medical / surgical practice", "", "expected 7 columns"),
    ],
)
def test_it_rejects_a_malformed_ptp_data_line_naming_the_file_and_line(old, new, problem):
    bad_line = PTP_TXT_FIRST_DATA_LINE + 2  # 22630 / 63047
    lines = sample_lines_with(PTP_TXT, bad_line, (old, new))

    with pytest.raises(CmsFileError, match="^" + PTP_TXT.name + f", line {bad_line}: ") as caught:
        list(read_ptp(lines, source=PTP_TXT.name))

    assert problem in str(caught.value)
    assert (caught.value.source, caught.value.line) == (PTP_TXT.name, bad_line)
    assert isinstance(caught.value, ValueError)


def test_it_reports_a_bad_first_data_line_rather_than_skipping_it_as_header():
    lines = sample_lines_with(PTP_TXT, PTP_TXT_FIRST_DATA_LINE, ("22551", "ACDF"))

    with pytest.raises(CmsFileError, match=f"line {PTP_TXT_FIRST_DATA_LINE}: column 1 code 'ACDF'"):
        list(read_ptp(lines, source=PTP_TXT.name))


def test_it_yields_the_good_lines_before_a_bad_one_so_the_caller_decides_what_to_keep():
    lines = sample_lines_with(PTP_TXT, PTP_TXT_FIRST_DATA_LINE + 4, ("19960101", "1996"))
    edits = read_ptp(lines, source=PTP_TXT.name)

    assert [next(edits).column2 for _ in range(4)] == ["63075", "69990", "63047", "63047"]
    with pytest.raises(CmsFileError, match=f"line {PTP_TXT_FIRST_DATA_LINE + 4}: effective date '1996'"):
        next(edits)


def test_it_rejects_a_file_with_a_header_and_no_data():
    lines = PTP_TXT.read_text(encoding="utf-8").splitlines(keepends=True)[:PTP_TXT_FIRST_DATA_LINE - 1]

    with pytest.raises(CmsFileError, match="no data rows found"):
        list(read_ptp(lines, source="empty.txt"))


def test_it_reads_a_ptp_file_as_a_stream_without_reading_ahead():
    consumed = 0

    def counted_lines():
        nonlocal consumed
        yield "Column 1\tColumn 2\t*=in existence prior to 1996\tEffective Date\tDeletion Date\tModifier\tRationale\n"
        for n in range(1_000_000):
            consumed += 1
            yield f"{22000 + n % 1000:05d}\t69990\t\t20090101\t*\t0\tSample\n"

    edits = read_ptp(counted_lines(), source="endless.txt")
    next(edits)

    # Only the lines sniffed for the delimiter have been read, not the million behind them.
    assert consumed < 100


def test_it_reads_a_200_000_row_ptp_file(tmp_path):
    rows = 200_000
    path = tmp_path / "ccipra-sample-large.txt"
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write("SAMPLE generated by the test - not CMS data\r\n")
        f.write("Column 1\tColumn 2\t*=in existence prior to 1996\tEffective Date\tDeletion Date\tModifier\t"
                "PTP Edit Rationale\r\n")
        for n in range(rows):
            deleted = "*" if n % 10 else "20201231"
            f.write(f"{22000 + n % 7000:05d}\t{63000 + n % 997:05d}\t\t20190101\t{deleted}\t{n % 2}\t"
                    "Standards of medical / surgical practice\r\n")

    count = deleted_count = 0
    last = None
    with path.open(newline="", encoding="utf-8") as f:
        for last in read_ptp(f, source=path.name):
            count += 1
            deleted_count += last.deleted is not None

    assert count == rows
    assert deleted_count == rows // 10
    assert last.line == rows + 2


# --- MUE ------------------------------------------------------------------------------------------------------


def test_it_reads_the_csv_mue_file_past_its_copyright_block():
    edits = mue_from(MUE_CSV)

    assert [(e.code, e.units, e.adjudication_indicator) for e in edits] == [
        ("22551", 1, 2), ("22552", 3, 3), ("22633", 1, 2), ("63047", 1, 2), ("63048", 6, 3), ("64493", 1, 2),
        ("69990", 1, 1),
    ]
    assert edits[0] == MueEdit(
        code="22551", units=1, adjudication_indicator=2, rationale="Code Descriptor / CPT Instruction",
        source=MUE_CSV.name, line=MUE_CSV_FIRST_DATA_LINE,
    )


def test_the_tab_delimited_mue_file_gives_the_same_edits_as_the_csv_one():
    def without_position(edits):
        return [(e.code, e.units, e.adjudication_indicator, e.rationale) for e in edits]

    assert without_position(mue_from(MUE_TXT)) == without_position(mue_from(MUE_CSV))
    assert mue_from(MUE_TXT)[0].line == 3


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ("22552", "2255", "HCPCS/CPT code '2255' is not a HCPCS/CPT code"),
        (",3,3 Date", ",three,3 Date", "MUE value 'three' is not a whole number of units"),
        (",3,3 Date", ",1.5,3 Date", "MUE value '1.5' is not a whole number of units"),
        (",3,3 Date", ",,3 Date", "MUE value '' is not a whole number of units"),
        ("3 Date of Service Edit: Clinical", "4 Date of Service Edit", "unknown MUE adjudication indicator '4 Date"),
        ("3 Date of Service Edit: Clinical", "Date of Service Edit", "unknown MUE adjudication indicator 'Date"),
        (",3 Date of Service Edit: Clinical,Clinical: Data", "", "expected 4 columns"),
    ],
)
def test_it_rejects_a_malformed_mue_data_line_naming_the_file_and_line(old, new, problem):
    bad_line = MUE_CSV_FIRST_DATA_LINE + 1  # 22552
    lines = sample_lines_with(MUE_CSV, bad_line, (old, new))

    with pytest.raises(CmsFileError, match="^" + MUE_CSV.name + f", line {bad_line}: ") as caught:
        list(read_mue(lines, source=MUE_CSV.name))

    assert problem in str(caught.value)
    assert caught.value.line == bad_line
