"""BIP 32 hierarchical deterministic private-key derivation (secp256k1).

The master key from a seed, private child derivation (hardened and normal), path
parsing, and the public side a watch-only wallet needs: `ExtendedPublicKey` with
public child derivation (CKDpub) and the 78-byte serialisation ("xpub"), which is how
the signer hands a node's BIP 84 account to the runtime (decision 0011).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass

from vajra.crypto.hashes import sha256
from vajra.crypto.secp256k1 import (
    CURVE_ORDER,
    InvalidKey,
    check_pubkey,
    point_add_tweak,
    pubkey_from_secret,
)
from vajra.errors import DecodeError

HARDENED = 0x8000_0000


def _hmac512(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha512).digest()


@dataclass(frozen=True, slots=True)
class ExtendedPrivateKey:
    """A BIP 32 node: 32-byte secret and 32-byte chain code."""

    secret: bytes
    chain_code: bytes
    depth: int = 0
    parent_fingerprint: bytes = b"\0\0\0\0"
    child_number: int = 0

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
        return ExtendedPrivateKey(
            k.to_bytes(32, "big"), i[32:], self.depth + 1, fingerprint(self.pubkey), index
        )

    def derive(self, path: Sequence[int]) -> ExtendedPrivateKey:
        node = self
        for index in path:
            node = node.child(index)
        return node

    def public(self) -> ExtendedPublicKey:
        """BIP 32 N((k, c)) -> (K, c): the same node without its secret."""
        return ExtendedPublicKey(
            self.pubkey, self.chain_code, self.depth, self.parent_fingerprint, self.child_number
        )


def fingerprint(pubkey: bytes) -> bytes:
    """BIP 32 key identifier's first 4 bytes: HASH160 of the compressed public key."""
    return hashlib.new("ripemd160", sha256(pubkey)).digest()[:4]


# BIP 32 serialisation versions; BIP 84 uses its own for native segwit accounts.
XPUB_MAINNET = bytes.fromhex("0488B21E")
XPUB_TESTNET = bytes.fromhex("043587CF")  # "tpub": testnet, signet, regtest
ZPUB_MAINNET = bytes.fromhex("04B24746")  # BIP 84 "zpub"
VPUB_TESTNET = bytes.fromhex("045F1CF6")  # BIP 84 "vpub"
XPUB_LEN = 78


@dataclass(frozen=True, slots=True)
class ExtendedPublicKey:
    """A BIP 32 public node: compressed public key and chain code. Public data: it lets
    its holder derive every non-hardened child public key, never a secret."""

    pubkey: bytes
    chain_code: bytes
    depth: int = 0
    parent_fingerprint: bytes = b"\0\0\0\0"
    child_number: int = 0

    def child(self, index: int) -> ExtendedPublicKey:
        """BIP 32 CKDpub((K, c), i), non-hardened i only."""
        if not 0 <= index < HARDENED:
            raise ValueError("public derivation takes a non-hardened index (0 .. 2^31 - 1)")
        # "let I = HMAC-SHA512(Key = cpar, Data = serP(Kpar) || ser32(i))"; "Ki is
        # point(parse256(IL)) + Kpar"; invalid if parse256(IL) >= n or Ki is infinity.
        i = _hmac512(self.chain_code, self.pubkey + index.to_bytes(4, "big"))
        if int.from_bytes(i[:32], "big") >= CURVE_ORDER:
            raise InvalidKey("BIP 32: invalid child key")
        try:
            key = point_add_tweak(self.pubkey, i[:32])
        except (InvalidKey, ValueError):
            raise InvalidKey("BIP 32: invalid child key") from None
        return ExtendedPublicKey(key, i[32:], self.depth + 1, fingerprint(self.pubkey), index)

    def derive(self, path: Sequence[int]) -> ExtendedPublicKey:
        node = self
        for index in path:
            node = node.child(index)
        return node

    def serialize(self, version: bytes = XPUB_MAINNET) -> bytes:
        """BIP 32 78-byte serialisation: version, depth, parent fingerprint, child
        number, chain code, key."""
        if len(version) != 4:
            raise ValueError("version is 4 bytes")
        return (
            version
            + bytes([self.depth])
            + self.parent_fingerprint
            + self.child_number.to_bytes(4, "big")
            + self.chain_code
            + self.pubkey
        )

    def to_base58(self, version: bytes = XPUB_MAINNET) -> str:
        from vajra.invoice.address import base58check

        return base58check(self.serialize(version))


def parse_xpub(data: bytes) -> tuple[bytes, ExtendedPublicKey]:
    """(version, key) from a 78-byte serialisation; DecodeError if it is not one."""
    if len(data) != XPUB_LEN:
        raise DecodeError(f"an extended public key is {XPUB_LEN} bytes, got {len(data)}")
    try:
        pubkey = check_pubkey(data[45:78])
    except InvalidKey:
        raise DecodeError("extended key does not hold a compressed public key") from None
    if data[4] == 0 and (data[5:9] != b"\0\0\0\0" or data[9:13] != b"\0\0\0\0"):
        raise DecodeError("depth 0 with a parent")  # BIP 32 invalid-key vector
    key = ExtendedPublicKey(pubkey, data[13:45], data[4], data[5:9], int.from_bytes(data[9:13]))
    return data[:4], key


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
