"""Bytes of the on-chain channel requests and results (unilateral close, BOLT 5 sweeps),
in the layout of `vajra.channel.signer_codec` (which dispatches here). Sans-IO.

    request  0x10 SignHolderCommitment   number u64
             0x11 SignSweep              u16 count x claim | destination script |
                                         feerate_per_kw u32
             0x12 SignHtlcTransaction    number u64 | txid 32 | vout u32 |
                                         preimage (0x00 | 0x01 32)
    result   0xB0 HolderCommitmentSigned tx (u32 len)
             0xB1 SweepSigned            tx (u32 len) | fee_sat u64
             0xB2 HtlcTransactionSigned  tx (u32 len)

    claim    owner u8 (0/1) | number u64 | txid 32 | vout u32 | value_sat u64 |
             kind (u8 len, ASCII, a `ClaimKind` value) | preimage (0x00 | 0x01 32)

A transaction decodes only if it re-serializes to the same bytes (canonical).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vajra.bitcoin.tx import OutPoint, Tx
from vajra.channel import signer_io as io
from vajra.channel.spec import Side
from vajra.errors import DecodeError

if TYPE_CHECKING:
    from vajra.channel.signer_codec import Reader

TAG_SIGN_HOLDER_COMMITMENT = 0x10
TAG_SIGN_SWEEP = 0x11
TAG_SIGN_HTLC_TX = 0x12
TAG_HOLDER_COMMITMENT_SIGNED = 0xB0
TAG_SWEEP_SIGNED = 0xB1
TAG_HTLC_TX_SIGNED = 0xB2
REQUEST_TAGS = frozenset({TAG_SIGN_HOLDER_COMMITMENT, TAG_SIGN_SWEEP, TAG_SIGN_HTLC_TX})
RESULT_TAGS = frozenset({TAG_HOLDER_COMMITMENT_SIGNED, TAG_SWEEP_SIGNED, TAG_HTLC_TX_SIGNED})
OnchainRequest = io.SignHolderCommitment | io.SignSweep | io.SignHtlcTransaction
OnchainResult = io.HolderCommitmentSigned | io.SweepSigned | io.HtlcTransactionSigned
KINDS = frozenset({"to_local", "to_remote", "second_stage", "htlc_timeout", "htlc_preimage"})
"""The claim kinds a sweep spends (`vajra.onchain.claims.SWEPT_BY_SWEEP`)."""


def _u(value: int, size: int) -> bytes:
    return value.to_bytes(size, "big")  # OverflowError/ValueError: a caller bug


def _tx(tx: Tx) -> bytes:
    raw = tx.serialize()
    return _u(len(raw), 4) + raw


def _preimage(p: bytes | None) -> bytes:
    if p is not None and len(p) != 32:
        raise ValueError("preimage must be 32 bytes")
    return b"\x00" if p is None else b"\x01" + p


def encode_request(r: OnchainRequest) -> bytes:
    if isinstance(r, io.SignHolderCommitment):
        return bytes([TAG_SIGN_HOLDER_COMMITMENT]) + _u(r.number, 8)
    if isinstance(r, io.SignHtlcTransaction):
        op = r.outpoint
        return (
            bytes([TAG_SIGN_HTLC_TX])
            + _u(r.number, 8)
            + op.txid
            + _u(op.vout, 4)
            + (_preimage(r.preimage))
        )
    out = [bytes([TAG_SIGN_SWEEP]), _u(len(r.claims), 2)]
    for c in r.claims:
        kind = c.kind.encode("ascii")
        if c.kind not in KINDS:
            raise ValueError(f"not a sweep claim kind: {c.kind}")
        pre = _preimage(c.preimage)
        out += [bytes([int(c.owner)]), _u(c.number, 8), c.outpoint.txid, _u(c.outpoint.vout, 4)]
        out += [_u(c.value_sat, 8), _u(len(kind), 1), kind, pre]
    out += [_u(len(r.destination), 2), r.destination, _u(r.feerate_per_kw, 4)]
    return b"".join(out)


def encode_result(r: OnchainResult) -> bytes:
    if isinstance(r, io.HolderCommitmentSigned):
        return bytes([TAG_HOLDER_COMMITMENT_SIGNED]) + _tx(r.tx)
    if isinstance(r, io.HtlcTransactionSigned):
        return bytes([TAG_HTLC_TX_SIGNED]) + _tx(r.tx)
    return bytes([TAG_SWEEP_SIGNED]) + _tx(r.tx) + _u(r.fee_sat, 8)


def _read_tx(r: Reader) -> Tx:
    raw = r.take(r.u(4))
    tx = Tx.parse(raw)  # TxDecodeError is a DecodeError
    if tx.serialize() != raw:
        raise DecodeError("transaction not in canonical form")
    return tx


def read_request(tag: int, r: Reader) -> io.SignerRequest:
    if tag == TAG_SIGN_HOLDER_COMMITMENT:
        return io.SignHolderCommitment(r.u(8))
    if tag == TAG_SIGN_HTLC_TX:
        number, txid, vout = r.u(8), r.take(32), r.u(4)
        return io.SignHtlcTransaction(
            number, OutPoint(txid, vout), r.take(32) if r.flag() else None
        )
    claims = []
    for _ in range(r.u(2)):
        owner = Side(1) if r.flag() else Side(0)
        number, txid, vout, value = r.u(8), r.take(32), r.u(4), r.u(8)
        kind = r.take(r.u(1))
        if not kind.isascii() or kind.decode() not in KINDS:
            raise DecodeError("unknown sweep claim kind")
        preimage = r.take(32) if r.flag() else None
        claims.append(
            io.SweepClaim(owner, number, OutPoint(txid, vout), value, kind.decode(), preimage)
        )
    return io.SignSweep(tuple(claims), r.var(), r.u(4))


def read_result(tag: int, r: Reader) -> io.SignerResult:
    if tag == TAG_HOLDER_COMMITMENT_SIGNED:
        return io.HolderCommitmentSigned(_read_tx(r))
    if tag == TAG_HTLC_TX_SIGNED:
        return io.HtlcTransactionSigned(_read_tx(r))
    return io.SweepSigned(_read_tx(r), r.u(8))
