"""ChaCha20-Poly1305 (RFC 8439) with the BOLT 8 nonce layout."""

from __future__ import annotations

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from vajra.errors import DecodeError

_ZERO4 = b"\x00\x00\x00\x00"


class AuthenticationError(DecodeError):
    """A ciphertext failed its Poly1305 check (tampered, wrong key or wrong nonce)."""


# BOLT 8 transport nonces never pass 1000 (keys rotate there): serve those from a table.
_NONCES = tuple(_ZERO4 + n.to_bytes(8, "little") for n in range(1024))


def nonce96(n: int) -> bytes:
    """BOLT 8: 32 zero bits followed by a little-endian 64-bit counter."""
    if 0 <= n < 1024:
        return _NONCES[n]
    return _ZERO4 + n.to_bytes(8, "little")


class Aead:
    """A ChaCha20-Poly1305 key; keeps the cipher object so per-message cost is minimal."""

    __slots__ = ("_c",)

    def __init__(self, key: bytes) -> None:
        self._c = ChaCha20Poly1305(key)

    def encrypt(self, n: int, ad: bytes, plaintext: bytes) -> bytes:
        return self._c.encrypt(nonce96(n), plaintext, ad)

    def decrypt(self, n: int, ad: bytes, ciphertext: bytes | bytearray) -> bytes:
        try:
            return self._c.decrypt(nonce96(n), ciphertext, ad)
        except InvalidTag:
            raise AuthenticationError("AEAD authentication failed") from None


def encrypt(key: bytes, n: int, ad: bytes, plaintext: bytes) -> bytes:
    return Aead(key).encrypt(n, ad, plaintext)


def decrypt(key: bytes, n: int, ad: bytes, ciphertext: bytes) -> bytes:
    return Aead(key).decrypt(n, ad, ciphertext)
