"""Blocks: the 80-byte header, full parsing, and a lean scanner for the chain watcher.

A serialized block is `header (80 bytes) | CompactSize tx count | transactions`.
`parse_block` builds `Tx` objects; `scan_block` is the watcher's fast path: per
transaction only the txid, the spent outpoints (36-byte wire keys) and the outputs
(script, amount_sat), without building objects or copying witnesses. Both raise
`TxDecodeError` on malformed input and never anything else.
"""

from __future__ import annotations

import struct
from collections.abc import Container, Sequence
from dataclasses import dataclass
from hashlib import sha256 as _sha256
from typing import NamedTuple

from vajra.bitcoin.tx import Reader, Tx, TxDecodeError, ser_compact_size
from vajra.crypto.hashes import double_sha256

HEADER_SIZE = 80
_HEADER = struct.Struct("<I32s32sIII")
_U64_FROM = struct.Struct("<Q").unpack_from


@dataclass(frozen=True, slots=True)
class BlockHeader:
    """Header fields; hashes in internal byte order (`block_hash_hex` is the display form)."""

    version: int
    prev_block: bytes
    merkle_root: bytes
    time: int
    bits: int
    nonce: int
    block_hash: bytes

    @classmethod
    def parse(cls, header: bytes) -> BlockHeader:
        if len(header) != HEADER_SIZE:
            raise TxDecodeError("a block header is 80 bytes")
        version, prev, root, time, bits, nonce = _HEADER.unpack(header)
        return cls(version, prev, root, time, bits, nonce, double_sha256(header))

    def serialize(self) -> bytes:
        return _HEADER.pack(
            self.version, self.prev_block, self.merkle_root, self.time, self.bits, self.nonce
        )

    @property
    def block_hash_hex(self) -> str:
        return self.block_hash[::-1].hex()


@dataclass(frozen=True, slots=True)
class Block:
    header: BlockHeader
    txs: tuple[Tx, ...]


def parse_block(data: bytes) -> Block:
    """Header and every transaction as `Tx` objects."""
    header = BlockHeader.parse(bytes(data[:HEADER_SIZE]))
    r = Reader(bytes(data), HEADER_SIZE)
    txs = tuple(Tx.read(r) for _ in range(r.count(51)))
    if r.remaining():
        raise TxDecodeError(f"{r.remaining()} trailing bytes after the block")
    return Block(header, txs)


class ScannedTx(NamedTuple):
    """One transaction as the watcher sees it."""

    txid: bytes
    """32 bytes, internal byte order."""
    prevouts: list[bytes]
    """36-byte outpoints (`OutPoint.serialize()` form) this transaction spends."""
    outputs: list[tuple[bytes, int]]
    """(script_pubkey, amount_sat) per output, in order (index = vout)."""


def scan_block(data: bytes) -> tuple[BlockHeader, list[ScannedTx]]:
    """Header and per-transaction (txid, prevouts, outputs) of a serialized block.

    The txid is hashed over the non-witness parts, which in the BIP 144 form are
    contiguous except for marker/flag and witnesses, so no re-serialization is needed.
    """
    data = bytes(data)
    header = BlockHeader.parse(data[:HEADER_SIZE])
    try:
        return header, _scan(data)
    except (IndexError, struct.error, OverflowError):
        raise TxDecodeError("truncated block") from None


def _scan(data: bytes) -> list[ScannedTx]:
    # Hot loop: locals only, CompactSize inlined. Bounds are checked where a read could
    # silently fall short (slices); indexing past the end raises IndexError, caught above.
    n = len(data)
    u64 = _U64_FROM
    i = HEADER_SIZE
    count = data[i]
    i += 1
    if count >= 0xFD:
        i, count = _compact(data, i - 1)
    if count * 51 > n - i:  # the smallest transaction is 51 bytes
        raise TxDecodeError("transaction count exceeds the block")
    out: list[ScannedTx] = []
    append = out.append
    for _ in range(count):
        start = i
        segwit = data[i + 4] == 0
        if segwit:
            if data[i + 5] != 1:
                raise TxDecodeError("segwit marker without flag 0x01")
            i += 6
        else:
            i += 4
        body = i
        n_in = data[i]
        i += 1
        if n_in >= 0xFD:
            i, n_in = _compact(data, i - 1)
        prevouts = []
        for _ in range(n_in):
            prevouts.append(data[i : i + 36])
            i += 36
            ln = data[i]
            i += 1
            if ln >= 0xFD:
                i, ln = _compact(data, i - 1)
            i += ln + 4
        n_out = data[i]
        i += 1
        if n_out >= 0xFD:
            i, n_out = _compact(data, i - 1)
        outputs = []
        for _ in range(n_out):
            amount = u64(data, i)[0]
            i += 8
            ln = data[i]
            i += 1
            if ln >= 0xFD:
                i, ln = _compact(data, i - 1)
            outputs.append((data[i : i + ln], amount))
            i += ln
        body_end = i
        if segwit:
            i = _skip_witnesses(data, i, n_in)
        if i + 4 > n:
            raise TxDecodeError("truncated transaction in block")
        txid = _txid(data, start, body, body_end, i, segwit)
        i += 4
        append(ScannedTx(txid, prevouts, outputs))
    if i != n:
        raise TxDecodeError(f"{n - i} trailing bytes after the block")
    return out


