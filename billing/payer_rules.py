"""Payer rules: a small declarative rule language for the edits a payer publishes in prose.

Coverage articles and payer manuals say things like "one spinal region per epidural session", "at most two
facet levels per session" or "no more than four sessions per region in a rolling 12 months". An admin writes
such a rule as a JSON mapping in the Django admin; `compile_rule` checks every part of it up front (unknown
keys, wrong types, negative numbers, codes IamBilly does not know, ICD-10-CM patterns that match nothing,
placeholders the message cannot fill) and raises `RuleError` naming the key path. Nothing an admin types is
ever evaluated as Python: the condition is a tree of the fixed condition kinds below, and the message is filled
by replacing `{name}` placeholders from a fixed whitelist with a regex (never `str.format`).

A rule::

    {"when": {"levels_over": {"codes": ["64490-64495"], "max": 2}},
     "severity": "error",
     "message": "{levels} facet joint levels in one session; the policy covers at most {max}.",
     "fix": "Bill the two levels the note documents as most symptomatic.",
     "payer_types": ["medicare"]}

Conditions (a mapping with several keys means all of them; `all`, `any` and `not` combine them):

- `codes_any`, `codes_all`, `codes_none`: lists of CPT/HCPCS codes or ranges ("64490-64495"), on the claim's lines.
- `modifiers_missing`, `modifiers_present`: a list of modifiers, checked on the lines carrying the codes the
  rest of the rule names; or a mapping {"codes": [...], "modifiers": [...]}. Missing: a line carries none of
  the modifiers listed (any one of them satisfies it). Present: a line carries at least one.
- `units_over` {codes, max}: the units of every line with those codes on this date of service add up to more.
- `levels_over` {codes, max}: more distinct levels ("L4-L5") across the lines with those codes. A line whose
  levels are unknown counts its units; a left and a right line of unknown levels count once (the larger side),
  since a bilateral injection at one level is still one level (billing article A57787, for LCD L33930).
- `groups_over` {groups: [[codes], [codes]], max}: more of the code groups appear (one spinal region per session).
- `diagnoses_any`, `diagnoses_none`: ICD-10-CM codes or prefixes ("M54.1" or "M54.1-": the code and all below it).
- `age_under`, `age_over` (whole years; an unknown age never fires), `sex_in` (["F", "M", "U"]).
- `place_of_service_in`, `place_of_service_not_in`: two-digit POS codes, of the claim or of any line.
- `history` {codes, days, max}: the distinct dates of service carrying any of those codes, among the patient's
  earlier claims within `days` before this date of service (every provider counts: frequency limits are per
  patient) plus this claim's date, are more than `max`. A claim without those codes never fires it: the limit is
  about the service being billed. "Rolling 12 months" is written as 365 days; a date exactly `days` before counts.

The lines a finding names are those whose codes the condition references; diagnosis, age, sex and place of
service are claim-level and name none.

Placeholders (message and fix): {rule} the rule id, {payer} the payer, {dos} the date of service, {lines} the
1-based line numbers, {codes} the referenced codes found on the claim; and, from the condition that gives them,
{modifiers}, {units}, {levels} ("3 levels (L3-L4, L4-L5, L5-S1)", the names when every line has them), {count},
{max}, {days}, {dates} (the earlier dates a history counted), {diagnoses}, {age}, {sex}, {pos}. A placeholder
the rule's condition cannot give (e.g. {units} without `units_over`) is refused when the rule is compiled.

Codes outside the spine catalogue. A rule may name a code that billing.cpt does not hold only if it is in
`RELATED_CODES` (imaging guidance, epidurography, office/hospital E/M, the post-operative visit) or has the shape
of a J-code (drugs, which the catalogue lists only four of). Anything else is refused: a typo in a code must not
silently make a rule that never fires.

The seed rules (billing/data/payer_rules_seed.json) are written from public CMS documents in our own words and
marked "status": "verify" until someone checks each against the current document.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from typing import Any, ClassVar

from billing import cpt, icd
from billing.coverage import PAYER_TYPE_LABELS, diagnosis_matches, in_payer_scope, normalized_diagnoses
from billing.results import Finding
from billing.scrub import ScrubClaim

SEVERITIES = ("error", "warning", "info")
PAYER_TYPES = frozenset(PAYER_TYPE_LABELS)
SEXES = frozenset({"F", "M", "U"})


def _code_span(first: int, last: int) -> set[str]:
    return {str(code) for code in range(first, last + 1)}


# Common codes billed around spine procedures that the spine catalogue does not hold (or holds only in part).
RELATED_CODES = frozenset({
    "76000", "77002", "77003", "77012", "76942", "72275",  # fluoroscopy, CT, ultrasound guidance; epidurography
    "99024",  # post-operative visit inside a global period (reported, not paid)
    *_code_span(99202, 99205), *_code_span(99211, 99215),  # office visits
    *_code_span(99221, 99223), *_code_span(99231, 99233), "99238", "99239",  # hospital visits and discharge
    *_code_span(99242, 99245), *_code_span(99252, 99255),  # consultations
    *_code_span(99281, 99285),  # emergency department
})
_J_CODE = re.compile(r"^J\d{4}$")
_CODE_SHAPE = re.compile(r"^(?:\d{5}|\d{4}[FTU]|[A-V]\d{4})$")
_MODIFIER = re.compile(r"^[0-9A-Z]{2}$")
_POS = re.compile(r"^\d{2}$")
_RULE_ID = re.compile(r"^[A-Z0-9][A-Z0-9-]{1,63}$")
_BRACED = re.compile(r"\{([^{}]*)\}")

ALWAYS_FILLED = frozenset({"rule", "payer", "dos", "lines", "codes"})
PLACEHOLDERS = ALWAYS_FILLED | frozenset({
    "modifiers", "units", "levels", "count", "max", "days", "dates", "diagnoses", "age", "sex", "pos",
})
SEED_FILE = "payer_rules_seed.json"
SEED_STATUSES = frozenset({"verify", "verified"})


class RuleError(ValueError):
    """A payer rule that cannot be compiled; the message names the key path and what is wrong with it."""


# --- what a condition returns ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Match:
    """A condition that holds: the lines it concerns and the placeholder values it found (name, value)."""

    lines: frozenset[int] = frozenset()
    values: tuple[tuple[str, str], ...] = ()

    def merged(self, other: Match) -> Match:
        return Match(self.lines | other.lines, self.values + other.values)


def _lines_with(claim: ScrubClaim, codes: frozenset[str]) -> list[int]:
    return [i for i, line in enumerate(claim.lines) if line.cpt.strip().upper() in codes]


def _found_codes(claim: ScrubClaim, indexes: Iterable[int]) -> str:
    return ", ".join(sorted({claim.lines[i].cpt.strip().upper() for i in indexes}))


# --- condition kinds ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Condition:
    gives: ClassVar[frozenset[str]] = frozenset()

    def match(self, claim: ScrubClaim) -> Match | None:
        raise NotImplementedError

    def children(self) -> tuple[Condition, ...]:
        return ()


@dataclass(frozen=True)
class AllOf(Condition):
    parts: tuple[Condition, ...]

    def match(self, claim):
        result = Match()
        for part in self.parts:
            found = part.match(claim)
            if found is None:
                return None
            result = result.merged(found)
        return result

    def children(self):
        return self.parts


@dataclass(frozen=True)
class AnyOf(Condition):
    parts: tuple[Condition, ...]

    def match(self, claim):
        found = [m for m in (part.match(claim) for part in self.parts) if m is not None]
        if not found:
            return None
        result = Match()
        for m in found:
            result = result.merged(m)
        return result

    def children(self):
        return self.parts


@dataclass(frozen=True)
class Not(Condition):
    part: Condition

    def match(self, claim):
        return Match() if self.part.match(claim) is None else None

    def children(self):
        return (self.part,)


@dataclass(frozen=True)
class CodesAny(Condition):
    codes: frozenset[str]

    def match(self, claim):
        indexes = _lines_with(claim, self.codes)
        return Match(frozenset(indexes), (("codes", _found_codes(claim, indexes)),)) if indexes else None


@dataclass(frozen=True)
class CodesAll(Condition):
    codes: frozenset[str]

    def match(self, claim):
        indexes = _lines_with(claim, self.codes)
        present = {claim.lines[i].cpt.strip().upper() for i in indexes}
        if present != self.codes:
            return None
        return Match(frozenset(indexes), (("codes", _found_codes(claim, indexes)),))


@dataclass(frozen=True)
class CodesNone(Condition):
    codes: frozenset[str]

    def match(self, claim):
        return None if _lines_with(claim, self.codes) else Match()


@dataclass(frozen=True)
class ModifiersMissing(Condition):
    modifiers: frozenset[str]
    codes: frozenset[str] | None = None  # None until compile_rule binds the codes the rest of the rule names
    gives: ClassVar[frozenset[str]] = frozenset({"modifiers"})

    def match(self, claim):
        indexes = [i for i in _lines_with(claim, self.codes or frozenset())
                   if not self.modifiers & set(claim.lines[i].modifiers)]
        return Match(frozenset(indexes), (("codes", _found_codes(claim, indexes)),
                                          ("modifiers", " or ".join(sorted(self.modifiers))))) if indexes else None


@dataclass(frozen=True)
class ModifiersPresent(Condition):
    modifiers: frozenset[str]
    codes: frozenset[str] | None = None
    gives: ClassVar[frozenset[str]] = frozenset({"modifiers"})

    def match(self, claim):
        indexes = [i for i in _lines_with(claim, self.codes or frozenset())
                   if self.modifiers & set(claim.lines[i].modifiers)]
        used = sorted({m for i in indexes for m in claim.lines[i].modifiers if m in self.modifiers})
        return Match(frozenset(indexes), (("codes", _found_codes(claim, indexes)),
                                          ("modifiers", ", ".join(used)))) if indexes else None


@dataclass(frozen=True)
class UnitsOver(Condition):
    codes: frozenset[str]
    max: int
    gives: ClassVar[frozenset[str]] = frozenset({"units", "max"})

    def match(self, claim):
        indexes = _lines_with(claim, self.codes)
        units = sum(claim.lines[i].units for i in indexes)
        if units <= self.max:
            return None
        return Match(frozenset(indexes), (("codes", _found_codes(claim, indexes)), ("units", str(units)),
                                          ("max", str(self.max))))


@dataclass(frozen=True)
class LevelsOver(Condition):
    codes: frozenset[str]
    max: int
    gives: ClassVar[frozenset[str]] = frozenset({"levels", "count", "max"})

    def match(self, claim):
        indexes = _lines_with(claim, self.codes)
        named: set[str] = set()
        unknown_by_side = {"LT": 0, "RT": 0, "": 0}
        for i in indexes:
            line = claim.lines[i]
            if line.levels:
                named.update(line.levels)
                continue
            side = "LT" if "LT" in line.modifiers else "RT" if "RT" in line.modifiers else ""
            unknown_by_side[side] += line.units
        count = len(named) + unknown_by_side[""] + max(unknown_by_side["LT"], unknown_by_side["RT"])
        if count <= self.max:
            return None
        levels = f"{count} level{'s' if count != 1 else ''}"
        if named and len(named) == count:
            levels += f" ({', '.join(sorted(named))})"
        return Match(frozenset(indexes), (("codes", _found_codes(claim, indexes)), ("levels", levels),
                                          ("count", str(count)), ("max", str(self.max))))


@dataclass(frozen=True)
class GroupsOver(Condition):
    groups: tuple[frozenset[str], ...]
    max: int
    gives: ClassVar[frozenset[str]] = frozenset({"count", "max"})

    @property
    def codes(self) -> frozenset[str]:
        return frozenset().union(*self.groups)

    def match(self, claim):
        present = [indexes for indexes in (_lines_with(claim, group) for group in self.groups) if indexes]
        if len(present) <= self.max:
            return None
        indexes = sorted({i for group in present for i in group})
        return Match(frozenset(indexes), (("codes", _found_codes(claim, indexes)), ("count", str(len(present))),
                                          ("max", str(self.max))))


@dataclass(frozen=True)
class DiagnosesAny(Condition):
    patterns: tuple[str, ...]
    gives: ClassVar[frozenset[str]] = frozenset({"diagnoses"})

    def match(self, claim):
        hits = [code for code in normalized_diagnoses(claim) if any(diagnosis_matches(p, code) for p in self.patterns)]
        return Match(values=(("diagnoses", ", ".join(hits)),)) if hits else None


@dataclass(frozen=True)
class DiagnosesNone(Condition):
    patterns: tuple[str, ...]

    def match(self, claim):
        hits = [code for code in normalized_diagnoses(claim) if any(diagnosis_matches(p, code) for p in self.patterns)]
        return None if hits else Match()


@dataclass(frozen=True)
class AgeUnder(Condition):
    years: int
    gives: ClassVar[frozenset[str]] = frozenset({"age"})

    def match(self, claim):
        if claim.patient_age is None or claim.patient_age >= self.years:
            return None
        return Match(values=(("age", str(claim.patient_age)),))


@dataclass(frozen=True)
class AgeOver(Condition):
    years: int
    gives: ClassVar[frozenset[str]] = frozenset({"age"})

    def match(self, claim):
        if claim.patient_age is None or claim.patient_age <= self.years:
            return None
        return Match(values=(("age", str(claim.patient_age)),))


@dataclass(frozen=True)
class SexIn(Condition):
    sexes: frozenset[str]
    gives: ClassVar[frozenset[str]] = frozenset({"sex"})

    def match(self, claim):
        sex = (claim.patient_sex or "U").upper()
        return Match(values=(("sex", sex),)) if sex in self.sexes else None


def _places_of_service(claim: ScrubClaim) -> list[str]:
    return [line.place_of_service or claim.place_of_service for line in claim.lines] or [claim.place_of_service]


@dataclass(frozen=True)
class PlaceOfServiceIn(Condition):
    places: frozenset[str]
    gives: ClassVar[frozenset[str]] = frozenset({"pos"})

    def match(self, claim):
        hits = sorted({pos for pos in _places_of_service(claim) if pos in self.places})
        return Match(values=(("pos", ", ".join(hits)),)) if hits else None


@dataclass(frozen=True)
class PlaceOfServiceNotIn(Condition):
    places: frozenset[str]
    gives: ClassVar[frozenset[str]] = frozenset({"pos"})

    def match(self, claim):
        hits = sorted({pos for pos in _places_of_service(claim) if pos not in self.places})
        return Match(values=(("pos", ", ".join(hits)),)) if hits else None


@dataclass(frozen=True)
class History(Condition):
    codes: frozenset[str]
    days: int
    max: int
    gives: ClassVar[frozenset[str]] = frozenset({"count", "dates", "days", "max"})

    def match(self, claim):
        indexes = _lines_with(claim, self.codes)
        if not indexes:
            return None
        start = claim.date_of_service - dt.timedelta(days=self.days)
        earlier = {prior.date_of_service for prior in claim.prior_claims
                   if start <= prior.date_of_service < claim.date_of_service
                   and any(line.cpt.strip().upper() in self.codes for line in prior.lines)}
        count = len(earlier) + 1
        if count <= self.max:
            return None
        return Match(frozenset(indexes), (
            ("codes", _found_codes(claim, indexes)), ("count", str(count)),
            ("dates", ", ".join(day.isoformat() for day in sorted(earlier))), ("days", str(self.days)),
            ("max", str(self.max))))


# --- the compiled rule -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PayerRule:
    rule_id: str
    severity: str
    message: str
    fix: str
    condition: Condition
    payer_types: frozenset[str] = frozenset()  # empty: every payer
    payer_ids: frozenset[str] = frozenset()  # empty: every payer
    effective: dt.date | None = None
    ends: dt.date | None = None
    source_title: str = ""
    source_passage: str = ""
    source_section: str = ""

    def applies_to(self, claim: ScrubClaim) -> bool:
        """The claim's payer is in the rule's scope and its date of service inside the rule's dates."""
        return in_payer_scope(claim, payer_types=self.payer_types, payer_ids=self.payer_ids,
                              effective=self.effective, ends=self.ends)


