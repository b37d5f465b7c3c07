"""Bad configuration stops a process at start with a message that names the setting."""

import subprocess
import sys

import pytest

from billy.keycheck import check_phi_key
from billy.testing.processes import ROOT, manage, process_env


def start_django(**env):
    ours = ("BILLY_", "DJANGO_S", "DATABASE_URL", "REDIS_URL")
    base = {k: v for k, v in process_env().items() if not k.startswith(ours)}
    base.update(env)
    return subprocess.run([sys.executable, "-c", "import django; django.setup()"], cwd=ROOT, env=base,
                          capture_output=True, text=True, timeout=60)


PRODUCTION_OK = {
    "BILLY_ENV": "production", "DJANGO_SETTINGS_MODULE": "billy.settings", "DJANGO_SECRET_KEY": "x" * 50,
    "DATABASE_URL": "postgres://billy:pw@db.invalid:5432/billy", "REDIS_URL": "redis://redis.invalid:6379/0",
    "BILLY_PHI_KEYS": "k1:" + "A" * 43 + "=", "BILLY_BLIND_INDEX_KEY": "B" * 43 + "=",
    "BILLY_FILE_MASTER_KEYS": "f1:" + "C" * 43 + "=", "BILLY_AUDIT_KEY": "D" * 43 + "=",
    "DJANGO_ALLOWED_HOSTS": "billy.example.org", "BILLY_BASE_URL": "https://billy.example.org",
}


def test_production_settings_start_with_every_variable_set():
    result = start_django(**PRODUCTION_OK)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("missing", ["BILLY_PHI_KEYS", "BILLY_AUDIT_KEY", "DJANGO_SECRET_KEY", "REDIS_URL"])
def test_production_refuses_to_start_without_a_required_variable(missing):
    env = {k: v for k, v in PRODUCTION_OK.items() if k != missing}
    result = start_django(**env)
    assert result.returncode != 0
    assert f"{missing} is required" in result.stderr


def test_production_refuses_the_embedded_database():
    env = {k: v for k, v in PRODUCTION_OK.items() if k != "DATABASE_URL"}
    result = start_django(**env)
    assert result.returncode != 0
    assert "DATABASE_URL is required in production" in result.stderr


@pytest.mark.parametrize(("setting", "value", "message"), [
    ("BILLY_PHI_KEYS", "k1:" + "A" * 20, "BILLY_PHI_KEYS: every key must be 32 bytes"),
    ("BILLY_PHI_KEYS", "no-separator", "BILLY_PHI_KEYS: expected 'keyid:base64key"),
    ("BILLY_AUDIT_KEY", "not base64 !!", "BILLY_AUDIT_KEY"),
    ("BILLY_FILE_MASTER_KEYS", "f1:" + "C" * 20, "BILLY_FILE_MASTER_KEYS"),
])
def test_a_malformed_key_stops_the_start_naming_the_setting(setting, value, message):
    result = start_django(**{**PRODUCTION_OK, setting: value})
    assert result.returncode != 0
    assert message in result.stderr
    assert value not in result.stderr  # a key, even a broken one, is never printed


@pytest.mark.django_db(transaction=True)
def test_a_wrong_phi_key_is_refused_by_verify_keys_before_anything_starts():
    assert check_phi_key() == "PHI key canary created."
    assert manage("verify_keys").stdout.strip() == "PHI keys open this database."
    wrong = manage("verify_keys", env=process_env(BILLY_PHI_KEYS="phi1:" + "Z" * 43 + "="))
    assert wrong.returncode == 1
    assert "BILLY_PHI_KEYS cannot read the PHI already in this database" in wrong.stderr
    renamed = manage("verify_keys", env=process_env(BILLY_PHI_KEYS="other:" + "Z" * 43 + "="))
    assert "which BILLY_PHI_KEYS does not hold" in renamed.stderr
