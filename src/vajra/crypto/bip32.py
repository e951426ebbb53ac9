"""BIP 32 hierarchical deterministic keys (secp256k1).

The master key from a seed, private child derivation (hardened and normal), public
child derivation (the runtime derives a node's receive addresses from the account xpub
the signer releases), serialization of extended keys (xprv/xpub, tprv/tpub and the
SLIP 132 y/z/u/v forms of BIP 49/84 wallets), and path parsing.

Private derivation skips the parent fingerprint unless asked (`fingerprint=True`): it
costs an EC multiplication per step, and only serialization needs it.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass

from vajra.crypto.base58 import base58check_decode, base58check_encode
from vajra.crypto.hashes import hash160
from vajra.crypto.secp256k1 import (
    CURVE_ORDER,
    InvalidKey,
    check_pubkey,
    point_add_tweak,
    pubkey_from_secret,
)
from vajra.errors import DecodeError

HARDENED = 0x8000_0000

# serialization version bytes: name -> (version, is_private)
VERSIONS: dict[str, tuple[bytes, bool]] = {
    "xprv": (bytes.fromhex("0488ade4"), True),
    "xpub": (bytes.fromhex("0488b21e"), False),
    "tprv": (bytes.fromhex("04358394"), True),
    "tpub": (bytes.fromhex("043587cf"), False),
    "yprv": (bytes.fromhex("049d7878"), True),
    "ypub": (bytes.fromhex("049d7cb2"), False),
    "uprv": (bytes.fromhex("044a4e28"), True),
    "upub": (bytes.fromhex("044a5262"), False),
    "zprv": (bytes.fromhex("04b2430c"), True),
    "zpub": (bytes.fromhex("04b24746"), False),
    "vprv": (bytes.fromhex("045f18bc"), True),
    "vpub": (bytes.fromhex("045f1cf6"), False),
}
_BY_VERSION = {v: (name, private) for name, (v, private) in VERSIONS.items()}


class Bip32Error(DecodeError):
    """A string that is not a valid serialized extended key."""


def _hmac512(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha512).digest()


@dataclass(frozen=True, slots=True)
class ExtendedPrivateKey:
    """A BIP 32 node: 32-byte secret and 32-byte chain code."""

    secret: bytes
    chain_code: bytes
    depth: int = 0
    parent_fingerprint: bytes | None = None
    """None when derived without `fingerprint=True` (then it cannot be serialized)."""
    child_number: int = 0

    def __repr__(self) -> str:  # never print the secret
        return f"ExtendedPrivateKey(depth={self.depth})"

    @property
    def pubkey(self) -> bytes:
        return pubkey_from_secret(self.secret)

    @property
    def fingerprint(self) -> bytes:
        """First 4 bytes of the key identifier HASH160(pubkey)."""
        return hash160(self.pubkey)[:4]

    def public(self) -> ExtendedPublicKey:
        """N((k, c)): the extended public key (watch-only)."""
        return ExtendedPublicKey(
            self.pubkey, self.chain_code, self.depth, self._parent_fp(), self.child_number
        )

    def _parent_fp(self) -> bytes:
        if self.depth == 0:
            return b"\0\0\0\0"
        if self.parent_fingerprint is None:
            raise ValueError("derived without fingerprint=True: parent fingerprint unknown")
        return self.parent_fingerprint

    def serialize(self, kind: str = "xprv") -> str:
        """Base58Check extended private key (`kind`: xprv, tprv, zprv, vprv, ...)."""
        version, private = VERSIONS[kind]
        if not private:
            raise ValueError(f"{kind} is a public version")
        return base58check_encode(
            version
            + bytes((self.depth,))
            + self._parent_fp()
            + self.child_number.to_bytes(4, "big")
            + self.chain_code
            + b"\0"
            + self.secret
        )

    def child(self, index: int, *, fingerprint: bool = False) -> ExtendedPrivateKey:
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
        fp = self.fingerprint if fingerprint else None
        return ExtendedPrivateKey(k.to_bytes(32, "big"), i[32:], self.depth + 1, fp, index)

    def derive(self, path: Sequence[int], *, fingerprint: bool = False) -> ExtendedPrivateKey:
        """Derive along `path`; with `fingerprint` the result can be serialized."""
        node = self
        for n, index in enumerate(path):
            node = node.child(index, fingerprint=fingerprint and n == len(path) - 1)
        return node


@dataclass(frozen=True, slots=True)
class ExtendedPublicKey:
    """A BIP 32 public node: 33-byte compressed key and chain code."""

    pubkey: bytes
    chain_code: bytes
    depth: int = 0
    parent_fingerprint: bytes = b"\0\0\0\0"
    child_number: int = 0

    @property
    def fingerprint(self) -> bytes:
        return hash160(self.pubkey)[:4]

    def child(self, index: int) -> ExtendedPublicKey:
        """BIP 32 CKDpub((K, c), i); hardened indices have no public derivation."""
        if not 0 <= index < HARDENED:
            raise ValueError("public derivation is for non-hardened indices")
        i = _hmac512(self.chain_code, self.pubkey + index.to_bytes(4, "big"))
        # "In case parse256(IL) >= n or Ki is the point at infinity, the resulting key is
        # invalid": point_add_tweak raises InvalidKey for both.
        if int.from_bytes(i[:32], "big") >= CURVE_ORDER:
            raise InvalidKey("BIP 32: invalid child key")
        key = point_add_tweak(self.pubkey, i[:32])
        return ExtendedPublicKey(key, i[32:], self.depth + 1, self.fingerprint, index)

    def derive(self, path: Sequence[int]) -> ExtendedPublicKey:
        node = self
        for index in path:
            node = node.child(index)
        return node

    def serialize(self, kind: str = "xpub") -> str:
        """Base58Check extended public key (`kind`: xpub, tpub, zpub, vpub, ...)."""
        version, private = VERSIONS[kind]
        if private:
            raise ValueError(f"{kind} is a private version")
        return base58check_encode(
            version
            + bytes((self.depth,))
            + self.parent_fingerprint
            + self.child_number.to_bytes(4, "big")
            + self.chain_code
            + self.pubkey
        )

    def to_bytes(self, kind: str = "xpub") -> bytes:
        """The 78-byte serialization (PSBT_GLOBAL_XPUB keys)."""
        return base58check_decode(self.serialize(kind))


def parse_extended_key(s: str) -> tuple[str, ExtendedPrivateKey | ExtendedPublicKey]:
    """(version name, key) of a serialized extended key; `Bip32Error` if it is not valid
    (BIP 32 test vector 5: version/key mismatch, bad prefix, depth-0 inconsistencies,
    secret out of range, point not on the curve, checksum)."""
    try:
        raw = base58check_decode(s)
    except DecodeError as e:
        raise Bip32Error(str(e)) from None
    if len(raw) != 78:
        raise Bip32Error("an extended key is 78 bytes")
    known = _BY_VERSION.get(raw[:4])
    if known is None:
        raise Bip32Error("unknown extended key version")
    name, private = known
    depth, parent, child_number = raw[4], raw[5:9], int.from_bytes(raw[9:13], "big")
    if depth == 0 and (parent != b"\0\0\0\0" or child_number != 0):
        raise Bip32Error("zero depth with a parent fingerprint or child number")
    chain_code, key = raw[13:45], raw[45:]
    if private:
        if key[0] != 0:
            raise Bip32Error("private version with public key data")
        if not 0 < int.from_bytes(key[1:], "big") < CURVE_ORDER:
            raise Bip32Error("private key not in 1..n-1")
        return name, ExtendedPrivateKey(key[1:], chain_code, depth, parent, child_number)
    if key[0] not in (2, 3):
        raise Bip32Error("public key prefix must be 02 or 03")
    try:
        check_pubkey(key)
    except DecodeError:
        raise Bip32Error("public key not on the curve") from None
    return name, ExtendedPublicKey(key, chain_code, depth, parent, child_number)


def master_key(seed: bytes) -> ExtendedPrivateKey:
    """BIP 32: I = HMAC-SHA512(Key = "Bitcoin seed", Data = S); seed is 16 to 64 bytes."""
    if not 16 <= len(seed) <= 64:
        raise ValueError("BIP 32 seed must be 16 to 64 bytes")
    i = _hmac512(b"Bitcoin seed", seed)
    if not 0 < int.from_bytes(i[:32], "big") < CURVE_ORDER:
        raise InvalidKey("BIP 32: invalid master key")
    return ExtendedPrivateKey(i[:32], i[32:], 0, b"\0\0\0\0")


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