def rule_findings(claim: ScrubClaim, rules: Iterable[PayerRule]) -> list[Finding]:
    """A finding for every rule in scope (payer, dates) whose condition holds for the claim."""
    findings = []
    for rule in rules:
        if not rule.applies_to(claim):
            continue
        found = rule.condition.match(claim)
        if found is None:
            continue
        values = _values(claim, rule, found)
        findings.append(Finding(
            rule.rule_id, rule.severity, _fill(rule.message, values), lines=tuple(sorted(found.lines)),
            fix=_fill(rule.fix, values), source_title=rule.source_title, source_passage=rule.source_passage,
            source_section=rule.source_section, source_ref=f"payer-rule:{rule.rule_id}"))
    return findings


def _payer_words(claim: ScrubClaim) -> str:
    label = PAYER_TYPE_LABELS.get(claim.payer_type, "the payer")
    return f"{label} (payer id {claim.payer_id})" if claim.payer_id else label


def _values(claim: ScrubClaim, rule: PayerRule, found: Match) -> dict[str, str]:
    collected: dict[str, list[str]] = {}
    for name, value in found.values:
        for part in (value.split(", ") if name == "codes" else [value]):
            if part and part not in collected.setdefault(name, []):
                collected[name].append(part)
    values = {name: ", ".join(sorted(parts) if name == "codes" else parts) for name, parts in collected.items()}
    values.update(rule=rule.rule_id, payer=_payer_words(claim), dos=claim.date_of_service.isoformat(),
                  lines=", ".join(str(i + 1) for i in sorted(found.lines)))
    values.setdefault("codes", "")
    return values


