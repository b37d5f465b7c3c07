"""File storage that encrypts every byte before it is written (audio, exports).

Files are AES-256-GCM in fixed-size segments with a per-file data key wrapped by BILLY_FILE_MASTER_KEYS
(billy.filecrypto), so a byte range can be decrypted for audio seeking and tampering is detected.
"""

from __future__ import annotations

import os
import tempfile

from django.core.files.base import File
from django.core.files.storage import FileSystemStorage

from billy import filecrypto
from billy.keys import file_keyring

_SPOOL_BYTES = 8 * 1024 * 1024


class EncryptedFileSystemStorage(FileSystemStorage):
    def _save(self, name: str, content: File) -> str:
        """Encrypt into a private temporary file beside the target, then link it into place: a write that fails
        (disk full, a quota) leaves no partial file, and an existing file is never overwritten."""
        content.seek(0)
        full_path = self.path(name)
        directory = os.path.dirname(full_path)
        os.makedirs(directory, exist_ok=True)
        fd, partial = tempfile.mkstemp(dir=directory, prefix=".incoming-", suffix=".part")  # mode 0600
        try:
            with os.fdopen(fd, "wb") as out:
                filecrypto.encrypt_stream(content, out, keyring=file_keyring())
                out.flush()
                os.fsync(out.fileno())
            while True:
                try:
                    os.link(partial, full_path)
                    break
                except FileExistsError:  # taken meanwhile: the next free name, as FileSystemStorage does
                    name = self.get_available_name(name)
                    full_path = self.path(name)
            if self.file_permissions_mode is not None:
                os.chmod(full_path, self.file_permissions_mode)
        finally:
            os.unlink(partial)
        return str(name).replace("\\", "/")

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
