"""CPT/HCPCS reference catalogue for spine surgery and interventional pain procedures.

Pure Python (stdlib only, no Django): the coding engine, the scrubber and the tests read it without a database.

The rows live in ``billing/data/cpt_spine.csv``, one per code. Descriptors are our own plain words, never AMA CPT
text (it is licensed). Each row carries what the engine needs to build service lines: add-on status and the
primaries an add-on may follow, what one unit counts (``unit_basis``) and whether a line carries a count or always
one unit, the Medicare bilateral indicator, global days, and same-site bundling (``includes`` / ``excludes_with``).
Rows whose facts come from memory rather than a checked source say ``verify`` in ``verified``, with the doubt in
``source_note``.

``includes`` and ``excludes_with`` are same-site relations: "22630 includes 63047" means a laminectomy done to
prepare the 22630 interspace is not coded; at a different level it may be (with 59/XS where NCCI wants it). Whether
two lines are at the same site is the caller's question.
"""

from __future__ import annotations

import csv
import functools
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType

COLUMNS = (
    "code",
    "descriptor",
    "kind",
    "add_on",
    "primaries",
    "unit_basis",
    "units_per_line",
    "bilateral_rule",
    "global_days",
    "region",
    "family",
    "includes",
    "excludes_with",
    "verified",
    "source_note",
    "segments_min",
    "segments_max",
)

KINDS = frozenset({"CPT", "HCPCS"})
UNIT_BASES = frozenset(
    {
        "interspace",  # one disc space (L4-L5 is one)
        "vertebral_segment",  # one level fused or decompressed
        "vertebra_spanned",  # instrumentation: one line per construct, chosen by the vertebrae it spans
        "vertebral_body",  # corpectomy, vertebroplasty, kyphoplasty
        "joint_level",  # facet joint level (joints, not nerves)
        "foraminal_level",  # transforaminal injection level
        "session",  # once per operative/procedure session (or per joint where the code says so)
        "array",  # spinal cord stimulator electrode array (lead)
        "muscle_group",  # trigger points: the code is chosen by the number of muscles
        "drug_dose",  # HCPCS drug supply: units = dose given / dose per unit
        "device_per_interspace",  # interbody device, per interspace or contiguous defect
        "construct",  # one hardware construct (removal, reinsertion, pelvic extension, wiring)
        "time_15min",  # neuromonitoring, per 15 minutes
        "time_hour",  # neuromonitoring, per hour
    }
)
UNITS_PER_LINE = frozenset({"count", "one"})
# Medicare physician fee schedule bilateral surgery indicator: 0 modifier 50 not allowed, 1 modifier 50 allowed
# (150%), 2 already bilateral, 3 each side paid at 100%, 9 concept does not apply.
BILATERAL_RULES = frozenset({"0", "1", "2", "3", "9"})
GLOBAL_DAYS = frozenset({"000", "010", "090", "XXX", "ZZZ"})
REGIONS = frozenset({"cervical", "thoracic", "lumbar", "lumbosacral", "cervicothoracic", "sacral", "any"})
VERIFIED = frozenset({"domain knowledge", "verify"})
APPROACHES = frozenset({"posterior", "anterior"})
DESCRIPTOR_MAX_CHARS = 139  # short enough for a worklist cell and for the CMS-1500 line description

_CPT_CODE = re.compile(r"^(?:\d{5}|\d{4}[FTU])$")
_HCPCS_CODE = re.compile(r"^[A-V]\d{4}$")
_FAMILY = re.compile(r"^[a-z][a-z0-9_]*$")
_DOSE_PER_UNIT = re.compile(r"\bone unit = (\d+(?:\.\d+)?) mg\b")

# Posterior instrumentation of one or two vertebrae (one level of pedicle screws, facet screws, C1-C2
# transarticular screws) is non-segmental: 22840, which has no segment range of its own (CODING_GUIDE.md).
_POSTERIOR_NON_SEGMENTAL = "22840"


@dataclass(frozen=True)
class CptCode:
    code: str
    descriptor: str
    kind: str
    add_on: bool
    primaries: tuple[str, ...]
    unit_basis: str
    units_per_line: str
    bilateral_rule: str
    global_days: str
    region: str
    family: str
    includes: tuple[str, ...]
    excludes_with: tuple[str, ...]
    verified: str
    source_note: str
    segments_min: int | None
    segments_max: int | None


