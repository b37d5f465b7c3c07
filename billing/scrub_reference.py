"""The scrubber's reference tables in the database: loading the seed, importing CMS's quarterly files, and
reading what one claim needs.

- `load_seed()` writes the spine seed (billing/data: NCCI pairs, MUEs, payer rules, modifier conventions,
  coverage policies) over the previous seed rows; CMS and admin rows are never touched. Migration 0003 and
  `manage.py load_scrub_seed` (run by `make run`) call it, so a new seed file reaches every database.
- `import_ptp_files()` / `import_mue_file()` stream CMS's files (billing.cms_files) with COPY in one transaction
  that replaces every CMS row (the PTP rows straight into their table, the MUEs through a staging table). A
  malformed line stops the import with its file and line number and rolls it all back, and importing the same
  files twice leaves the same table: the import is idempotent.
- `reference_for()` reads the rows one claim's codes and payer need, so a claim is scrubbed with a handful of
  indexed queries however many million PTP rows are loaded.

Precedence when rows pair the same codes: an admin's row, then CMS's, then the seed (which is only there
until the real files are loaded).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TextIO

from django.db import connections, transaction

from billing import scrub
from billing.cms_files import CmsFileError, read_mue, read_ptp
from billing.models import MUE, CoveragePolicy, EditOrigin, ModifierMap, NCCIEdit, PayerRule, split_payer_ids

log = logging.getLogger(__name__)

PRECEDENCE = {EditOrigin.ADMIN: 0, EditOrigin.CMS: 1, EditOrigin.SEED: 2}
_DATA = resources.files(__package__ or "billing") / "data"


# --- the seed -----------------------------------------------------------------------------------------------

def _seed_rows(name: str) -> list[dict]:
    path = _DATA / name
    if not path.is_file():
        return []
    with path.open(encoding="utf-8") as handle:
        if name.endswith(".json"):
            return json.load(handle)
        return list(csv.DictReader(handle))


SEED_MODIFIER_MAPS = [
    {"name": "Medicare (CMS): X modifiers, bilateral as one line with 50", "payer_type": "medicare",
     "distinct_modifier": "X", "bilateral": "50",
     "notes": "CMS established XE/XP/XS/XU in 2015 (MLN Matters MM8863) as more specific than 59 and prefers "
              "them; Medicare pays bilateral procedures (bilateral indicator 1) as one line with 50 and 1 unit."},
    {"name": "Every other payer: 59, bilateral as one line with 50", "payer_type": "",
     "distinct_modifier": "59", "bilateral": "50",
     "notes": "Most commercial payers accept 59; set a payer's own conventions here when its manual says more."},
]


@transaction.atomic
def load_seed(*, using: str = "default") -> dict[str, int]:
    """Replace the seed rows of every scrub table with billing/data's; return how many of each were written."""
    counts: dict[str, int] = {}
    seed = EditOrigin.SEED
    NCCIEdit.objects.using(using).filter(origin=seed).delete()
    rows = [NCCIEdit(column1=r["column1"], column2=r["column2"], modifier_indicator=int(r["modifier_indicator"]),
                     effective=dt.date.fromisoformat(r["effective"]),
                     deleted=dt.date.fromisoformat(r["deleted"]) if r["deleted"] else None,
                     rationale=r["rationale"][:300], source=r["source"][:200], origin=seed)
            for r in _seed_rows("ncci_spine_seed.csv")]
    counts["ncci"] = len(NCCIEdit.objects.using(using).bulk_create(rows))
    MUE.objects.using(using).filter(origin=seed).delete()
    rows = [MUE(code=r["code"], units=int(r["units"]), adjudication_indicator=int(r["adjudication_indicator"]),
                rationale=r["rationale"][:300], source=r["source"][:200], origin=seed)
            for r in _seed_rows("mue_spine_seed.csv")]
    counts["mue"] = len(MUE.objects.using(using).bulk_create(rows))

    PayerRule.objects.using(using).filter(origin=seed).delete()
    rules = []
    for r in _seed_rows("payer_rules_seed.json"):
        if PayerRule.objects.using(using).filter(rule_id=r["rule_id"]).exists():
            continue  # an admin's rule of the same id wins over the seed
        rules.append(PayerRule(
            rule_id=r["rule_id"], name=r.get("name", r["rule_id"])[:200], when=r["when"],
            severity=r.get("severity", "warning"), message=r["message"][:600], fix=r.get("fix", "")[:400],
            payer_type=_one_payer_type(r.get("payer_types", [])), payer_ids=" ".join(r.get("payer_ids", [])),
            effective=_date_or_none(r.get("effective")), ends=_date_or_none(r.get("ends")),
            source_title=r.get("source_title", "")[:200], source_section=r.get("source_section", "")[:200],
            source_passage=r.get("source_passage", ""), origin=seed))
    counts["payer_rules"] = len(PayerRule.objects.using(using).bulk_create(rules))

    # A seed row an admin took over (edited in the admin: origin "admin") is theirs; the seed does not add it again.
    ModifierMap.objects.using(using).filter(origin=seed).delete()
    taken = set(ModifierMap.objects.using(using).values_list("payer_type", "payer_ids"))
    counts["modifier_maps"] = len(ModifierMap.objects.using(using).bulk_create(
        [ModifierMap(origin=seed, **row) for row in SEED_MODIFIER_MAPS
         if (row["payer_type"], row.get("payer_ids", "")) not in taken]))

    CoveragePolicy.objects.using(using).filter(origin=seed).delete()
    taken = set(CoveragePolicy.objects.using(using).values_list("policy_id", flat=True))
    policies = [CoveragePolicy(
        policy_id=r["policy_id"][:40], title=r["title"][:200], payer_type=_one_payer_type(r.get("payer_types", "")),
        cpt_codes=r["cpt_codes"], covered_diagnoses=r["covered_diagnoses"],
        document_title=r.get("document_title", r.get("document", ""))[:200], section=r.get("section", "")[:200],
        passage=r.get("passage", ""), effective=_date_or_none(r.get("effective")), origin=seed)
        for r in _seed_rows("coverage_seed.csv") if r["policy_id"][:40] not in taken]
    counts["coverage_policies"] = len(CoveragePolicy.objects.using(using).bulk_create(policies))
    return counts