def _fill(text: str, values: Mapping[str, str]) -> str:
    # Only whitelisted names reach here (compile_rule refused the rest); a name with no value becomes empty.
    return _BRACED.sub(lambda m: values.get(m.group(1), ""), text)


# --- compiling ---------------------------------------------------------------------------------------------


def compile_rule(*, rule_id: str, when: Mapping, severity: str, message: str, fix: str = "",
                 payer_types: Iterable[str] = (), payer_ids: Iterable[str] = (),
                 effective: dt.date | str | None = None, ends: dt.date | str | None = None,
                 source_title: str = "", source_passage: str = "", source_section: str = "") -> PayerRule:
    """Validate a rule as an admin wrote it and compile its condition; RuleError names the first problem."""
    if not isinstance(rule_id, str) or not _RULE_ID.match(rule_id):
        raise RuleError(f"rule_id: use capital letters, digits and hyphens (ESI-ONE-REGION), got {rule_id!r}")
    if severity not in SEVERITIES:
        raise RuleError(f"severity: must be one of {', '.join(SEVERITIES)}, got {severity!r}")
    for name, text in (("message", message), ("fix", fix), ("source_title", source_title),
                       ("source_passage", source_passage), ("source_section", source_section)):
        if not isinstance(text, str):
            raise RuleError(f"{name}: must be text, got {type(text).__name__}")
    if not message.strip():
        raise RuleError("message: must say what is wrong, got an empty text")
    types = _strings(payer_types, "payer_types")
    for i, payer_type in enumerate(types):
        if payer_type not in PAYER_TYPES:
            raise RuleError(f"payer_types[{i}]: {payer_type!r} is not a payer type "
                            f"(known: {', '.join(sorted(PAYER_TYPES))})")
    ids = [payer_id.strip() for payer_id in _strings(payer_ids, "payer_ids")]
    for i, payer_id in enumerate(ids):
        if not payer_id:
            raise RuleError(f"payer_ids[{i}]: is empty")
    start, end = _date(effective, "effective"), _date(ends, "ends")
    if start and end and end < start:
        raise RuleError(f"ends: {end.isoformat()} is before effective {start.isoformat()}")
    if not isinstance(when, Mapping):
        raise RuleError(f"when: must be a mapping of conditions, got {type(when).__name__}")
    condition = _compile(when, "when")
    codes = _referenced_codes(condition)
    if not codes and _has_unbound_modifiers(condition):
        raise RuleError("when: modifiers_missing/modifiers_present need codes and the rule names none; write "
                        '{"codes": [...], "modifiers": [...]}')
    condition = _bind_modifier_codes(condition, codes)
    gives = ALWAYS_FILLED | _given(condition)
    for name, text in (("message", message), ("fix", fix)):
        for placeholder in _BRACED.findall(text):
            if placeholder not in PLACEHOLDERS:
                raise RuleError(f"{name}: {{{placeholder}}} is not a placeholder "
                                f"(known: {', '.join('{' + p + '}' for p in sorted(PLACEHOLDERS))})")
            if placeholder not in gives:
                raise RuleError(f"{name}: {{{placeholder}}} has no value in this rule: no condition outside "
                                f"'not' gives it ({_GIVERS[placeholder]} do)")
    return PayerRule(rule_id=rule_id, severity=severity, message=message, fix=fix, condition=condition,
                     payer_types=frozenset(types), payer_ids=frozenset(ids), effective=start, ends=end,
                     source_title=source_title, source_passage=source_passage, source_section=source_section)