def load(path: str | os.PathLike[str]) -> dict[str, CptCode]:
    """Read and validate a catalogue CSV; raise ValueError naming the file, line and code of the first bad row."""
    name = os.fspath(path)
    rows: dict[str, CptCode] = {}
    lines: dict[str, int] = {}
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None or tuple(h.strip() for h in header) != COLUMNS:
            raise ValueError(f"{name} line 1: header must be {','.join(COLUMNS)}, got {header!r}")
        for raw in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in raw):
                continue
            entry = _parse_row(raw, where=f"{name} line {line}")
            if entry.code in rows:
                raise ValueError(
                    f"{name} line {line} ({entry.code}): duplicate code, first defined on line {lines[entry.code]}"
                )
            rows[entry.code] = entry
            lines[entry.code] = line
    if not rows:
        raise ValueError(f"{name}: no rows")
    for entry in rows.values():
        if entry.add_on and not any(p in rows for p in entry.primaries):
            raise ValueError(
                f"{name} line {lines[entry.code]} ({entry.code}): add-on has no primary in the catalogue "
                f"(primaries: {' '.join(entry.primaries)})"
            )
    return rows


@functools.cache
def catalogue() -> Mapping[str, CptCode]:
    """The shipped catalogue, loaded and validated once per process; read-only."""
    source = resources.files(__package__ or "billing") / "data" / "cpt_spine.csv"
    with resources.as_file(source) as path:
        return MappingProxyType(load(path))


def get(code: str) -> CptCode | None:
    return catalogue().get(_normalise(code))


def is_add_on(code: str) -> bool:
    """True for an add-on code; False for a primary and for a code the catalogue does not hold."""
    entry = get(code)
    return entry is not None and entry.add_on


def family(name: str) -> list[CptCode]:
    """The codes of one family, in catalogue order (empty for an unknown family)."""
    return [entry for entry in catalogue().values() if entry.family == name]


def families() -> list[str]:
    return sorted({entry.family for entry in catalogue().values()})


def instrumentation_code(*, approach: str, segments: int) -> str | None:
    """The instrumentation add-on for one construct spanning `segments` vertebrae (L4, L5, S1 = 3 -> 22842).

    Posterior: 1-2 vertebrae -> 22840 (non-segmental, e.g. one level of pedicle screws), 3-6 -> 22842,
    7-12 -> 22843, 13+ -> 22844. Anterior: 2-3 -> 22845, 4-7 -> 22846, 8+ -> 22847; one vertebra has no
    anterior instrumentation code (None).
    """
    if approach not in APPROACHES:
        raise ValueError(f"approach must be one of {sorted(APPROACHES)}, got {approach!r}")
    if isinstance(segments, bool) or not isinstance(segments, int) or segments < 1:
        raise ValueError(f"segments must be a whole number of vertebrae >= 1, got {segments!r}")
    for entry in family(f"instrumentation_{approach}"):
        if entry.segments_min is None:
            continue
        if segments >= entry.segments_min and (entry.segments_max is None or segments <= entry.segments_max):
            return entry.code
    if approach == "posterior" and segments <= 2:
        return _POSTERIOR_NON_SEGMENTAL
    return None


def includes(code_a: str, code_b: str) -> bool:
    """True when code_a's work includes code_b at the same site (code_b is not coded there)."""
    entry = get(code_a)
    return entry is not None and _normalise(code_b) in entry.includes


def excluded_together(code_a: str, code_b: str) -> bool:
    """True when CPT/NCCI say not to report the two codes together for the same site, in either direction.

    A code that includes the other counts as excluded with it.
    """
    a, b = get(code_a), get(code_b)
    code_a, code_b = _normalise(code_a), _normalise(code_b)
    if a is not None and (code_b in a.excludes_with or code_b in a.includes):
        return True
    return b is not None and (code_a in b.excludes_with or code_a in b.includes)


def included_in(code: str) -> list[str]:
    """The codes whose work includes `code` (77003 -> the injection codes with imaging guidance built in)."""
    code = _normalise(code)
    return [entry.code for entry in catalogue().values() if code in entry.includes]


def dose_per_unit_mg(code: str) -> float | None:
    """Milligrams per billing unit of a drug-supply HCPCS code (J3301 -> 10.0); None for other codes."""
    entry = get(code)
    if entry is None or entry.unit_basis != "drug_dose":
        return None
    return _dose_from_descriptor(entry.descriptor)


@functools.cache
def _work_rvus() -> Mapping[str, float]:
    source = resources.files(__package__ or "billing") / "data" / "work_rvu.csv"
    out: dict[str, float] = {}
    with resources.as_file(source) as path, open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            value = float(row["work_rvu"])
            if not 0 < value < 200:
                raise ValueError(f"{path}: work RVU for {row['code']} out of range: {value}")
            out[_normalise(row["code"])] = value
    return MappingProxyType(out)


def work_rvu(code: str) -> float | None:
    """The Medicare physician fee schedule work RVU of a primary procedure, used to rank the procedures of one
    session (modifier 51 goes on every primary after the first). The values are those of the CMS national
    PPRRVU file as we remember them (``work_rvu.csv`` says "verify"); only their order matters here. None for a
    code the table does not hold."""
    return _work_rvus().get(_normalise(code))