class BlockMatch(NamedTuple):
    """A transaction of a block that touches something watched."""

    tx_index: int
    txid: bytes
    spends: list[tuple[int, bytes]]
    """(input index, 36-byte outpoint) for every watched outpoint it spends."""
    pays: list[tuple[int, bytes, int]]
    """(vout, script_pubkey, amount_sat) for every output to a watched script."""


def match_block(
    data: bytes, scripts: Container[bytes], outpoints: Container[bytes]
) -> tuple[BlockHeader, list[BlockMatch]]:
    """The transactions of a block that pay a script in `scripts` or spend an outpoint
    (36-byte `OutPoint.serialize()` form) in `outpoints`: the watcher's one pass over a
    block for every hosted node. Only matching transactions are hashed; nothing is kept
    for the others. `TxDecodeError` on a malformed block, exactly as `scan_block`."""
    data = bytes(data)
    header = BlockHeader.parse(data[:HEADER_SIZE])
    try:
        return header, _match(data, scripts, outpoints)
    except (IndexError, struct.error, OverflowError):
        raise TxDecodeError("truncated block") from None


def _match(data: bytes, scripts: Container[bytes], outpoints: Container[bytes]) -> list[BlockMatch]:
    # The same walk as _scan, with the lookups inline (see there for the bounds rules).
    n = len(data)
    u64 = _U64_FROM
    i = HEADER_SIZE
    count = data[i]
    i += 1
    if count >= 0xFD:
        i, count = _compact(data, i - 1)
    if count * 51 > n - i:
        raise TxDecodeError("transaction count exceeds the block")
    out: list[BlockMatch] = []
    for k in range(count):
        start = i
        segwit = data[i + 4] == 0
        if segwit:
            if data[i + 5] != 1:
                raise TxDecodeError("segwit marker without flag 0x01")
            i += 6
        else:
            i += 4
        body = i
        n_in = data[i]
        i += 1
        if n_in >= 0xFD:
            i, n_in = _compact(data, i - 1)
        spends: list[tuple[int, bytes]] = []
        for j in range(n_in):
            op = data[i : i + 36]
            if op in outpoints:
                spends.append((j, op))
            i += 36
            ln = data[i]
            i += 1
            if ln >= 0xFD:
                i, ln = _compact(data, i - 1)
            i += ln + 4
        n_out = data[i]
        i += 1
        if n_out >= 0xFD:
            i, n_out = _compact(data, i - 1)
        pays: list[tuple[int, bytes, int]] = []
        for j in range(n_out):
            at = i
            i += 8
            ln = data[i]
            i += 1
            if ln >= 0xFD:
                i, ln = _compact(data, i - 1)
            script = data[i : i + ln]
            if script in scripts:
                pays.append((j, script, u64(data, at)[0]))
            i += ln
        body_end = i
        if segwit:
            i = _skip_witnesses(data, i, n_in)
        if i + 4 > n:
            raise TxDecodeError("truncated transaction in block")
        if spends or pays:
            out.append(BlockMatch(k, _txid(data, start, body, body_end, i, segwit), spends, pays))
        i += 4
    if i != n:
        raise TxDecodeError(f"{n - i} trailing bytes after the block")
    return out


def _skip_witnesses(data: bytes, i: int, n_in: int) -> int:
    """The offset after the `n_in` witness stacks (BIP 144) that start at `i`."""
    for _ in range(n_in):
        items = data[i]
        i += 1
        if items >= 0xFD:
            i, items = _compact(data, i - 1)
        for _ in range(items):
            ln = data[i]
            i += 1
            if ln >= 0xFD:
                i, ln = _compact(data, i - 1)
            i += ln
    return i


def _txid(data: bytes, start: int, body: int, body_end: int, lock: int, segwit: bool) -> bytes:
    """The txid of the transaction at `start`: double SHA-256 of its serialization without
    marker, flag and witnesses (BIP 141) - version, data[body:body_end] (inputs and
    outputs) and the locktime at `lock`."""
    if segwit:
        h = _sha256(data[start : start + 4])
        h.update(data[body:body_end])
        h.update(data[lock : lock + 4])
        return _sha256(h.digest()).digest()
    return _sha256(_sha256(data[start : lock + 4]).digest()).digest()


def _compact(data: bytes, i: int) -> tuple[int, int]:
    r = Reader(data, i)
    v = r.compact_size()
    if v > len(data):
        raise TxDecodeError("length exceeds the block")
    return r.pos, v


def merkle_root(txids: Sequence[bytes]) -> bytes:
    """The block merkle root of txids (internal byte order), duplicating the last hash
    of an odd level as Bitcoin does."""
    if not txids:
        raise ValueError("a block has at least one transaction")
    level = list(txids)
    while len(level) > 1:
        if len(level) % 2:
            level.append(level[-1])
        level = [double_sha256(level[k] + level[k + 1]) for k in range(0, len(level), 2)]
    return level[0]


def serialize_block(header: BlockHeader, txs: Sequence[Tx]) -> bytes:
    return header.serialize() + ser_compact_size(len(txs)) + b"".join(t.serialize() for t in txs)
