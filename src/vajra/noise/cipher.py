"""One direction of a BOLT 8 session: a ChaCha20-Poly1305 key that rotates every 1000 uses.

BOLT 8 "Lightning Message Key Rotation": each of `sk` and `rk` is rotated individually
"once the nonce dedicated to it reaches 1000" with `ck', k' = HKDF(ck, k)`, the nonce
reset to 0. A message uses two nonces (length prefix, body), so a key lasts 500 messages.
"""

from __future__ import annotations

from vajra.crypto.aead import Aead
from vajra.crypto.hashes import hkdf_two_keys

ROTATE_AT = 1000
"""BOLT 8: a key is rotated once its nonce reaches 1000."""


class CipherState:
    """Key `k`, chaining key `ck` and nonce `n` of one direction (`sk`/`sck`/`sn` or `rk`...).

    `encrypt`/`decrypt` use the empty associated data of the message phase, advance the
    nonce and rotate the key when due. A failed `decrypt` raises
    `vajra.crypto.aead.AuthenticationError` and leaves the state as it was; the caller must
    drop the session anyway (BOLT 8 gives no way to resynchronise).
    """

    __slots__ = ("_aead", "_ck", "_k", "_n")

    def __init__(self, key: bytes, chaining_key: bytes) -> None:
        self._k = key
        self._ck = chaining_key
        self._n = 0
        self._aead: Aead | None = None  # built on first use, dropped by `release()`

    @property
    def nonce(self) -> int:
        """The nonce the next operation will use (0..999)."""
        return self._n

    @property
    def key(self) -> bytes:
        """The current key (for tests and vectors; never log it)."""
        return self._k

    def encrypt(self, plaintext: bytes) -> bytes:
        """`encryptWithAD(k, n, "", plaintext)`, then `n += 1` and rotate at 1000."""
        n = self._n
        aead = self._aead or self._build()
        out = aead.encrypt(n, b"", plaintext)
        if n == ROTATE_AT - 1:
            self._rotate()
        else:
            self._n = n + 1
        return out

    def decrypt(self, ciphertext: bytes | bytearray) -> bytes:
        """`decryptWithAD(k, n, "", ciphertext)`, then `n += 1` and rotate at 1000."""
        n = self._n
        aead = self._aead or self._build()
        out = aead.decrypt(n, b"", ciphertext)
        if n == ROTATE_AT - 1:
            self._rotate()
        else:
            self._n = n + 1
        return out

    def export(self) -> tuple[bytes, bytes, int]:
        """(key, chaining key, nonce): everything needed to continue this direction
        elsewhere (another process). Secret: never log or store it in clear."""
        return self._k, self._ck, self._n

    @classmethod
    def restore(cls, key: bytes, chaining_key: bytes, nonce: int) -> CipherState:
        """The inverse of `export`."""
        if len(key) != 32 or len(chaining_key) != 32 or not 0 <= nonce < ROTATE_AT:
            raise ValueError("bad cipher state")
        self = cls(key, chaining_key)
        self._n = nonce
        return self

    def release(self) -> None:
        """Drop the cipher object (about 2.3 KB of OpenSSL state); rebuilt on next use."""
        self._aead = None

    def _build(self) -> Aead:
        self._aead = aead = Aead(self._k)
        return aead

    def _rotate(self) -> None:
        # BOLT 8: `ck', k' = HKDF(ck, k)`; `n = 0`; `k = k'`; `ck = ck'`.
        self._ck, self._k = hkdf_two_keys(self._ck, self._k)
        self._n = 0
        self._aead = None

    def __repr__(self) -> str:  # never print keys
        return f"CipherState(nonce={self._n})"
