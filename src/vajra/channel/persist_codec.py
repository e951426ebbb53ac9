"""The byte-level writer and reader `vajra.channel.persist` uses (big-endian, fixed
width; the reader raises `DecodeError` only), and the codecs of the channel's parts
(side parameters, basepoints, channel parameters, HTLCs, specs, commitments, changes)."""

from __future__ import annotations

import enum
import struct
from typing import TypeVar

from vajra.bitcoin.tx import OutPoint
from vajra.channel.keys import Basepoints
from vajra.channel.spec import (
    AddChange,
    Change,
    ChannelParams,
    CommitSpec,
    FeeChange,
    HtlcEntry,
    SettleChange,
    Side,
    SideParams,
)
from vajra.channel.updates import CommitmentInfo
from vajra.crypto.secp256k1 import check_pubkey
from vajra.errors import DecodeError
from vajra.wire import Message, decode_message, encode_message
from vajra.wire.primitives import Reader

_E = TypeVar("_E", bound=enum.Enum)


class Out:
    """Appends fields; `done()` returns the bytes."""

    __slots__ = ("_b",)

    def __init__(self, head: bytes = b"") -> None:
        self._b = bytearray(head)

    def raw(self, data: bytes) -> None:
        self._b += data

    def u8(self, v: int) -> None:
        self._b.append(v)

    def flag(self, v: bool) -> None:
        self._b.append(1 if v else 0)

    def u16(self, v: int) -> None:
        self._b += struct.pack(">H", v)

    def u32(self, v: int) -> None:
        self._b += struct.pack(">I", v)

    def u64(self, v: int) -> None:
        self._b += struct.pack(">Q", v)

    def var(self, data: bytes) -> None:
        """Length (u32) then the bytes."""
        self.u32(len(data))
        self._b += data

    def text(self, s: str) -> None:
        data = s.encode()
        self.u8(len(data))
        self._b += data

    def done(self) -> bytes:
        return bytes(self._b)


class In:
    """Reads what `Out` wrote; every failure is a `DecodeError`."""

    __slots__ = ("_r",)

    MAX_VAR = 1 << 20

    def __init__(self, data: bytes) -> None:
        self._r = Reader(data)

    def read(self, n: int) -> bytes:
        return self._r.read(n)

    def u8(self) -> int:
        return self._r.u8()

    def u16(self) -> int:
        return self._r.u16()

    def u32(self) -> int:
        return self._r.u32()

    def u64(self) -> int:
        return self._r.u64()

    def flag(self) -> bool:
        v = self._r.u8()
        if v > 1:
            raise DecodeError(f"persist: flag byte {v}")
        return v == 1

    def var(self) -> bytes:
        n = self._r.u32()
        if n > self.MAX_VAR:
            raise DecodeError(f"persist: field of {n} bytes")
        return self._r.read(n)

    def text(self) -> str:
        try:
            return self._r.read(self._r.u8()).decode()
        except UnicodeDecodeError:
            raise DecodeError("persist: text is not UTF-8") from None

    def point(self) -> bytes:
        return check_pubkey(self._r.read(33))

    def enum(self, cls: type[_E]) -> _E:
        """An enum member by value: an int value as one byte, a str value as text."""
        sample = next(iter(cls)).value
        raw: object = self.u8() if isinstance(sample, int) else self.text()
        try:
            return cls(raw)
        except ValueError:
            raise DecodeError(f"persist: {raw!r} is not a {cls.__name__}") from None

    def end(self) -> None:
        if not self._r.at_end():
            raise DecodeError(f"persist: {self._r.remaining} trailing bytes")


def write_message(w: Out, msg: Message) -> None:
    """A BOLT message as its wire bytes (type included)."""
    w.var(encode_message(msg))


def read_message(r: In) -> Message:
    return decode_message(r.var())


# -- parts ------------------------------------------------------------------------------


def put_side(w: Out, p: SideParams) -> None:
    w.u64(p.dust_limit_sat)
    w.u64(p.channel_reserve_sat)
    w.u64(p.htlc_minimum_msat)
    w.u16(p.max_accepted_htlcs)
    w.u64(p.max_htlc_value_in_flight_msat)
    w.u16(p.to_self_delay)


def get_side(r: In) -> SideParams:
    return SideParams(r.u64(), r.u64(), r.u64(), r.u16(), r.u64(), r.u16())