def _one_payer_type(value) -> str:
    """A seed row's payer scope: one payer type, or none for every payer (the models hold one)."""
    types = value.split() if isinstance(value, str) else list(value)
    if len(types) > 1:
        raise ValueError(f"A seed rule names several payer types ({', '.join(types)}): write one rule per type.")
    return types[0] if types else ""


def _date_or_none(value) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


# --- CMS quarterly files ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ImportResult:
    files: tuple[str, ...]
    rows: int
    replaced: int

    def summary(self, what: str) -> str:
        return (f"{self.rows:,} {what} loaded from {len(self.files)} file{'s' if len(self.files) != 1 else ''}; "
                f"{self.replaced:,} earlier CMS rows replaced.")


def _open(path: Path) -> TextIO:
    # CMS's text files are Windows-1252 in places (rationales with curly quotes); latin-1 never fails to decode
    # and keeps every code and date exactly.
    return path.open(encoding="latin-1", newline="")


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_COPY_FLUSH_BYTES = 1 << 20


def import_ptp_files(paths: Sequence[Path], *, quarter: str = "", using: str = "default") -> ImportResult:
    """Load CMS practitioner PTP files (all of a quarter's parts at once) in place of the CMS rows.

    One transaction: the CMS rows are deleted, the files are streamed into the table with COPY (text format,
    written in 1 MiB batches), and a malformed line anywhere rolls all of it back, so scrubbing never sees half a
    quarter (readers keep seeing the old rows until the commit)."""
    if not paths:
        raise CmsFileError("No PTP file given.")
    columns = ("column1", "column2", "effective", "deleted", "modifier_indicator", "rationale", "source", "origin")
    rows = 0
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        cursor.execute("DELETE FROM billing_ncci_edit WHERE origin = %s", [EditOrigin.CMS])
        replaced = cursor.rowcount
        with cursor.copy(f"COPY billing_ncci_edit ({', '.join(columns)}) FROM STDIN") as copy:
            for path in paths:
                tail = "\t" + _source(path, quarter).translate(_COPY_ESCAPES) + "\t" + EditOrigin.CMS + "\n"
                batch: list[str] = []
                size = 0
                with _open(path) as handle:
                    for edit in read_ptp(handle, source=path.name):
                        line = (f"{edit.column1}\t{edit.column2}\t{edit.effective.isoformat()}\t"
                                f"{edit.deleted.isoformat() if edit.deleted else chr(92) + 'N'}\t"
                                f"{edit.modifier_indicator}\t{edit.rationale[:300].translate(_COPY_ESCAPES)}{tail}")
                        batch.append(line)
                        size += len(line)
                        rows += 1
                        if size >= _COPY_FLUSH_BYTES:
                            copy.write("".join(batch).encode())
                            batch, size = [], 0
                if batch:
                    copy.write("".join(batch).encode())
        if rows == 0:
            raise CmsFileError(f"{', '.join(p.name for p in paths)}: no PTP edits found (is it the PTP file?).")
    log.info("ncci import", extra={"rows": rows, "replaced": replaced, "files": len(paths)})
    return ImportResult(files=tuple(p.name for p in paths), rows=rows, replaced=replaced)


