"""secp256k1 through coincurve (libsecp256k1): keys, ECDH, ECDSA, recovery.

Every other module goes through here, so the curve library can be swapped or
instrumented in one place.
"""

from __future__ import annotations

import hashlib

import coincurve

from vajra.errors import DecodeError

CURVE_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


class InvalidKey(DecodeError):
    """Bytes that are not a valid secp256k1 public or private key."""


def _raw_sha256(msg: bytes) -> bytes:
    return hashlib.sha256(msg).digest()


def _nohash(msg: bytes) -> bytes:
    return msg


def check_secret(secret: bytes) -> bytes:
    if len(secret) != 32 or not 0 < int.from_bytes(secret, "big") < CURVE_ORDER:
        raise InvalidKey("private key out of range")
    return secret


def pubkey_from_secret(secret: bytes) -> bytes:
    """Compressed 33-byte public key for a 32-byte secret."""
    return coincurve.PublicKey.from_secret(check_secret(secret)).format(compressed=True)


def parse_pubkey(data: bytes) -> coincurve.PublicKey:
    """Parse a compressed (33-byte) point; raise InvalidKey otherwise."""
    if len(data) != 33 or data[0] not in (2, 3):
        raise InvalidKey("public key must be 33 bytes, compressed")
    try:
        return coincurve.PublicKey(data)
    except (ValueError, TypeError):
        raise InvalidKey("public key is not on the curve") from None


def check_pubkey(data: bytes) -> bytes:
    parse_pubkey(data)
    return data


class PrivateKey:
    """A secp256k1 secret with its compressed public key computed once."""

    __slots__ = ("_k", "pubkey")

    def __init__(self, secret: bytes) -> None:
        self._k = coincurve.PrivateKey(check_secret(secret))
        self.pubkey: bytes = self._k.public_key.format(compressed=True)

    @property
    def secret(self) -> bytes:
        return bytes(self._k.secret)

    def ecdh(self, pubkey: bytes) -> bytes:
        """BOLT 8 ECDH: SHA256 of the compressed shared point."""
        try:
            return bytes(self._k.ecdh(pubkey))
        except (ValueError, TypeError):
            raise InvalidKey("public key is not on the curve") from None

    def sign_digest(self, digest32: bytes) -> bytes:
        """64-byte compact ECDSA signature (r||s, low-s) over a 32-byte digest."""
        der = self._k.sign(digest32, hasher=None)
        return der_to_compact(der)

    def sign_recoverable(self, digest32: bytes) -> tuple[bytes, int]:
        """64-byte compact signature and recovery id over a 32-byte digest."""
        rec = self._k.sign_recoverable(digest32, hasher=None)
        return bytes(rec[:64]), rec[64]

    def __repr__(self) -> str:  # never print the secret
        return f"PrivateKey(pubkey={self.pubkey.hex()})"


def ecdh(secret: bytes, pubkey: bytes) -> bytes:
    return PrivateKey(secret).ecdh(pubkey)


def der_to_compact(der: bytes) -> bytes:
    sig = coincurve.ecdsa.der_to_cdata(der)
    return bytes(coincurve.ecdsa.serialize_compact(sig))


def verify_digest(pubkey: bytes, sig64: bytes, digest32: bytes) -> bool:
    """Verify a compact signature over a 32-byte digest. High-s is rejected (libsecp256k1)."""
    if len(sig64) != 64:
        return False
    try:
        pk = parse_pubkey(pubkey)
        der = coincurve.ecdsa.cdata_to_der(coincurve.ecdsa.deserialize_compact(sig64))
        return bool(pk.verify(der, digest32, hasher=None))
    except (ValueError, TypeError, InvalidKey):
        return False


def recover_digest(sig64: bytes, recid: int, digest32: bytes) -> bytes:
    """Recover the compressed public key from a compact signature and recovery id."""
    if len(sig64) != 64 or not 0 <= recid <= 3:
        raise InvalidKey("bad recoverable signature")
    try:
        pk = coincurve.PublicKey.from_signature_and_message(
            sig64 + bytes([recid]), digest32, hasher=None
        )
    except (ValueError, TypeError):
        raise InvalidKey("signature does not recover to a key") from None
    return pk.format(compressed=True)
