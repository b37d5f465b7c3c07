"""File storage that encrypts every byte before it is written (audio, exports).

Files are AES-256-GCM in fixed-size segments with a per-file data key wrapped by BILLY_FILE_MASTER_KEYS
(billy.filecrypto), so a byte range can be decrypted for audio seeking and tampering is detected.
"""

from __future__ import annotations

import tempfile

from django.core.files.base import File
from django.core.files.storage import FileSystemStorage

from billy import filecrypto
from billy.keys import file_keyring

_SPOOL_BYTES = 8 * 1024 * 1024


class EncryptedFileSystemStorage(FileSystemStorage):
    def _save(self, name: str, content: File) -> str:
        content.seek(0)
        # Spooled: small files stay in memory, a long dictation goes to a temporary file, never whole in RAM.
        with tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES) as encrypted:
            filecrypto.encrypt_stream(content, encrypted, keyring=file_keyring())
            encrypted.seek(0)
            return super()._save(name, File(encrypted))

    def _open(self, name: str, mode: str = "rb") -> File:
        if "w" in mode or "a" in mode:
            raise ValueError("Encrypted files are written through save(), never opened for writing.")
        with super()._open(name, "rb") as raw:
            plaintext = tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES)  # noqa: SIM115 (the caller closes it)
            filecrypto.decrypt_stream(raw, plaintext, keyring=file_keyring())
        plaintext.seek(0)
        return File(plaintext, name=name)

    def read_range(self, name: str, start: int, length: int) -> bytes:
        with super()._open(name, "rb") as raw:
            return filecrypto.decrypt_range(raw, start, length, keyring=file_keyring())

    def plaintext_size(self, name: str) -> int:
        with super()._open(name, "rb") as raw:
            return filecrypto.plaintext_size(raw, keyring=file_keyring())