def import_mue_file(path: Path, *, quarter: str = "", using: str = "default") -> ImportResult:
    """Load a CMS practitioner services MUE file in place of the CMS MUE rows."""
    columns = ("code", "units", "adjudication_indicator", "rationale", "source", "origin")
    source = _source(path, quarter)
    seen: dict[str, int] = {}
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        # ON COMMIT DROP only fires at the outermost commit: a caller inside a transaction runs it twice.
        cursor.execute("DROP TABLE IF EXISTS pg_temp.mue_staging")
        cursor.execute("CREATE TEMP TABLE mue_staging (LIKE billing_mue INCLUDING DEFAULTS) ON COMMIT DROP")
        cursor.execute("ALTER TABLE mue_staging DROP COLUMN id")
        with cursor.copy(f"COPY mue_staging ({', '.join(columns)}) FROM STDIN") as copy, _open(path) as handle:
            for edit in read_mue(handle, source=path.name):
                if edit.code in seen:
                    raise CmsFileError(f"{path.name}, line {edit.line}: {edit.code} is listed twice (first on line "
                                       f"{seen[edit.code]}).", source=path.name, line=edit.line)
                seen[edit.code] = edit.line
                copy.write_row((edit.code, edit.units, edit.adjudication_indicator, edit.rationale[:300], source,
                                EditOrigin.CMS))
        if not seen:
            raise CmsFileError(f"{path.name}: no MUEs found (is it the practitioner services MUE file?).")
        cursor.execute("DELETE FROM billing_mue WHERE origin = %s", [EditOrigin.CMS])
        replaced = cursor.rowcount
        cursor.execute(f"INSERT INTO billing_mue ({', '.join(columns)}) "  # noqa: S608 (fixed names)
                       f"SELECT {', '.join(columns)} FROM mue_staging")
    log.info("mue import", extra={"rows": len(seen), "replaced": replaced})
    return ImportResult(files=(path.name,), rows=len(seen), replaced=replaced)


def _source(path: Path, quarter: str) -> str:
    return f"{path.name}{f' ({quarter})' if quarter else ''}"[:200]


# --- what one claim needs -----------------------------------------------------------------------------------

_EDITS_SQL = """
    SELECT 'ptp', id, column1, column2, effective, deleted, modifier_indicator, NULL::smallint, rationale, source,
           origin
      FROM billing_ncci_edit WHERE column1 = ANY(%(codes)s) AND column2 = ANY(%(codes)s)
    UNION ALL
    SELECT 'mue', id, code, NULL, NULL, NULL, units, adjudication_indicator, rationale, source, origin
      FROM billing_mue WHERE code = ANY(%(codes)s)
"""


@dataclass(frozen=True)
class _EditRow:
    kind: str
    pk: int
    code: str
    column2: str | None
    effective: dt.date | None
    deleted: dt.date | None
    number: int  # the PTP modifier indicator, or the MUE's units
    adjudication_indicator: int | None
    rationale: str
    source: str
    origin: str


def edit_tables_for(codes: Iterable[str], *, using: str = "default") -> scrub.EditTables:
    """The PTP edits pairing any two of `codes` and the MUEs of `codes` (one round trip), keeping per pair and per
    code only the rows of the highest-precedence origin."""
    codes = sorted(set(codes))
    with connections[using].cursor() as cursor:
        cursor.execute(_EDITS_SQL, {"codes": codes})
        rows = [_EditRow(*row) for row in cursor.fetchall()]
    ptp: dict[tuple[str, str], list[_EditRow]] = {}
    mue: dict[str, _EditRow] = {}
    for row in rows:
        if row.kind == "ptp":
            ptp.setdefault((row.code, row.column2), []).append(row)
        elif row.code not in mue or PRECEDENCE[row.origin] < PRECEDENCE[mue[row.code].origin]:
            mue[row.code] = row
    rules = []
    for pair_rows in ptp.values():
        best = min(PRECEDENCE[row.origin] for row in pair_rows)
        rules.extend(scrub.PtpRule(column1=row.code, column2=row.column2, modifier_indicator=row.number,
                                   effective=row.effective, deleted=row.deleted, rationale=row.rationale,
                                   source=_source_title(scrub.SOURCE_PTP, row), reference=f"ncci:{row.pk}")
                     for row in pair_rows if PRECEDENCE[row.origin] == best)
    return scrub.build_tables(rules, [
        scrub.MueRule(code=row.code, units=row.number, adjudication_indicator=row.adjudication_indicator,
                      rationale=row.rationale, source=_source_title(scrub.SOURCE_MUE, row), reference=f"mue:{row.pk}")
        for row in mue.values()])


