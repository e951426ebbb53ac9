"""Fuzz target: a fundee's establishment fed arbitrary open_channel / funding_created /
channel_ready sequences (numbers and TLVs from the input, real points) and raw messages,
with its real signer answering. Only VajraError may escape; a READY establishment yields
a channel whose commitment 0 conserves the capacity."""

from __future__ import annotations

import contextlib

from tests.unit.channel.pair import secrets, side_params
from vajra.bitcoin.tx import OutPoint
from vajra.channel import signer_io as io
from vajra.channel.establish import (
    EstablishConfig,
    Establishment,
    FundingConfirmed,
    LocalKeys,
    State,
)
from vajra.crypto.hashes import sha256
from vajra.errors import PolicyViolation, VajraError
from vajra.signer.channels import ChannelSigner
from vajra.wire import (
    ChannelReady,
    FundingCreated,
    Message,
    OpenChannel,
    OpenChannelTlvs,
    decode_message,
)

_CHAIN = sha256(b"regtest")
_A, _B = secrets(b"alice"), secrets(b"bob")
_BP = _A.basepoints()
_KEYS = LocalKeys(_B.basepoints(), _B.per_commitment_point(1))
_TYPES = (None, b"\x10\x00", b"\x40\x10\x00", b"\x01")


def _int(data: bytes, pos: int, n: int) -> int:
    return int.from_bytes(data[pos : pos + n].ljust(n, b"\0"), "big")


def _message(data: bytes, pos: int, op: int, est: Establishment) -> Message | None:
    if op == 0:
        with contextlib.suppress(VajraError):
            return decode_message(data[pos : pos + _int(data, pos, 1)])
        return None
    if op == 1:
        return OpenChannel(
            _CHAIN if data[pos : pos + 1] != b"\xff" else bytes(32), bytes(32),
            _int(data, pos + 1, 3) * 100, _int(data, pos + 4, 5), _int(data, pos + 9, 2),
            _int(data, pos + 11, 5), _int(data, pos + 16, 3), _int(data, pos + 19, 3),
            _int(data, pos + 22, 2), _int(data, pos + 24, 2), _int(data, pos + 26, 2) % 600,
            _BP.funding_pubkey, _BP.revocation_basepoint, _BP.payment_basepoint,
            _BP.delayed_payment_basepoint, _BP.htlc_basepoint, _BP.first_per_commitment_point,
            0, OpenChannelTlvs(channel_type=_TYPES[data[pos] % 4 if pos < len(data) else 0]),
        )  # fmt: skip
    if op == 2:
        return FundingCreated(bytes(32), sha256(data[pos : pos + 4]), _int(data, pos, 1), bytes(64))
    cid = est.params.channel_id if est.params else bytes(32)
    return ChannelReady(cid, _A.per_commitment_point(1))


def fuzz_one(data: bytes) -> None:
    est = Establishment.fundee(EstablishConfig(_CHAIN, side_params(354)), _KEYS)
    signer: ChannelSigner | None = None
    pos = 0
    while pos < len(data):
        op = data[pos] % 6
        pos += 1
        try:
            if op < 4:
                msg = _message(data, pos, op, est)
                pos += 30
                if msg is not None:
                    est.receive_message(msg, 0.0)
            elif op == 4 and (req := est.next_signer_request()) is not None:
                if isinstance(req, io.SetupChannel):
                    try:
                        signer = ChannelSigner.setup(_B, req)
                        result: io.SignerResult = io.ChannelSetUp()
                    except PolicyViolation as e:
                        result = io.SignerRefused(e.reason, e.detail)
                    est.signer_result(result, 0.0)
                elif signer is not None:
                    est.signer_result(signer.handle(req), 0.0)
            elif op == 5:
                est.command(FundingConfirmed(), 0.0)
        except VajraError:
            pass
        est.messages_to_send()
    if est.state is State.READY:
        ch = est.channel()
        assert ch.ledger.local_commit.spec.total_msat() == ch.ledger.channel.capacity_sat * 1000
        assert isinstance(ch.ledger.channel.funding_outpoint, OutPoint)
