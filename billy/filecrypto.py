"""Segmented AES-256-GCM encryption for PHI files at rest (audio recordings, exports).

Files are split into fixed-size plaintext segments that are sealed independently, so a byte range can be
decrypted without reading the whole file (audio seeking), while tampering, truncation, reordering and
appending are still detected. Pure Python on top of ``cryptography``; no Django import, so it can be used
from workers, management commands and tests alike.

Byte layout (all integers big-endian)::

    offset  size  field
    0       4     magic b"IBFC"
    4       1     format version (1)
    5       4     segment size S: plaintext bytes per segment, 4 KiB .. 16 MiB
    9       16    file id (random)
    25      8     nonce prefix (random)
    33      1     master key id length n (1..16)
    34      n     master key id, ASCII [A-Za-z0-9_-] (not secret, stored in clear)
    34+n    12    wrap nonce (random)
    46+n    48    wrapped data key = AES-256-GCM(master key, wrap nonce, 32-byte data key,
                  AAD = header bytes [0, 34+n)) -> 32 bytes ciphertext + 16 bytes tag
    94+n          segments

    segment i = AES-256-GCM(data key, nonce = nonce prefix || u32 i,
                            plaintext = S bytes (the last one 0..S bytes),
                            AAD = file id || u64 i || final flag (1 on the last segment, else 0))
              = len(plaintext) + 16 bytes

Every segment but the last holds exactly S plaintext bytes, so segment i starts at
``header_len + i * (S + 16)``. The last segment is never empty unless the whole plaintext is empty, in
which case it is a single final segment of 0 bytes. Because the index and the final flag are in the AAD,
reordered, dropped, appended or boundary-truncated segments fail authentication.

The whole header is authenticated by the data-key wrap. Segments are bound to the random file id rather
than to the wrapped key or master key id, so key rotation (:func:`rewrap`) only rewrites the header and
copies the segments unchanged. Each file has its own random data key, so nonces never repeat under one key.
"""

from __future__ import annotations

import base64
import binascii
import io
import os
import re
import shutil
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "DEFAULT_SEGMENT_SIZE",
    "MAX_SEGMENT_SIZE",
    "MIN_SEGMENT_SIZE",
    "FileCryptoError",
    "MasterKeyring",
    "decrypt_bytes",
    "decrypt_range",
    "decrypt_stream",
    "encrypt_bytes",
    "encrypt_stream",
    "header_key_id",
    "plaintext_size",
    "rewrap",
]

MAGIC = b"IBFC"
FORMAT_VERSION = 1
DEFAULT_SEGMENT_SIZE = 64 * 1024
MIN_SEGMENT_SIZE = 4 * 1024
MAX_SEGMENT_SIZE = 16 * 1024 * 1024

KEY_SIZE = 32
TAG_SIZE = 16
FILE_ID_SIZE = 16
NONCE_PREFIX_SIZE = 8
WRAP_NONCE_SIZE = 12
WRAPPED_KEY_SIZE = KEY_SIZE + TAG_SIZE
# The per-segment nonce ends in a 4-byte counter; more segments would wrap it and reuse a nonce.
MAX_SEGMENTS = 2**32

# magic, version, segment size, file id, nonce prefix, key id length
_FIXED_HEADER = struct.Struct(f">4sBI{FILE_ID_SIZE}s{NONCE_PREFIX_SIZE}sB")
_KEY_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,16}")
_COPY_CHUNK = 1024 * 1024


class FileCryptoError(Exception):
    """An encrypted file cannot be read: not our format, tampered, truncated, or its key is unavailable."""


def _is_valid_key_id(key_id: str) -> bool:
    return isinstance(key_id, str) and _KEY_ID_RE.fullmatch(key_id) is not None