_GIVERS = {
    "modifiers": "modifiers_missing and modifiers_present",
    "units": "units_over",
    "levels": "levels_over",
    "count": "levels_over, groups_over and history",
    "max": "units_over, levels_over, groups_over and history",
    "days": "history",
    "dates": "history",
    "diagnoses": "diagnoses_any",
    "age": "age_under and age_over",
    "sex": "sex_in",
    "pos": "place_of_service_in and place_of_service_not_in",
}


def _given(condition: Condition) -> frozenset[str]:
    if isinstance(condition, Not):
        return frozenset()
    return condition.gives.union(*(_given(child) for child in condition.children()))


def _referenced_codes(condition: Condition) -> frozenset[str]:
    own = getattr(condition, "codes", None) or frozenset()
    return frozenset(own).union(*(_referenced_codes(child) for child in condition.children()))


def _has_unbound_modifiers(condition: Condition) -> bool:
    if isinstance(condition, ModifiersMissing | ModifiersPresent):
        return condition.codes is None
    return any(_has_unbound_modifiers(child) for child in condition.children())


def _bind_modifier_codes(condition: Condition, codes: frozenset[str]) -> Condition:
    if isinstance(condition, ModifiersMissing | ModifiersPresent) and condition.codes is None:
        return replace(condition, codes=codes)
    if isinstance(condition, AllOf | AnyOf):
        return replace(condition, parts=tuple(_bind_modifier_codes(part, codes) for part in condition.parts))
    if isinstance(condition, Not):
        return replace(condition, part=_bind_modifier_codes(condition.part, codes))
    return condition


