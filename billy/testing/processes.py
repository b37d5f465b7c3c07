"""Run real IamBilly processes (manage.py commands, a django-q2 cluster) against the test database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager, suppress
from pathlib import Path
from urllib.parse import quote

from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def database_url_for_tests() -> str:
    s = connection.settings_dict
    host = quote(s["HOST"], safe="")  # a Unix socket folder travels percent-encoded in the host part
    return f"postgres://{s['USER']}@{host}:{s['PORT']}/{s['NAME']}"


def process_env(**overrides: str) -> dict[str, str]:
    from django.conf import settings

    # The test's own media folder (billy.testing.pytest_plugin gives each test one), so a subprocess sees it too.
    env = dict(os.environ, DATABASE_URL=database_url_for_tests(), PYTHONUNBUFFERED="1",
               BILLY_MEDIA_ROOT=str(settings.MEDIA_ROOT))
    env.update(overrides)
    return env


def manage(*args: str, env: dict[str, str] | None = None, timeout: int = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env or process_env(),
                          capture_output=True, text=True, timeout=timeout)


@contextmanager
def running_cluster(name: str = "default", **env_overrides: str):
    """A real `manage.py qcluster` for the test database; stopped (SIGTERM, then kill) on exit."""
    # Its own process group, so the cluster and its workers can be stopped (or killed, see kill_cluster) together.
    proc = subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=ROOT,
                            env=process_env(Q_CLUSTER_NAME=name, **env_overrides),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        _kill_group(proc.pid)


def kill_cluster(proc: subprocess.Popen) -> None:
    """SIGKILL a cluster and every worker it forked, as a crash or the OOM killer would: nothing is acknowledged."""
    _kill_group(proc.pid)
    proc.wait()


def _kill_group(pgid: int) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def wait_for(predicate, *, timeout: float = 60, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"gave up after {timeout}s waiting for {predicate}")
