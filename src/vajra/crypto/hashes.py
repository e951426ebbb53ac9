"""Hash functions used across the BOLTs."""

from __future__ import annotations

import hashlib
import hmac


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def double_sha256(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def hmac_sha256(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


def hkdf_two_keys(salt: bytes, ikm: bytes) -> tuple[bytes, bytes]:
    """HKDF-SHA256 with empty info, 64 bytes out, split in two (BOLT 8 `HKDF`)."""
    prk = hmac_sha256(salt, ikm)
    t1 = hmac_sha256(prk, b"\x01")
    t2 = hmac_sha256(prk, t1 + b"\x02")
    return t1, t2
