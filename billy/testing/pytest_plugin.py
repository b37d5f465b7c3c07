"""Real services for the test suite, started before Django reads its settings.

Loaded with `-p billy.testing.pytest_plugin` (pytest.ini), so it runs before pytest-django imports
settings: it points the suite at its own data folder (.data/test: its own embedded PostgreSQL, media, logs
and keys), starts a real Redis on a Unix socket there, and at the very end searches the logs, the media
folder and Redis for the PHI canary that tests put into patient records. Finding it fails the run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from billy import localredis

ROOT = Path(__file__).resolve().parents[2]
TEST_DATA = Path(os.environ.get("BILLY_TEST_DATA_DIR", ROOT / ".data" / "test"))
# Patient names in tests carry this string; it must never surface outside an encrypted column.
PHI_CANARY = "Zorbquistel"

_redis: subprocess.Popen | None = None


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config, parser, args):
    TEST_DATA.mkdir(parents=True, exist_ok=True)
    os.environ["BILLY_DATA_DIR"] = str(TEST_DATA)
    os.environ.setdefault("BILLY_ENV", "development")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billy.settings")
    # Tests log in thousands of times; a fast hasher keeps the suite quick. Production keeps PBKDF2.
    os.environ.setdefault("BILLY_PASSWORD_HASHERS", "django.contrib.auth.hashers.MD5PasswordHasher")
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's event loop + live_server
    # Start from empty logs and media, so the canary search at the end sees this run only.
    for sub in ("logs", "media"):
        shutil.rmtree(TEST_DATA / sub, ignore_errors=True)
    if not os.environ.get("REDIS_URL"):
        global _redis
        _redis, os.environ["REDIS_URL"] = localredis.start(TEST_DATA / "redis")


def _canary_hits() -> list[str]:
    needle = PHI_CANARY.encode()
    hits = []
    for folder in (TEST_DATA / "logs", TEST_DATA / "media"):
        for path in folder.rglob("*") if folder.exists() else []:
            if path.is_file() and needle.lower() in path.read_bytes().lower():
                hits.append(str(path.relative_to(TEST_DATA)))
    url = os.environ.get("REDIS_URL", "")
    if url.startswith("unix://") and Path(url[7:]).exists():
        import redis

        client = redis.Redis(unix_socket_path=url[7:])
        for key in client.scan_iter(count=500):
            value = client.dump(key) or b""
            if needle.lower() in key.lower() or needle.lower() in value.lower():
                hits.append(f"redis key {key[:60]!r}")
    return hits


def pytest_sessionfinish(session, exitstatus):
    hits = _canary_hits()
    if hits:
        session.exitstatus = 1
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        message = "PHI canary found outside encrypted storage: " + ", ".join(hits)
        if reporter:
            reporter.write_line(message, red=True, bold=True)
        else:
            print(message)


def pytest_unconfigure(config):
    localredis.stop(_redis)


@pytest.fixture(autouse=True)
def _media_per_test(request, settings):
    """Each test stores files in a folder of its own under the suite's media folder: key rotation and backup
    tests see only their own files, and the canary search at the end still covers every file written."""
    name = "".join(ch if ch.isalnum() else "_" for ch in request.node.nodeid)[-120:]
    settings.MEDIA_ROOT = TEST_DATA / "media" / name
    yield
