"""secp256k1 through coincurve (libsecp256k1): keys, ECDH, ECDSA, recovery.

Every other module goes through here, so the curve library can be swapped or
instrumented in one place.
"""

from __future__ import annotations

import hashlib
import os

import coincurve
from coincurve._libsecp256k1 import ffi, lib
from coincurve.context import GLOBAL_CONTEXT

from vajra.errors import DecodeError

CURVE_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_ORDER_BYTES = CURVE_ORDER.to_bytes(32, "big")
_ZERO32 = bytes(32)

# Hot paths (BOLT 8 handshakes) call libsecp256k1 through coincurve's cffi `lib` directly:
# the high-level wrapper re-parses the public key on every ECDH and computes an x-only key
# (a second point multiplication) for every PrivateKey it builds.
_CTX = GLOBAL_CONTEXT.ctx
_COMPRESSED = lib.SECP256K1_EC_COMPRESSED


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
    return pubkey_create(check_secret(secret))


def parse_pubkey(data: bytes) -> coincurve.PublicKey:
    """Parse a compressed (33-byte) point; raise InvalidKey otherwise."""
    if len(data) != 33 or data[0] not in (2, 3):
        raise InvalidKey("public key must be 33 bytes, compressed")
    try:
        return coincurve.PublicKey(data)
    except (ValueError, TypeError):
        raise InvalidKey("public key is not on the curve") from None


# The channel signer derives, parses and checks several points per request (BOLT 3 key
# derivation, records read back from the signer state): these go to libsecp256k1
# directly, one C call each, without coincurve's wrapper objects (a 3-5x saving per call
# measured in `vajra bench channels`; the library calls and their checks are the same).


def _parsed(data: bytes) -> object:
    if len(data) != 33 or data[0] not in (2, 3):
        raise InvalidKey("public key must be 33 bytes, compressed")
    c = ffi.new("secp256k1_pubkey *")
    if not lib.secp256k1_ec_pubkey_parse(_CTX, c, data, 33):
        raise InvalidKey("public key is not on the curve")
    return c


def _serialized(c: object) -> bytes:
    out = ffi.new("unsigned char[33]")
    size = ffi.new("size_t *", 33)
    lib.secp256k1_ec_pubkey_serialize(_CTX, out, size, c, _COMPRESSED)
    return bytes(ffi.buffer(out, 33))


def _scalar(tweak32: bytes) -> bytes:
    # coincurve's `validate_secret`: a scalar is 32 bytes in 1..n-1.
    if len(tweak32) != 32 or not _ZERO32 < tweak32 < _ORDER_BYTES:
        raise ValueError("scalar out of range")
    return tweak32


def check_pubkey(data: bytes) -> bytes:
    """`data` if it is a compressed point on the curve; InvalidKey otherwise."""
    _parsed(data)
    return data


class PrivateKey:
    """A secp256k1 secret with its compressed public key computed once."""

    __slots__ = ("_coincurve", "_pubkey", "_secret")

    def __init__(self, secret: bytes) -> None:
        self._secret = bytes(check_secret(secret))
        self._pubkey: bytes | None = None
        self._coincurve: coincurve.PrivateKey | None = None

    @property
    def pubkey(self) -> bytes:
        """The compressed public key, computed on first use (a signing key that only
        signs, e.g. a channel's derived HTLC key, never pays the multiplication)."""
        if self._pubkey is None:
            self._pubkey = pubkey_create(self._secret)
        return self._pubkey

    @property
    def _k(self) -> coincurve.PrivateKey:
        # Built on first use only (ECDH, Schnorr, recoverable signatures): coincurve's
        # constructor also computes the public and the x-only key, two more point
        # multiplications that ECDSA signing never needs.
        if self._coincurve is None:
            self._coincurve = coincurve.PrivateKey(self._secret)
        return self._coincurve

    @property
    def secret(self) -> bytes:
        return self._secret

    def ecdh(self, pubkey: bytes) -> bytes:
        """BOLT 8 ECDH: SHA256 of the compressed shared point."""
        try:
            return bytes(self._k.ecdh(pubkey))
        except (ValueError, TypeError):
            raise InvalidKey("public key is not on the curve") from None

    def sign_digest(self, digest32: bytes) -> bytes:
        """64-byte compact ECDSA signature (r||s, low-s) over a 32-byte digest."""
        if len(digest32) != 32:
            raise ValueError("digest must be 32 bytes")
        sig = ffi.new("secp256k1_ecdsa_signature *")
        # NULL nonce function: libsecp256k1's default, RFC 6979 (as coincurve signs).
        if not lib.secp256k1_ecdsa_sign(_CTX, sig, digest32, self._secret, ffi.NULL, ffi.NULL):
            raise InvalidKey("signing failed")
        out = ffi.new("unsigned char[64]")
        lib.secp256k1_ecdsa_signature_serialize_compact(_CTX, out, sig)
        return bytes(ffi.buffer(out, 64))

    def sign_digest_der(self, digest32: bytes) -> bytes:
        """DER ECDSA signature (low-s, RFC 6979 nonce) over a 32-byte digest, as Bitcoin
        scripts and PSBT partial signatures carry it (without the sighash byte)."""
        return bytes(self._k.sign(digest32, hasher=None))

    def sign_schnorr(self, digest32: bytes, aux_rand: bytes = bytes(32)) -> bytes:
        """BIP 340 signature (64 bytes) over a 32-byte message with this secret."""
        return bytes(self._k.sign_schnorr(digest32, aux_rand))

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


