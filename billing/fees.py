"""The fee schedule file: read and check a CSV of charges, and write one. Plain data in, plain data out.

A practice's fee schedule is what it bills for each CPT/HCPCS code (its own charge, not a payer's
allowable). The file is one charge per line:

    code,modifier,charge,effective_from,effective_to
    22551,,8450.00,2026-01-01,
    77003,26,110.00,2026-01-01,2026-12-31

- `modifier` is empty for the charge that applies whatever the modifier; a line with a modifier (26, TC,
  50 …) is the charge for that modifier and wins over the empty one.
- `effective_from` and `effective_to` are dates of service, both included; an empty `effective_to` means
  "until a later charge replaces it". Dates are YYYY-MM-DD; M/D/YYYY is read too, because a spreadsheet
  that opened the file often saves dates that way.
- `charge` is dollars with at most two decimals and no thousands separator or currency sign.

`parse()` reads the whole file and reports every problem with its line number, so a billing manager fixes
the file once, not one error per upload. Nothing here touches the database: the service decides what is
loaded.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from decimal import Decimal

from billing import cpt

COLUMNS = ("code", "modifier", "charge", "effective_from", "effective_to")
HEADER = ",".join(COLUMNS)
# DecimalField(max_digits=9, decimal_places=2) in billing.models.
MAX_CHARGE = Decimal("9999999.99")
# A year outside these is a typo: 1926 for 2026, or a two-digit year a spreadsheet turned into 0026.
FIRST_YEAR, LAST_YEAR = 2000, 2099

_CODE = re.compile(r"^(?:\d{5}|\d{4}[FTU]|[A-V]\d{4})$")
_MODIFIER = re.compile(r"^[A-Z0-9]{2}$")
_AMOUNT = re.compile(r"^(?:\d+(?:\.\d*)?|\.\d+)$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_US_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_ZIP_MAGIC = b"PK\x03\x04"  # .xlsx and .ods workbooks are zip files


@dataclass(frozen=True)
class FeeRow:
    code: str
    modifier: str
    charge: Decimal
    effective_from: dt.date
    effective_to: dt.date | None
    line: int = 0  # where it came from in the file (0: not from a file)

    def overlaps(self, other: FeeRow) -> bool:
        return overlap(self.effective_from, self.effective_to, other.effective_from, other.effective_to)

    @property
    def key(self) -> tuple[str, str]:
        return self.code, self.modifier


@dataclass(frozen=True)
class LineError:
    line: int | None  # None: the file as a whole (empty, not text)
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line is not None else self.message


@dataclass(frozen=True)
class ParsedFile:
    rows: list[FeeRow]
    errors: list[LineError]

    @property
    def ok(self) -> bool:
        return not self.errors


def parse(data: bytes, *, known: Callable[[str], object] = cpt.get) -> ParsedFile:
    """Every row of a fee schedule CSV and every problem in it (rows are only usable when there is none).

    `known(code)` says whether IamBilly can bill a code (the CPT/HCPCS catalogue by default).
    """
    text, problem = _decode(data)
    if problem:
        return ParsedFile([], [problem])
    reader = csv.reader(io.StringIO(text, newline=""))
    errors: list[LineError] = []
    rows: list[FeeRow] = []
    try:
        header = _header(reader, errors)
        if header is None:
            return ParsedFile([], errors)
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            row = _row(cells, header=header, line=reader.line_num, known=known, errors=errors)
            if row is not None:
                rows.append(row)
    except csv.Error as exc:
        # An unclosed quote swallows the rest of the file: the reader can say where it gave up, not why.
        errors.append(LineError(reader.line_num, f"the file cannot be read as CSV from here ({exc}); "
                                                 "check for a stray double quote"))
        return ParsedFile([], errors)
    if not rows and not errors:
        errors.append(LineError(None, f"The file has a header but no charges: add one line per charge under {HEADER}."))
    errors.extend(_overlaps_within(rows))
    errors.sort(key=lambda e: e.line or 0)
    return ParsedFile(rows if not errors else [], errors)


def write(rows: Iterable[FeeRow]) -> str:
    """The CSV text `parse()` reads back to the same rows: header, then rows by code, modifier and date."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in sorted(rows, key=lambda r: (r.code, r.modifier, r.effective_from)):
        writer.writerow([row.code, row.modifier, f"{row.charge:.2f}", row.effective_from.isoformat(),
                         row.effective_to.isoformat() if row.effective_to else ""])
    return out.getvalue()


