"""Tests for billy.filecrypto: segmented AES-256-GCM encryption of PHI files at rest."""

from __future__ import annotations

import base64
import io
import os
import struct

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from billy.filecrypto import (
    DEFAULT_SEGMENT_SIZE,
    FileCryptoError,
    MasterKeyring,
    decrypt_bytes,
    decrypt_range,
    decrypt_stream,
    encrypt_bytes,
    encrypt_stream,
    header_key_id,
    plaintext_size,
    rewrap,
)

SEG = 4096
STRIDE = SEG + 16
KEY_A = bytes(range(32))
KEY_B = bytes(range(100, 132))
KEYRING = MasterKeyring(keys={"k1": KEY_A}, current_id="k1")


def header_len(key_id: str = "k1") -> int:
    return 94 + len(key_id)


def sample(size: int) -> bytes:
    # Deterministic but non-repeating so a misplaced segment cannot compare equal by accident.
    return b"".join(struct.pack(">I", i) for i in range(size // 4 + 1))[:size]


def encrypted(size: int, segment_size: int = SEG) -> tuple[bytes, bytes]:
    data = sample(size)
    return data, encrypt_bytes(data, keyring=KEYRING, segment_size=segment_size)


def segments_of(blob: bytes, key_id: str = "k1") -> list[bytes]:
    body = blob[header_len(key_id) :]
    return [body[i : i + STRIDE] for i in range(0, len(body), STRIDE)]


def flip(blob: bytes, position: int) -> bytes:
    return blob[:position] + bytes([blob[position] ^ 0x01]) + blob[position + 1 :]


class TrickleReader:
    """A non-seekable source that returns short reads, like a pipe or an upload stream."""

    def __init__(self, data: bytes, chunk: int = 1000) -> None:
        self._data = data
        self._pos = 0
        self._chunk = chunk

    def read(self, size: int = -1) -> bytes:
        size = self._chunk if size < 0 else min(size, self._chunk)
        piece = self._data[self._pos : self._pos + size]
        self._pos += len(piece)
        return piece


class CountingReader(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.bytes_read = 0

    def read(self, size: int | None = -1) -> bytes:
        piece = super().read(size)
        self.bytes_read += len(piece)
        return piece


ROUND_TRIP_SIZES = [0, 1, SEG - 1, SEG, SEG + 1, 3 * SEG + SEG // 2]


@pytest.mark.parametrize("size", ROUND_TRIP_SIZES)
def test_round_trip_bytes(size: int) -> None:
    data, blob = encrypted(size)
    assert decrypt_bytes(blob, keyring=KEYRING) == data


@pytest.mark.parametrize("size", ROUND_TRIP_SIZES)
def test_ciphertext_length_is_header_plus_tag_per_segment(size: int) -> None:
    _, blob = encrypted(size)
    segments = max(1, -(-size // SEG))
    assert len(blob) == header_len() + size + 16 * segments


@pytest.mark.parametrize("size", ROUND_TRIP_SIZES)
def test_round_trip_streaming_with_non_seekable_short_reads(size: int) -> None:
    data = sample(size)
    encrypted_out = io.BytesIO()
    assert encrypt_stream(TrickleReader(data), encrypted_out, keyring=KEYRING, segment_size=SEG) == size
    decrypted_out = io.BytesIO()
    blob = encrypted_out.getvalue()
    assert decrypt_stream(TrickleReader(blob, 777), decrypted_out, keyring=KEYRING) == size
    assert decrypted_out.getvalue() == data


@pytest.mark.parametrize("size", ROUND_TRIP_SIZES)
def test_plaintext_size(size: int) -> None:
    _, blob = encrypted(size)
    assert plaintext_size(io.BytesIO(blob), keyring=KEYRING) == size


def test_default_segment_size_round_trip_on_random_data() -> None:
    data = os.urandom(300_000)
    blob = encrypt_bytes(data, keyring=KEYRING)
    assert struct.unpack(">I", blob[5:9])[0] == DEFAULT_SEGMENT_SIZE
    assert decrypt_bytes(blob, keyring=KEYRING) == data
    assert plaintext_size(io.BytesIO(blob), keyring=KEYRING) == 300_000
    assert decrypt_range(io.BytesIO(blob), 65_000, 1_000, keyring=KEYRING) == data[65_000:66_000]
    assert decrypt_range(io.BytesIO(blob), 299_990, 100, keyring=KEYRING) == data[299_990:]


def test_decrypt_range_matches_slicing() -> None:
    data, blob = encrypted(3 * SEG + SEG // 2)
    size = len(data)
    starts = [0, 1, 100, SEG - 1, SEG, SEG + 1, 2 * SEG - 3, 3 * SEG, size - SEG // 2, size - 2, size - 1]
    starts += [size, size + 1, size + 10_000]
    lengths = [0, 1, 2, 5, SEG - 1, SEG, SEG + 2, 2 * SEG + 1, size, size + 100]
    src = io.BytesIO(blob)
    for start in starts:
        for length in lengths:
            got = decrypt_range(src, start, length, keyring=KEYRING)
            assert got == data[start : start + length], (start, length)


def test_decrypt_range_on_empty_plaintext() -> None:
    _, blob = encrypted(0)
    assert decrypt_range(io.BytesIO(blob), 0, 10, keyring=KEYRING) == b""


def test_decrypt_range_rejects_negative_arguments() -> None:
    _, blob = encrypted(100)
    with pytest.raises(ValueError):
        decrypt_range(io.BytesIO(blob), -1, 10, keyring=KEYRING)
    with pytest.raises(ValueError):
        decrypt_range(io.BytesIO(blob), 0, -1, keyring=KEYRING)


def test_decrypt_range_reads_only_covering_segments_and_the_last() -> None:
    data, blob = encrypted(20 * SEG)
    src = CountingReader(blob)
    assert decrypt_range(src, 7 * SEG + 10, 20, keyring=KEYRING) == data[7 * SEG + 10 : 7 * SEG + 30]
    assert src.bytes_read == header_len() + 2 * STRIDE


def test_ciphertext_never_contains_plaintext_marker() -> None:
    marker = b"PATIENT Jane Q. Example DOB 1970-01-01 MRN 0000042 " * 21
    marker = marker[:1024]
    data = os.urandom(5000) + marker + os.urandom(3000) + marker
    blob = encrypt_bytes(data, keyring=KEYRING, segment_size=SEG)
    assert marker not in blob
    assert marker[:24] not in blob
    assert decrypt_bytes(blob, keyring=KEYRING) == data


def test_two_encryptions_of_the_same_data_differ() -> None:
    data = sample(2 * SEG)
    first = encrypt_bytes(data, keyring=KEYRING, segment_size=SEG)
    second = encrypt_bytes(data, keyring=KEYRING, segment_size=SEG)
    assert first[header_len() :] != second[header_len() :]
    assert first[9:25] != second[9:25]  # file id
    assert first[-(48 + 16) :] != second[-(48 + 16) :]
    assert decrypt_bytes(first, keyring=KEYRING) == decrypt_bytes(second, keyring=KEYRING) == data


def unwrap_independently(blob: bytes, master_key: bytes) -> bytes:
    """Unwrap the data key following the documented layout, without using the module under test."""
    key_id_len = blob[33]
    wrap_start = 34 + key_id_len
    wrap_nonce, wrapped = blob[wrap_start : wrap_start + 12], blob[wrap_start + 12 : wrap_start + 60]
    return AESGCM(master_key).decrypt(wrap_nonce, wrapped, blob[:wrap_start])


def test_layout_matches_the_documented_format() -> None:
    data, blob = encrypted(SEG + 100)
    assert blob[:4] == b"IBFC" and blob[4] == 1
    assert struct.unpack(">I", blob[5:9])[0] == SEG
    assert blob[33] == 2 and blob[34:36] == b"k1"
    file_id, nonce_prefix = blob[9:25], blob[25:33]
    aead = AESGCM(unwrap_independently(blob, KEY_A))
    first, last = segments_of(blob)
    aad0 = file_id + (0).to_bytes(8, "big") + b"\x00"
    aad1 = file_id + (1).to_bytes(8, "big") + b"\x01"
    assert aead.decrypt(nonce_prefix + (0).to_bytes(4, "big"), first, aad0) == data[:SEG]
    assert aead.decrypt(nonce_prefix + (1).to_bytes(4, "big"), last, aad1) == data[SEG:]


def test_each_file_gets_a_fresh_data_key() -> None:
    _, first = encrypted(10)
    _, second = encrypted(10)
    first_key, second_key = unwrap_independently(first, KEY_A), unwrap_independently(second, KEY_A)
    assert len(first_key) == 32 and first_key != second_key


def test_identical_segments_encrypt_differently() -> None:
    # Equal ciphertexts for equal plaintext segments would mean a reused nonce (GCM keystream reuse).
    blob = encrypt_bytes(bytes(3 * SEG), keyring=KEYRING, segment_size=SEG)
    bodies = [segment[:SEG] for segment in segments_of(blob)]
    assert len(set(bodies)) == 3


# Tampering


def test_every_header_byte_is_authenticated() -> None:
    _, blob = encrypted(SEG + 10)
    for position in range(header_len()):
        tampered = flip(blob, position)
        with pytest.raises(FileCryptoError):
            decrypt_bytes(tampered, keyring=KEYRING)
        with pytest.raises(FileCryptoError):
            plaintext_size(io.BytesIO(tampered), keyring=KEYRING)


def test_every_ciphertext_byte_is_authenticated() -> None:
    _, blob = encrypted(2 * SEG + 300)
    for position in range(header_len(), len(blob)):
        with pytest.raises(FileCryptoError):
            decrypt_bytes(flip(blob, position), keyring=KEYRING)


def test_tampered_middle_segment_fails_only_where_it_is_read() -> None:
    data, blob = encrypted(3 * SEG + SEG // 2)
    tampered = flip(blob, header_len() + STRIDE + 123)
    with pytest.raises(FileCryptoError, match="segment 1"):
        decrypt_bytes(tampered, keyring=KEYRING)
    with pytest.raises(FileCryptoError, match="segment 1"):
        decrypt_range(io.BytesIO(tampered), SEG + 100, 50, keyring=KEYRING)
    # Segments 0 and 3 are untouched and still authenticate on their own.
    assert decrypt_range(io.BytesIO(tampered), 10, 50, keyring=KEYRING) == data[10:60]
    assert decrypt_range(io.BytesIO(tampered), 3 * SEG, 50, keyring=KEYRING) == data[3 * SEG : 3 * SEG + 50]


def test_tampered_tag_fails() -> None:
    _, blob = encrypted(3 * SEG)
    tag_byte = header_len() + 2 * STRIDE - 5
    with pytest.raises(FileCryptoError, match="segment 1"):
        decrypt_bytes(flip(blob, tag_byte), keyring=KEYRING)
    with pytest.raises(FileCryptoError):
        plaintext_size(io.BytesIO(flip(blob, len(blob) - 1)), keyring=KEYRING)


def test_not_an_encrypted_file() -> None:
    with pytest.raises(FileCryptoError, match="not an IamBilly encrypted file"):
        decrypt_bytes(b"RIFF....WAVEfmt " + bytes(200), keyring=KEYRING)
    with pytest.raises(FileCryptoError, match="not an IamBilly encrypted file"):
        decrypt_bytes(b"", keyring=KEYRING)
    _, blob = encrypted(10)
    with pytest.raises(FileCryptoError, match="unsupported format version 2"):
        decrypt_bytes(blob[:4] + b"\x02" + blob[5:], keyring=KEYRING)
    with pytest.raises(FileCryptoError, match="not an IamBilly encrypted file"):
        header_key_id(io.BytesIO(b"plain text"))


# Truncation, reordering, extension


def truncation_points(blob: bytes) -> dict[str, int]:
    return {
        "inside header": 50,
        "header only": header_len(),
        "segment boundary 1": header_len() + STRIDE,
        "segment boundary 2": header_len() + 2 * STRIDE,
        "mid segment": header_len() + STRIDE + 100,
        "inside last tag": len(blob) - 5,
    }


@pytest.mark.parametrize("where", list(truncation_points(b"x" * 100_000)))
def test_truncation_is_detected(where: str) -> None:
    data, blob = encrypted(3 * SEG + SEG // 2)
    truncated = blob[: truncation_points(blob)[where]]
    with pytest.raises(FileCryptoError):
        decrypt_bytes(truncated, keyring=KEYRING)
    with pytest.raises(FileCryptoError):
        decrypt_stream(io.BytesIO(truncated), io.BytesIO(), keyring=KEYRING)
    with pytest.raises(FileCryptoError):
        plaintext_size(io.BytesIO(truncated), keyring=KEYRING)
    # The tail of the truncated file, and even a range that looks intact, must not read as authentic EOF.
    with pytest.raises(FileCryptoError):
        decrypt_range(io.BytesIO(truncated), len(data) - 10, 10, keyring=KEYRING)
    with pytest.raises(FileCryptoError):
        decrypt_range(io.BytesIO(truncated), 0, 10, keyring=KEYRING)


def test_truncating_to_whole_segments_of_exact_multiple_is_detected() -> None:
    _, blob = encrypted(3 * SEG)
    with pytest.raises(FileCryptoError):
        decrypt_bytes(blob[: header_len() + 2 * STRIDE], keyring=KEYRING)


def test_swapped_segments_fail() -> None:
    _, blob = encrypted(3 * SEG + SEG // 2)
    segs = segments_of(blob)
    swapped = blob[: header_len()] + segs[1] + segs[0] + b"".join(segs[2:])
    with pytest.raises(FileCryptoError, match="segment 0"):
        decrypt_bytes(swapped, keyring=KEYRING)


def test_dropped_middle_segment_fails() -> None:
    _, blob = encrypted(3 * SEG + SEG // 2)
    segs = segments_of(blob)
    dropped = blob[: header_len()] + segs[0] + b"".join(segs[2:])
    with pytest.raises(FileCryptoError):
        decrypt_bytes(dropped, keyring=KEYRING)


@pytest.mark.parametrize("copied", [0, 1, -1])
def test_appended_copy_of_a_segment_fails(copied: int) -> None:
    _, blob = encrypted(3 * SEG)
    extended = blob + segments_of(blob)[copied]
    with pytest.raises(FileCryptoError):
        decrypt_bytes(extended, keyring=KEYRING)
    with pytest.raises(FileCryptoError):
        plaintext_size(io.BytesIO(extended), keyring=KEYRING)


def test_appended_garbage_fails() -> None:
    _, blob = encrypted(SEG // 2)
    with pytest.raises(FileCryptoError):
        decrypt_bytes(blob + b"\x00", keyring=KEYRING)


def test_segments_cannot_be_spliced_between_files() -> None:
    _, first = encrypted(2 * SEG)
    _, second = encrypted(2 * SEG)
    spliced = first[: header_len()] + segments_of(second)[0] + segments_of(first)[1]
    with pytest.raises(FileCryptoError, match="segment 0"):
        decrypt_bytes(spliced, keyring=KEYRING)


# Keys and rotation


def test_missing_key_id_is_named() -> None:
    _, blob = encrypted(100)
    other = MasterKeyring(keys={"k2": KEY_B}, current_id="k2")
    with pytest.raises(FileCryptoError, match="'k1'") as caught:
        decrypt_bytes(blob, keyring=other)
    assert KEY_B.hex() not in str(caught.value) and base64.b64encode(KEY_B).decode() not in str(caught.value)
    with pytest.raises(FileCryptoError, match="'k1'"):
        decrypt_range(io.BytesIO(blob), 0, 10, keyring=other)


def test_wrong_key_under_the_same_id_fails() -> None:
    _, blob = encrypted(100)
    impostor = MasterKeyring(keys={"k1": KEY_B}, current_id="k1")
    with pytest.raises(FileCryptoError, match="header failed authentication"):
        decrypt_bytes(blob, keyring=impostor)


def test_rewrap_rotates_to_the_current_key_and_keeps_segments() -> None:
    data, blob = encrypted(3 * SEG + SEG // 2)
    assert header_key_id(io.BytesIO(blob)) == "k1"
    rotating = MasterKeyring(keys={"new-2": KEY_B, "k1": KEY_A}, current_id="new-2")
    out = io.BytesIO()
    rewrap(io.BytesIO(blob), out, keyring=rotating)
    rotated = out.getvalue()

    assert header_key_id(io.BytesIO(rotated)) == "new-2"
    assert rotated[header_len("new-2") :] == blob[header_len("k1") :]
    assert rotated[9:33] == blob[9:33]  # file id and nonce prefix carried over
    only_new = MasterKeyring(keys={"new-2": KEY_B}, current_id="new-2")
    assert decrypt_bytes(rotated, keyring=only_new) == data
    assert decrypt_range(io.BytesIO(rotated), SEG - 5, 10, keyring=only_new) == data[SEG - 5 : SEG + 5]
    with pytest.raises(FileCryptoError, match="'new-2'"):
        decrypt_bytes(rotated, keyring=KEYRING)


def test_rewrap_needs_the_old_key() -> None:
    _, blob = encrypted(100)
    only_new = MasterKeyring(keys={"k2": KEY_B}, current_id="k2")
    with pytest.raises(FileCryptoError, match="'k1'"):
        rewrap(io.BytesIO(blob), io.BytesIO(), keyring=only_new)


def test_rewrapped_header_is_authenticated() -> None:
    _, blob = encrypted(SEG)
    keyring = MasterKeyring(keys={"k2": KEY_B, "k1": KEY_A}, current_id="k2")
    out = io.BytesIO()
    rewrap(io.BytesIO(blob), out, keyring=keyring)
    rotated = out.getvalue()
    for position in range(header_len("k2")):
        with pytest.raises(FileCryptoError):
            decrypt_bytes(flip(rotated, position), keyring=keyring)


# MasterKeyring


def b64(key: bytes, *, urlsafe: bool = False, pad: bool = True) -> str:
    text = (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(key).decode()
    return text if pad else text.rstrip("=")


def test_parse_first_entry_is_current_and_both_alphabets_work() -> None:
    key_a = bytes([0xFB, 0xFF] * 16)  # encodes with '+' and '/' (or '-' and '_')
    spec = f"prod-2025:{b64(key_a, urlsafe=True, pad=False)}, old_1:{b64(KEY_B)}"
    keyring = MasterKeyring.parse(spec)
    assert keyring.current_id == "prod-2025"
    assert dict(keyring.keys) == {"prod-2025": key_a, "old_1": KEY_B}
    assert MasterKeyring.parse(f"a:{b64(key_a)}").keys["a"] == key_a


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("k1", "id:base64key"),
        (f":{b64(KEY_A)}", "id:base64key"),
        ("k1:", "no key"),
        ("k1:not*base64!!", "not valid base64"),
        (f"k1:{b64(KEY_A[:31])}", "31 bytes"),
        (f"k1:{b64(KEY_A + b'x')}", "33 bytes"),
        (f"k1:{b64(KEY_A)},k1:{b64(KEY_B)}", "more than once"),
        (f"k1:{b64(KEY_A)},", "entry 2"),
        (f"bad id:{b64(KEY_A)}", "A-Za-z0-9"),
        (f"{'x' * 17}:{b64(KEY_A)}", "A-Za-z0-9"),
    ],
)
def test_parse_errors(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        MasterKeyring.parse(spec)
    assert b64(KEY_A) not in str(caught.value)


def test_keyring_validation_and_repr() -> None:
    with pytest.raises(ValueError, match="not in the keyring"):
        MasterKeyring(keys={"k1": KEY_A}, current_id="k2")
    with pytest.raises(ValueError, match="32 bytes"):
        MasterKeyring(keys={"k1": KEY_A[:16]}, current_id="k1")
    with pytest.raises(ValueError, match="empty"):
        MasterKeyring(keys={}, current_id="k1")
    with pytest.raises(ValueError, match="A-Za-z0-9"):
        MasterKeyring(keys={"k/1": KEY_A}, current_id="k/1")
    assert KEY_A.hex() not in repr(KEYRING) and repr(KEY_A) not in repr(KEYRING)


def test_keyring_copies_its_keys() -> None:
    keys = {"k1": KEY_A}
    keyring = MasterKeyring(keys=keys, current_id="k1")
    keys["k1"] = KEY_B
    assert keyring.keys["k1"] == KEY_A
    with pytest.raises(TypeError):
        keyring.keys["k1"] = KEY_B  # type: ignore[index]


def test_encrypt_rejects_unreasonable_segment_sizes() -> None:
    for bad in (0, 1024, 4095, 16 * 1024 * 1024 + 1):
        with pytest.raises(ValueError, match="segment_size"):
            encrypt_bytes(b"abc", keyring=KEYRING, segment_size=bad)
