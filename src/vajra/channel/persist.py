"""A channel at rest as bytes: `machine.Channel` and `establish.Establishment`.

What a node keeps of its channels while it sleeps (inside its sealed node state, which
the store binds to node, key and version; decision 0004). Everything needed to resume
exactly where the channel stopped: parameters, both commitments, the six pending-update
sets, HTLC id counters, the peer's points and revocation secrets (shachain receiver),
the last revocation, what a reconnection must retransmit, and the state.

Format (decision 0016): compact binary, big-endian fixed-width integers, one leading
byte naming the kind and one its format version, no trailing bytes:

    'C' 0x01  channel       (see `_put_channel`)
    'E' 0x01  establishment (see `_put_establishment`)

Only a channel *at rest* is written: no signer request outstanding and every output
(messages, signer requests, events) drained by the owner. Otherwise `NotAtRest`, naming
the state: a half-answered request cannot be resumed by a process that never saw it.

Decode checks what it reads (valid points, known enums, every spec conserving the
capacity, the pending updates applying to the commitments) and raises `DecodeError`
only, whatever the bytes.
"""

from __future__ import annotations

from typing import TypeVar

from vajra.channel import establish, machine
from vajra.channel.close import ShutdownState
from vajra.channel.establish_io import ChannelType, EstablishConfig, LocalKeys, OpenArgs
from vajra.channel.persist_codec import (
    In,
    Out,
    get_basepoints,
    get_change,
    get_commit,
    get_params,
    get_side,
    get_spec,
    put_basepoints,
    put_change,
    put_commit,
    put_params,
    put_side,
    put_spec,
    read_message,
    write_message,
)
from vajra.channel.reestablish import Link
from vajra.channel.shachain import ShachainReceiver
from vajra.channel.spec import (
    Side,
)
from vajra.channel.updates import Ledger, Pending
from vajra.errors import DecodeError, VajraError
from vajra.wire import (
    CommitmentSigned,
    ErrorMessage,
    Message,
    RevokeAndAck,
    UpdateAddHtlc,
    UpdateFailHtlc,
    UpdateFailMalformedHtlc,
    UpdateFee,
    UpdateFulfillHtlc,
)

VERSION = 1
_CHANNEL, _ESTABLISHMENT = b"C", b"E"


class NotAtRest(VajraError):
    """The channel or establishment cannot be persisted now: a signer request is
    outstanding or the owner has not drained its outputs. Retry once it is idle."""

    def __init__(self, what: str, state: str) -> None:
        self.state = state
        super().__init__(f"{what} not at rest (state={state})")


# -- channel ----------------------------------------------------------------------------


def encode_channel(ch: machine.Channel) -> bytes:
    """The channel's bytes. Raises `NotAtRest`."""
    if ch.awaiting_signer or not ch.idle_outputs():
        raise NotAtRest("channel", ch.state.value)
    w = Out(_CHANNEL + bytes([VERSION]))
    _put_channel(w, ch)
    return w.done()


def decode_channel(data: bytes) -> machine.Channel:
    """A channel from `encode_channel`'s bytes. Raises `DecodeError` only."""
    r = _open(data, _CHANNEL)
    ch = _get_channel(r)
    r.end()
    return ch


def _put_channel(w: Out, ch: machine.Channel) -> None:
    led = ch.ledger
    put_params(w, led.channel)
    put_commit(w, led.local_commit)
    put_commit(w, led.remote_commit)
    w.flag(led.next_remote is not None)
    if led.next_remote is not None:
        put_commit(w, led.next_remote)
    for p in led.pending:
        for changes in (p.proposed, p.signed, p.acked):
            w.u16(len(changes))
            for c in changes:
                put_change(w, c)
    w.u64(led.next_htlc_id[0])
    w.u64(led.next_htlc_id[1])
    w.text(ch.state.value)
    w.raw(ch.remote_point)
    w.raw(ch.remote_next_point)
    w.var(ch.remote_secrets.to_bytes())
    w.flag(ch.last_revocation is not None)
    if ch.last_revocation is not None:
        w.u64(ch.last_revocation[0])
        w.raw(ch.last_revocation[1])
    _put_link(w, ch)


def _get_channel(r: In) -> machine.Channel:
    params = get_params(r)
    local = get_commit(r, params)
    remote = get_commit(r, params)
    next_remote = get_commit(r, params) if r.flag() else None
    pending = (Pending(), Pending())
    for p in pending:
        p.proposed, p.signed, p.acked = ([get_change(r) for _ in range(r.u16())] for _ in range(3))
    next_ids = [r.u64(), r.u64()]
    ledger = Ledger(params, local, remote, next_remote, pending, next_ids)
    _check_ledger(ledger)
    state = r.enum(machine.State)
    if state in machine.SIGNER_WAITS:
        raise DecodeError("channel: persisted while waiting for the signer")
    remote_point = r.point()
    ch = machine.Channel(ledger, r.point(), remote_point)  # local points: _get_link
    ch.remote_point, ch.state = remote_point, state
    ch.remote_secrets = ShachainReceiver.from_bytes(r.var())
    if r.flag():
        ch.last_revocation = (r.u64(), r.read(32))
    _get_link(r, ch)
    return ch