def describe_dates(effective_from: dt.date, effective_to: dt.date | None) -> str:
    if effective_to is None:
        return f"from {effective_from.isoformat()} on"
    return f"{effective_from.isoformat()} to {effective_to.isoformat()}"


def describe_key(code: str, modifier: str) -> str:
    return f"{code}-{modifier}" if modifier else f"{code} (no modifier)"


def overlap(a_from: dt.date, a_to: dt.date | None, b_from: dt.date, b_to: dt.date | None) -> bool:
    """Whether two date ranges share a day (both ends included; None is open-ended)."""
    return (a_to is None or a_to >= b_from) and (b_to is None or b_to >= a_from)


def _decode(data: bytes) -> tuple[str, LineError | None]:
    if not data.strip():
        return "", LineError(None, f"The file is empty: it needs the header {HEADER} and one line per charge.")
    if data.startswith(_ZIP_MAGIC):
        return "", LineError(None, "This is a spreadsheet workbook (.xlsx or .ods), not a CSV file: in the "
                                   "spreadsheet choose Save As, then CSV UTF-8 (comma delimited).")
    try:
        # utf-8-sig: Excel's "CSV UTF-8" starts the file with a byte order mark.
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return "", LineError(line, f"the file is not UTF-8 text (byte 0x{data[exc.start]:02X} cannot be read): "
                                   "save it again as CSV UTF-8 (comma delimited)")
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        return "", LineError(line, "the file holds binary data, not CSV text: export the fee schedule as CSV")
    return text, None


