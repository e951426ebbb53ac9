"""Fuzz target: arbitrary BOLT 2 message sequences — updates, commitment_signed,
revoke_and_ack, channel_reestablish, shutdown, closing_signed, channel_ready — with
commands (add, sign, close), disconnections and reconnections, signer answers, and
persist round trips, fed to one channel endpoint (with its real reference signer).

Invariants beyond "only VajraError escapes": every spec the ledger holds or projects
conserves the capacity with no negative balance, a channel at rest re-encodes to the
same bytes, and once failed (or closed) a channel stays so.
"""

from __future__ import annotations

import contextlib

from tests.unit.channel.pair import CAPACITY_SAT, make_pair
from vajra.channel import signer_io as io
from vajra.channel.machine import Link, State
from vajra.channel.persist import decode_channel, encode_channel
from vajra.channel.updates import Ledger
from vajra.errors import VajraError
from vajra.wire import (
    ChannelReady,
    ChannelReadyTlvs,
    ChannelReestablish,
    ClosingSigned,
    ClosingSignedTlvs,
    CommitmentSigned,
    FeeRange,
    Message,
    RevokeAndAck,
    Shutdown,
    UpdateAddHtlc,
    UpdateFailHtlc,
    UpdateFailMalformedHtlc,
    UpdateFee,
    UpdateFulfillHtlc,
    decode_message,
)

_PAIR = make_pair()
_POINT = _PAIR.a.signer.secrets.per_commitment_point(5)
_SCRIPTS = (
    b"\x00\x14" + bytes(20),
    b"\x00\x20" + bytes(32),
    b"\x51\x20" + bytes(32),
    b"\x6a\x01\x00",
    b"",
)
_OURS = _SCRIPTS[1]


class _Bytes:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out.ljust(n, b"\0")

    def int(self, n: int) -> int:
        return int.from_bytes(self.take(n), "big")

    @property
    def done(self) -> bool:
        return self.pos >= len(self.data)


def _message(b: _Bytes, op: int, cid: bytes) -> Message | None:
    if op == 0:
        with contextlib.suppress(VajraError):
            return decode_message(b.take(b.int(1)))
        return None
    small = b.int(1) % 8
    if op == 1:
        return UpdateAddHtlc(cid, small, b.int(5), b.take(32), b.int(4), bytes(1366))
    if op == 2:
        return UpdateFulfillHtlc(cid, small, b.take(32))
    if op == 3:
        return UpdateFailHtlc(cid, small, b.take(4))
    if op == 4:
        return UpdateFailMalformedHtlc(cid, small, b.take(32), b.int(2))
    if op == 5:
        return UpdateFee(cid, b.int(3))
    if op == 6:
        return CommitmentSigned(cid, b.take(64), tuple(b.take(64) for _ in range(small % 3)))
    if op == 7:
        return RevokeAndAck(cid, b.take(32), _POINT)
    if op == 8:
        secret = bytes(32) if small & 1 else b.take(32)
        return ChannelReestablish(cid, b.int(1), b.int(1), secret, _POINT)
    if op == 9:
        return Shutdown(cid, _SCRIPTS[small % len(_SCRIPTS)])
    if op == 10:
        rng = FeeRange(b.int(2), b.int(2)) if small & 1 else None
        return ClosingSigned(cid, b.int(2), b.take(64), ClosingSignedTlvs(fee_range=rng))
    return ChannelReady(cid, _POINT, ChannelReadyTlvs(short_channel_id=b.int(1) or None))


def fuzz_one(data: bytes) -> None:
    b = _Bytes(data)
    p = make_pair()
    ep = p.b
    while not b.done:
        ch = ep.channel
        op = b.int(1) % 20
        try:
            if op < 12:
                msg = _message(b, op, ch.channel_id)
                if msg is not None:
                    ch.receive_message(msg, 0.0)
            elif op in (12, 13):
                request = ch.next_signer_request()
                if request is not None:
                    if op == 12:
                        answer = ep.signer.handle(request, allowlisted={_OURS})
                    else:
                        answer = io.SignerRefused("fuzz")
                    ch.signer_result(answer, 0.0)
            elif op == 14:
                ch.command(io.AddHtlc(b.int(4), b.take(32), b.int(3)), 0.0)
            elif op == 15:
                ch.command(io.SignCommitment(), 0.0)
            elif op == 16:
                ch.command(io.Close(_SCRIPTS[b.int(1) % len(_SCRIPTS)], b.int(2)), 0.0)
            elif op == 17:
                ch.disconnected(0.0)
            elif op == 18:
                if ch.link is Link.DOWN:
                    ch.connected(0.0)
            else:
                _reload(ep)
        except VajraError:
            pass
        ep.channel.messages_to_send()
        while ep.channel.next_event() is not None:
            pass
        _check(ep.channel.ledger)
    ch = ep.channel
    if ch.state in (State.FAILED, State.CLOSED):
        end = ch.state
        ch.receive_message(UpdateFee(ch.channel_id, 253), 0.0)
        assert ch.state is end and not ch.messages_to_send()


def _reload(ep: object) -> None:
    ch = ep.channel  # type: ignore[attr-defined]
    if ch.awaiting_signer or not ch.idle_outputs():
        return
    data = encode_channel(ch)
    copy = decode_channel(data)
    assert encode_channel(copy) == data
    ep.channel = copy  # type: ignore[attr-defined]


def _check(ledger: Ledger) -> None:
    specs = [ledger.local_commit.spec, ledger.remote_commit.spec, ledger.projected()]
    specs += [ledger.next_local_spec(), ledger.next_remote_spec()]
    for spec in specs:
        assert spec.total_msat() == CAPACITY_SAT * 1000
        assert min(spec.balance_msat) >= 0