@dataclass(frozen=True)
class MasterKeyring:
    """Master keys by id; ``current_id`` wraps new files, the others only unwrap older ones."""

    # repr=False keeps key material out of logs and tracebacks; hash=False because mappings are unhashable.
    keys: Mapping[str, bytes] = field(repr=False, hash=False)
    current_id: str

    def __post_init__(self) -> None:
        if not self.keys:
            raise ValueError("master keyring is empty")
        for key_id, key in self.keys.items():
            if not _is_valid_key_id(key_id):
                raise ValueError(f"master key id {key_id!r} must be 1-16 characters of [A-Za-z0-9_-]")
            if not isinstance(key, (bytes, bytearray)) or len(key) != KEY_SIZE:
                raise ValueError(f"master key {key_id!r} must be exactly {KEY_SIZE} bytes")
        if self.current_id not in self.keys:
            raise ValueError(f"current master key id {self.current_id!r} is not in the keyring")
        # Freeze a private copy so a caller mutating its dict cannot change keys under us.
        frozen = MappingProxyType({key_id: bytes(key) for key_id, key in self.keys.items()})
        object.__setattr__(self, "keys", frozen)

    @classmethod
    def parse(cls, spec: str) -> MasterKeyring:
        """Parse ``"id1:BASE64KEY,id2:BASE64KEY"``; the first entry is the current key.

        Keys may be standard or urlsafe base64, with or without padding. Error messages name the key id
        but never echo the key text.
        """
        if not spec or not spec.strip():
            raise ValueError("master keyring spec is empty")
        keys: dict[str, bytes] = {}
        for position, entry in enumerate(spec.split(","), start=1):
            key_id, sep, encoded = entry.strip().partition(":")
            key_id = key_id.strip()
            if not sep or not key_id:
                raise ValueError(f"master keyring entry {position} is not of the form id:base64key")
            if key_id in keys:
                raise ValueError(f"master key id {key_id!r} appears more than once")
            keys[key_id] = _decode_master_key(key_id, encoded.strip())
        return cls(keys=keys, current_id=next(iter(keys)))

    def master_key(self, key_id: str) -> bytes:
        try:
            return self.keys[key_id]
        except KeyError:
            known = ", ".join(sorted(self.keys))
            raise FileCryptoError(
                f"file is wrapped with master key id {key_id!r}, which is not in the keyring (have: {known})"
            ) from None


def _decode_master_key(key_id: str, encoded: str) -> bytes:
    if not encoded:
        raise ValueError(f"master key {key_id!r} has no key after the colon")
    # Accept both alphabets and missing padding: keys get pasted from many tools.
    normalised = encoded.replace("-", "+").replace("_", "/")
    normalised += "=" * (-len(normalised) % 4)
    try:
        key = base64.b64decode(normalised, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"master key {key_id!r} is not valid base64") from None
    if len(key) != KEY_SIZE:
        raise ValueError(f"master key {key_id!r} decodes to {len(key)} bytes, expected {KEY_SIZE}")
    return key


@dataclass(frozen=True)
class _Header:
    segment_size: int
    file_id: bytes
    nonce_prefix: bytes
    key_id: str
    wrap_nonce: bytes
    wrapped_key: bytes

    def authenticated_fields(self) -> bytes:
        """Everything before the wrap nonce: the AAD of the data-key wrap."""
        key_id = self.key_id.encode("ascii")
        fixed = _FIXED_HEADER.pack(
            MAGIC, FORMAT_VERSION, self.segment_size, self.file_id, self.nonce_prefix, len(key_id)
        )
        return fixed + key_id

    def to_bytes(self) -> bytes:
        return self.authenticated_fields() + self.wrap_nonce + self.wrapped_key

    @property
    def size(self) -> int:
        return _FIXED_HEADER.size + len(self.key_id) + WRAP_NONCE_SIZE + WRAPPED_KEY_SIZE


def _wrap(
    keyring: MasterKeyring, data_key: bytes, *, segment_size: int, file_id: bytes, nonce_prefix: bytes
) -> _Header:
    """Build a header whose data key is wrapped under the keyring's current master key."""
    unsealed = _Header(segment_size, file_id, nonce_prefix, keyring.current_id, b"", b"")
    wrap_nonce = os.urandom(WRAP_NONCE_SIZE)
    master = AESGCM(keyring.master_key(keyring.current_id))
    wrapped = master.encrypt(wrap_nonce, data_key, unsealed.authenticated_fields())
    return _Header(segment_size, file_id, nonce_prefix, keyring.current_id, wrap_nonce, wrapped)


def _unwrap(header: _Header, keyring: MasterKeyring) -> bytes:
    master = AESGCM(keyring.master_key(header.key_id))
    try:
        return master.decrypt(header.wrap_nonce, header.wrapped_key, header.authenticated_fields())
    except InvalidTag:
        raise FileCryptoError(
            f"file header failed authentication (header tampered, or master key {header.key_id!r} "
            "is not the key this file was wrapped with)"
        ) from None


def _read_exact(src: BinaryIO, size: int) -> bytes:
    """Read ``size`` bytes, or fewer only at EOF: pipes and sockets may return short reads."""
    data = src.read(size) or b""
    if len(data) == size or not data:
        return data
    parts = [data]
    received = len(data)
    while received < size:
        more = src.read(size - received)
        if not more:
            break
        parts.append(more)
        received += len(more)
    return b"".join(parts)