def _source_title(title: str, row: _EditRow) -> str:
    if row.origin == EditOrigin.CMS:
        return f"{title}: {row.source}"
    if row.origin == EditOrigin.SEED:
        return f"{title}, IamBilly seed (verify against the CMS file): {row.source}"
    return f"{title}, entered by an admin: {row.source}" if row.source else title


def conventions_for(*, payer_type: str, payer_id: str, using: str = "default") -> ModifierMap | None:
    """The payer's modifier conventions: its own row, else its payer type's, else the every-payer row."""
    rows = [row for row in _snapshot(using).modifier_maps
            if row.payer_type in ("", payer_type) and (not row.payer_id_list or payer_id in row.payer_id_list)]
    return min(rows, key=lambda row: (not row.payer_id_list, row.payer_type == "", PRECEDENCE[row.origin]),
               default=None)


@dataclass(frozen=True)
class _Snapshot:
    """The small reference tables as one process last read them, and the fingerprint they were read at."""

    fingerprint: tuple
    payer_rules: tuple
    coverage_policies: tuple
    modifier_maps: tuple


_snapshots: dict[str, _Snapshot] = {}
_FINGERPRINT_SQL = " UNION ALL ".join(
    f"SELECT '{table}', count(*), max(updated_at) FROM {table} WHERE active"  # noqa: S608 (fixed names)
    for table in ("billing_payer_rule", "billing_coverage_policy", "billing_modifier_map"))


def _snapshot(using: str) -> _Snapshot:
    """Payer rules, coverage policies and modifier maps, read again only when one of them changed: one query
    (row counts and the latest change of each table) per claim instead of three reads and compiles. A change
    rolled back restores the old fingerprint, so a snapshot never outlives the rows it was read from."""
    with connections[using].cursor() as cursor:
        cursor.execute(_FINGERPRINT_SQL)
        fingerprint = tuple(cursor.fetchall())
    current = _snapshots.get(using)
    if current is None or current.fingerprint != fingerprint:
        current = _Snapshot(fingerprint=fingerprint, payer_rules=_payer_rules(using),
                            coverage_policies=_coverage_policies(using),
                            modifier_maps=tuple(ModifierMap.objects.using(using).filter(active=True)))
        _snapshots[using] = current
    return current


@lru_cache(maxsize=2048)
def _compiled_rule(pk: int, updated_at: dt.datetime, data: str):
    from billing import payer_rules

    row = json.loads(data)
    return payer_rules.compile_rule(
        rule_id=row["rule_id"], when=row["when"], severity=row["severity"], message=row["message"], fix=row["fix"],
        payer_types=[row["payer_type"]] if row["payer_type"] else [], payer_ids=split_payer_ids(row["payer_ids"]),
        effective=row["effective"], ends=row["ends"], source_title=row["source_title"],
        source_passage=row["source_passage"], source_section=row["source_section"])


_RULE_FIELDS = ("rule_id", "when", "severity", "message", "fix", "payer_type", "payer_ids", "effective", "ends",
                "source_title", "source_passage", "source_section")


def payer_rules_loaded(*, using: str = "default") -> tuple:
    return _snapshot(using).payer_rules


def _payer_rules(using: str) -> tuple:
    """Every active payer rule, compiled (each row once per process and version); a rule that no longer compiles
    (a code left the catalogue) is skipped and logged, and the admin shows why when it is opened."""
    return _compiled_rows(PayerRule.objects.using(using), _RULE_FIELDS, _compiled_rule, what="payer rule",
                          name="rule_id")


def _compiled_rows(rows, fields: tuple[str, ...], compile_row, *, what: str, name: str) -> tuple:
    """Each active row compiled by `compile_row(pk, updated_at, json of fields)` (an lru_cache: once per row and
    version); a row that no longer compiles is skipped and logged by its `name` field."""
    from billing import payer_rules

    compiled = []
    for row in rows.filter(active=True).values("pk", "updated_at", *fields):
        data = json.dumps({k: row[k] for k in fields}, default=str)
        try:
            compiled.append(compile_row(row["pk"], row["updated_at"], data))
        except payer_rules.RuleError as exc:
            log.warning(f"{what} skipped", extra={name: row[name], "error": str(exc)[:200]})
    return tuple(compiled)


