"""Why an onion, a hop payload or a failure packet was refused.

Every class is a `vajra.errors.DecodeError`, so an edge that catches `DecodeError` (or
`VajraError`) handles them all. The subclasses carry what the BOLT 4 reaction needs:

- `BadOnion` (version, HMAC, key): the hop cannot derive or trust the shared secret, so it
  answers with `update_fail_malformed_htlc` carrying `failure_code` (BADONION|PERM|4/5/6)
  and `sha256_of_onion` (BOLT 2 "Removing an HTLC", BOLT 4 "Failure Messages").
- `InvalidOnionPayload`: the HMAC was good but the hop's own payload is unusable; the
  answer is an encrypted `invalid_onion_payload` (PERM|22) naming the TLV `type` and its
  byte `offset` when known. When peel itself finds the framing broken it attaches the
  `shared_secret` so the caller can still encrypt that answer.
- `FailureDecodeError`: a returned failure packet that no hop of the route authenticated.
"""

from __future__ import annotations

from vajra.errors import DecodeError

BADONION = 0x8000
PERM = 0x4000
NODE = 0x2000
UPDATE = 0x1000

INVALID_ONION_VERSION = BADONION | PERM | 4
INVALID_ONION_HMAC = BADONION | PERM | 5
INVALID_ONION_KEY = BADONION | PERM | 6


class OnionError(DecodeError):
    """Base of every BOLT 4 onion error."""


class BadOnion(OnionError):
    """The onion packet cannot be processed at all (BOLT 4 "Onion Decryption": MUST abort).

    `failure_code`: the BADONION code for `update_fail_malformed_htlc`;
    `sha256_of_onion`: SHA256 of the 1366-byte packet as received.
    """

    failure_code: int = 0

    def __init__(self, detail: str, sha256_of_onion: bytes) -> None:
        self.sha256_of_onion = sha256_of_onion
        super().__init__(detail)


class InvalidOnionVersion(BadOnion):
    """`version` is not 0 (or the packet is not 1366 bytes)."""

    failure_code = INVALID_ONION_VERSION


class InvalidOnionHmac(BadOnion):
    """The packet's HMAC does not match (tampered, wrong key or wrong associated data)."""

    failure_code = INVALID_ONION_HMAC


class InvalidOnionKey(BadOnion):
    """`public_key` is not a valid compressed secp256k1 point."""

    failure_code = INVALID_ONION_KEY


class InvalidOnionPayload(OnionError):
    """The hop payload is malformed or lacks a required record (BOLT 4 `payload` reader).

    `tlv_type`: the offending TLV type, or None when it cannot be narrowed down;
    `offset`: byte offset of that record in the decrypted payload (0 when unknown);
    `shared_secret`: set when peel raised it (framing error after a good HMAC).
    """

    def __init__(
        self,
        detail: str,
        tlv_type: int | None = None,
        offset: int = 0,
        shared_secret: bytes | None = None,
    ) -> None:
        self.tlv_type = tlv_type
        self.offset = offset
        self.shared_secret = shared_secret
        where = f" (type {tlv_type} at offset {offset})" if tlv_type is not None else ""
        super().__init__(f"invalid onion payload: {detail}{where}")


class FailureDecodeError(OnionError):
    """A failure packet that is malformed or that no hop of the route authenticated."""
