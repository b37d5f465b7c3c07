"""Checks of an 837P before it leaves: pyx12 against the 005010X222A1 map, then our own for what pyx12 misses.

`validate_837p(text)` returns problems a person can read, each naming the segment (its position in the file,
counted from 1: with export_837's one segment per line, also the line number); empty means valid.

pyx12 is used through its API, never through the `x12valid` script (whose exit status has been seen saying 0 on
a failure and 1 on a clean file). `x12n_document` returns True or False and logs each error it finds on
loggers under "pyx12"; we collect those records into the result. While it runs, the "pyx12" logger does not
propagate: its messages quote the file's values (names, member ids), which must not reach the application log.

Our checks (docs RECIPES.md, "X12 837P"): ICD-10-CM codes in HI without their dot; CLM02 equal to the sum of the
claim's SV102; the NPI check digit on every NM1 with qualifier XX; SV107 pointers within the claim's diagnoses
and at most 4; at most 4 procedure modifiers; at most 50 service lines (LX) per claim; SE01 equal to the number
of segments from ST to SE.
"""

from __future__ import annotations

import io
import logging
import re
import threading
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import pyx12.params
import pyx12.x12n_document

from billy import identifiers

ISA_LENGTH = 106
DIAGNOSIS_QUALIFIERS = ("ABK", "ABF", "BK", "BF")  # HI: ICD-10-CM principal/other, ICD-9-CM principal/other
MAX_POINTERS = 4
MAX_MODIFIERS = 4
MAX_LINES = 50

# One validation at a time: the handler and the propagate switch are set on a process-wide logger.
_PYX12_LOCK = threading.Lock()
_PYX12_LINE = re.compile(r"^(?:No current segment in error_handler\. )?Line:(\d+) (.*)$", re.DOTALL)


@dataclass(frozen=True)
class Delimiters:
    element: str
    component: str
    repetition: str
    segment: str


@dataclass(frozen=True)
class Segment:
    position: int  # 1-based, ISA is 1
    elements: tuple[str, ...]  # elements[0] is the segment id

    @property
    def id(self) -> str:
        return self.elements[0]

    def element(self, number: int) -> str:
        """The element at X12 position `number` (NM109 is element(9)); empty when absent."""
        return self.elements[number] if number < len(self.elements) else ""


class X12SyntaxError(ValueError):
    """The text is not X12 at all (no ISA to read the delimiters from)."""


def split_segments(text: str) -> tuple[Delimiters, list[Segment]]:
    """The segments of an X12 text, with the delimiters read from its ISA.

    The ISA is fixed width (106 characters with its terminator): the element separator is its 4th character,
    the repetition separator ISA11, the component separator ISA16 (the 105th) and the segment terminator the
    106th. CR and LF after a terminator are skipped, as every X12 reader does.
    """
    if not text.startswith("ISA") or len(text) < ISA_LENGTH:
        raise X12SyntaxError("The file does not begin with a complete ISA segment (106 characters).")
    delimiters = Delimiters(element=text[3], component=text[104], repetition=text[82], segment=text[105])
    segments = []
    for raw in text.split(delimiters.segment):
        raw = raw.strip("\r\n")
        if raw:
            segments.append(Segment(position=len(segments) + 1, elements=tuple(raw.split(delimiters.element))))
    return delimiters, segments


def validate_837p(text: str) -> list[str]:
    """Problems of an 837P text, each a sentence naming its segment; empty when pyx12 and our checks pass."""
    try:
        delimiters, segments = split_segments(text)
    except X12SyntaxError as error:
        return [str(error)]
    return pyx12_problems(text, segments) + own_problems(segments, delimiters)


def pyx12_problems(text: str, segments: list[Segment] | None = None) -> list[str]:
    """What pyx12 logs while it validates the text against its 005010X222A1 map."""
    by_position = {s.position: s for s in segments or []}
    collector = _Collector(threading.get_ident())
    logger = logging.getLogger("pyx12")
    with _PYX12_LOCK:
        saved = (logger.level, logger.propagate)
        logger.addHandler(collector)
        logger.setLevel(logging.WARNING)
        logger.propagate = False
        try:
            # src_file takes a path or any object with `.closed` (pyx12.x12file.X12Reader): a StringIO will do.
            valid = pyx12.x12n_document.x12n_document(
                param=pyx12.params.params(), src_file=io.StringIO(text), fd_997=None, fd_html=None,
                fd_xmldoc=None, map_path=None)
        except Exception as error:  # pyx12 raises on input it cannot walk (EngineError, X12Error, ...)
            valid = False
            collector.messages.append(f"pyx12 could not read the file: {error}")
        finally:
            logger.removeHandler(collector)
            logger.setLevel(saved[0])
            logger.propagate = saved[1]
    problems = [_located(message, by_position) for message in collector.messages]
    if not valid and not problems:
        problems.append("pyx12 rejected the file without naming an error.")
    return problems


