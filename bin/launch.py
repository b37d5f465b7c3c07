"""`make run`: the whole app on one machine, and a clean stop.

Starts the embedded PostgreSQL (unless DATABASE_URL names a server), Redis on a Unix socket (unless
REDIS_URL is set), migrates, checks the PHI key, loads the demo practice, then runs the django-q2
clusters (default, inference, and inference-llm for the second reader unless USE_LLM=false),
the demo EMR (a local FHIR R4 server with invented patients, on 127.0.0.1:8010, unless BILLY_DEMO_EMR=false)
and the web server on 127.0.0.1:8000. Ctrl-C or SIGTERM stops everything
it started, the database included; if any part dies, the rest is stopped too.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from billy import localredis  # noqa: E402
from billy.embedded_db import attach, stop  # noqa: E402
from billy.env import env_bool  # noqa: E402

DATA_DIR = Path(os.environ.get("BILLY_DATA_DIR", ROOT / ".data"))
HOST_PORT = os.environ.get("BILLY_ADDRESS", "127.0.0.1:8000")
DEMO_EMR_PORT = os.environ.get("BILLY_DEMO_EMR_PORT", "8010")
PYTHON = sys.executable


def log(message: str) -> None:
    print(f"[make run] {message}", flush=True)


def manage(*args: str, env: dict[str, str]) -> None:
    subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, check=True)


def start_redis() -> tuple[subprocess.Popen | None, str]:
    if os.environ.get("REDIS_URL"):
        return None, os.environ["REDIS_URL"]
    return localredis.start(DATA_DIR / "redis")


def demo_emr_problem() -> str:
    """Why the demo EMR cannot start here ("" when it can): bin/bootstrap installs its Node packages only where
    Node.js 20.19+ is found, and the app runs without it."""
    if not shutil.which("node"):
        return "no Node.js (20.19 or later) on this machine"
    if not (ROOT / "integrations" / "fhir_server" / "node_modules" / "@medplum" / "fhir-router").is_dir():
        return "the local FHIR server's Node packages are not installed (see bin/bootstrap's message)"
    return ""


def main() -> int:
    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "billy.settings")
    env["PYTHONUNBUFFERED"] = "1"
    owned_pg = None
    if not env.get("DATABASE_URL"):
        server = attach(DATA_DIR / "pg", own=True)
        owned_pg = server.pgdata
        log(f"embedded PostgreSQL ready (socket in {server.socket_dir})")
    redis_proc, env["REDIS_URL"] = start_redis()
    children: list[tuple[str, subprocess.Popen]] = []
    if redis_proc:
        children.append(("redis", redis_proc))

    def shutdown(code: int) -> int:
        log("stopping…")
        # Web and workers first (the workers keep their statistics in Redis), then Redis, then PostgreSQL.
        apps = [(name, proc) for name, proc in children if name != "redis"]
        for group in (apps, [(name, proc) for name, proc in children if name == "redis"]):
            for _, proc in group:
                if proc.poll() is None:
                    # The leader only: a django-q2 cluster stops its own worker processes in order, and
                    # hangs if they are signalled behind its back. The group is killed only on timeout.
                    proc.send_signal(signal.SIGTERM)
            deadline = time.time() + 20
            for name, proc in group:
                try:
                    proc.wait(timeout=max(0.1, deadline - time.time()))
                except subprocess.TimeoutExpired:
                    log(f"{name} did not stop in time; killing it")
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
        if owned_pg:
            stop(owned_pg)
            log("PostgreSQL stopped")
        return code

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    # Set explicitly: a shell that starts us in the background ignores SIGINT, and SIGTERM has no handler.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, interrupt)
    try:
        manage("migrate", "--noinput", "-v", "0", env=env)
        manage("verify_keys", env=env)
        manage("load_policies", env=env)  # the seed policy summaries, indexed once (loaded files are skipped)
        manage("load_scrub_seed", env=env)  # a newer seed file reaches an existing database; cites the policies
        manage("seed_demo", env=env)
        demo_emr_missing = demo_emr_problem()
        if env_bool("BILLY_DEMO_EMR", True) and demo_emr_missing:
            log(f"demo EMR left out: {demo_emr_missing}")
        elif env_bool("BILLY_DEMO_EMR", True):
            # A local FHIR R4 server with the demo EMR's invented patients, for an admin to connect to. EMR calls
            # are on for the app unless USE_EMR says otherwise.
            env.setdefault("USE_EMR", "true")
            children.append(("demo-emr", subprocess.Popen(
                [PYTHON, "manage.py", "demo_emr", "--port", DEMO_EMR_PORT], cwd=ROOT, env=env, start_new_session=True)))
            log(f"demo EMR: FHIR R4 at http://127.0.0.1:{DEMO_EMR_PORT}/fhir/R4 (admin: EMR connections, add one "
                "with vendor “FHIR R4 server” and this base URL)")
        clusters = ["default", "inference"]
        if env_bool("USE_LLM", True):  # the second reader's queue; USE_LLM=false leaves it out
            clusters.append("inference-llm")
        for cluster in clusters:
            cluster_env = dict(env, Q_CLUSTER_NAME=cluster)
            # The second reader runs at the lowest CPU priority: transcription goes first on shared cores.
            nice = ["nice", "-n", "19"] if cluster == "inference-llm" else []
            children.append((f"worker:{cluster}", subprocess.Popen(
                [*nice, PYTHON, "manage.py", "qcluster"], cwd=ROOT, env=cluster_env, start_new_session=True)))
        children.append(("web", subprocess.Popen(
            [PYTHON, "manage.py", "runserver", HOST_PORT, "--noreload", "--skip-checks"],
            cwd=ROOT, env=env, start_new_session=True)))
        log(f"IamBilly is up: http://{HOST_PORT}/accounts/login/  (Ctrl-C stops everything)")
        while True:
            for name, proc in children:
                if proc.poll() is not None:
                    log(f"{name} exited with code {proc.returncode}")
                    return shutdown(1)
            time.sleep(0.5)
    except KeyboardInterrupt:
        return shutdown(0)
    except subprocess.CalledProcessError as exc:
        log(f"set-up step failed: {' '.join(exc.cmd[1:])}")
        return shutdown(1)


if __name__ == "__main__":
    sys.exit(main())
