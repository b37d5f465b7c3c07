"""Streaming readers for the CMS quarterly NCCI files, in the layouts CMS publishes them.

Two files, practitioner versions (the Part B tables a spine practice is edited against):

- PTP (procedure-to-procedure) edits, e.g. ``ccipra-v311r0-f1.txt``: tab-delimited text exported from the
  published spreadsheet. A few title/copyright lines, a header row "Column 1 / Column 2 / * = In existence
  prior to 1996 / Effective Date / Deletion Date / Modifier / PTP Edit Rationale" whose cells may wrap onto
  continuation lines, then one edit per line: column 1 code, column 2 code, "*" or blank, effective date
  YYYYMMDD, deletion date YYYYMMDD or "*" (no deletion), modifier indicator (0 not allowed, 1 allowed,
  9 not applicable), rationale.
- MUE (medically unlikely edits), e.g. ``MCR_MUE_PractitionerServices_Eff_<date>.csv``: a copyright block,
  a header row "HCPCS/CPT Code / Practitioner Services MUE Values / MUE Adjudication Indicator /
  MUE Rationale", then one code per line; the adjudication indicator is written out ("2 Date of Service
  Edit: Policy"), and only its leading digit (1 line, 2 and 3 date of service) is what claims are edited by.

Layout sources: CMS "Medicare NCCI Procedure to Procedure (PTP) Edits" and "Medicare NCCI Medically Unlikely
Edits" download pages (cms.gov), the Medicaid NCCI Edit Design Manual / Technical Guidance Manual
("Publication Formats - Tab-Delimited ASCII Text Format"), and the MUE column descriptions in Noridian's
"Medically Unlikely Edits" page.

Each file comes as tab-delimited or CSV; the delimiter is sniffed from the first lines. The readers are
generators over an iterable of lines (an open file), so a multi-million-row PTP file is never held in memory.
A malformed data line raises CmsFileError naming the file and line: the importer stops before it has
written anything it would have to take back.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from itertools import chain, islice

# A HCPCS Level I (CPT: 5 digits, or 4 digits and F/T/U/M for category II/III, PLA and vaccine codes) or
# Level II code (a letter and 4 digits).
CODE_SHAPE = re.compile(r"^(?:\d{4}[0-9A-Z]|[A-Z]\d{4})$")

# PTP modifier indicator: 0 no modifier bypasses the edit, 1 an NCCI-associated modifier may, 9 the edit is
# deleted and the indicator does not apply.
MODIFIER_INDICATORS = frozenset({0, 1, 9})
# MUE adjudication indicator: 1 claim line edit, 2 date of service (policy), 3 date of service (clinical).
ADJUDICATION_INDICATORS = frozenset({1, 2, 3})

# How many leading lines the delimiter is sniffed from: the title block plus the header and a few rows.
_SNIFF_LINES = 50


class CmsFileError(ValueError):
    """A CMS file that is not in the published layout; the message names the file, the line and the problem."""

    def __init__(self, message: str, *, source: str = "", line: int = 0):
        super().__init__(message)
        self.source = source
        self.line = line


@dataclass(frozen=True)
class PtpEdit:
    column1: str
    column2: str
    effective: date
    deleted: date | None
    modifier_indicator: int
    rationale: str
    source: str
    line: int


@dataclass(frozen=True)
class MueEdit:
    code: str
    units: int
    adjudication_indicator: int
    rationale: str
    source: str
    line: int


def read_ptp(lines: Iterable[str], *, source: str) -> Iterator[PtpEdit]:
    """The PTP edits of a CMS practitioner PTP file, one by one, in file order."""
    for line_no, fields in _data_rows(lines, source=source, is_header=_is_ptp_header):
        problem = _Problem(source, line_no)
        if len(fields) < 6:
            raise problem(f"expected 7 columns (column 1, column 2, pre-1996, effective, deletion, modifier, "
                          f"rationale), found {len(fields)}")
        column1 = _code(fields[0], "column 1 code", problem)
        column2 = _code(fields[1], "column 2 code", problem)
        if fields[2] not in ("", "*"):
            raise problem(f"the 'in existence prior to 1996' column holds {fields[2]!r}; expected '*' or blank")
        effective = _date(fields[3], "effective date", problem)
        # "*" is how CMS writes "no deletion date"; a blank cell from a re-saved spreadsheet means the same.
        deleted = None if fields[4] in ("", "*") else _date(fields[4], "deletion date", problem)
        if not fields[5].isdigit() or int(fields[5]) not in MODIFIER_INDICATORS:
            raise problem(f"unknown modifier indicator {fields[5]!r}; expected 0, 1 or 9")
        yield PtpEdit(
            column1=column1,
            column2=column2,
            effective=effective,
            deleted=deleted,
            modifier_indicator=int(fields[5]),
            rationale=fields[6] if len(fields) > 6 else "",
            source=source,
            line=line_no,
        )


def read_mue(lines: Iterable[str], *, source: str) -> Iterator[MueEdit]:
    """The MUEs of a CMS practitioner services MUE file, one by one, in file order."""
    for line_no, fields in _data_rows(lines, source=source, is_header=_is_mue_header):
        problem = _Problem(source, line_no)
        if len(fields) < 3:
            raise problem(f"expected 4 columns (code, MUE value, adjudication indicator, rationale), "
                          f"found {len(fields)}")
        code = _code(fields[0], "HCPCS/CPT code", problem)
        if not fields[1].isdigit():
            raise problem(f"MUE value {fields[1]!r} is not a whole number of units")
        indicator = re.match(r"\d+", fields[2])
        if indicator is None or int(indicator.group()) not in ADJUDICATION_INDICATORS:
            raise problem(f"unknown MUE adjudication indicator {fields[2]!r}; expected it to start with 1, 2 or 3")
        yield MueEdit(
            code=code,
            units=int(fields[1]),
            adjudication_indicator=int(indicator.group()),
            rationale=fields[3] if len(fields) > 3 else "",
            source=source,
            line=line_no,
        )


# --- shared reading ---------------------------------------------------------------------------------------------


class _Problem:
    """Builds the CmsFileError for one line, so every message reads 'FILE, line N: what is wrong'."""

    def __init__(self, source: str, line: int):
        self.source = source
        self.line = line

    def __call__(self, what: str) -> CmsFileError:
        return CmsFileError(f"{self.source}, line {self.line}: {what}", source=self.source, line=self.line)


def _data_rows(
    lines: Iterable[str], *, source: str, is_header: Callable[[list[str]], bool]
) -> Iterator[tuple[int, list[str]]]:
    """(line number, stripped fields) of each data row, after the title and header block.

    Before the data, a line is skipped as title/header unless its first cell is code-shaped. Once the header
    row has been seen, the first line with a non-blank first cell starts the data even if that cell is not a
    code (so a bad first row is reported, not skipped); lines with a blank first cell there are the header's
    wrapped cells. After the data starts, every non-blank line is a data row.
    """
    lines = iter(lines)
    head = list(islice(lines, _SNIFF_LINES))
    if head:
        head[0] = head[0].removeprefix("\ufeff")
    delimiter = "\t" if any("\t" in line for line in head) else ","
    reader = csv.reader(chain(head, lines), delimiter=delimiter)
    in_data = False
    header_seen = False
    try:
        for row in reader:
            fields = [cell.strip().strip('"').strip() for cell in row]
            while fields and not fields[-1]:
                fields.pop()  # spreadsheet exports pad rows with empty cells
            if not fields:
                continue
            if not in_data:
                if CODE_SHAPE.match(fields[0].upper()):
                    in_data = True
                elif is_header(fields):
                    header_seen = True
                    continue
                elif header_seen and fields[0]:
                    in_data = True
                else:
                    continue
            yield reader.line_num, fields
    except csv.Error as exc:
        raise _Problem(source, reader.line_num)(f"unreadable line ({exc})")
    if not in_data:
        raise CmsFileError(f"{source}: no data rows found; is this the right CMS file?", source=source)


def _normalized(cell: str) -> str:
    return re.sub(r"\s+", " ", cell).strip().lower()


def _is_ptp_header(fields: list[str]) -> bool:
    return len(fields) >= 2 and _normalized(fields[0]).replace(" ", "") == "column1" and (
        _normalized(fields[1]).replace(" ", "") == "column2"
    )


def _is_mue_header(fields: list[str]) -> bool:
    return _normalized(fields[0]).startswith("hcpcs") and any("mue" in _normalized(cell) for cell in fields[1:])


def _code(cell: str, what: str, problem: _Problem) -> str:
    code = cell.upper()
    if not CODE_SHAPE.match(code):
        raise problem(f"{what} {cell!r} is not a HCPCS/CPT code (5 characters, e.g. 22551 or 0275T)")
    return code


def _date(cell: str, what: str, problem: _Problem) -> date:
    try:
        if len(cell) != 8 or not cell.isdigit():
            raise ValueError
        return date(int(cell[:4]), int(cell[4:6]), int(cell[6:]))  # strptime is 5x slower, per million rows
    except ValueError:
        raise problem(f"{what} {cell!r} is not a date in YYYYMMDD form")
