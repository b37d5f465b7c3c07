"""Per-checkout development secrets.

Development and tests need keys too, and "no secret in defaults" rules out constants in code. The first
start of a development checkout writes random keys to .data/dev-secrets.env (mode 0600); later starts
read them back. Variables already in the environment win. Production never calls this.
"""

import base64
import os
import secrets
from pathlib import Path


def _b64(nbytes: int) -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(nbytes)).decode()


def generate() -> dict[str, str]:
    """A fresh, complete set of keys in the formats settings expect."""
    return {
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "BILLY_PHI_KEYS": f"phi1:{_b64(32)}",
        "BILLY_BLIND_INDEX_KEY": _b64(32),
        "BILLY_FILE_MASTER_KEYS": f"file1:{_b64(32)}",
        "BILLY_AUDIT_KEY": _b64(32),
    }


def load_into_environ(path: Path) -> None:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = "".join(f"{name}={value}\n" for name, value in generate().items())
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write("# Development keys for this checkout only. Losing them makes .data unreadable.\n")
            handle.write(lines)
        os.replace(tmp, path)
    for line in path.read_text().splitlines():
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, value = line.split("=", 1)
        os.environ.setdefault(name.strip(), value.strip())