@lru_cache(maxsize=1024)
def _compiled_policy(pk: int, updated_at: dt.datetime, data: str):
    from billing import coverage, payer_rules

    row = json.loads(data)
    return coverage.CoveragePolicy(
        policy_id=row["policy_id"], title=row["title"],
        cpt_codes=payer_rules.parse_codes(row["cpt_codes"].split(), "procedure codes"),
        covered_diagnoses=payer_rules.parse_diagnosis_patterns(row["covered_diagnoses"].split(), "covered ICD-10-CM"),
        payer_types=frozenset([row["payer_type"]] if row["payer_type"] else []),
        payer_ids=frozenset(split_payer_ids(row["payer_ids"])),
        effective=_date_or_none(row["effective"]), ends=_date_or_none(row["ends"]),
        document_title=row["document_title"], section=row["section"], passage=row["passage"],
        source_ref=row["source_ref"])


_POLICY_FIELDS = ("policy_id", "title", "cpt_codes", "covered_diagnoses", "payer_type", "payer_ids", "effective",
                  "ends", "document_title", "section", "passage", "source_ref")


def coverage_policies_loaded(*, using: str = "default") -> tuple:
    return _snapshot(using).coverage_policies


def _coverage_policies(using: str) -> tuple:
    return _compiled_rows(CoveragePolicy.objects.using(using), _POLICY_FIELDS, _compiled_policy,
                          what="coverage policy", name="policy_id")


def prepared(claim: scrub.ScrubClaim, *, using: str = "default") -> tuple[scrub.ScrubClaim, scrub.ScrubReference]:
    """The claim with its payer's modifier conventions, and the reference it is scrubbed against."""
    if not claim.distinct_modifier or not claim.bilateral:  # what the practice did not set, the map says
        conventions = conventions_for(payer_type=claim.payer_type, payer_id=claim.payer_id, using=using)
        claim = replace(claim, distinct_modifier=claim.distinct_modifier or (
                            conventions.distinct_modifier if conventions else ModifierMap.Distinct.X),
                        bilateral=claim.bilateral or (conventions.bilateral if conventions else "50"))
    reference = scrub.ScrubReference(
        tables=edit_tables_for((line.cpt for line in claim.lines), using=using),
        payer_rules=payer_rules_loaded(using=using), coverage_policies=coverage_policies_loaded(using=using))
    return claim, reference


def scrub_findings(claim: scrub.ScrubClaim, *, using: str = "default") -> list:
    """The scrubber's findings for one claim, against the tables in the database."""
    claim, reference = prepared(claim, using=using)
    return scrub.without_superseded(scrub.scrub_claim(claim, reference))


# --- coverage policies and the library passages they cite ---------------------------------------------------

def _squeezed(text: str) -> str:
    return " ".join(text.split()).lower()


def link_coverage_passages(*, using: str = "default") -> int:
    """Point each coverage policy at the library passage it rests on: the current, indexed version of its document
    (found by the document's title or file name), the chunk holding its passage word for word, else the chunk
    hybrid search ranks first within that document. Returns how many policies changed; run after documents are
    indexed (load_policies, the indexing task) and when a policy is saved."""
    from django.utils import timezone

    from billing import policy_library
    from billing.policy_models import PolicyDocument, PolicyStatus

    ready = PolicyDocument.objects.using(using).filter(is_current=True, status=PolicyStatus.READY)
    changed = 0
    for policy in CoveragePolicy.objects.using(using).exclude(document_title=""):
        document = (ready.filter(title=policy.document_title).first()
                    or ready.filter(original_filename=policy.document_title).first()
                    or ready.filter(identifier__iexact=policy.policy_id).first())
        if document is None:
            continue
        wanted = _squeezed(policy.passage)
        chunks = list(document.chunks.using(using).defer("embedding").order_by("ordinal"))
        chunk = next((c for c in chunks if wanted and wanted in _squeezed(c.text)), None)
        if chunk is None and chunks:
            hits = policy_library.search(policy.passage or policy.title, k=1, document_ids=[document.pk])
            chunk = next((c for c in chunks if hits and c.pk == hits[0].chunk_id), None)
        if chunk is None:
            continue
        ref = f"policy:{document.pk}:{chunk.pk}"
        values = {"source_ref": ref, "document_title": document.title[:200], "section": chunk.section[:200]}
        if not policy.passage:
            values["passage"] = chunk.text
        if any(getattr(policy, k) != v for k, v in values.items()):
            CoveragePolicy.objects.using(using).filter(pk=policy.pk).update(**values, updated_at=timezone.now())
            changed += 1
    return changed