def _put_link(w: Out, ch: machine.Channel) -> None:
    """What reconnection needs (BOLT 2 "Message Retransmission"; `reestablish.py`)."""
    w.raw(ch.local_point)
    w.raw(ch.local_next_point)
    for alias in (ch.local_alias, ch.remote_alias):
        w.flag(alias is not None)
        if alias is not None:
            w.u64(alias)
    w.text(ch.link.value)
    for msgs in (ch.unsigned, ch.sent_commit):
        w.u16(len(msgs))
        for m in msgs:
            write_message(w, m)
    w.flag(ch.last_revoke is not None)
    if ch.last_revoke is not None:
        write_message(w, ch.last_revoke)
    w.flag(ch.prev_secret is not None)
    if ch.prev_secret is not None:
        w.raw(ch.prev_secret)
    w.flag(ch.commit_before_revoke)
    w.flag(ch.reestablish_sent)
    w.flag(ch.drop_due)
    w.flag(ch.error_message is not None)
    if ch.error_message is not None:
        write_message(w, ch.error_message)
    _put_shutdown(w, ch.shutdown)


def _get_link(r: In, ch: machine.Channel) -> None:
    ch.local_point, ch.local_next_point = r.point(), r.point()
    ch.local_alias = r.u64() if r.flag() else None
    ch.remote_alias = r.u64() if r.flag() else None
    ch.link = r.enum(Link)
    ch.unsigned = [_get_typed(r, _UPDATES) for _ in range(r.u16())]
    ch.sent_commit = tuple(_get_typed(r, (*_UPDATES, CommitmentSigned)) for _ in range(r.u16()))
    if len(ch.unsigned) != len(ch.ledger.pending[Side.LOCAL].proposed):
        raise DecodeError("channel: unsigned update messages do not match the ledger")
    if ch.sent_commit and not isinstance(ch.sent_commit[-1], CommitmentSigned):
        raise DecodeError("channel: retransmission does not end with commitment_signed")
    ch.last_revoke = _get_typed(r, (RevokeAndAck,)) if r.flag() else None
    ch.prev_secret = r.read(32) if r.flag() else None
    ch.commit_before_revoke, ch.reestablish_sent, ch.drop_due = r.flag(), r.flag(), r.flag()
    ch.error_message = _get_typed(r, (ErrorMessage,)) if r.flag() else None
    ch.shutdown = _get_shutdown(r)


def _put_shutdown(w: Out, sd: ShutdownState) -> None:
    w.flag(sd.anysegwit)
    w.var(sd.upfront_local)
    w.var(sd.upfront_remote)
    for script in (sd.local_script, sd.remote_script):
        w.flag(script is not None)
        if script is not None:
            w.var(script)
    w.flag(sd.local_sent)
    w.u32(sd.feerate_per_kw)
    w.u32(sd.max_feerate_per_kw)
    for fee in (sd.sent_fee, sd.received_fee):
        w.flag(fee is not None)
        if fee is not None:
            w.u64(fee)
    w.var(sd.sent_signature)
    w.var(sd.received_signature)
    w.flag(sd.received_range is not None)
    if sd.received_range is not None:
        w.u64(sd.received_range[0])
        w.u64(sd.received_range[1])


def _get_shutdown(r: In) -> ShutdownState:
    sd = ShutdownState(r.flag(), r.var(), r.var())
    sd.local_script = r.var() if r.flag() else None
    sd.remote_script = r.var() if r.flag() else None
    sd.local_sent = r.flag()
    sd.feerate_per_kw, sd.max_feerate_per_kw = r.u32(), r.u32()
    sd.sent_fee = r.u64() if r.flag() else None
    sd.received_fee = r.u64() if r.flag() else None
    sd.sent_signature, sd.received_signature = r.var(), r.var()
    sd.received_range = (r.u64(), r.u64()) if r.flag() else None
    return sd


_UPDATES: tuple[type[Message], ...] = (
    UpdateAddHtlc,
    UpdateFulfillHtlc,
    UpdateFailHtlc,
    UpdateFailMalformedHtlc,
    UpdateFee,
)
_M = TypeVar("_M", bound=Message)


def _get_typed(r: In, kinds: tuple[type[_M], ...]) -> _M:
    msg = read_message(r)
    if not isinstance(msg, kinds):
        raise DecodeError(f"channel: unexpected {msg.NAME} in the retransmission state")
    return msg


def _check_ledger(led: Ledger) -> None:
    """The pending updates must apply to the commitments (else the channel would fail on
    its first step with an internal error instead of at decode)."""
    capacity = led.channel.capacity_sat * 1000
    try:
        specs = [led.local_commit.spec, led.remote_commit.spec, led.projected()]
        specs += [led.next_local_spec(), led.next_remote_spec()]
    except ValueError as e:
        raise DecodeError(f"channel: pending updates do not apply: {e}") from None
    if led.next_remote is not None:
        specs.append(led.next_remote.spec)
    for spec in specs:
        if spec.total_msat() != capacity or min(spec.balance_msat) < 0:
            raise DecodeError("channel: a commitment does not conserve the capacity")