def _read_header(src: BinaryIO) -> _Header:
    """Parse the header at the current position; checks structure only, not authenticity."""
    fixed = _read_exact(src, _FIXED_HEADER.size)
    if fixed[: len(MAGIC)] != MAGIC:
        raise FileCryptoError("not an IamBilly encrypted file (bad magic)")
    version = fixed[len(MAGIC) : len(MAGIC) + 1]
    if version and version[0] != FORMAT_VERSION:
        raise FileCryptoError(f"not an IamBilly encrypted file (unsupported format version {version[0]})")
    if len(fixed) < _FIXED_HEADER.size:
        raise FileCryptoError("encrypted file is truncated inside its header")
    _, _, segment_size, file_id, nonce_prefix, key_id_len = _FIXED_HEADER.unpack(fixed)
    if not MIN_SEGMENT_SIZE <= segment_size <= MAX_SEGMENT_SIZE:
        raise FileCryptoError(f"encrypted file header has an invalid segment size ({segment_size})")
    rest = _read_exact(src, key_id_len + WRAP_NONCE_SIZE + WRAPPED_KEY_SIZE)
    if len(rest) < key_id_len + WRAP_NONCE_SIZE + WRAPPED_KEY_SIZE:
        raise FileCryptoError("encrypted file is truncated inside its header")
    key_id = rest[:key_id_len].decode("ascii", errors="replace")
    if not _is_valid_key_id(key_id):
        raise FileCryptoError("encrypted file header has an invalid master key id")
    wrap_nonce = rest[key_id_len : key_id_len + WRAP_NONCE_SIZE]
    wrapped_key = rest[key_id_len + WRAP_NONCE_SIZE :]
    return _Header(segment_size, file_id, nonce_prefix, key_id, wrap_nonce, wrapped_key)


class _SegmentCipher:
    """Seals and opens the segments of one file under its data key."""

    def __init__(self, data_key: bytes, header: _Header) -> None:
        self._aead = AESGCM(data_key)
        self._file_id = header.file_id
        self._nonce_prefix = header.nonce_prefix

    def _nonce_and_aad(self, index: int, final: bool) -> tuple[bytes, bytes]:
        if not 0 <= index < MAX_SEGMENTS:
            raise FileCryptoError("file has more segments than the format allows for its segment size")
        nonce = self._nonce_prefix + index.to_bytes(4, "big")
        aad = self._file_id + index.to_bytes(8, "big") + (b"\x01" if final else b"\x00")
        return nonce, aad

    def seal(self, index: int, plaintext: bytes, final: bool) -> bytes:
        nonce, aad = self._nonce_and_aad(index, final)
        return self._aead.encrypt(nonce, plaintext, aad)

    def open(self, index: int, ciphertext: bytes, final: bool) -> bytes:
        if len(ciphertext) < TAG_SIZE:
            raise FileCryptoError(f"encrypted file is truncated (segment {index} is incomplete)")
        nonce, aad = self._nonce_and_aad(index, final)
        try:
            return self._aead.decrypt(nonce, ciphertext, aad)
        except InvalidTag:
            raise FileCryptoError(
                f"segment {index} failed authentication (file tampered, truncated, reordered or extended)"
            ) from None


def _chunks(src: BinaryIO, size: int) -> Iterator[tuple[int, bytes, bool]]:
    """Yield ``(index, chunk, is_last)``, reading one chunk ahead so the last one is known without seeking.

    An empty source yields a single empty last chunk, matching the format's empty final segment.
    """
    current = _read_exact(src, size)
    index = 0
    while True:
        following = _read_exact(src, size) if len(current) == size else b""
        is_last = not following
        yield index, current, is_last
        if is_last:
            return
        current = following
        index += 1


def _check_segment_size(segment_size: int) -> None:
    if not MIN_SEGMENT_SIZE <= segment_size <= MAX_SEGMENT_SIZE:
        raise ValueError(
            f"segment_size must be between {MIN_SEGMENT_SIZE} and {MAX_SEGMENT_SIZE} bytes, got {segment_size}"
        )


def encrypt_stream(
    src: BinaryIO, dst: BinaryIO, *, keyring: MasterKeyring, segment_size: int = DEFAULT_SEGMENT_SIZE
) -> int:
    """Encrypt ``src`` into ``dst`` segment by segment; returns the plaintext size.

    ``src`` need not be seekable; at most two segments are held in memory.
    """
    _check_segment_size(segment_size)
    data_key = os.urandom(KEY_SIZE)
    header = _wrap(
        keyring,
        data_key,
        segment_size=segment_size,
        file_id=os.urandom(FILE_ID_SIZE),
        nonce_prefix=os.urandom(NONCE_PREFIX_SIZE),
    )
    dst.write(header.to_bytes())
    cipher = _SegmentCipher(data_key, header)
    total = 0
    for index, chunk, is_last in _chunks(src, segment_size):
        dst.write(cipher.seal(index, chunk, is_last))
        total += len(chunk)
    return total


