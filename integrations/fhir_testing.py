"""A local FHIR R4 server on loopback (integrations/fhir_server/server.mjs) for the EMR-integration tests and
the `make run` demo: medplum's FHIR router over an in-memory store, so every start begins empty.

    with fhir_server() as base_url:      # http://127.0.0.1:<port>/fhir/R4
        requests.get(f"{base_url}/Patient?family=Okafor")

`bin/bootstrap` installs Node's packages for it (integrations/fhir_server/node_modules).
"""

from __future__ import annotations

import queue
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

SERVER_DIR = Path(__file__).resolve().parent / "fhir_server"
READY_PREFIX = "listening "


@contextmanager
def fhir_server(port: int = 0, *, start_timeout: float = 30) -> Iterator[str]:
    """Start the FHIR server on 127.0.0.1:`port` (0: any free port), yield its base URL, stop it on exit."""
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("The local FHIR server needs Node.js 20 (no `node` on PATH): run `bin/bootstrap test`.")
    if not (SERVER_DIR / "node_modules" / "@medplum" / "fhir-router").is_dir():
        raise RuntimeError(f"The local FHIR server's packages are not installed in {SERVER_DIR / 'node_modules'}: "
                           "run `bin/bootstrap test`.")
    with tempfile.TemporaryFile() as stderr:
        # stdin stays open while we run: the server stops when it closes, so a killed test run leaves no server.
        proc = subprocess.Popen([node, "server.mjs", str(port), "--exit-on-stdin-close"], cwd=SERVER_DIR,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, text=True,
                                start_new_session=True)
        try:
            base_url = _wait_until_listening(proc, stderr, timeout=start_timeout)
            yield base_url
        finally:
            _stop(proc)


def _wait_until_listening(proc: subprocess.Popen, stderr, *, timeout: float) -> str:
    # The server prints one line when ready; a thread reads it so the wait can time out.
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(proc.stdout.readline()), daemon=True).start()
    try:
        line = lines.get(timeout=timeout)
    except queue.Empty:
        raise RuntimeError(f"The local FHIR server did not say it was listening within {timeout:g} s."
                           f"{_stderr_tail(stderr)}")
    if not line:
        with suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
        raise RuntimeError(f"The local FHIR server stopped before listening (exit code {proc.returncode})."
                           f"{_stderr_tail(stderr)}")
    if not line.startswith(READY_PREFIX):
        raise RuntimeError(f"The local FHIR server printed {line.strip()!r} instead of its address."
                           f"{_stderr_tail(stderr)}")
    return line[len(READY_PREFIX):].strip()


def _stderr_tail(stderr, limit: int = 2000) -> str:
    stderr.flush()
    stderr.seek(0)
    text = stderr.read().decode("utf-8", "replace").strip()
    return f"\nIts stderr ends:\n{text[-limit:]}" if text else ""


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for stream in (proc.stdin, proc.stdout):
        with suppress(OSError):
            stream.close()
