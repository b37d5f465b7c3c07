"""Key rotation: re-encrypt PHI columns, re-wrap file keys and recompute blind indexes.

Runs while the app runs, and can be interrupted and run again: rows and files already under the current
key are skipped, every row is rewritten in its own short transaction, and a file is replaced atomically
(written to a temporary name, then renamed).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from django.apps import apps
from django.db import connection, transaction

from billy import filecrypto
from billy.keys import file_keyring, phi_keyring
from billy.phi import BLIND_INDEX_RECOMPUTERS, PhiFieldMixin, decrypt_text, encrypt_text, is_ciphertext, key_id_of


@dataclass
class RotationReport:
    rows_reencrypted: dict[str, int] = field(default_factory=dict)
    files_rewrapped: int = 0
    files_current: int = 0
    indexes_recomputed: dict[str, int] = field(default_factory=dict)


def phi_columns() -> dict[type, list[str]]:
    found: dict[type, list[str]] = {}
    for model in apps.get_models():
        columns = [f.column for f in model._meta.concrete_fields if isinstance(f, PhiFieldMixin)]
        if columns:
            found[model] = columns
    return found


def reencrypt_rows(report: RotationReport, *, chunk: int = 500) -> None:
    current = phi_keyring().current_id
    qn = connection.ops.quote_name
    for model, columns in phi_columns().items():
        table, pk = qn(model._meta.db_table), qn(model._meta.pk.column)
        cols = ", ".join(qn(c) for c in columns)
        last_pk, count = None, 0
        while True:
            with connection.cursor() as cursor:
                where = f"WHERE {pk} > %s" if last_pk is not None else ""
                cursor.execute(f"SELECT {pk}, {cols} FROM {table} {where} ORDER BY {pk} LIMIT %s",  # noqa: S608
                               [last_pk, chunk] if last_pk is not None else [chunk])
                rows = cursor.fetchall()
            if not rows:
                break
            for row_pk, *values in rows:
                last_pk = row_pk
                updates = {
                    column: encrypt_text(decrypt_text(value))
                    for column, value in zip(columns, values, strict=True)
                    if is_ciphertext(value) and key_id_of(value) != current
                }
                if updates:
                    sets = ", ".join(f"{qn(c)} = %s" for c in updates)
                    with transaction.atomic(), connection.cursor() as cursor:
                        cursor.execute(f"UPDATE {table} SET {sets} WHERE {pk} = %s",  # noqa: S608
                                       [*updates.values(), row_pk])
                    count += 1
        report.rows_reencrypted[model._meta.label] = count


def rewrap_files(root: Path, report: RotationReport) -> None:
    ring = file_keyring()
    if not root.exists():
        return
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".rotate-")):
        with path.open("rb") as src:
            try:
                key_id = filecrypto.header_key_id(src)
            except filecrypto.FileCryptoError:
                continue  # not one of ours (a stray file): leave it alone
            if key_id == ring.current_id:
                report.files_current += 1
                continue
            src.seek(0)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".rotate-")
            try:
                with os.fdopen(fd, "wb") as dst:
                    filecrypto.rewrap(src, dst, keyring=ring)
                os.chmod(tmp, 0o600)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        report.files_rewrapped += 1


def recompute_blind_indexes(report: RotationReport) -> None:
    for label, compute in BLIND_INDEX_RECOMPUTERS.items():
        model = apps.get_model(label)
        count = 0
        for instance in model.objects.order_by("pk").iterator(chunk_size=500):
            values = compute(instance)
            if any(getattr(instance, name) != value for name, value in values.items()):
                model.objects.filter(pk=instance.pk).update(**values)
                count += 1
        report.indexes_recomputed[label] = count
