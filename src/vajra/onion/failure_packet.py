"""BOLT 4 "Returning Errors": the failure packet, its per-hop obfuscation, and decoding.

The erring node builds `hmac || u16 failure_len || failuremsg || u16 pad_len || pad`, the
HMAC keyed by its `um` key over everything after it, and XORs the whole packet with its
`ammag` stream (`build_failure_packet`). Every hop back XORs it with its own `ammag`
stream (`obfuscate_failure`). The origin, which knows every hop's shared secret, removes
the layers in route order and stops at the first hop whose `um` HMAC matches: that hop is
the erring node (`decode_failure_packet`). It keeps going with a constant key until 27
rounds in all, so the time it takes does not reveal the erring hop's position
(BOLT 4 "Origin node": "SHOULD continue decrypting, until the loop has been repeated 27
times ... SHOULD use constant `ammag` and `um` keys").

`attribution_data` (`option_attribution_data`, hold times and truncated HMACs) is not
built or checked here: we do not advertise the option.
"""

from __future__ import annotations

import hmac as _hmac
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from vajra.crypto.hashes import hmac_sha256
from vajra.onion.errors import BADONION, FailureDecodeError
from vajra.onion.failures import FailureMessage
from vajra.onion.keys import AMMAG, UM, generate_key, stream, xor
from vajra.wire.errors import EncodeError

HMAC_LEN = 32
MIN_PADDED_LEN = 256  # BOLT 4: failure_len + pad_len "at least 256", SHOULD be exactly 256
MAX_ROUNDS = 27
_MIN_PACKET = HMAC_LEN + 2 + 2
_U16 = struct.Struct(">H")
_DUMMY_SECRET = bytes(32)


def build_failure_packet(
    shared_secret: bytes, failure: FailureMessage | bytes, *, padded_len: int = MIN_PADDED_LEN
) -> bytes:
    """The erring node's `reason` for `update_fail_htlc`: the failure message (a
    `FailureMessage` or its encoded bytes) padded so `failure_len + pad_len` is
    `padded_len` (or just the message length if longer), authenticated with `um` and
    obfuscated with `ammag`. Raises `EncodeError` for a message over 65535 bytes."""
    msg = failure.encode() if isinstance(failure, FailureMessage) else failure
    pad_len = max(0, padded_len - len(msg))
    if len(msg) > 0xFFFF or pad_len > 0xFFFF:
        raise EncodeError("failure message too long")
    body = _U16.pack(len(msg)) + msg + _U16.pack(pad_len) + bytes(pad_len)
    mac = hmac_sha256(generate_key(UM, shared_secret), body)
    return obfuscate_failure(shared_secret, mac + body)


def obfuscate_failure(shared_secret: bytes, packet: bytes) -> bytes:
    """One hop's layer: XOR `packet` with the `ammag` stream of its shared secret. The
    erring node and every hop back apply it; the origin applies it to remove layers."""
    return xor(packet, stream(generate_key(AMMAG, shared_secret), len(packet)))


@dataclass(frozen=True, slots=True)
class DecodedFailure:
    """Who failed and why. `hop_index`: 0 is the first hop after the origin, the last
    index is the final node; `message`: None when the erring hop's authenticated
    `failuremsg` has no 2-byte code; `failuremsg`: its raw bytes."""

    hop_index: int
    message: FailureMessage | None
    failuremsg: bytes


def decode_failure_packet(shared_secrets: Sequence[bytes], packet: bytes) -> DecodedFailure:
    """Identify the erring hop of a route (its hops' `shared_secrets`, first hop first)
    from the `reason` of an `update_fail_htlc`; raises `FailureDecodeError` when the
    packet is too short or no hop authenticated it (a hop garbled it: the sender cannot
    tell which, BOLT 4 "Origin node")."""
    if len(packet) < _MIN_PACKET:
        raise FailureDecodeError(f"failure packet of {len(packet)} bytes")
    if len(shared_secrets) > MAX_ROUNDS:
        raise FailureDecodeError(f"route of {len(shared_secrets)} hops is longer than 27")
    found: tuple[int, bytes] | None = None
    for i in range(MAX_ROUNDS):
        real = i < len(shared_secrets) and found is None
        ss = shared_secrets[i] if real else _DUMMY_SECRET
        packet = obfuscate_failure(ss, packet)
        mac = hmac_sha256(generate_key(UM, ss), packet[HMAC_LEN:])
        if _hmac.compare_digest(mac, packet[:HMAC_LEN]) and real:
            found = (i, packet)
    if found is None:
        raise FailureDecodeError("no hop of the route authenticated the failure")
    hop_index, plain = found
    (failure_len,) = _U16.unpack_from(plain, HMAC_LEN)
    start = HMAC_LEN + 2
    if start + failure_len > len(plain):
        return DecodedFailure(hop_index, None, plain[start:])
    failuremsg = plain[start : start + failure_len]
    try:
        message: FailureMessage | None = FailureMessage.decode(failuremsg)
    except FailureDecodeError:
        message = None
    return DecodedFailure(hop_index, message, failuremsg)


def malformed_failure(failure_code: int, sha256_of_onion: bytes) -> DecodedFailure:
    """The origin's reading of an `update_fail_malformed_htlc` from its own peer: the first
    hop could not process the onion we sent (BOLT 2: the failure is "the `failure_code`
    given and ... the data ... `sha256_of_onion`"). Raises `FailureDecodeError` when the
    BADONION bit is not set (BOLT 2: the receiver "MUST send a `warning` and close the
    connection, or send an `error` and fail the channel")."""
    if not failure_code & BADONION or not 0 <= failure_code <= 0xFFFF:
        raise FailureDecodeError(f"update_fail_malformed_htlc code {failure_code:#06x}")
    failuremsg = _U16.pack(failure_code) + sha256_of_onion
    return DecodedFailure(0, FailureMessage.decode(failuremsg), failuremsg)
