"""BOLT 4 Sphinx packets: construction by the origin node, peeling by a hop.

Theory of operation. The origin picks a session key and, for each hop `i` of the route,
derives the shared secret `ss_i = SHA256(ECDH(ek_i, node_id_i))` where `ek_0` is the session
key and `ek_{i+1} = ek_i * SHA256(epk_i || ss_i)` ("Blinding Ephemeral Onion Keys"). It
then builds the 1300-byte `hop_payloads` from the last hop backwards: shift right, write
`bigsize(len) || payload || hmac_of_next`, XOR with the `rho` stream, put the `filler` at
the tail for the last hop, and MAC the result and the associated data (the payment hash)
with `mu` ("Packet Construction", "Filler Generation"). A hop checks the MAC, XORs
`hop_payloads || 1300 zeros` with a 2600-byte `rho` stream, reads its payload and the next
HMAC, and forwards the next 1300 bytes under the blinded key; an all-zero next HMAC
means it is the final node ("Onion Decryption").

The hop's ECDH is a callback (`ecdh(public_key) -> shared secret`): a hosted node's
identity secret lives in the runtime's key table or behind the signer, never here. An
asynchronous ECDH (the signer's) splits the peel: `onion_public_key`, then
`peel_with_shared_secret`.
Replay of a seen HMAC (BOLT 4: "if `hmac` has previously been received") is the caller's
check: it owns the store of HMACs.
"""

from __future__ import annotations

import hmac as _hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from vajra.crypto.hashes import hmac_sha256, sha256
from vajra.crypto.secp256k1 import (
    CURVE_ORDER,
    InvalidKey,
    ecdh_point,
    parse_point,
    parse_pubkey,
    point_mul,
    pubkey_create,
)
from vajra.errors import DecodeError
from vajra.onion.errors import (
    InvalidOnionHmac,
    InvalidOnionKey,
    InvalidOnionPayload,
    InvalidOnionVersion,
)
from vajra.onion.keys import MU, PAD, RHO, generate_key, stream, xor
from vajra.wire.errors import EncodeError
from vajra.wire.primitives import encode_bigsize, read_bigsize

VERSION = 0
HOP_PAYLOADS_LEN = 1300
HMAC_LEN = 32
PUBKEY_LEN = 33
PACKET_LEN = 1 + PUBKEY_LEN + HOP_PAYLOADS_LEN + HMAC_LEN  # 1366
_ZERO_HMAC = bytes(HMAC_LEN)

Ecdh = Callable[[bytes], bytes]
"""`ecdh(public_key33) -> SHA256(compressed(node_secret * public_key))`, 32 bytes."""


def sha256_of_onion(packet: bytes) -> bytes:
    """SHA256 of an onion packet, for `update_fail_malformed_htlc` (BOLT 2)."""
    return sha256(packet)


# --- origin node ----------------------------------------------------------------------


def shared_secrets(session_key: bytes, node_ids: Sequence[bytes]) -> list[bytes]:
    """`ss_i` for each hop (BOLT 4 "Packet Construction"); the origin keeps these (or the
    session key) to authenticate and decrypt a failure returned by any hop.

    Raises `InvalidKey` for an invalid session key or node id."""
    ek = int.from_bytes(session_key, "big")
    epk = pubkey_create(session_key)
    out: list[bytes] = []
    for node_id in node_ids:
        ss = ecdh_point(ek.to_bytes(32, "big"), parse_point(node_id))
        out.append(ss)
        ek = ek * int.from_bytes(sha256(epk + ss), "big") % CURVE_ORDER
        if ek == 0:  # probability 2^-256; keeps pubkey_create's precondition explicit
            raise InvalidKey("blinded ephemeral key is zero")
        epk = pubkey_create(ek.to_bytes(32, "big"))
    return out


def _hop_data(payload: bytes) -> bytes:
    # BOLT 4: `length` 0 and 1 are reserved ("no payload TLV value can ever be shorter").
    if len(payload) < 2:
        raise EncodeError("hop payload shorter than 2 bytes")
    return encode_bigsize(len(payload)) + payload


def _filler(secrets: Sequence[bytes], shifts: Sequence[int]) -> bytes:
    """The bytes hops 0..n-2 append and obfuscate, as the last hop's packet tail shows them.

    Hop i XORs `tail || shift_i zeros` with `rho_i`'s stream at `[1300 - len(tail),
    1300 + shift_i)` and the left shift keeps all of it: build that up hop by hop."""
    filler = b""
    for ss, shift in zip(secrets[:-1], shifts[:-1], strict=True):
        st = stream(generate_key(RHO, ss), HOP_PAYLOADS_LEN + shift)
        filler = xor(filler + bytes(shift), st[HOP_PAYLOADS_LEN - len(filler) :])
    return filler


@dataclass(frozen=True, slots=True)
class Onion:
    """A constructed onion: `packet` (1366 bytes, for `update_add_htlc`) and the per-hop
    `shared_secrets` the origin needs to decode a returned failure."""

    packet: bytes
    shared_secrets: tuple[bytes, ...]


