"""Fuzz target: a fundee's establishment fed arbitrary open_channel / funding_created /
channel_ready / channel_reestablish sequences (numbers, channel types — scid_alias and
zeroconf included, from a trusted peer — and TLVs from the input, real points) and raw
messages, with disconnections, reconnections and persist round trips, its real signer
answering. Only VajraError may escape; an establishment at rest re-encodes to the same
bytes; a READY establishment yields a channel whose commitment 0 conserves the
capacity."""

from __future__ import annotations

import contextlib

from tests.unit.channel.pair import secrets, side_params
from vajra.bitcoin.tx import OutPoint
from vajra.channel import signer_io as io
from vajra.channel.establish import (
    WAITING,
    ChannelType,
    EstablishConfig,
    Establishment,
    FundingConfirmed,
    LocalKeys,
    State,
)
from vajra.channel.persist import decode_establishment, encode_establishment
from vajra.crypto.hashes import sha256
from vajra.errors import PolicyViolation, VajraError
from vajra.signer.channels import ChannelSigner
from vajra.wire import (
    ChannelReady,
    ChannelReestablish,
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
_TYPES = (
    None,
    b"\x10\x00",
    b"\x40\x10\x00",
    b"\x01",
    ChannelType(True, scid_alias=True).to_bytes(),
    ChannelType(True, scid_alias=True, zeroconf=True).to_bytes(),
    ChannelType(False, zeroconf=True).to_bytes(),
    (1 << 48 | 1 << 12).to_bytes(7, "big"),  # an unknown bit
)
_LSP = b"\x02" + bytes(32)


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
            data[pos + 28] & 1 if pos + 28 < len(data) else 0,
            OpenChannelTlvs(channel_type=_TYPES[data[pos] % len(_TYPES) if pos < len(data) else 0]),
        )  # fmt: skip
    if op == 2:
        return FundingCreated(bytes(32), sha256(data[pos : pos + 4]), _int(data, pos, 1), bytes(64))
    cid = est.params.channel_id if est.params else bytes(32)
    if op == 3:
        return ChannelReady(cid, _A.per_commitment_point(1))
    secret = bytes(32) if data[pos : pos + 1] != b"\x01" else bytes(31) + b"\x01"
    return ChannelReestablish(
        cid, _int(data, pos + 1, 1), _int(data, pos + 2, 1), secret, _BP.funding_pubkey
    )


def fuzz_one(data: bytes) -> None:
    config = EstablishConfig(_CHAIN, side_params(354), trusted_lsps=frozenset({_LSP}))
    peer = _LSP if data[:1] == b"\x00" else b""
    est = Establishment.fundee(config, _KEYS, peer=peer, alias=7 if data[1:2] != b"\x00" else None)
    signer: ChannelSigner | None = None
    pos = 0
    while pos < len(data):
        op = data[pos] % 9
        pos += 1
        try:
            if op < 4 or op == 6:
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
            elif op == 7:
                est.disconnected(0.0) if data[pos - 1] & 0x80 else est.connected(0.0)
            elif op == 8 and est.state not in WAITING and est.idle_outputs():
                raw = encode_establishment(est)
                est = decode_establishment(raw)
                assert encode_establishment(est) == raw
        except VajraError:
            pass
        est.messages_to_send()
        while est.next_event() is not None:
            pass
    if est.state is State.READY:
        ch = est.channel()
        assert ch.ledger.local_commit.spec.total_msat() == ch.ledger.channel.capacity_sat * 1000
        assert isinstance(ch.ledger.channel.funding_outpoint, OutPoint)