def put_basepoints(w: Out, b: Basepoints) -> None:
    for point in (
        b.funding_pubkey,
        b.revocation_basepoint,
        b.payment_basepoint,
        b.delayed_payment_basepoint,
        b.htlc_basepoint,
        b.first_per_commitment_point,
    ):
        w.raw(point)


def get_basepoints(r: In) -> Basepoints:
    return Basepoints(r.point(), r.point(), r.point(), r.point(), r.point(), r.point())


def put_params(w: Out, c: ChannelParams) -> None:
    w.raw(c.channel_id)
    w.raw(c.funding_outpoint.txid)
    w.u32(c.funding_outpoint.vout)
    w.u64(c.capacity_sat)
    w.u8(c.funder)
    w.flag(c.anchors)
    for s in Side:
        put_side(w, c.params[s])
    for s in Side:
        put_basepoints(w, c.basepoints[s])


def get_params(r: In) -> ChannelParams:
    channel_id, outpoint = r.read(32), OutPoint(r.read(32), r.u32())
    capacity, funder, anchors = r.u64(), r.enum(Side), r.flag()
    if not 0 < capacity <= 21_000_000 * 100_000_000:
        raise DecodeError("channel: capacity out of range")
    sides = (get_side(r), get_side(r))
    points = (get_basepoints(r), get_basepoints(r))
    return ChannelParams(channel_id, outpoint, capacity, funder, anchors, sides, points)


def put_htlc(w: Out, h: HtlcEntry) -> None:
    w.u8(h.offerer)
    w.u64(h.id)
    w.u64(h.amount_msat)
    w.raw(h.payment_hash)
    w.u32(h.cltv_expiry)


def get_htlc(r: In) -> HtlcEntry:
    return HtlcEntry(r.enum(Side), r.u64(), r.u64(), r.read(32), r.u32())


def put_spec(w: Out, spec: CommitSpec) -> None:
    w.u32(spec.feerate_per_kw)
    w.u64(spec.balance_msat[0])
    w.u64(spec.balance_msat[1])
    w.u16(len(spec.htlcs))
    for h in spec.htlcs:
        put_htlc(w, h)


def get_spec(r: In, params: ChannelParams | None) -> CommitSpec:
    feerate, balance = r.u32(), (r.u64(), r.u64())
    htlcs = tuple(get_htlc(r) for _ in range(r.u16()))
    keys = [(h.offerer, h.id) for h in htlcs]
    if keys != sorted(set(keys)):
        raise DecodeError("channel: HTLCs not in (offerer, id) order or repeated")
    spec = CommitSpec(feerate, balance, htlcs)
    if params is not None and spec.total_msat() != params.capacity_sat * 1000:
        raise DecodeError("channel: a commitment does not conserve the capacity")
    return spec


def put_commit(w: Out, info: CommitmentInfo) -> None:
    w.u64(info.number)
    put_spec(w, info.spec)


def get_commit(r: In, params: ChannelParams) -> CommitmentInfo:
    number = r.u64()
    if number >= 1 << 48:
        raise DecodeError("channel: commitment number beyond 2^48")
    return CommitmentInfo(number, get_spec(r, params))


_ADD, _SETTLE, _FEE = 0, 1, 2


def put_change(w: Out, c: Change) -> None:
    if isinstance(c, AddChange):
        w.u8(_ADD)
        put_htlc(w, c.htlc)
    elif isinstance(c, SettleChange):
        w.u8(_SETTLE)
        w.u64(c.htlc_id)
        w.flag(c.fulfilled)
        w.flag(c.payment_preimage is not None)
        if c.payment_preimage is not None:
            w.raw(c.payment_preimage)
    else:
        w.u8(_FEE)
        w.u32(c.feerate_per_kw)


def get_change(r: In) -> Change:
    tag = r.u8()
    if tag == _ADD:
        return AddChange(get_htlc(r))
    if tag == _SETTLE:
        htlc_id, fulfilled = r.u64(), r.flag()
        preimage = r.read(32) if r.flag() else None
        if fulfilled != (preimage is not None):
            raise DecodeError("channel: a fulfil carries its preimage, a fail none")
        return SettleChange(htlc_id, fulfilled, preimage)
    if tag == _FEE:
        return FeeChange(r.u32())
    raise DecodeError(f"channel: unknown change tag {tag}")