class _Collector(logging.Handler):
    """Keeps the messages pyx12 logs from the validating thread."""

    def __init__(self, thread_id: int) -> None:
        super().__init__(level=logging.WARNING)
        self.thread_id = thread_id
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread_id:
            self.messages.append(record.getMessage())


def _located(message: str, by_position: dict[int, Segment]) -> str:
    """'Line:12 ELE:7 - ...' as 'pyx12, segment 12 (NM1): ELE:7 - ...'."""
    match = _PYX12_LINE.match(message)
    if not match:
        return f"pyx12: {message}"
    position = int(match.group(1))
    segment = by_position.get(position)
    where = f"segment {position} ({segment.id})" if segment else f"segment {position}"
    return f"pyx12, {where}: {match.group(2)}"


def own_problems(segments: list[Segment], delimiters: Delimiters) -> list[str]:
    """The 837P rules pyx12 does not check (RECIPES.md, "X12 837P")."""
    problems: list[str] = []
    claim: _Claim | None = None
    st_position: int | None = None

    def close_claim() -> None:
        nonlocal claim
        if claim is not None:
            problems.extend(claim.problems())
        claim = None

    for segment in segments:
        sid = segment.id
        if sid == "ST":
            st_position = segment.position
        elif sid == "SE":
            close_claim()
            if st_position is not None:
                counted = segment.position - st_position + 1
                if segment.element(1) != str(counted):
                    problems.append(f"Segment {segment.position} (SE): SE01 says {segment.element(1)} segments; "
                                    f"the transaction has {counted} from ST to SE.")
            st_position = None
        elif sid in ("HL", "GE", "IEA"):
            close_claim()
        elif sid == "CLM":
            close_claim()
            claim = _Claim(segment)
        elif sid == "NM1" and segment.element(8) == "XX":
            problem = identifiers.npi_problem(segment.element(9))
            if problem:
                problems.append(f"Segment {segment.position} (NM1*{segment.element(1)}): {problem}")
        elif claim is not None:
            claim.read(segment, delimiters, problems)
    close_claim()
    return problems


class _Claim:
    """What one 2300 loop says, gathered while its segments go by."""

    def __init__(self, clm: Segment) -> None:
        self.clm = clm
        self.diagnoses: list[str] = []
        self.charges = Decimal("0")
        self.lines = 0
        self.unreadable = False

    def read(self, segment: Segment, delimiters: Delimiters, problems: list[str]) -> None:
        where = f"Segment {segment.position} ({segment.id})"
        if segment.id == "HI":
            for element in segment.elements[1:]:
                qualifier, _, code = element.partition(delimiters.component)
                code = code.split(delimiters.component)[0]
                if qualifier not in DIAGNOSIS_QUALIFIERS:
                    continue
                self.diagnoses.append(code)
                if "." in code:
                    problems.append(f"{where}: the diagnosis {code} is sent with a dot; the 837P wants it "
                                    f"without ({code.replace('.', '')}).")
        elif segment.id == "LX":
            self.lines += 1
        elif segment.id == "SV1":
            charge = _decimal(segment.element(2))
            if charge is None:
                self.unreadable = True
                problems.append(f"{where}: the line charge {segment.element(2)!r} is not an amount.")
            else:
                self.charges += charge
            procedure = segment.element(1).split(delimiters.component)
            # SV101-3..6 are the modifiers (SV101-7 a description): count what looks like a modifier after the code.
            modifiers = [c for c in procedure[2:] if re.fullmatch(r"[A-Z0-9]{2}", c)]
            if len(modifiers) > MAX_MODIFIERS:
                problems.append(f"{where}: {len(modifiers)} procedure modifiers; the 837P takes at most "
                                f"{MAX_MODIFIERS}.")
            pointers = [p for p in segment.element(7).split(delimiters.component) if p]
            if len(pointers) > MAX_POINTERS:
                problems.append(f"{where}: {len(pointers)} diagnosis pointers; at most {MAX_POINTERS}.")
            for pointer in pointers:
                if not pointer.isdigit() or not 1 <= int(pointer) <= len(self.diagnoses):
                    problems.append(f"{where}: diagnosis pointer {pointer} points to no diagnosis "
                                    f"(the claim's HI has {len(self.diagnoses)}).")

    def problems(self) -> list[str]:
        found = []
        number = self.clm.element(1)
        where = f"Claim {number} (segment {self.clm.position}, CLM)"
        total = _decimal(self.clm.element(2))
        if total is None:
            found.append(f"{where}: CLM02 {self.clm.element(2)!r} is not an amount.")
        elif not self.unreadable and total != self.charges:
            found.append(f"{where}: CLM02 {self.clm.element(2)} is not the sum of the line charges "
                         f"(SV102 add up to {self.charges}).")
        if self.lines > MAX_LINES:
            found.append(f"{where}: {self.lines} service lines; an 837P claim holds at most {MAX_LINES}.")
        return found


def _decimal(value: str) -> Decimal | None:
    try:
        amount = Decimal(value)
    except InvalidOperation:
        return None
    return amount if amount.is_finite() else None
