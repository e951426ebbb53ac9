"""Hash functions used across the BOLTs."""

from __future__ import annotations

import hashlib

_sha256 = hashlib.sha256


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def double_sha256(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


# HMAC (RFC 2104) spelled out over hashlib: for the short keys BOLT 8 uses it is about
# twice as fast as `hmac.new`, and HKDF below reuses one padded key for two HMACs.
# XOR with the constant pads is a byte translation.
_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))
_BLOCK = 64


def _pads(key: bytes) -> tuple[bytes, bytes]:
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\x00")
    return key.translate(_IPAD), key.translate(_OPAD)


def hmac_sha256(key: bytes, data: bytes) -> bytes:
    ipad, opad = _pads(key)
    return _sha256(opad + _sha256(ipad + data).digest()).digest()


def hkdf_two_keys(salt: bytes, ikm: bytes) -> tuple[bytes, bytes]:
    """HKDF-SHA256 with empty info, 64 bytes out, split in two (BOLT 8 `HKDF`)."""
    ipad, opad = _pads(salt)
    prk = _sha256(opad + _sha256(ipad + ikm).digest()).digest()
    ipad, opad = _pads(prk)
    t1 = _sha256(opad + _sha256(ipad + b"\x01").digest()).digest()
    t2 = _sha256(opad + _sha256(ipad + t1 + b"\x02").digest()).digest()
    return t1, t2


def hash160(data: bytes) -> bytes:
    """RIPEMD-160(SHA-256(data)): P2PKH/P2WPKH key hashes, BIP 32 key identifiers."""
    return hashlib.new("ripemd160", hashlib.sha256(data).digest()).digest()
