"""ICD-10-CM reference for the coding engine, on top of simple-icd-10-cm (pure Python, no Django).

What a coder checks for every diagnosis code, answered from the CDC tabular list:
- `normalize("m50122")` -> "M50.122": one written form (with the dot) everywhere in IamBilly.
- `is_billable(code)`: valid AND a leaf. Only leaf codes ("billable"/"valid for HIPAA transactions") may go on
  a claim; "M50.12" is a valid subcategory but not billable (CODING_GUIDE.md: `is_valid_item and is_leaf`).
- `describe(code)`, `excludes1(code)` and `conflicts(a, b)`: an Excludes1 note ("NOT CODED HERE") means the
  two codes are never reported together (ICD-10-CM Official Guidelines I.A.12.a). Notes written on a
  category apply to every code below it, so a code inherits the notes of its ancestors.
- `seventh_character(code, ...)`: the 7th character chosen by its meaning in the tabular ("initial encounter
  for closed fracture"), with the "X" placeholders the guidelines require (I.A.4-5).

Code set versions. ICD-10-CM changes every October 1 (the federal fiscal year; FY2026 runs 2025-10-01 to
2026-09-30) and sometimes on April 1. A claim is coded with the release in effect on the date of service.
`code_set_for(date)` picks it from a small registry: the release bundled with simple-icd-10-cm (CDC April
2026, effective 2026-04-01) plus any release imported with `import_release()` into a releases folder.

Global state, kept under control here: simple-icd-10-cm holds ONE loaded release in module globals, and
switching (`change_version`) re-parses a 10 MB XML file (about 2 s). Every lookup in this module therefore
takes the lock, makes sure the wanted release is loaded (switching only when it differs from the loaded one)
and reads while still holding the lock. Nothing else in IamBilly may call `simple_icd_10_cm.change_version`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path

import simple_icd_10_cm as cm

# ICD-10-CM code shape: letter, digit, letter-or-digit, then up to four more characters after the dot.
_CODE_SHAPE = re.compile(r"^[A-Z][0-9][0-9A-Z](?:\.[0-9A-Z]{1,4})?$")
# A code, code prefix ("M51.1-", "M50.-") or range ("M43.3-M43.5X9") inside the parentheses of a tabular note.
_NOTE_REF = re.compile(
    r"(?<![0-9A-Z])([A-Z][0-9][0-9A-Z](?:\.[0-9A-Z]{0,4})?)(-(?![A-Z][0-9]))?"
    r"(?:-([A-Z][0-9][0-9A-Z](?:\.[0-9A-Z]{0,4})?))?"
)

# Where imported releases live unless a caller names a folder: set by deployment, never by code.
RELEASES_DIR_ENV = "BILLY_ICD10CM_RELEASES_DIR"
# A real CDC release holds about 74,000 billable codes; anything far below is a truncated or wrong file.
_MIN_BILLABLE_CODES = 60_000
# Categories the spine engine codes from: a release without them cannot serve IamBilly.
_REQUIRED_CATEGORIES = ("M47", "M48", "M50", "M51", "M54", "M80", "M96", "S32")


class ReleaseImportError(ValueError):
    """A file offered as a CDC ICD-10-CM release could not be validated; the message says why."""


@dataclass(frozen=True)
class CodeSetVersion:
    """One ICD-10-CM release and the first date of service it applies to."""

    name: str                       # "ICD-10-CM April 2026"
    effective: date                 # first date of service coded with it
    tabular_path: Path | None = None  # None: the release bundled with simple-icd-10-cm
    codes_path: Path | None = None
    note: str = ""                  # why this version was chosen when the date did not fall inside it

    @property
    def fiscal_year(self) -> int:
        return fiscal_year(self.effective)

    @property
    def is_bundled(self) -> bool:
        return self.tabular_path is None

    def same_release(self, other: CodeSetVersion) -> bool:
        return (self.tabular_path, self.codes_path) == (other.tabular_path, other.codes_path)


BUNDLED = CodeSetVersion("ICD-10-CM April 2026", date(2026, 4, 1))

_lock = threading.RLock()
_loaded: CodeSetVersion = BUNDLED  # simple-icd-10-cm loads the bundled release when imported


def fiscal_year(day: date) -> int:
    """The federal fiscal year of a date: FY2026 is 2025-10-01 .. 2026-09-30 (new codes start October 1)."""
    return day.year + 1 if day.month >= 10 else day.year


# --- codes ------------------------------------------------------------------------------------------------


def normalize(code: str) -> str:
    """'m50122', ' M50.122 ' -> 'M50.122'. Raises ValueError when the text cannot be an ICD-10-CM code."""
    compact = re.sub(r"[\s.]", "", code or "").upper()
    dotted = compact if len(compact) <= 3 else f"{compact[:3]}.{compact[3:]}"
    if not _CODE_SHAPE.match(dotted):
        raise ValueError(f"not an ICD-10-CM code: {code!r}")
    return dotted


def _compact(code: str) -> str:
    return code.replace(".", "").upper()


@contextmanager
def code_set(version: CodeSetVersion | None = None) -> Iterator[CodeSetVersion]:
    """Hold the lock with `version` loaded (None: whatever is loaded now) for a series of lookups."""
    global _loaded
    with _lock:
        if version is not None and not version.same_release(_loaded):
            _load(version)
            _loaded = version
        yield version or _loaded


def loaded_version() -> CodeSetVersion:
    return _loaded


def _load(version: CodeSetVersion) -> None:
    if version.is_bundled:
        cm.change_version()
    else:
        cm.change_version(str(version.codes_path), str(version.tabular_path), suppress_warnings=True)


def _version_on(on: date | None) -> CodeSetVersion | None:
    return code_set_for(on) if on is not None else None


def is_valid(code: str, *, on: date | None = None) -> bool:
    """A code, category or subcategory of the release in effect `on` (None: the loaded release)."""
    try:
        dotted = normalize(code)
    except ValueError:
        return False
    with code_set(_version_on(on)):
        return cm.is_valid_item(dotted)


def is_billable(code: str, *, on: date | None = None) -> bool:
    """Valid and a leaf: the only codes a claim may carry."""
    try:
        dotted = normalize(code)
    except ValueError:
        return False
    with code_set(_version_on(on)):
        return cm.is_valid_item(dotted) and cm.is_leaf(dotted)


def describe(code: str, *, on: date | None = None) -> str:
    """The tabular description ("Cervical disc disorder at C5-C6 level with radiculopathy"); KeyError if unknown."""
    dotted = normalize(code)
    with code_set(_version_on(on)):
        if not cm.is_valid_item(dotted):
            raise KeyError(dotted)
        return cm.get_description(dotted)


def children(code: str, *, on: date | None = None) -> list[str]:
    dotted = normalize(code)
    with code_set(_version_on(on)):
        return cm.get_children(dotted) if cm.is_valid_item(dotted) else []


def _lineage(dotted: str) -> list[str]:
    """The code and its ancestors up to the chapter (caller holds the lock)."""
    return [dotted, *cm.get_ancestors(dotted)]


def excludes1_notes(code: str, *, on: date | None = None) -> list[tuple[str, str]]:
    """(code the note is written on, note text) for every Excludes1 note of the code and its ancestors."""
    dotted = normalize(code)
    with code_set(_version_on(on)):
        if not cm.is_valid_item(dotted):
            raise KeyError(dotted)
        return [(owner, note) for owner in _lineage(dotted) for note in cm.get_excludes1(owner)]


def excludes1(code: str, *, on: date | None = None) -> list[str]:
    """The codes an Excludes1 note puts out of reach, as written: "M50.1", "M51.1-", "M43.3-M43.5X9"."""
    refs: list[str] = []
    for _owner, note in excludes1_notes(code, on=on):
        for ref in note_refs(note):
            if ref not in refs:
                refs.append(ref)
    return refs


@cache
def note_refs(note: str) -> tuple[str, ...]:
    refs = []
    for group in re.findall(r"\(([^()]*)\)", note):
        for match in _NOTE_REF.finditer(group.upper()):
            first, dash, last = match.groups()
            first = first.rstrip(".")
            refs.append(f"{first}-{last}" if last else f"{first}-" if dash else first)
    return tuple(refs)


def covers(ref: str, code: str) -> bool:
    """Whether a note reference ("M51.1-", "M50.1", "M43.3-M43.5X9") includes `code`.

    A reference to a category or subcategory includes every code below it, written with or without the
    trailing dash; a range includes everything from its first code to the last code and that code's children.
    """
    target = _compact(normalize(code))
    if "-" in ref.rstrip("-"):
        first, last = (_compact(part) for part in ref.split("-", 1))
        return first <= target and (target <= last or target.startswith(last))
    return target.startswith(_compact(ref.rstrip("-").rstrip(".")))


def conflicts(a: str, b: str, *, on: date | None = None) -> bool:
    """True when an Excludes1 note of either code (or of its ancestors) names the other code or a parent of it."""
    try:
        return any(covers(ref, b) for ref in excludes1(a, on=on)) or any(covers(ref, a) for ref in excludes1(b, on=on))
    except KeyError:
        return False


def seventh_character(code: str, encounter: str = "initial", *, open_fracture: bool = False,
                      on: date | None = None) -> str:
    """Add the 7th character that the tabular defines for this encounter, with "X" placeholders.

    `encounter` is a word of the tabular's own definitions: "initial", "routine healing", "delayed healing",
    "nonunion", "malunion", "sequela". Fracture categories that split the initial encounter into closed and
    open (S22, S32) get "closed" unless the note documents an open fracture (Guidelines I.C.19.c.1: a fracture
    not indicated as open or closed is coded closed). Returns the billable code; ValueError if none fits.
    """
    dotted = normalize(code)
    with code_set(_version_on(on)):
        if not cm.is_valid_item(dotted):
            raise KeyError(dotted)
        definitions = cm.get_seven_chr_def(dotted, search_in_ancestors=True)
        if not definitions:
            raise ValueError(f"{dotted} takes no 7th character")
        wanted = encounter.lower()
        matches = [char for char, meaning in definitions.items() if wanted in meaning.lower()]
        if wanted == "initial" and len(matches) > 1:
            kind = "open" if open_fracture else "closed"
            matches = [char for char in matches if kind in definitions[char].lower()] or matches[:1]
        if not matches:
            raise ValueError(f"{dotted} has no 7th character for {encounter!r}")
        base = dotted if len(dotted) > 3 else dotted + "."
        full = base.ljust(7, "X") + matches[0]
        if not (cm.is_valid_item(full) and cm.is_leaf(full)):
            raise ValueError(f"{full} is not billable")
        return full


# --- versions --------------------------------------------------------------------------------------------


def known_versions(releases_dir: Path | str | None = None) -> list[CodeSetVersion]:
    """The bundled release plus every release imported into `releases_dir` (or $BILLY_ICD10CM_RELEASES_DIR)."""
    versions = [BUNDLED]
    folder = releases_dir or os.environ.get(RELEASES_DIR_ENV)
    if folder and Path(folder).is_dir():
        for manifest_path in sorted(Path(folder).glob("*/manifest.json")):
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
            versions.append(CodeSetVersion(
                name=manifest["name"],
                effective=date.fromisoformat(manifest["effective"]),
                tabular_path=manifest_path.parent / manifest["tabular_file"],
                codes_path=manifest_path.parent / manifest["codes_file"],
            ))
    # An imported copy effective on the same day replaces the bundled one (the newer import wins).
    by_day: dict[date, CodeSetVersion] = {}
    for version in versions:
        by_day[version.effective] = version
    return sorted(by_day.values(), key=lambda v: v.effective)


def code_set_for(date_of_service: date, *, releases_dir: Path | str | None = None) -> CodeSetVersion:
    """The release in effect on the date of service: the latest one effective on or before it.

    A date before the earliest known release is coded with the earliest and says so in `note`; a date past
    the fiscal year of the newest release is coded with the newest and says that a newer release is due.
    """
    versions = known_versions(releases_dir)
    in_effect = [v for v in versions if v.effective <= date_of_service]
    if not in_effect:
        earliest = versions[0]
        return replace(earliest, note=(
            f"Date of service {date_of_service.isoformat()} is before the earliest known release "
            f"({earliest.name}, effective {earliest.effective.isoformat()}); coded with it. Import the release "
            f"for FY{fiscal_year(date_of_service)} to code this date exactly."))
    chosen = in_effect[-1]
    if chosen is versions[-1] and fiscal_year(date_of_service) > chosen.fiscal_year:
        return replace(chosen, note=(
            f"Date of service {date_of_service.isoformat()} falls in FY{fiscal_year(date_of_service)}, after the "
            f"newest known release ({chosen.name}, FY{chosen.fiscal_year}); coded with it. Import the "
            f"FY{fiscal_year(date_of_service)} release."))
    return chosen


def import_release(xml_path: Path | str, *, codes_path: Path | str, effective: date, dest_dir: Path | str,
                   name: str | None = None) -> CodeSetVersion:
    """Validate a CDC ICD-10-CM release and copy it into `dest_dir/<name>/` with a manifest.

    A release is two CDC files: the tabular XML (`icd10cm-tabular-<year>.xml`) and the code list
    (`icd10cm-codes-<year>.txt`), which simple-icd-10-cm needs to know which 7th-character codes exist.
    Validation loads both with `simple_icd_10_cm.change_version` and checks that the result looks like a
    full release (enough billable codes, the spine categories present); then the previously loaded release
    is restored, whatever happened. `code_set_for(..., releases_dir=dest_dir)` picks the copy up.
    """
    xml_path, codes_path, dest_dir = Path(xml_path), Path(codes_path), Path(dest_dir)
    for path in (xml_path, codes_path):
        if not path.is_file():
            raise ReleaseImportError(f"{path} does not exist")
    xml_year = _xml_version(xml_path)
    name = name or f"ICD-10-CM {effective.isoformat()}"
    stats = _validate(xml_path, codes_path)
    folder = dest_dir / _slug(name)
    folder.mkdir(parents=True, exist_ok=True)
    tabular_copy, codes_copy = folder / "tabular.xml", folder / "codes.txt"
    shutil.copyfile(xml_path, tabular_copy)
    shutil.copyfile(codes_path, codes_copy)
    manifest = {
        "name": name,
        "effective": effective.isoformat(),
        "fiscal_year": fiscal_year(effective),
        "xml_version": xml_year,
        "tabular_file": tabular_copy.name,
        "codes_file": codes_copy.name,
        "tabular_sha256": _sha256(tabular_copy),
        "codes_sha256": _sha256(codes_copy),
        "source_tabular": str(xml_path),
        "source_codes": str(codes_path),
        "billable_codes": stats["billable"],
        "imported_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return CodeSetVersion(name, effective, tabular_copy, codes_copy)


def _xml_version(xml_path: Path) -> str:
    """The <version> of a CDC tabular file, read from its head (the full parse happens in simple-icd-10-cm)."""
    with xml_path.open("rb") as handle:
        head = handle.read(4096).decode("utf-8", errors="replace")
    if "<ICD10CM.tabular" not in head:
        raise ReleaseImportError(f"{xml_path.name} is not an ICD-10-CM tabular file (no <ICD10CM.tabular> root)")
    version = re.search(r"<version>\s*([^<]*?)\s*</version>", head)
    return version.group(1) if version else ""


def _validate(xml_path: Path, codes_path: Path) -> dict[str, int]:
    global _loaded
    with _lock:
        previous = _loaded
        try:
            cm.change_version(str(codes_path), str(xml_path), suppress_warnings=True)
            _loaded = CodeSetVersion("release being validated", date.min, xml_path, codes_path)
            missing = [c for c in _REQUIRED_CATEGORIES if not cm.is_valid_item(c)]
            if missing:
                raise ReleaseImportError(f"{xml_path.name} lacks the categories {', '.join(missing)}")
            billable = sum(1 for c in cm.get_all_codes() if _CODE_SHAPE.match(c) and cm.is_leaf(c))
            if billable < _MIN_BILLABLE_CODES:
                raise ReleaseImportError(
                    f"{xml_path.name} has {billable} billable codes; a full release has about 74,000")
            return {"billable": billable}
        except ReleaseImportError:
            raise
        except Exception as error:  # the library raises ParseError, ValueError, IndexError on bad files
            raise ReleaseImportError(f"simple-icd-10-cm could not load {xml_path.name}: {error}") from error
        finally:
            _load(previous)
            _loaded = previous


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def billable_codes(*, on: date | None = None) -> list[tuple[str, str]]:
    """Every billable code of the release in effect `on` with its description, in tabular order (code search)."""
    with code_set(_version_on(on)):
        # get_all_codes lists a few codes twice (a category that is also its own block, e.g. B20).
        codes = dict.fromkeys(code for code in cm.get_all_codes(with_dots=True)
                              if _CODE_SHAPE.match(code) and cm.is_leaf(code))
        return [(code, cm.get_description(code)) for code in codes]