# -- establishment ----------------------------------------------------------------------


def encode_establishment(est: establish.Establishment) -> bytes:
    """An establishment at rest (not SETUP_SIGNER, SIGN_REMOTE_0 or VALIDATE_LOCAL_0,
    outputs drained). Raises `NotAtRest`."""
    if est.state in establish.WAITING or not est.idle_outputs():
        raise NotAtRest("establishment", est.state.value)
    w = Out(_ESTABLISHMENT + bytes([VERSION]))
    _put_establishment(w, est)
    return w.done()


def decode_establishment(data: bytes) -> establish.Establishment:
    """An establishment from `encode_establishment`'s bytes. Raises `DecodeError` only."""
    r = _open(data, _ESTABLISHMENT)
    est = _get_establishment(r)
    r.end()
    return est


def _put_establishment(w: Out, est: establish.Establishment) -> None:
    c = est.config
    w.raw(c.chain_hash)
    put_side(w, c.local)
    w.u32(c.minimum_depth)
    w.u64(c.min_funding_sat)
    w.u16(c.max_to_self_delay)
    w.u32(c.feerate_range[0])
    w.u32(c.feerate_range[1])
    w.u16(len(c.trusted_lsps))
    for node in sorted(c.trusted_lsps):
        w.var(node)
    w.flag(c.anysegwit)
    put_basepoints(w, est.keys.basepoints)
    w.raw(est.keys.second_per_commitment_point)
    w.text(est.state.value)
    w.var(est.peer)
    for alias in (est.alias, est.remote_alias):
        w.flag(alias is not None)
        if alias is not None:
            w.u64(alias)
    w.flag(est.channel_type is not None)
    if est.channel_type is not None:
        w.var(est.channel_type.to_bytes())
    w.u32(est.minimum_depth)
    w.var(est.remote_upfront)
    w.var(est.temporary_channel_id)
    a = est.open_args
    w.flag(a is not None)
    if a is not None:
        w.raw(a.temporary_channel_id)
        w.u64(a.funding_sat)
        w.u64(a.push_msat)
        w.u32(a.feerate_per_kw)
        w.flag(a.anchors)
        w.flag(a.scid_alias)
    w.flag(est.remote_params is not None)
    if est.remote_params is not None:
        put_side(w, est.remote_params)
    w.flag(est.remote_basepoints is not None)
    if est.remote_basepoints is not None:
        put_basepoints(w, est.remote_basepoints)
    w.flag(est.params is not None)
    if est.params is not None:
        put_params(w, est.params)
    w.flag(est.spec is not None)
    if est.spec is not None:
        put_spec(w, est.spec)
    w.flag(est.remote_second_point is not None)
    if est.remote_second_point is not None:
        w.raw(est.remote_second_point)
    w.flag(est.sent_ready)
    w.text(est.link.value)
    w.flag(est.reestablish_sent)


def _get_establishment(r: In) -> establish.Establishment:
    chain_hash = r.read(32)
    local = get_side(r)
    depth, min_funding, max_delay, feerates = r.u32(), r.u64(), r.u16(), (r.u32(), r.u32())
    trusted = frozenset(r.var() for _ in range(r.u16()))
    config = EstablishConfig(
        chain_hash, local, depth, min_funding, max_delay, feerates, trusted, r.flag()
    )
    keys = LocalKeys(get_basepoints(r), r.point())
    state = r.enum(establish.State)
    if state in establish.WAITING:
        raise DecodeError("establishment: persisted while waiting for the signer")
    peer = r.var()
    alias = r.u64() if r.flag() else None
    est = establish.Establishment(config, keys, state, peer=peer, alias=alias)
    est.remote_alias = r.u64() if r.flag() else None
    if r.flag():
        ctype = ChannelType.parse(r.var())
        if ctype is None:
            raise DecodeError("establishment: unknown channel type")
        est.channel_type = ctype
    est.minimum_depth, est.remote_upfront = r.u32(), r.var()
    est.temporary_channel_id = r.var()
    if r.flag():
        est.open_args = OpenArgs(r.read(32), r.u64(), r.u64(), r.u32(), r.flag(), r.flag())
    est.remote_params = get_side(r) if r.flag() else None
    est.remote_basepoints = get_basepoints(r) if r.flag() else None
    est.params = get_params(r) if r.flag() else None
    est.spec = get_spec(r, est.params) if r.flag() else None
    est.remote_second_point = r.point() if r.flag() else None
    est.sent_ready = r.flag()
    est.link, est.reestablish_sent = r.enum(Link), r.flag()
    return est


# -- parts ------------------------------------------------------------------------------


def _open(data: bytes, kind: bytes) -> In:
    r = In(data)
    if r.read(1) != kind:
        raise DecodeError(f"persist: not a {kind.decode()} record")
    version = r.u8()
    if version != VERSION:
        raise DecodeError(f"persist: unknown format version {version}")
    return r


__all__ = [
    "VERSION",
    "NotAtRest",
    "decode_channel",
    "decode_establishment",
    "encode_channel",
    "encode_establishment",
]