def _compile(raw: Any, path: str) -> Condition:
    if not isinstance(raw, Mapping):
        raise RuleError(f"{path}: must be a mapping of conditions, got {type(raw).__name__}")
    if not raw:
        raise RuleError(f"{path}: is empty; name at least one condition")
    parts = []
    for key, value in raw.items():
        compiler = _COMPILERS.get(key)
        if compiler is None:
            raise RuleError(f"{path}.{key}: unknown condition (known: {', '.join(sorted(_COMPILERS))})")
        parts.append(compiler(value, f"{path}.{key}"))
    return parts[0] if len(parts) == 1 else AllOf(tuple(parts))


def _combined(kind: type[AllOf] | type[AnyOf]) -> Callable[[Any, str], Condition]:
    def compile_parts(value: Any, path: str) -> Condition:
        if not isinstance(value, list) or not value:
            raise RuleError(f"{path}: must be a non-empty list of conditions")
        return kind(tuple(_compile(part, f"{path}[{i}]") for i, part in enumerate(value)))
    return compile_parts


def _strings(value: Any, path: str) -> list[str]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise RuleError(f"{path}: must be a list, got {type(value).__name__}")
    items = list(value)
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise RuleError(f"{path}[{i}]: must be text, got {type(item).__name__} {item!r}")
    return items


