"""PHI at rest: encrypted model fields and keyed blind indexes.

Encrypted fields build on django-fernet-encrypted-fields but replace its key handling:
- the key comes from BILLY_PHI_KEYS (never from SECRET_KEY, so rotating Django's signing key leaves PHI
  readable), and every stored value names the key id that encrypted it: "phi:<key id>:<fernet token>";
- a value that cannot be decrypted raises PhiDecryptionError. The package would silently hand back the
  ciphertext, which a page would then show and a form would save as if it were the patient's name.
Empty values are stored as NULL (the package's behaviour), so declare PHI fields null=True, blank=True.

Encrypted columns cannot be searched. Where a lookup is needed, a blind index column holds
HMAC-SHA256(BILLY_BLIND_INDEX_KEY, purpose, scope, normalised value). What it leaks: equality. Two rows with
the same index hold the same normalised value, so someone holding the database (without the key) can count
how many rows share a value within one scope. It does not reveal the value, cannot be brute-forced without
the key, and the scope (the practice) keeps indexes from linking one practice's rows to another's.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from typing import Any

from cryptography.fernet import InvalidToken
from django.db import models
from encrypted_fields import fields as encrypted

from billy.keys import phi_keyring

PREFIX = "phi:"


class PhiDecryptionError(RuntimeError):
    """Stored PHI could not be decrypted: wrong BILLY_PHI_KEYS, a missing old key, or a damaged value."""


def encrypt_text(plaintext: str) -> str:
    ring = phi_keyring()
    token = ring.fernets[ring.current_id].encrypt(plaintext.encode("utf-8")).decode("ascii")
    return f"{PREFIX}{ring.current_id}:{token}"


def is_ciphertext(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def key_id_of(stored: str) -> str:
    return stored[len(PREFIX) :].split(":", 1)[0]


def decrypt_text(stored: str) -> str:
    if not is_ciphertext(stored):
        raise PhiDecryptionError("A PHI column holds a value that is not IamBilly ciphertext.")
    key_id, _, token = stored[len(PREFIX) :].partition(":")
    fernet = phi_keyring().fernets.get(key_id)
    if fernet is None:
        raise PhiDecryptionError(
            f"PHI was encrypted with key id {key_id!r}, which BILLY_PHI_KEYS does not hold. "
            "Add the old key after the current one until `manage.py rotate_keys` has re-encrypted every row."
        )
    try:
        return fernet.decrypt(token.encode("ascii")).decode("utf-8")
    except InvalidToken:
        raise PhiDecryptionError(
            f"PHI under key id {key_id!r} does not decrypt: BILLY_PHI_KEYS holds a different key under that id, "
            "or the stored value was altered."
        ) from None


class PhiFieldMixin(encrypted.EncryptedFieldMixin):
    def get_prep_value(self, value: Any) -> Any:
        # Skip the package's own encryption (the next class in the MRO) and run the Django field's.
        value = super(encrypted.EncryptedFieldMixin, self).get_prep_value(value)
        if value is None or value == "":
            return None
        if is_ciphertext(value):
            return value
        return encrypt_text(str(value))

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if value is None:
            return None
        return super(encrypted.EncryptedFieldMixin, self).to_python(decrypt_text(value))

    def to_python(self, value: Any) -> Any:
        # Forms and deserialisation hand plaintext here; only our own ciphertext is decrypted.
        if is_ciphertext(value):
            value = decrypt_text(value)
        return super(encrypted.EncryptedFieldMixin, self).to_python(value)


class PhiCharField(PhiFieldMixin, encrypted.EncryptedCharField):
    pass


class PhiTextField(PhiFieldMixin, encrypted.EncryptedTextField):
    pass


class PhiDateField(PhiFieldMixin, encrypted.EncryptedDateField):
    pass


def normalize_text(value: str) -> str:
    """Case, accents, punctuation and spacing never make two spellings of one value different:
    "Okonkwo-Bello" = "okonkwo bello", "De La Cruz" = "DeLaCruz", "1EG4-TE5-MK73" = "1eg4te5mk73"."""
    decomposed = unicodedata.normalize("NFKD", value)
    return "".join(ch for ch in decomposed if ch.isalnum()).casefold()


def blind_index(value: str, *, purpose: str, scope: str | int) -> str:
    """HMAC of a normalised value, separated by purpose ("mrn", "name_dob") and scope (practice id)."""
    from billy.keys import blind_index_key

    message = f"{purpose}\x1f{scope}\x1f{normalize_text(value)}".encode()
    return hmac.new(blind_index_key(), message, hashlib.sha256).hexdigest()


class BlindIndexField(models.CharField):
    """A 64-character hex HMAC column, indexed; filled by services, never typed by a person."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 64)
        kwargs.setdefault("db_index", True)
        kwargs.setdefault("editable", False)
        kwargs.setdefault("blank", True)
        super().__init__(*args, **kwargs)


# Models whose blind indexes can be recomputed from their decrypted values (after BILLY_BLIND_INDEX_KEY
# changes): label -> function(instance) -> {index field: value}. Apps register in AppConfig.ready.
BLIND_INDEX_RECOMPUTERS: dict[str, Any] = {}


def register_blind_indexes(model_label: str, compute: Any) -> None:
    BLIND_INDEX_RECOMPUTERS[model_label] = compute
