"""BOLT 4 key generation and the ChaCha20 pseudo-random byte stream.

`generate_key(key_type, secret)` is HMAC-SHA256 keyed by the key-type name (`rho`, `mu`,
`um`, `pad`, `ammag`; no NUL terminator) over the 32-byte shared secret (BOLT 4 "Key
Generation"). `stream(key, n)` is ChaCha20 over `n` zero bytes with a 96-bit zero nonce and
counter 0 (BOLT 4 "Pseudo Random Byte Stream"): the plain stream cipher, not the AEAD, so
it comes from `cryptography`'s `algorithms.ChaCha20` (already a dependency for BOLT 8).
"""

from __future__ import annotations

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

from vajra.crypto.hashes import hmac_sha256

RHO = b"rho"
MU = b"mu"
UM = b"um"
PAD = b"pad"
AMMAG = b"ammag"

# `cryptography`'s ChaCha20 takes a 16-byte nonce: a 32-bit little-endian block counter
# then the 96-bit nonce (RFC 8439 section 2.3). Both are zero here.
_NONCE16 = bytes(16)
_ZEROS = bytes(2 * 1300)


def generate_key(key_type: bytes, secret: bytes) -> bytes:
    """32-byte key of `key_type` (e.g. `RHO`) derived from a 32-byte shared secret."""
    return hmac_sha256(key_type, secret)


def stream(key: bytes, length: int) -> bytes:
    """`length` bytes of ChaCha20 keystream under `key` (32 bytes), zero nonce."""
    enc = Cipher(algorithms.ChaCha20(key, _NONCE16), mode=None).encryptor()
    zeros = _ZEROS[:length] if length <= len(_ZEROS) else bytes(length)
    return enc.update(zeros)


def xor(a: bytes, b: bytes) -> bytes:
    """Byte-wise XOR of two equal-length strings (one big-int operation, not a loop)."""
    n = len(a)
    return (int.from_bytes(a, "big") ^ int.from_bytes(b[:n], "big")).to_bytes(n, "big")
