"""BIP 32 hierarchical deterministic private-key derivation (secp256k1).

Only what the signer needs: the master key from a seed, private child derivation
(hardened and normal) and path parsing. Public derivation and xpub serialisation come
when a watch-only account is handed to the runtime.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass

from vajra.crypto.secp256k1 import CURVE_ORDER, InvalidKey, pubkey_from_secret

HARDENED = 0x8000_0000


def _hmac512(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha512).digest()


@dataclass(frozen=True, slots=True)
class ExtendedPrivateKey:
    """A BIP 32 node: 32-byte secret and 32-byte chain code."""

    secret: bytes
    chain_code: bytes
    depth: int = 0

    def __repr__(self) -> str:  # never print the secret
        return f"ExtendedPrivateKey(depth={self.depth})"

    @property
    def pubkey(self) -> bytes:
        return pubkey_from_secret(self.secret)

    def child(self, index: int) -> ExtendedPrivateKey:
        """BIP 32 CKDpriv((k, c), i)."""
        if not 0 <= index <= 0xFFFF_FFFF:
            raise ValueError("BIP 32 child index is 32 bits")
        if index >= HARDENED:
            # "If so (hardened child): let I = HMAC-SHA512(Key = cpar, Data = 0x00 || ser256(kpar) || ser32(i))"
            data = b"\x00" + self.secret + index.to_bytes(4, "big")
        else:
            # "If not (normal child): let I = HMAC-SHA512(Key = cpar, Data = serP(point(kpar)) || ser32(i))"
            data = self.pubkey + index.to_bytes(4, "big")
        i = _hmac512(self.chain_code, data)
        il = int.from_bytes(i[:32], "big")
        k = (il + int.from_bytes(self.secret, "big")) % CURVE_ORDER
        # "In case parse256(IL) >= n or ki = 0, the resulting key is invalid": probability
        # below 2^-127, so we refuse rather than silently skip to i + 1.
        if il >= CURVE_ORDER or k == 0:
            raise InvalidKey("BIP 32: invalid child key")
        return ExtendedPrivateKey(k.to_bytes(32, "big"), i[32:], self.depth + 1)

    def derive(self, path: Sequence[int]) -> ExtendedPrivateKey:
        node = self
        for index in path:
            node = node.child(index)
        return node


def master_key(seed: bytes) -> ExtendedPrivateKey:
    """BIP 32: I = HMAC-SHA512(Key = "Bitcoin seed", Data = S); seed is 16 to 64 bytes."""
    if not 16 <= len(seed) <= 64:
        raise ValueError("BIP 32 seed must be 16 to 64 bytes")
    i = _hmac512(b"Bitcoin seed", seed)
    if not 0 < int.from_bytes(i[:32], "big") < CURVE_ORDER:
        raise InvalidKey("BIP 32: invalid master key")
    return ExtendedPrivateKey(i[:32], i[32:])


def parse_path(path: str) -> tuple[int, ...]:
    """`m/1017'/0'/5` -> indices; `'` or `h` marks a hardened step."""
    parts = path.split("/")
    if parts[0] != "m":
        raise ValueError("a BIP 32 path starts with m")
    out = []
    for p in parts[1:]:
        hardened = p.endswith(("'", "h", "H"))
        digits = p[:-1] if hardened else p
        if not digits.isdigit() or int(digits) >= HARDENED:
            raise ValueError(f"bad BIP 32 path element {p!r}")
        out.append(int(digits) + (HARDENED if hardened else 0))
    return tuple(out)


def format_path(path: Sequence[int]) -> str:
    return "/".join(["m", *(f"{i - HARDENED}'" if i >= HARDENED else str(i) for i in path)])
