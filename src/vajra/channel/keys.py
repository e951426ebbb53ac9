"""BOLT 3 "Keys": per-channel basepoints, per-commitment points and the derived keys.

A channel's secrets (`ChannelSecrets`) are five basepoint secrets and a per-commitment
seed; the signer derives them from its BIP 32 tree (`vajra.signer.keys`) and nothing here
knows where they came from. The four functions below are BOLT 3 "Key Derivation" written
out; the tests check them against Appendix E.
"""

from __future__ import annotations

from dataclasses import dataclass

from vajra.channel.shachain import commitment_index, generate_from_seed
from vajra.crypto.hashes import sha256
from vajra.crypto.secp256k1 import (
    CURVE_ORDER,
    InvalidKey,
    check_secret,
    point_add_tweak,
    point_combine,
    point_mul,
    pubkey_from_secret,
    scalar_of,
)


def derive_pubkey(basepoint: bytes, per_commitment_point: bytes) -> bytes:
    """BOLT 3: pubkey = basepoint + SHA256(per_commitment_point || basepoint) * G.

    Used for localpubkey, local/remote_htlcpubkey and local/remote_delayedpubkey.
    """
    return point_add_tweak(basepoint, sha256(per_commitment_point + basepoint))


def derive_privkey(
    basepoint_secret: bytes, per_commitment_point: bytes, basepoint: bytes | None = None
) -> bytes:
    """BOLT 3: privkey = basepoint_secret + SHA256(per_commitment_point || basepoint).
    `basepoint`: the secret's public key when the caller holds it (a point
    multiplication saved); it must be exactly that key, computed here otherwise."""
    if basepoint is None:
        basepoint = pubkey_from_secret(basepoint_secret)
    k = (
        int.from_bytes(basepoint_secret, "big")
        + scalar_of(sha256(per_commitment_point + basepoint))
    ) % CURVE_ORDER
    return _nonzero(k)


def derive_revocation_pubkey(revocation_basepoint: bytes, per_commitment_point: bytes) -> bytes:
    """BOLT 3: revocationpubkey = revocation_basepoint * SHA256(revocation_basepoint ||
    per_commitment_point) + per_commitment_point * SHA256(per_commitment_point ||
    revocation_basepoint)."""
    a = point_mul(revocation_basepoint, sha256(revocation_basepoint + per_commitment_point))
    b = point_mul(per_commitment_point, sha256(per_commitment_point + revocation_basepoint))
    return point_combine(a, b)


def derive_revocation_privkey(
    revocation_basepoint_secret: bytes, per_commitment_secret: bytes
) -> bytes:
    """BOLT 3: revocationprivkey = revocation_basepoint_secret * SHA256(revocation_basepoint
    || per_commitment_point) + per_commitment_secret * SHA256(per_commitment_point ||
    revocation_basepoint)."""
    rb = pubkey_from_secret(revocation_basepoint_secret)
    pcp = pubkey_from_secret(per_commitment_secret)
    k = (
        int.from_bytes(revocation_basepoint_secret, "big") * scalar_of(sha256(rb + pcp))
        + int.from_bytes(per_commitment_secret, "big") * scalar_of(sha256(pcp + rb))
    ) % CURVE_ORDER
    return _nonzero(k)


def _nonzero(k: int) -> bytes:
    if k == 0:
        raise InvalidKey("derived key is zero")
    return k.to_bytes(32, "big")


@dataclass(frozen=True, slots=True)
class Basepoints:
    """The public half of a channel's keys, as sent in open_channel / accept_channel."""

    funding_pubkey: bytes
    revocation_basepoint: bytes
    payment_basepoint: bytes
    delayed_payment_basepoint: bytes
    htlc_basepoint: bytes
    first_per_commitment_point: bytes


@dataclass(frozen=True, slots=True)
class ChannelSecrets:
    """One channel's secrets on the signer. Never leaves it."""

    funding: bytes
    revocation_base: bytes
    payment_base: bytes
    delayed_payment_base: bytes
    htlc_base: bytes
    per_commitment_seed: (
        bytes  # BOLT 3: "MUST select an unguessable 256-bit seed for each connection"
    )

    def __post_init__(self) -> None:
        for secret in (
            self.funding,
            self.revocation_base,
            self.payment_base,
            self.delayed_payment_base,
            self.htlc_base,
        ):
            check_secret(secret)
        if len(self.per_commitment_seed) != 32:
            raise InvalidKey("per-commitment seed must be 32 bytes")

    def __repr__(self) -> str:  # never print secrets
        return f"ChannelSecrets(funding_pubkey={pubkey_from_secret(self.funding).hex()})"

    def per_commitment_secret(self, commitment_number: int) -> bytes:
        """The secret of commitment n (n = 0 is the first; BOLT 3 index 2^48 - 1 - n)."""
        return generate_from_seed(self.per_commitment_seed, commitment_index(commitment_number))

    def per_commitment_point(self, commitment_number: int) -> bytes:
        """BOLT 3: per_commitment_point = per_commitment_secret * G."""
        return pubkey_from_secret(self.per_commitment_secret(commitment_number))

    def basepoints(self) -> Basepoints:
        return Basepoints(
            funding_pubkey=pubkey_from_secret(self.funding),
            revocation_basepoint=pubkey_from_secret(self.revocation_base),
            payment_basepoint=pubkey_from_secret(self.payment_base),
            delayed_payment_basepoint=pubkey_from_secret(self.delayed_payment_base),
            htlc_basepoint=pubkey_from_secret(self.htlc_base),
            first_per_commitment_point=self.per_commitment_point(0),
        )
