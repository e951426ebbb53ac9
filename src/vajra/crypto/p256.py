"""NIST P-256 (secp256r1) ECDSA for device keys: phone secure enclaves and passkeys use it.

Signatures are 64 bytes, r || s big-endian (the fixed-width form; not DER). The message
is hashed with SHA-256 by the signing algorithm itself (ECDSA-SHA256, as an enclave does).
Public keys are 33-byte SEC 1 compressed points.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from vajra.errors import DecodeError

ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_CURVE = ec.SECP256R1()
_ALG = ec.ECDSA(hashes.SHA256())


class InvalidP256Key(DecodeError):
    """Bytes that are not a valid compressed P-256 point or secret."""


def parse_pubkey(data: bytes) -> ec.EllipticCurvePublicKey:
    if len(data) != 33 or data[0] not in (2, 3):
        raise InvalidP256Key("P-256 public key must be 33 bytes, compressed")
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(_CURVE, data)
    except ValueError:
        raise InvalidP256Key("P-256 public key is not on the curve") from None


def verify(pubkey: bytes, sig64: bytes, message: bytes) -> bool:
    """ECDSA-SHA256 over `message`; False for any malformed key or signature."""
    if len(sig64) != 64:
        return False
    r = int.from_bytes(sig64[:32], "big")
    s = int.from_bytes(sig64[32:], "big")
    if not (0 < r < ORDER and 0 < s < ORDER):
        return False
    try:
        parse_pubkey(pubkey).verify(encode_dss_signature(r, s), message, _ALG)
    except (InvalidSignature, InvalidP256Key):
        return False
    return True


class P256PrivateKey:
    """A P-256 secret (for simulated devices and tests; real devices keep it in an enclave)."""

    __slots__ = ("_k", "pubkey")

    def __init__(self, secret: bytes) -> None:
        n = int.from_bytes(secret, "big")
        if len(secret) != 32 or not 0 < n < ORDER:
            raise InvalidP256Key("P-256 private key out of range")
        self._k = ec.derive_private_key(n, _CURVE)
        self.pubkey: bytes = self._k.public_key().public_bytes(
            Encoding.X962, PublicFormat.CompressedPoint
        )

    def sign(self, message: bytes) -> bytes:
        r, s = decode_dss_signature(self._k.sign(message, _ALG))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    def __repr__(self) -> str:  # never print the secret
        return f"P256PrivateKey(pubkey={self.pubkey.hex()})"