def _normalise(code: str) -> str:
    return code.strip().upper()


def _dose_from_descriptor(descriptor: str) -> float | None:
    match = _DOSE_PER_UNIT.search(descriptor)
    return float(match.group(1)) if match else None


def _parse_row(raw: list[str], *, where: str) -> CptCode:
    if len(raw) != len(COLUMNS):
        raise ValueError(f"{where}: expected {len(COLUMNS)} columns, got {len(raw)}")
    cell = dict(zip(COLUMNS, (value.strip() for value in raw), strict=True))
    code = cell["code"]
    where = f"{where} ({code or 'no code'})"

    def fail(problem: str) -> ValueError:
        return ValueError(f"{where}: {problem}")

    kind = cell["kind"]
    if kind not in KINDS:
        raise fail(f"kind must be one of {sorted(KINDS)}, got {kind!r}")
    if not _code_matches_kind(code, kind):
        raise fail(f"code must be a 5-character {kind} code")
    descriptor = cell["descriptor"]
    if not descriptor:
        raise fail("descriptor is empty")
    if len(descriptor) > DESCRIPTOR_MAX_CHARS:
        raise fail(f"descriptor has {len(descriptor)} characters, at most {DESCRIPTOR_MAX_CHARS} allowed")
    if cell["add_on"] not in ("Y", "N"):
        raise fail(f"add_on must be Y or N, got {cell['add_on']!r}")
    add_on = cell["add_on"] == "Y"
    primaries = _codes(cell["primaries"], column="primaries", fail=fail, own=code)
    if add_on and not primaries:
        raise fail("add-on code lists no primaries")
    if not add_on and primaries:
        raise fail("primary code must not list primaries")
    for column, allowed in (
        ("unit_basis", UNIT_BASES),
        ("units_per_line", UNITS_PER_LINE),
        ("bilateral_rule", BILATERAL_RULES),
        ("global_days", GLOBAL_DAYS),
        ("region", REGIONS),
        ("verified", VERIFIED),
    ):
        if cell[column] not in allowed:
            raise fail(f"{column} must be one of {sorted(allowed)}, got {cell[column]!r}")
    if cell["global_days"] == "ZZZ" and not add_on:
        raise fail("global days ZZZ belong to add-on codes only")
    if not _FAMILY.match(cell["family"]):
        raise fail(f"family must be a snake_case key, got {cell['family']!r}")
    if cell["verified"] == "verify" and not cell["source_note"]:
        raise fail("a row marked verify needs a source_note saying what to check")
    if cell["unit_basis"] == "drug_dose" and _dose_from_descriptor(descriptor) is None:
        raise fail("drug_dose descriptor must state 'one unit = N mg'")
    segments_min = _segments(cell["segments_min"], column="segments_min", fail=fail)
    segments_max = _segments(cell["segments_max"], column="segments_max", fail=fail)
    if segments_min is not None and segments_max is not None and segments_min > segments_max:
        raise fail(f"segments_min {segments_min} is above segments_max {segments_max}")
    return CptCode(
        code=code,
        descriptor=descriptor,
        kind=kind,
        add_on=add_on,
        primaries=primaries,
        unit_basis=cell["unit_basis"],
        units_per_line=cell["units_per_line"],
        bilateral_rule=cell["bilateral_rule"],
        global_days=cell["global_days"],
        region=cell["region"],
        family=cell["family"],
        includes=_codes(cell["includes"], column="includes", fail=fail, own=code),
        excludes_with=_codes(cell["excludes_with"], column="excludes_with", fail=fail, own=code),
        verified=cell["verified"],
        source_note=cell["source_note"],
        segments_min=segments_min,
        segments_max=segments_max,
    )


def _code_matches_kind(code: str, kind: str) -> bool:
    pattern = _CPT_CODE if kind == "CPT" else _HCPCS_CODE
    return bool(pattern.match(code))


def _codes(value: str, *, column: str, fail: Callable[[str], ValueError], own: str) -> tuple[str, ...]:
    codes = tuple(value.split())
    for code in codes:
        if not (_CPT_CODE.match(code) or _HCPCS_CODE.match(code)):
            raise fail(f"{column} holds {code!r}, not a 5-character CPT/HCPCS code")
        if code == own:
            raise fail(f"{column} names the code itself")
    if len(set(codes)) != len(codes):
        raise fail(f"{column} repeats a code")
    return codes


def _segments(value: str, *, column: str, fail: Callable[[str], ValueError]) -> int | None:
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise fail(f"{column} must be a whole number >= 1 or empty, got {value!r}")
    return int(value)
