"""Keyrings built from settings: PHI field keys, the blind-index key, file master keys, the audit key.

Each keyring is parsed once per process and validated at start (see BillyConfig.ready): a malformed key
stops the process with a message naming the setting.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from functools import cache

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from billy.filecrypto import MasterKeyring

KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,16}$")


@dataclass(frozen=True)
class PhiKeyring:
    """Fernet keys by key id; the first one encrypts, every one can decrypt (rotation)."""

    current_id: str
    fernets: dict[str, Fernet]


def _decode_32(value: str, setting: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise ImproperlyConfigured(f"{setting}: a key is not valid base64.") from None
    if len(raw) != 32:
        raise ImproperlyConfigured(f"{setting}: every key must be 32 bytes (base64), not {len(raw)}.")
    return raw


def parse_phi_keys(spec: str, setting: str = "BILLY_PHI_KEYS") -> PhiKeyring:
    fernets: dict[str, Fernet] = {}
    for entry in [part.strip() for part in spec.split(",") if part.strip()]:
        key_id, sep, key = entry.partition(":")
        if not sep or not KEY_ID.match(key_id):
            raise ImproperlyConfigured(f"{setting}: expected 'keyid:base64key,...', key ids of [A-Za-z0-9_-].")
        if key_id in fernets:
            raise ImproperlyConfigured(f"{setting}: key id {key_id!r} appears twice.")
        fernets[key_id] = Fernet(base64.urlsafe_b64encode(_decode_32(key, setting)))
    if not fernets:
        raise ImproperlyConfigured(f"{setting} holds no key.")
    return PhiKeyring(current_id=next(iter(fernets)), fernets=fernets)


@cache
def phi_keyring() -> PhiKeyring:
    return parse_phi_keys(settings.BILLY_PHI_KEYS)


@cache
def blind_index_key() -> bytes:
    return _decode_32(settings.BILLY_BLIND_INDEX_KEY, "BILLY_BLIND_INDEX_KEY")


@cache
def audit_key() -> bytes:
    return _decode_32(settings.BILLY_AUDIT_KEY, "BILLY_AUDIT_KEY")


@cache
def file_keyring() -> MasterKeyring:
    try:
        return MasterKeyring.parse(settings.BILLY_FILE_MASTER_KEYS)
    except ValueError as exc:
        raise ImproperlyConfigured(f"BILLY_FILE_MASTER_KEYS: {exc}") from None


def validate_all() -> None:
    """Parse every keyring now, so a bad key stops the process at start."""
    for loader in (phi_keyring, blind_index_key, audit_key, file_keyring):
        loader.cache_clear()
        loader()