def _header(reader, errors: list[LineError]) -> dict[str, int] | None:
    """Column positions by name, or None (with the reason in `errors`) when the first line is not the header."""
    for cells in reader:
        if not any(cell.strip() for cell in cells):
            continue
        line = reader.line_num
        names = [cell.strip().lower() for cell in cells]
        if len(names) == 1 and ";" in names[0]:
            errors.append(LineError(line, "the values are separated by semicolons; IamBilly reads "
                                          "comma-separated files: save it again as CSV (comma delimited)"))
            return None
        if not set(names) & set(COLUMNS):
            errors.append(LineError(line, f"the first line must be the header {HEADER} "
                                          f"(found {','.join(cells)[:60]})"))
            return None
        problems = []
        missing = [name for name in COLUMNS if name not in names]
        if missing:
            problems.append(f"the header lacks the column{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
        unknown = [name for name in names if name not in COLUMNS]
        if unknown:
            problems.append(f"the header has unknown column{'s' if len(unknown) > 1 else ''} "
                            f"{', '.join(repr(n) for n in unknown)}")
        repeated = sorted({name for name in names if names.count(name) > 1 and name in COLUMNS})
        if repeated:
            problems.append(f"the header repeats {', '.join(repeated)}")
        if problems:
            errors.append(LineError(line, "; ".join(problems) + f" (it must be {HEADER})"))
            return None
        return {name: names.index(name) for name in COLUMNS}
    errors.append(LineError(None, f"The file is empty: it needs the header {HEADER} and one line per charge."))
    return None


def _row(cells: list[str], *, header: dict[str, int], line: int, known, errors: list[LineError]) -> FeeRow | None:
    if len(cells) != len(header):
        hint = ""
        if len(cells) > len(header):
            hint = " (a comma inside the charge? write 1250.00, not 1,250.00)"
        errors.append(LineError(line, f"expected {len(header)} values ({HEADER}), found {len(cells)}{hint}"))
        return None
    row, problems = check_values(**{name: cells[index] for name, index in header.items()}, known=known)
    errors.extend(LineError(line, problem) for problem in problems)
    return replace(row, line=line) if row else None


def check_values(
    *, code: str, modifier: str, charge: str, effective_from: str, effective_to: str,
    known: Callable[[str], object] = cpt.get,
) -> tuple[FeeRow | None, list[str]]:
    """One charge from its five values as text: the row, or None and every problem with it."""
    problems: list[str] = []
    fail = problems.append
    raw_code, code = code.strip(), code.strip().upper()
    if not code:
        fail("the code is missing")
    elif not _CODE.match(code):
        fail(f"{raw_code!r} is not a CPT or HCPCS code: a code is 5 characters, like 22551 or J1040")
    elif not known(code):
        fail(f"{code} is not a code IamBilly knows")

    raw_modifier, modifier = modifier.strip(), modifier.strip().upper()
    if modifier and not _MODIFIER.match(modifier):
        fail(f"modifier {raw_modifier!r} is not a 2-character modifier like 26, TC or 50 "
             "(leave it empty for the charge that applies whatever the modifier)")

    amount = _charge(charge.strip(), fail)
    start = _date(effective_from.strip(), "effective_from", fail, required=True)
    end = _date(effective_to.strip(), "effective_to", fail, required=False)
    if start and end and end < start:
        fail(f"effective_to {end.isoformat()} is before effective_from {start.isoformat()}")
    if problems:
        return None, problems
    return FeeRow(code=code, modifier=modifier, charge=amount, effective_from=start, effective_to=end), []


def _charge(raw: str, fail) -> Decimal | None:
    if not raw:
        fail("the charge is missing")
        return None
    if raw.startswith("-") and _AMOUNT.match(raw[1:]) and Decimal(raw[1:]) > 0:
        fail(f"charge {raw} is negative: a charge is 0.00 or more")
        return None
    if not _AMOUNT.match(raw.removeprefix("-")):
        fail(f"charge {raw!r} is not an amount: write dollars and cents like 1250.00 "
             "(a point before the cents, no comma, no $ sign)")
        return None
    cents = raw.partition(".")[2]
    if len(cents.rstrip("0")) > 2:
        fail(f"charge {raw} has more than 2 decimal places")
        return None
    amount = abs(Decimal(raw).quantize(Decimal("0.01")))
    if amount > MAX_CHARGE:
        fail(f"charge {raw} is too large (at most {MAX_CHARGE})")
        return None
    return amount


def _date(raw: str, column: str, fail, *, required: bool) -> dt.date | None:
    if not raw:
        if required:
            fail(f"{column} is missing")
        return None
    value = None
    try:
        if _ISO_DATE.match(raw):
            value = dt.date.fromisoformat(raw)
        elif us := _US_DATE.match(raw):
            value = dt.date(int(us.group(3)), int(us.group(1)), int(us.group(2)))
    except ValueError:
        pass
    if value is None:
        fail(f"{column} {raw!r} is not a date: write it as YYYY-MM-DD, like 2026-01-01")
    elif not FIRST_YEAR <= value.year <= LAST_YEAR:
        fail(f"{column} {value.isoformat()} is not a plausible date of service: check the year")
        value = None
    return value


def _overlaps_within(rows: list[FeeRow]) -> list[LineError]:
    """One charge per code and modifier on any date: later lines that collide with an earlier one are named."""
    errors = []
    by_key: dict[tuple[str, str], list[FeeRow]] = defaultdict(list)
    for row in rows:
        for earlier in by_key[row.key]:
            if row.overlaps(earlier):
                what = "repeats" if (row.effective_from, row.effective_to) == (
                    earlier.effective_from, earlier.effective_to) else "overlaps"
                errors.append(LineError(row.line, (
                    f"{describe_key(row.code, row.modifier)} {describe_dates(row.effective_from, row.effective_to)} "
                    f"{what} line {earlier.line} ({describe_dates(earlier.effective_from, earlier.effective_to)}): "
                    "one charge per code and modifier on any date of service"
                )))
                break
        by_key[row.key].append(row)
    return errors