def create_onion(
    session_key: bytes, hops: Sequence[tuple[bytes, bytes]], associated_data: bytes
) -> Onion:
    """Build a version-0 onion for `hops` = [(node_id33, tlv_payload_bytes), ...], first hop
    first, committing to `associated_data` (the `payment_hash` for payments).

    Raises `EncodeError` when the route is empty or its payloads do not fit in 1300 bytes,
    `InvalidKey` for a bad session key or node id."""
    if not hops:
        raise EncodeError("an onion needs at least one hop")
    hop_datas = [_hop_data(payload) for _, payload in hops]
    shifts = [len(d) + HMAC_LEN for d in hop_datas]
    if sum(shifts) > HOP_PAYLOADS_LEN:
        raise EncodeError(f"hop payloads take {sum(shifts)} bytes, more than 1300")
    secrets = shared_secrets(session_key, [node_id for node_id, _ in hops])
    filler = _filler(secrets, shifts)
    # "The packet is initialized with 1300 random bytes derived from ... the pad key".
    mix = stream(generate_key(PAD, session_key), HOP_PAYLOADS_LEN)
    next_hmac = _ZERO_HMAC
    for i in range(len(hops) - 1, -1, -1):
        data = hop_datas[i] + next_hmac
        mix = data + mix[: HOP_PAYLOADS_LEN - len(data)]
        mix = xor(mix, stream(generate_key(RHO, secrets[i]), HOP_PAYLOADS_LEN))
        if i == len(hops) - 1 and filler:
            mix = mix[: HOP_PAYLOADS_LEN - len(filler)] + filler
        next_hmac = hmac_sha256(generate_key(MU, secrets[i]), mix + associated_data)
    packet = bytes((VERSION,)) + pubkey_create(session_key) + mix + next_hmac
    return Onion(packet, tuple(secrets))


# --- a hop ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Peeled:
    """One layer removed. `payload`: this hop's TLV payload bytes (length prefix removed);
    `shared_secret`: for encrypting a failure back; `next_hmac`: all zeros at the final
    node; `next_packet`: the 1366-byte onion for the next hop, None at the final node."""

    payload: bytes
    shared_secret: bytes
    next_hmac: bytes
    next_packet: bytes | None

    @property
    def is_final(self) -> bool:
        return self.next_packet is None


def onion_public_key(packet: bytes) -> bytes:
    """The packet's ephemeral `public_key` after the version and key checks (BOLT 4 "Onion
    Decryption": "if `version` is not 0 ... if `public_key` is not a valid pubkey ... MUST
    abort"). Raises `InvalidOnionVersion` or `InvalidOnionKey`.

    The first half of a peel for callers whose ECDH is asynchronous (the signer's):
    `ss = await ecdh(onion_public_key(packet))`, then `peel_with_shared_secret`."""
    if len(packet) != PACKET_LEN or packet[0] != VERSION:
        raise InvalidOnionVersion("onion version is not 0", sha256_of_onion(packet))
    public_key = packet[1 : 1 + PUBKEY_LEN]
    try:
        parse_pubkey(public_key)
    except InvalidKey:
        raise InvalidOnionKey(
            "onion public key is not a valid point", sha256_of_onion(packet)
        ) from None
    return public_key


def peel(packet: bytes, associated_data: bytes, ecdh: Ecdh) -> Peeled:
    """Remove this hop's layer of `packet` (BOLT 4 "Onion Decryption", reader rules).

    `ecdh(public_key)` returns SHA256 of the compressed ECDH point with the node's secret.
    Raises `InvalidOnionVersion`/`InvalidOnionKey`/`InvalidOnionHmac` (answer with
    `update_fail_malformed_htlc`) or `InvalidOnionPayload` carrying the shared secret when
    the authenticated payload framing is broken."""
    public_key = onion_public_key(packet)
    try:
        ss = ecdh(public_key)
    except InvalidKey:
        raise InvalidOnionKey(
            "onion public key is not a valid point", sha256_of_onion(packet)
        ) from None
    return _unwrap(packet, associated_data, public_key, ss)


def peel_with_shared_secret(packet: bytes, associated_data: bytes, ss: bytes) -> Peeled:
    """`peel` given the shared secret `ss` = ECDH(`onion_public_key(packet)`, node key);
    same errors."""
    return _unwrap(packet, associated_data, onion_public_key(packet), ss)


def _unwrap(packet: bytes, associated_data: bytes, public_key: bytes, ss: bytes) -> Peeled:
    hop_payloads = packet[1 + PUBKEY_LEN : 1 + PUBKEY_LEN + HOP_PAYLOADS_LEN]
    packet_hmac = packet[1 + PUBKEY_LEN + HOP_PAYLOADS_LEN :]
    mac = hmac_sha256(generate_key(MU, ss), hop_payloads + associated_data)
    # BOLT 4: "MUST use a constant time comparison of the computed HMAC and `hmac`".
    if not _hmac.compare_digest(mac, packet_hmac):
        raise InvalidOnionHmac("onion HMAC mismatch", sha256_of_onion(packet))
    unwrapped = xor(hop_payloads + bytes(HOP_PAYLOADS_LEN), stream(generate_key(RHO, ss), 2 * 1300))
    try:
        length, p = read_bigsize(unwrapped, 0, len(unwrapped))
    except DecodeError:
        raise InvalidOnionPayload("payload length is not a bigsize", shared_secret=ss) from None
    # BOLT 4: `payload_length` < 2 -> abort; fewer than length + 32 bytes left -> abort.
    if length < 2:
        raise InvalidOnionPayload(f"payload length {length} is reserved", shared_secret=ss)
    if p + length + HMAC_LEN > HOP_PAYLOADS_LEN:
        raise InvalidOnionPayload(f"payload length {length} overruns the packet", shared_secret=ss)
    payload = unwrapped[p : p + length]
    next_hmac = unwrapped[p + length : p + length + HMAC_LEN]
    if next_hmac == _ZERO_HMAC:
        return Peeled(payload, ss, next_hmac, None)
    rest = unwrapped[p + length + HMAC_LEN : p + length + HMAC_LEN + HOP_PAYLOADS_LEN]
    next_key = point_mul(public_key, sha256(public_key + ss))
    return Peeled(payload, ss, next_hmac, bytes((VERSION,)) + next_key + rest + next_hmac)
