"""Files saved through the default storage are AES-256-GCM on disk and readable by range."""

import os

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from billy.testing.pytest_plugin import PHI_CANARY


def test_saved_files_are_ciphertext_on_disk_and_plaintext_through_storage(settings):
    payload = (f"Operative note for {PHI_CANARY}. ".encode() * 5000)
    name = default_storage.save("tests/note.txt", ContentFile(payload))
    try:
        raw = (settings.MEDIA_ROOT / name).read_bytes()
        assert raw[:4] == b"IBFC"
        assert PHI_CANARY.encode() not in raw
        assert oct(os.stat(settings.MEDIA_ROOT / name).st_mode & 0o777) == oct(0o600)
        with default_storage.open(name) as handle:
            assert handle.read() == payload
        assert default_storage.plaintext_size(name) == len(payload)
        assert default_storage.read_range(name, 70_000, 50) == payload[70_000:70_050]
    finally:
        default_storage.delete(name)
