"""A private Redis for development, tests and benchmarks: Debian's redis-server on a Unix socket.

No TCP port (nothing else on the machine can reach it), no persistence (it is a cache), its log in its
own folder. Production points REDIS_URL at a real server instead.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path


def start(redis_dir: Path) -> tuple[subprocess.Popen, str]:
    """Start redis-server in `redis_dir`; return the process and its `unix://` URL once it accepts."""
    redis_dir.mkdir(parents=True, exist_ok=True)
    sock = redis_dir / "redis.sock"
    sock.unlink(missing_ok=True)
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    proc = subprocess.Popen(
        [binary, "--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700", "--dir", str(redis_dir),
         "--save", "", "--appendonly", "no", "--loglevel", "warning", "--logfile", str(redis_dir / "redis.log")],
        start_new_session=True,
    )
    for _ in range(200):
        if sock.exists():
            return proc, f"unix://{sock}"
        if proc.poll() is not None:
            break
        time.sleep(0.025)
    proc.kill()
    raise RuntimeError(f"redis-server did not start (see {redis_dir / 'redis.log'}); `bin/bootstrap` installs it.")


def stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