def _non_empty_strings(value: Any, path: str) -> list[str]:
    items = _strings(value, path)
    if not items:
        raise RuleError(f"{path}: is empty")
    return items


def _whole_number(value: Any, path: str, *, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise RuleError(f"{path}: must be a whole number, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise RuleError(f"{path}: must be {minimum} or more, got {value}")
    return value


def _date(value: Any, path: str) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise RuleError(f"{path}: must be a date written YYYY-MM-DD, got {value!r}")


def _keys(value: Any, path: str, required: Sequence[str]) -> Mapping:
    if not isinstance(value, Mapping):
        raise RuleError(f"{path}: must be a mapping with {', '.join(required)}, got {type(value).__name__}")
    for key in value:
        if key not in required:
            raise RuleError(f"{path}.{key}: unknown key (expected {', '.join(required)})")
    for key in required:
        if key not in value:
            raise RuleError(f"{path}: {key} is missing")
    return value


def is_known_code(code: str) -> bool:
    """A code a rule may name: in the spine catalogue, in RELATED_CODES, or shaped like a J-code (a drug)."""
    return cpt.get(code) is not None or code in RELATED_CODES or bool(_J_CODE.match(code))


@cache
def _range_universe() -> tuple[str, ...]:
    return tuple(sorted(set(cpt.catalogue()) | RELATED_CODES))


def _codes(value: Any, path: str) -> frozenset[str]:
    codes: set[str] = set()
    for i, written in enumerate(_non_empty_strings(value, path)):
        code = written.strip().upper()
        if "-" in code:
            codes.update(_expand_range(code, f"{path}[{i}]"))
        elif not is_known_code(code):
            raise RuleError(f"{path}[{i}]: {written} is not a CPT/HCPCS code IamBilly knows")
        else:
            codes.add(code)
    return frozenset(codes)


def _expand_range(written: str, path: str) -> list[str]:
    first, _, last = written.partition("-")
    first, last = first.strip(), last.strip()
    for end in (first, last):
        if not _CODE_SHAPE.match(end):
            raise RuleError(f"{path}: {written} is not a code range like 64490-64495 ({end!r} is not a code)")
    if first[0].isdigit() != last[0].isdigit() or (not first[0].isdigit() and first[0] != last[0]):
        raise RuleError(f"{path}: {written} mixes two kinds of code")
    if last < first:
        raise RuleError(f"{path}: {written} runs backwards")
    members = [code for code in _range_universe() if first <= code <= last and len(code) == len(first)]
    if not members:
        raise RuleError(f"{path}: no CPT/HCPCS code IamBilly knows falls in {written}")
    return members


def _patterns(value: Any, path: str) -> tuple[str, ...]:
    patterns = []
    for i, written in enumerate(_non_empty_strings(value, path)):
        try:
            pattern = icd.normalize(written.strip().rstrip("-").rstrip("."))
        except ValueError:
            raise RuleError(f"{path}[{i}]: {written!r} is not an ICD-10-CM code or prefix") from None
        if not icd.is_valid(pattern):
            raise RuleError(f"{path}[{i}]: {written} matches no ICD-10-CM code")
        patterns.append(pattern)
    return tuple(patterns)


def parse_codes(values: Any, path: str) -> frozenset[str]:
    """CPT/HCPCS codes and ranges as an admin wrote them (a rule's codes, a coverage policy's procedure codes),
    checked and expanded the way a rule's are; RuleError names `path` and the entry."""
    return _codes(values, path)


def parse_diagnosis_patterns(values: Any, path: str) -> tuple[str, ...]:
    """ICD-10-CM codes or prefixes ("M54.1", "M54.1-") in the dotted form, each matching some code of the loaded
    release; RuleError names `path` and the entry."""
    return _patterns(values, path)


def _modifiers(value: Any, path: str) -> frozenset[str]:
    modifiers = set()
    for i, written in enumerate(_non_empty_strings(value, path)):
        modifier = written.strip().upper()
        if not _MODIFIER.match(modifier):
            raise RuleError(f"{path}[{i}]: {written!r} is not a two-character modifier")
        modifiers.add(modifier)
    return frozenset(modifiers)


def _modifier_condition(kind: type[ModifiersMissing] | type[ModifiersPresent]) -> Callable[[Any, str], Condition]:
    def compile_modifiers(value: Any, path: str) -> Condition:
        if isinstance(value, Mapping):
            for key in value:
                if key not in ("codes", "modifiers"):
                    raise RuleError(f"{path}.{key}: unknown key (expected codes, modifiers)")
            if "modifiers" not in value:
                raise RuleError(f"{path}: modifiers is missing")
            codes = _codes(value["codes"], f"{path}.codes") if "codes" in value else None
            return kind(_modifiers(value["modifiers"], f"{path}.modifiers"), codes)
        return kind(_modifiers(value, path))
    return compile_modifiers


def _counted(kind: type[UnitsOver] | type[LevelsOver]) -> Callable[[Any, str], Condition]:
    def compile_counted(value: Any, path: str) -> Condition:
        value = _keys(value, path, ("codes", "max"))
        return kind(_codes(value["codes"], f"{path}.codes"), _whole_number(value["max"], f"{path}.max"))
    return compile_counted


def _groups_over(value: Any, path: str) -> Condition:
    value = _keys(value, path, ("groups", "max"))
    groups = value["groups"]
    if not isinstance(groups, list) or len(groups) < 2:
        raise RuleError(f"{path}.groups: must be a list of at least two code lists")
    return GroupsOver(tuple(_codes(group, f"{path}.groups[{i}]") for i, group in enumerate(groups)),
                      _whole_number(value["max"], f"{path}.max"))


def _history(value: Any, path: str) -> Condition:
    value = _keys(value, path, ("codes", "days", "max"))
    return History(_codes(value["codes"], f"{path}.codes"), _whole_number(value["days"], f"{path}.days", minimum=1),
                   _whole_number(value["max"], f"{path}.max"))


def _sexes(value: Any, path: str) -> Condition:
    sexes = _non_empty_strings(value, path)
    for i, sex in enumerate(sexes):
        if sex not in SEXES:
            raise RuleError(f"{path}[{i}]: {sex!r} is not F, M or U")
    return SexIn(frozenset(sexes))


def _places(kind: type[PlaceOfServiceIn] | type[PlaceOfServiceNotIn]) -> Callable[[Any, str], Condition]:
    def compile_places(value: Any, path: str) -> Condition:
        places = _non_empty_strings(value, path)
        for i, place in enumerate(places):
            if not _POS.match(place):
                raise RuleError(f"{path}[{i}]: {place!r} is not a two-digit place of service code")
        return kind(frozenset(places))
    return compile_places


_COMPILERS: dict[str, Callable[[Any, str], Condition]] = {
    "all": _combined(AllOf),
    "any": _combined(AnyOf),
    "not": lambda value, path: Not(_compile(value, path)),
    "codes_any": lambda value, path: CodesAny(_codes(value, path)),
    "codes_all": lambda value, path: CodesAll(_codes(value, path)),
    "codes_none": lambda value, path: CodesNone(_codes(value, path)),
    "modifiers_missing": _modifier_condition(ModifiersMissing),
    "modifiers_present": _modifier_condition(ModifiersPresent),
    "units_over": _counted(UnitsOver),
    "levels_over": _counted(LevelsOver),
    "groups_over": _groups_over,
    "diagnoses_any": lambda value, path: DiagnosesAny(_patterns(value, path)),
    "diagnoses_none": lambda value, path: DiagnosesNone(_patterns(value, path)),
    "age_under": lambda value, path: AgeUnder(_whole_number(value, path)),
    "age_over": lambda value, path: AgeOver(_whole_number(value, path)),
    "sex_in": _sexes,
    "place_of_service_in": _places(PlaceOfServiceIn),
    "place_of_service_not_in": _places(PlaceOfServiceNotIn),
    "history": _history,
}


# --- the seed rules ----------------------------------------------------------------------------------------

_SEED_KEYS = frozenset({"rule_id", "status", "when", "severity", "message", "fix", "payer_types", "payer_ids",
                        "effective", "ends", "source_title", "source_passage", "source_section"})


def compile_rules(entries: Any, *, where: str) -> list[PayerRule]:
    """Compile a list of rule mappings (the seed file, an admin's JSON); RuleError says which entry is bad."""
    if not isinstance(entries, list):
        raise RuleError(f"{where}: must be a list of rules")
    rules: list[PayerRule] = []
    seen: set[str] = set()
    for n, entry in enumerate(entries):
        label = f"{where} rule {n}" + (f" ({entry.get('rule_id')})" if isinstance(entry, Mapping) else "")
        if not isinstance(entry, Mapping):
            raise RuleError(f"{label}: must be a mapping")
        unknown = sorted(set(entry) - _SEED_KEYS)
        if unknown:
            raise RuleError(f"{label}: {unknown[0]}: unknown key")
        if entry.get("status", "verify") not in SEED_STATUSES:
            raise RuleError(f"{label}: status: must be verify or verified, got {entry.get('status')!r}")
        arguments = {key: value for key, value in entry.items() if key != "status"}
        for key in ("rule_id", "when", "severity", "message"):
            if key not in arguments:
                raise RuleError(f"{label}: {key} is missing")
        try:
            rule = compile_rule(**arguments)
        except RuleError as error:
            raise RuleError(f"{label}: {error}") from None
        if rule.rule_id in seen:
            raise RuleError(f"{label}: rule_id {rule.rule_id} is used twice")
        seen.add(rule.rule_id)
        rules.append(rule)
    return rules


@cache
def _seed() -> tuple[PayerRule, ...]:
    source = resources.files(__package__ or "billing") / "data" / SEED_FILE
    return tuple(compile_rules(json.loads(source.read_text(encoding="utf-8")), where=SEED_FILE))


def load_seed_rules() -> list[PayerRule]:
    """The seed rules shipped with IamBilly, compiled (a bad seed fails loudly), read once per process."""
    return list(_seed())

