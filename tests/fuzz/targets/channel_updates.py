"""Fuzz target: arbitrary BOLT 2 message sequences, commands and signer answers fed to
one channel endpoint (with its real reference signer).

Invariants beyond "only VajraError escapes": every spec the ledger holds or projects
conserves the capacity with no negative balance, and once failed a channel stays failed.
"""

from __future__ import annotations

import contextlib

from tests.unit.channel.pair import CAPACITY_SAT, make_pair
from vajra.channel import signer_io as io
from vajra.channel.machine import State
from vajra.channel.updates import Ledger
from vajra.errors import VajraError
from vajra.wire import (
    CommitmentSigned,
    Message,
    RevokeAndAck,
    UpdateAddHtlc,
    UpdateFailHtlc,
    UpdateFailMalformedHtlc,
    UpdateFee,
    UpdateFulfillHtlc,
    decode_message,
)

_PAIR = make_pair()
_POINT = _PAIR.a.signer.secrets.per_commitment_point(5)


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
    return RevokeAndAck(cid, b.take(32), _POINT)


def fuzz_one(data: bytes) -> None:
    b = _Bytes(data)
    p = make_pair()
    ep = p.b
    ch = ep.channel
    while not b.done:
        op = b.int(1) % 12
        try:
            if op < 8:
                msg = _message(b, op, ch.channel_id)
                if msg is not None:
                    ch.receive_message(msg, 0.0)
            elif op in (8, 9):
                request = ch.next_signer_request()
                if request is not None:
                    answer = ep.signer.handle(request) if op == 8 else io.SignerRefused("fuzz")
                    ch.signer_result(answer, 0.0)
            elif op == 10:
                ch.command(io.AddHtlc(b.int(4), b.take(32), b.int(3)), 0.0)
            else:
                ch.command(io.SignCommitment(), 0.0)
        except VajraError:
            pass
        ch.messages_to_send()
        _check(ch.ledger)
    if ch.state is State.FAILED:
        ch.receive_message(UpdateFee(ch.channel_id, 253), 0.0)
        assert ch.state is State.FAILED and not ch.messages_to_send()


def _check(ledger: Ledger) -> None:
    specs = [ledger.local_commit.spec, ledger.remote_commit.spec, ledger.projected()]
    specs += [ledger.next_local_spec(), ledger.next_remote_spec()]
    for spec in specs:
        assert spec.total_msat() == CAPACITY_SAT * 1000
        assert min(spec.balance_msat) >= 0