def compact_to_der(sig64: bytes) -> bytes:
    """64-byte r||s (BOLT 2 `signature`) to DER (Bitcoin script). Raises InvalidKey on
    bytes that are not a signature."""
    try:
        return bytes(coincurve.ecdsa.cdata_to_der(coincurve.ecdsa.deserialize_compact(sig64)))
    except (ValueError, TypeError):
        raise InvalidKey("not a compact signature") from None


def xonly_tweak_add(xonly: bytes, tweak32: bytes) -> tuple[bytes, int]:
    """BIP 341 taproot output key: x-only(P + tG) for an x-only P, and its parity."""
    try:
        key = coincurve.PublicKeyXOnly(xonly)
        key.tweak_add(tweak32)
    except (ValueError, TypeError):
        raise InvalidKey("bad x-only key or tweak") from None
    return bytes(key.format()), int(key.parity)


def verify_digest(pubkey: bytes, sig64: bytes, digest32: bytes) -> bool:
    """Verify a compact signature over a 32-byte digest. High-s is rejected (libsecp256k1)."""
    if len(sig64) != 64 or len(digest32) != 32:
        return False
    try:
        pk = _parsed(pubkey)
    except InvalidKey:
        return False
    sig = ffi.new("secp256k1_ecdsa_signature *")
    if not lib.secp256k1_ecdsa_signature_parse_compact(_CTX, sig, sig64):
        return False
    return bool(lib.secp256k1_ecdsa_verify(_CTX, sig, digest32, pk))


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


# --- low-level API for hot paths (BOLT 8) -------------------------------------------------


class Point:
    """A public key parsed once into libsecp256k1's internal form, for repeated ECDH.

    `compressed` is the 33-byte encoding it was parsed from (canonical, so re-serialising
    it would give the same bytes).
    """

    __slots__ = ("_c", "compressed")

    def __init__(self, c: object, compressed: bytes) -> None:
        self._c = c
        self.compressed = compressed


def parse_point(data: bytes) -> Point:
    """Parse a compressed (33-byte) point; raise InvalidKey otherwise."""
    if len(data) != 33 or data[0] not in (2, 3):
        raise InvalidKey("public key must be 33 bytes, compressed")
    c = ffi.new("secp256k1_pubkey *")
    if not lib.secp256k1_ec_pubkey_parse(_CTX, c, data, 33):
        raise InvalidKey("public key is not on the curve")
    return Point(c, bytes(data))


def generate_secret() -> bytes:
    """A fresh uniformly random valid secret key (OS randomness)."""
    while True:
        secret = os.urandom(32)
        if _ZERO32 < secret < _ORDER_BYTES:
            return secret


def pubkey_create(secret: bytes) -> bytes:
    """Compressed public key of `secret` with a single point multiplication."""
    c = ffi.new("secp256k1_pubkey *")
    if len(secret) != 32 or not lib.secp256k1_ec_pubkey_create(_CTX, c, secret):
        raise InvalidKey("private key out of range")
    out = ffi.new("unsigned char[33]")
    size = ffi.new("size_t *", 33)
    lib.secp256k1_ec_pubkey_serialize(_CTX, out, size, c, _COMPRESSED)
    return bytes(ffi.buffer(out, 33))


def ecdh_point(secret: bytes, point: Point) -> bytes:
    """BOLT 8 `ECDH(k, rk)`: SHA256 of the compressed shared point, in constant time."""
    out = ffi.new("unsigned char[32]")
    if len(secret) != 32 or not lib.secp256k1_ecdh(_CTX, out, point._c, secret, ffi.NULL, ffi.NULL):
        raise InvalidKey("private key out of range")
    return bytes(ffi.buffer(out, 32))


# --- point and scalar arithmetic (BOLT 3 key derivation, BIP 32) ----------------------------


def scalar_of(data: bytes) -> int:
    """A 32-byte big-endian scalar reduced mod n (a hash output used as a tweak)."""
    return int.from_bytes(data, "big") % CURVE_ORDER


def point_add_tweak(pubkey: bytes, tweak32: bytes) -> bytes:
    """`pubkey + tweak*G`, compressed."""
    c = _parsed(pubkey)
    try:
        ok = lib.secp256k1_ec_pubkey_tweak_add(_CTX, c, _scalar(tweak32))
    except ValueError:
        ok = 0
    if not ok:
        raise InvalidKey("tweak out of range or result is infinity")
    return _serialized(c)


def point_mul(pubkey: bytes, scalar32: bytes) -> bytes:
    """`scalar * pubkey`, compressed."""
    c = _parsed(pubkey)
    try:
        ok = lib.secp256k1_ec_pubkey_tweak_mul(_CTX, c, _scalar(scalar32))
    except ValueError:
        ok = 0
    if not ok:
        raise InvalidKey("scalar out of range")
    return _serialized(c)


def point_combine(a: bytes, b: bytes) -> bytes:
    """`a + b`, compressed."""
    pa, pb = _parsed(a), _parsed(b)  # kept alive: the array holds bare pointers
    ins = ffi.new("secp256k1_pubkey *[2]", [pa, pb])
    out = ffi.new("secp256k1_pubkey *")
    if not lib.secp256k1_ec_pubkey_combine(_CTX, out, ins, 2):
        raise InvalidKey("sum of points is infinity")
    return _serialized(out)
