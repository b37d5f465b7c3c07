"""The PHI key canary: proves at start that BILLY_PHI_KEYS opens the data already in the database."""

from __future__ import annotations

from django.db import transaction

from billy.models import KeyCanary
from billy.phi import PhiDecryptionError, decrypt_text, encrypt_text

CANARY_PURPOSE = "phi"
CANARY_PLAINTEXT = "iambilly-phi-canary-v1"


class KeyCheckError(RuntimeError):
    pass


def check_phi_key() -> str:
    """Create the canary on first use; afterwards decrypt it. Returns a line saying what happened."""
    with transaction.atomic():
        canary = KeyCanary.objects.select_for_update().filter(purpose=CANARY_PURPOSE).first()
        if canary is None:
            KeyCanary.objects.create(purpose=CANARY_PURPOSE, ciphertext=encrypt_text(CANARY_PLAINTEXT))
            return "PHI key canary created."
    try:
        if decrypt_text(canary.ciphertext) != CANARY_PLAINTEXT:
            raise PhiDecryptionError("the canary decrypted to the wrong value")
    except PhiDecryptionError as exc:
        raise KeyCheckError(
            f"BILLY_PHI_KEYS cannot read the PHI already in this database: {exc} "
            "Set BILLY_PHI_KEYS to the keys this database was written with."
        ) from None
    return "PHI keys open this database."
