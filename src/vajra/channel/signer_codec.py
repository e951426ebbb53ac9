"""Bytes for the channel core's signer requests and results, shared by the runtime and
the signer. Sans-IO, no state.

The runtime encodes a `vajra.channel.signer_io` request, the bytes travel opaque through
the worker channel and the signer link (decision 0017), and the signer decodes them; the
result comes back the same way. The signer also keeps its channel records in these
field encodings (`vajra.signer.channel_store`).

Layout (integers big-endian): one tag byte, then the fields of the dataclass in order.

    request  0x01 SignCounterpartyCommitment  number u64 | spec | point 33 |
                  revocation (0x00 | 0x01 number u64 secret 32) | preimages
             0x02 ValidateHolderCommitment    number u64 | spec | sig 64 | sigs | preimages
             0x03 RevokeHolderCommitment      number u64
             0x04 SetupChannel                params | spec
             0x05 SignMutualClose             local script | remote script | fee_sat u64
             0x06 ApprovePayment              authorisation (u16 len) |
                                              confirmation (0x00 | 0x01 u16 len)
    result   0x81 CounterpartySigned          sig 64 | sigs
             0x82 HolderValidated             -
             0x83 HolderRevoked               secret 32 | point 33
             0x84 ChannelSetUp                -
             0x85 MutualCloseSigned           sig 64
             0x86 PaymentApproved             payment_hash 32 | cap_msat u64 |
                                              reason (u8 len, ASCII)
             0xFF SignerRefused               reason (u8 len, ASCII) | detail (u16 len, UTF-8)
    keys     0x90 LocalKeys                   basepoints | point 33

    spec       feerate_per_kw u32 | balance_msat 2 x u64 | u16 count x htlc
    htlc       offerer u8 (0/1) | id u64 | amount_msat u64 | payment_hash 32 | cltv u32,
               strictly increasing by (offerer, id) (the order `CommitSpec` keeps)
    params     channel_id 32 | txid 32 | vout u32 | capacity_sat u64 | funder u8 |
               anchors u8 | 2 x side params | 2 x basepoints
    side       dust u64 | reserve u64 | htlc_minimum_msat u64 | max_accepted u16 |
               max_in_flight_msat u64 | to_self_delay u16
    basepoints 6 x 33 (funding, revocation, payment, delayed_payment, htlc, first point)
    sigs / preimages  u16 count x 64 / 32;  script  u16 length + bytes

Every point is checked on the curve when decoded, booleans and sides are 0 or 1, and a
value decodes only if it is exactly one canonical value (no trailing bytes), so
`encode(decode(b)) == b`. Decoding raises `DecodeError` and nothing else. Encoding a
value that does not fit (negative amount, wrong length) raises `ValueError`: a bug in
the caller, never peer input.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import TypeVar

from vajra.bitcoin.tx import OutPoint
from vajra.channel import signer_io as io
from vajra.channel.establish_io import LocalKeys
from vajra.channel.keys import Basepoints
from vajra.channel.spec import ChannelParams, CommitSpec, HtlcEntry, Side, SideParams
from vajra.crypto.secp256k1 import check_pubkey
from vajra.errors import DecodeError

_T = TypeVar("_T")

MAX_LIST = 0xFFFF

TAG_SIGN_COUNTERPARTY = 0x01
TAG_VALIDATE_HOLDER = 0x02
TAG_REVOKE_HOLDER = 0x03
TAG_SETUP = 0x04
TAG_MUTUAL_CLOSE = 0x05
TAG_APPROVE_PAYMENT = 0x06
TAG_COUNTERPARTY_SIGNED = 0x81
TAG_HOLDER_VALIDATED = 0x82
TAG_HOLDER_REVOKED = 0x83
TAG_SET_UP = 0x84
TAG_MUTUAL_CLOSE_SIGNED = 0x85
TAG_PAYMENT_APPROVED = 0x86
TAG_REFUSED = 0xFF
TAG_LOCAL_KEYS = 0x90

_SIDE = struct.Struct(">QQQHQH")


# --- writing ------------------------------------------------------------------------------


def _u(value: int, size: int) -> bytes:
    if not 0 <= value < 1 << (8 * size):
        raise ValueError(f"{value} does not fit {size} bytes")
    return value.to_bytes(size, "big")


def _fixed(b: bytes, n: int, what: str) -> bytes:
    if len(b) != n:
        raise ValueError(f"{what} must be {n} bytes, not {len(b)}")
    return bytes(b)


def _var(b: bytes) -> bytes:
    return _u(len(b), 2) + bytes(b)


def _list(items: tuple[bytes, ...], n: int, what: str) -> bytes:
    return _u(len(items), 2) + b"".join(_fixed(i, n, what) for i in items)


def _bool(v: bool) -> bytes:
    return b"\x01" if v else b"\x00"


def encode_spec(spec: CommitSpec) -> bytes:
    out = [_u(spec.feerate_per_kw, 4), _u(spec.balance_msat[0], 8), _u(spec.balance_msat[1], 8)]
    out.append(_u(len(spec.htlcs), 2))
    for h in spec.htlcs:
        out += [
            _u(int(h.offerer), 1),
            _u(h.id, 8),
            _u(h.amount_msat, 8),
            _fixed(h.payment_hash, 32, "payment hash"),
            _u(h.cltv_expiry, 4),
        ]
    return b"".join(out)


def encode_basepoints(bp: Basepoints) -> bytes:
    return b"".join(
        _fixed(p, 33, "point")
        for p in (
            bp.funding_pubkey,
            bp.revocation_basepoint,
            bp.payment_basepoint,
            bp.delayed_payment_basepoint,
            bp.htlc_basepoint,
            bp.first_per_commitment_point,
        )
    )


def _encode_side(p: SideParams) -> bytes:
    return _SIDE.pack(
        p.dust_limit_sat,
        p.channel_reserve_sat,
        p.htlc_minimum_msat,
        p.max_accepted_htlcs,
        p.max_htlc_value_in_flight_msat,
        p.to_self_delay,
    )


def encode_params(c: ChannelParams) -> bytes:
    try:
        sides = _encode_side(c.params[0]) + _encode_side(c.params[1])
    except struct.error as e:
        raise ValueError(f"side parameters out of range: {e}") from None
    return b"".join(
        (
            _fixed(c.channel_id, 32, "channel id"),
            _fixed(c.funding_outpoint.txid, 32, "txid"),
            _u(c.funding_outpoint.vout, 4),
            _u(c.capacity_sat, 8),
            _u(int(c.funder), 1),
            _bool(c.anchors),
            sides,
            encode_basepoints(c.basepoints[0]),
            encode_basepoints(c.basepoints[1]),
        )
    )


def _preimages(p: tuple[bytes, ...]) -> bytes:
    return _list(p, 32, "preimage")


def encode_request(r: io.SignerRequest) -> bytes:
    """The bytes of one channel request (layout in the module docstring)."""
    if isinstance(r, io.SignCounterpartyCommitment):
        rev = b"\x00"
        if r.last_revocation is not None:
            n, secret = r.last_revocation
            rev = b"\x01" + _u(n, 8) + _fixed(secret, 32, "revocation secret")
        return b"".join(
            (
                bytes([TAG_SIGN_COUNTERPARTY]),
                _u(r.number, 8),
                encode_spec(r.spec),
                _fixed(r.per_commitment_point, 33, "point"),
                rev,
                _preimages(r.preimages),
            )
        )
    if isinstance(r, io.ValidateHolderCommitment):
        return b"".join(
            (
                bytes([TAG_VALIDATE_HOLDER]),
                _u(r.number, 8),
                encode_spec(r.spec),
                _fixed(r.signature, 64, "signature"),
                _list(r.htlc_signatures, 64, "HTLC signature"),
                _preimages(r.preimages),
            )
        )
    if isinstance(r, io.RevokeHolderCommitment):
        return bytes([TAG_REVOKE_HOLDER]) + _u(r.number, 8)
    if isinstance(r, io.SetupChannel):
        return bytes([TAG_SETUP]) + encode_params(r.params) + encode_spec(r.initial_spec)
    if isinstance(r, io.SignMutualClose):
        return (
            bytes([TAG_MUTUAL_CLOSE])
            + _var(r.local_script)
            + _var(r.remote_script)
            + _u(r.fee_sat, 8)
        )
    if isinstance(r, io.ApprovePayment):
        conf = b"\x00" if r.confirmation is None else b"\x01" + _var(r.confirmation)
        return bytes([TAG_APPROVE_PAYMENT]) + _var(r.authorisation) + conf
    raise TypeError(f"not a signer request: {type(r).__name__}")


def encode_result(r: io.SignerResult) -> bytes:
    """The bytes of one result or refusal (layout in the module docstring)."""
    if isinstance(r, io.CounterpartySigned):
        return (
            bytes([TAG_COUNTERPARTY_SIGNED])
            + _fixed(r.signature, 64, "signature")
            + _list(r.htlc_signatures, 64, "HTLC signature")
        )
    if isinstance(r, io.HolderValidated):
        return bytes([TAG_HOLDER_VALIDATED])
    if isinstance(r, io.HolderRevoked):
        return (
            bytes([TAG_HOLDER_REVOKED])
            + _fixed(r.per_commitment_secret, 32, "secret")
            + _fixed(r.next_per_commitment_point, 33, "point")
        )
    if isinstance(r, io.ChannelSetUp):
        return bytes([TAG_SET_UP])
    if isinstance(r, io.MutualCloseSigned):
        return bytes([TAG_MUTUAL_CLOSE_SIGNED]) + _fixed(r.signature, 64, "signature")
    if isinstance(r, io.PaymentApproved):
        reason = r.reason.encode("ascii")
        return (
            bytes([TAG_PAYMENT_APPROVED])
            + _fixed(r.payment_hash, 32, "payment hash")
            + _u(r.cap_msat, 8)
            + _u(len(reason), 1)
            + reason
        )
    if isinstance(r, io.SignerRefused):
        reason = r.reason.encode("ascii", "replace")[:255]
        # Cut on a character boundary: the reader refuses broken UTF-8.
        detail = r.detail.encode("utf-8", "replace")[:1000].decode(errors="ignore").encode()
        return bytes([TAG_REFUSED, len(reason)]) + reason + _var(detail)
    raise TypeError(f"not a signer result: {type(r).__name__}")


def encode_local_keys(k: LocalKeys) -> bytes:
    return (
        bytes([TAG_LOCAL_KEYS])
        + encode_basepoints(k.basepoints)
        + _fixed(k.second_per_commitment_point, 33, "point")
    )


# --- reading ------------------------------------------------------------------------------


class Reader:
    """A cursor over bytes; every failure is a `DecodeError`."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = bytes(data)
        self.pos = 0

    def take(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise DecodeError("truncated signer message")
        out = self.data[self.pos : end]
        self.pos = end
        return out

    def u(self, size: int) -> int:
        return int.from_bytes(self.take(size), "big")

    def flag(self) -> bool:
        b = self.u(1)
        if b > 1:
            raise DecodeError(f"flag byte {b} is neither 0 nor 1")
        return b == 1

    def point(self) -> bytes:
        return check_pubkey(self.take(33))  # InvalidKey is a DecodeError

    def var(self) -> bytes:
        return self.take(self.u(2))

    def items(self, n: int) -> tuple[bytes, ...]:
        return tuple(self.take(n) for _ in range(self.u(2)))

    def end(self) -> None:
        if self.pos != len(self.data):
            raise DecodeError(f"{len(self.data) - self.pos} trailing bytes")


_SPEC_HEAD = struct.Struct(">IQQH")
_HTLC = struct.Struct(">BQQ32sI")


def read_spec(r: Reader) -> CommitSpec:
    feerate, ours, theirs, count = _SPEC_HEAD.unpack(r.take(_SPEC_HEAD.size))
    htlcs: list[HtlcEntry] = []
    for _ in range(count):
        flag, htlc_id, amount_msat, payment_hash, cltv_expiry = _HTLC.unpack(r.take(_HTLC.size))
        if flag > 1:
            raise DecodeError(f"flag byte {flag} is neither 0 nor 1")
        offerer = Side(1) if flag else Side(0)
        h = HtlcEntry(offerer, htlc_id, amount_msat, payment_hash, cltv_expiry)
        if htlcs and (htlcs[-1].offerer, htlcs[-1].id) >= (h.offerer, h.id):
            raise DecodeError("HTLCs not in strictly increasing (offerer, id) order")
        htlcs.append(h)
    return CommitSpec(feerate, (ours, theirs), tuple(htlcs))


def read_basepoints(r: Reader) -> Basepoints:
    return Basepoints(r.point(), r.point(), r.point(), r.point(), r.point(), r.point())


def read_params(r: Reader) -> ChannelParams:
    channel_id = r.take(32)
    outpoint = OutPoint(r.take(32), r.u(4))
    capacity = r.u(8)
    funder = Side(1) if r.flag() else Side(0)
    anchors = r.flag()
    sides = tuple(SideParams(*_SIDE.unpack(r.take(_SIDE.size))) for _ in range(2))
    bps = (read_basepoints(r), read_basepoints(r))
    return ChannelParams(channel_id, outpoint, capacity, funder, anchors, sides, bps)  # type: ignore[arg-type]


def _revocation(r: Reader) -> tuple[int, bytes] | None:
    if not r.flag():
        return None
    return r.u(8), r.take(32)


def _read_request(r: Reader) -> io.SignerRequest:
    tag = r.u(1)
    if tag == TAG_SIGN_COUNTERPARTY:
        number, spec, point = r.u(8), read_spec(r), r.point()
        return io.SignCounterpartyCommitment(number, spec, point, _revocation(r), r.items(32))
    if tag == TAG_VALIDATE_HOLDER:
        number, spec, sig = r.u(8), read_spec(r), r.take(64)
        return io.ValidateHolderCommitment(number, spec, sig, r.items(64), r.items(32))
    if tag == TAG_REVOKE_HOLDER:
        return io.RevokeHolderCommitment(r.u(8))
    if tag == TAG_SETUP:
        return io.SetupChannel(read_params(r), read_spec(r))
    if tag == TAG_MUTUAL_CLOSE:
        return io.SignMutualClose(r.var(), r.var(), r.u(8))
    if tag == TAG_APPROVE_PAYMENT:
        return io.ApprovePayment(r.var(), r.var() if r.flag() else None)
    raise DecodeError(f"unknown signer request tag 0x{tag:02x}")


def _read_result(r: Reader) -> io.SignerResult:
    tag = r.u(1)
    if tag == TAG_COUNTERPARTY_SIGNED:
        return io.CounterpartySigned(r.take(64), r.items(64))
    if tag == TAG_HOLDER_VALIDATED:
        return io.HolderValidated()
    if tag == TAG_HOLDER_REVOKED:
        return io.HolderRevoked(r.take(32), r.point())
    if tag == TAG_SET_UP:
        return io.ChannelSetUp()
    if tag == TAG_MUTUAL_CLOSE_SIGNED:
        return io.MutualCloseSigned(r.take(64))
    if tag == TAG_PAYMENT_APPROVED:
        payment_hash, cap = r.take(32), r.u(8)
        reason = r.take(r.u(1))
        if not reason.isascii():
            raise DecodeError("approval reason is not ASCII")
        return io.PaymentApproved(payment_hash, cap, reason.decode())
    if tag == TAG_REFUSED:
        reason = r.take(r.u(1))
        detail = r.var()
        try:
            if not reason.isascii():
                raise DecodeError("refusal reason is not ASCII")
            return io.SignerRefused(reason.decode(), detail.decode())
        except UnicodeDecodeError:
            raise DecodeError("refusal detail is not UTF-8") from None
    raise DecodeError(f"unknown signer result tag 0x{tag:02x}")


def _read_local_keys(r: Reader) -> LocalKeys:
    if r.u(1) != TAG_LOCAL_KEYS:
        raise DecodeError("not LocalKeys")
    return LocalKeys(read_basepoints(r), r.point())


def _whole(data: bytes, read: Callable[[Reader], _T]) -> _T:
    r = Reader(data)
    value = read(r)
    r.end()
    return value


def decode_request(data: bytes) -> io.SignerRequest:
    """Inverse of `encode_request`; DecodeError for anything else."""
    return _whole(data, _read_request)


def decode_result(data: bytes) -> io.SignerResult:
    """Inverse of `encode_result`; DecodeError for anything else."""
    return _whole(data, _read_result)


def decode_local_keys(data: bytes) -> LocalKeys:
    """Inverse of `encode_local_keys`; DecodeError for anything else."""
    return _whole(data, _read_local_keys)


def decode_spec(data: bytes) -> CommitSpec:
    return _whole(data, read_spec)


def decode_params(data: bytes) -> ChannelParams:
    return _whole(data, read_params)