def encrypt_bytes(data: bytes, *, keyring: MasterKeyring, segment_size: int = DEFAULT_SEGMENT_SIZE) -> bytes:
    out = io.BytesIO()
    encrypt_stream(io.BytesIO(data), out, keyring=keyring, segment_size=segment_size)
    return out.getvalue()


def decrypt_stream(src: BinaryIO, dst: BinaryIO, *, keyring: MasterKeyring) -> int:
    """Decrypt ``src`` into ``dst``, verifying every segment and the final flag; returns the plaintext size.

    Only authenticated segments are written, but truncation is only detectable at the end: if this raises,
    ``dst`` may hold a verified prefix of the plaintext and must be discarded by the caller.
    """
    header = _read_header(src)
    cipher = _SegmentCipher(_unwrap(header, keyring), header)
    total = 0
    for index, chunk, is_last in _chunks(src, header.segment_size + TAG_SIZE):
        plaintext = cipher.open(index, chunk, is_last)
        dst.write(plaintext)
        total += len(plaintext)
    return total


def decrypt_bytes(blob: bytes, *, keyring: MasterKeyring) -> bytes:
    out = io.BytesIO()
    decrypt_stream(io.BytesIO(blob), out, keyring=keyring)
    return out.getvalue()


@dataclass(frozen=True)
class _OpenFile:
    """A seekable encrypted file whose header and last segment have been authenticated."""

    src: BinaryIO
    cipher: _SegmentCipher
    header_size: int
    segment_size: int
    segment_count: int
    last_plaintext: bytes

    @property
    def plaintext_size(self) -> int:
        return (self.segment_count - 1) * self.segment_size + len(self.last_plaintext)

    def segment(self, index: int) -> bytes:
        if index == self.segment_count - 1:
            return self.last_plaintext
        stride = self.segment_size + TAG_SIZE
        self.src.seek(self.header_size + index * stride)
        return self.cipher.open(index, _read_exact(self.src, stride), final=False)


def _open_seekable(src: BinaryIO, keyring: MasterKeyring) -> _OpenFile:
    """Read the header and authenticate the last segment, so sizes and EOF are trustworthy."""
    src.seek(0)
    header = _read_header(src)
    cipher = _SegmentCipher(_unwrap(header, keyring), header)
    body_size = src.seek(0, os.SEEK_END) - header.size
    stride = header.segment_size + TAG_SIZE
    # Every segment but the last is exactly one stride; a header with no body still has one (short) segment.
    segment_count = max(1, -(-body_size // stride))
    last_index = segment_count - 1
    src.seek(header.size + last_index * stride)
    last_plaintext = cipher.open(last_index, _read_exact(src, stride), final=True)
    return _OpenFile(src, cipher, header.size, header.segment_size, segment_count, last_plaintext)


def plaintext_size(src: BinaryIO, *, keyring: MasterKeyring) -> int:
    """Plaintext size of a seekable encrypted file (starting at offset 0), from its length.

    The last segment is authenticated, so a truncated or extended file raises instead of lying.
    """
    return _open_seekable(src, keyring).plaintext_size


def decrypt_range(src: BinaryIO, start: int, length: int, *, keyring: MasterKeyring) -> bytes:
    """Return plaintext ``[start, start + length)``, clamped at EOF like a file read.

    Reads and authenticates the header, the segments covering the range and the last segment (which fixes
    the authentic EOF); nothing else of the file is read.
    """
    if start < 0 or length < 0:
        raise ValueError(f"start and length must be non-negative, got start={start} length={length}")
    opened = _open_seekable(src, keyring)
    end = min(start + length, opened.plaintext_size)
    if start >= end:
        return b""
    size = opened.segment_size
    first, last = start // size, (end - 1) // size
    joined = b"".join(opened.segment(index) for index in range(first, last + 1))
    offset = first * size
    return joined[start - offset : end - offset]


def header_key_id(src: BinaryIO) -> str:
    """The id of the master key that wraps this file, read from the header at the current position.

    Needs no key, so it is not authenticated: use it to plan rotation, not to make trust decisions.
    """
    return _read_header(src).key_id


def rewrap(src: BinaryIO, dst: BinaryIO, *, keyring: MasterKeyring) -> None:
    """Re-wrap the file's data key under ``keyring.current_id`` and copy the segments unchanged.

    The keyring must also hold the key the file is currently wrapped with. Segments are copied, not
    verified; the data key, file id and nonce prefix are kept, so no nonce is ever reused.
    """
    old = _read_header(src)
    data_key = _unwrap(old, keyring)
    new = _wrap(
        keyring, data_key, segment_size=old.segment_size, file_id=old.file_id, nonce_prefix=old.nonce_prefix
    )
    dst.write(new.to_bytes())
    shutil.copyfileobj(src, dst, _COPY_CHUNK)
