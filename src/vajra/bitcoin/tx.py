"""Bitcoin transactions: outpoints, inputs, outputs, segwit serialization, txid and wtxid.

Wire format (BIP 144): `version u32le | [marker 0x00, flag 0x01] | txins | txouts |
[witnesses] | locktime u32le`, counts and lengths as CompactSize. The txid hashes the
serialization without marker, flag and witnesses; the wtxid hashes all of it (BIP 141).
Hashes are kept in internal byte order; `txid_hex` prints them reversed as block
explorers and RPCs do.

`Tx.parse` refuses what Bitcoin Core refuses when deserializing (non-canonical
CompactSize, a segwit flag other than 1, a witness section with only empty witnesses,
trailing bytes) with `TxDecodeError`, so every parsed transaction re-serializes to the
same bytes. Chain and peer input never raises anything else.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field

from vajra.crypto.hashes import double_sha256
from vajra.errors import DecodeError

SEQUENCE_FINAL = 0xFFFF_FFFF
MAX_MONEY_SAT = 21_000_000 * 100_000_000
WITNESS_SCALE_FACTOR = 4

_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")


class TxDecodeError(DecodeError):
    """Bytes that are not a canonical transaction, block, script or address."""


# -- CompactSize ----------------------------------------------------------------------


def ser_compact_size(n: int) -> bytes:
    """CompactSize ("varint" in Bitcoin Core): 1, 3, 5 or 9 bytes, little endian."""
    if n < 0xFD:
        return bytes((n,))
    if n <= 0xFFFF:
        return b"\xfd" + n.to_bytes(2, "little")
    if n <= 0xFFFF_FFFF:
        return b"\xfe" + n.to_bytes(4, "little")
    return b"\xff" + n.to_bytes(8, "little")


def ser_bytes(b: bytes) -> bytes:
    """Length-prefixed bytes (scripts, witness items)."""
    return ser_compact_size(len(b)) + b


class Reader:
    """A cursor over bytes; every read past the end raises `TxDecodeError`."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    def remaining(self) -> int:
        return len(self.data) - self.pos

    def read(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise TxDecodeError(f"truncated: need {n} bytes at offset {self.pos}")
        out = self.data[self.pos : end]
        self.pos = end
        return out

    def u8(self) -> int:
        return self.read(1)[0]

    def u32(self) -> int:
        return int(_U32.unpack(self.read(4))[0])

    def u64(self) -> int:
        return int(_U64.unpack(self.read(8))[0])

    def compact_size(self) -> int:
        """CompactSize; non-canonical encodings are refused as Bitcoin Core does."""
        b = self.u8()
        if b < 0xFD:
            return b
        if b == 0xFD:
            n, low = int.from_bytes(self.read(2), "little"), 0xFD
        elif b == 0xFE:
            n, low = int.from_bytes(self.read(4), "little"), 0x1_0000
        else:
            n, low = int.from_bytes(self.read(8), "little"), 0x1_0000_0000
        if n < low:
            raise TxDecodeError("non-canonical CompactSize")
        return n

    def var_bytes(self) -> bytes:
        return self.read(self.compact_size())

    def count(self, min_item_size: int) -> int:
        """A CompactSize item count, refused if the rest of the input cannot hold it
        (so a forged count never makes us allocate)."""
        n = self.compact_size()
        if n * min_item_size > self.remaining():
            raise TxDecodeError(f"count {n} exceeds the remaining {self.remaining()} bytes")
        return n


# -- the model -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OutPoint:
    """A reference to an output: `txid` (32 bytes, internal byte order) and `vout`."""

    txid: bytes
    vout: int

    def serialize(self) -> bytes:
        """The 36-byte wire form; also the key the chain watcher indexes outpoints by."""
        return self.txid + _U32.pack(self.vout)

    @classmethod
    def from_bytes(cls, b: bytes) -> OutPoint:
        if len(b) != 36:
            raise TxDecodeError("an outpoint is 36 bytes")
        return cls(b[:32], int(_U32.unpack(b[32:])[0]))

    @classmethod
    def from_str(cls, s: str) -> OutPoint:
        """`<txid hex as displayed>:<vout>`."""
        txid_hex, sep, vout = s.partition(":")
        try:
            txid = bytes.fromhex(txid_hex)[::-1]
            n = int(vout)
        except ValueError:
            raise TxDecodeError(f"not an outpoint: {s!r}") from None
        if not sep or len(txid) != 32 or not 0 <= n <= 0xFFFF_FFFF:
            raise TxDecodeError(f"not an outpoint: {s!r}")
        return cls(txid, n)

    def __str__(self) -> str:
        return f"{self.txid[::-1].hex()}:{self.vout}"


@dataclass(frozen=True, slots=True)
class TxIn:
    """An input: the output it spends, its scriptSig, nSequence and witness stack."""

    prevout: OutPoint
    script_sig: bytes = b""
    sequence: int = SEQUENCE_FINAL
    witness: tuple[bytes, ...] = ()


@dataclass(frozen=True, slots=True)
class TxOut:
    """An output: `amount_sat` (satoshi, 0..MAX_MONEY_SAT) and its scriptPubKey."""

    amount_sat: int
    script_pubkey: bytes

    def serialize(self) -> bytes:
        return _U64.pack(self.amount_sat) + ser_bytes(self.script_pubkey)


@dataclass(frozen=True, slots=True)
class Tx:
    """A transaction. `inputs[i].witness` carries the witness; `has_witness` tells whether
    it serializes in the BIP 144 extended form."""

    version: int
    inputs: tuple[TxIn, ...]
    outputs: tuple[TxOut, ...]
    locktime: int = 0
    _cache: dict[str, bytes] = field(default_factory=dict, compare=False, repr=False)

    @property
    def has_witness(self) -> bool:
        return any(i.witness for i in self.inputs)

    def _body(self) -> bytes:
        parts = [ser_compact_size(len(self.inputs))]
        for i in self.inputs:
            parts += (i.prevout.serialize(), ser_bytes(i.script_sig), _U32.pack(i.sequence))
        parts.append(ser_compact_size(len(self.outputs)))
        parts += (o.serialize() for o in self.outputs)
        return b"".join(parts)

    def serialize(self, *, witness: bool = True) -> bytes:
        """Wire bytes; with `witness` and a non-empty witness, the BIP 144 form."""
        version = _U32.pack(self.version & 0xFFFF_FFFF)
        locktime = _U32.pack(self.locktime)
        if not (witness and self.has_witness):
            return version + self._body() + locktime
        wit = b"".join(
            ser_compact_size(len(i.witness)) + b"".join(ser_bytes(w) for w in i.witness)
            for i in self.inputs
        )
        return version + b"\x00\x01" + self._body() + wit + locktime

    @property
    def txid(self) -> bytes:
        """double-SHA256 of the serialization without witness (internal byte order)."""
        t = self._cache.get("txid")
        if t is None:
            t = self._cache["txid"] = double_sha256(self.serialize(witness=False))
        return t

    @property
    def wtxid(self) -> bytes:
        """BIP 141 wtxid; equals the txid when there is no witness."""
        return double_sha256(self.serialize())

    @property
    def txid_hex(self) -> str:
        """The txid as RPCs and explorers display it (byte-reversed hex)."""
        return self.txid[::-1].hex()

    @property
    def weight(self) -> int:
        """BIP 141 weight: 3 x base size + total size."""
        return 3 * len(self.serialize(witness=False)) + len(self.serialize())

    @property
    def vsize(self) -> int:
        return (self.weight + WITNESS_SCALE_FACTOR - 1) // WITNESS_SCALE_FACTOR

    @classmethod
    def parse(cls, data: bytes) -> Tx:
        """Parse exactly one transaction; `TxDecodeError` on anything else."""
        r = Reader(bytes(data))
        tx = cls.read(r)
        if r.remaining():
            raise TxDecodeError(f"{r.remaining()} trailing bytes after the transaction")
        return tx

    @classmethod
    def read(cls, r: Reader, *, allow_witness: bool = True) -> Tx:
        """Parse one transaction at the reader's position (blocks, PSBTs). Without
        `allow_witness` the legacy form is read, where a 0x00 after nVersion is an empty
        input list (BIP 174's unsigned transaction)."""
        data, start = r.data, r.pos
        try:
            tx, end = _read_tx(data, start, allow_witness)
        except (IndexError, struct.error, OverflowError):
            raise TxDecodeError(f"truncated transaction at offset {start}") from None
        r.pos = end
        return tx

    def with_witnesses(self, witnesses: list[tuple[bytes, ...]]) -> Tx:
        """A copy with input i's witness replaced by `witnesses[i]`."""
        if len(witnesses) != len(self.inputs):
            raise ValueError("one witness per input")
        ins = tuple(
            TxIn(i.prevout, i.script_sig, i.sequence, w)
            for i, w in zip(self.inputs, witnesses, strict=True)
        )
        return Tx(self.version, ins, self.outputs, self.locktime)

    def without_witness(self) -> Tx:
        return self.with_witnesses([()] * len(self.inputs))


def _compact_at(data: bytes, i: int) -> tuple[int, int]:
    """CompactSize at `i` of 0xFD and above (the slow, checked path): (value, next i)."""
    r = Reader(data, i)
    v = r.compact_size()
    if v > len(data):  # no length or count can exceed the input; keeps offsets small
        raise TxDecodeError(f"CompactSize {v} exceeds the input")
    return v, r.pos


def _read_tx(data: bytes, i: int, allow_witness: bool) -> tuple[Tx, int]:
    """Parse a transaction at `i` without a Reader per field (block and PSBT parsing are
    hot). Slices never raise, so every read that could run short is bounds-checked;
    indexing past the end raises IndexError, turned into TxDecodeError by the caller."""
    n = len(data)
    start = i
    version = _U32.unpack_from(data, i)[0]
    if version >= 0x8000_0000:
        version -= 0x1_0000_0000  # nVersion is a signed int32 in Bitcoin Core
    i += 4
    segwit = False
    if allow_witness and i + 1 < n and data[i] == 0:
        if data[i + 1] != 1:
            raise TxDecodeError("segwit marker without flag 0x01")
        segwit = True
        i += 2
    body = i
    n_in = data[i]
    i += 1
    if n_in >= 0xFD:
        n_in, i = _compact_at(data, i - 1)
    if n_in * 41 > n - i:
        raise TxDecodeError(f"input count {n_in} exceeds the remaining bytes")
    if segwit and n_in == 0:
        raise TxDecodeError("a transaction has at least one input")
    ins = []
    for _ in range(n_in):
        txid = data[i : i + 32]
        vout = _U32.unpack_from(data, i + 32)[0]
        i += 36
        ln = data[i]
        i += 1
        if ln >= 0xFD:
            ln, i = _compact_at(data, i - 1)
        script = data[i : i + ln]
        i += ln
        seq = _U32.unpack_from(data, i)[0]
        i += 4
        ins.append((OutPoint(txid, vout), script, seq))
    n_out = data[i]
    i += 1
    if n_out >= 0xFD:
        n_out, i = _compact_at(data, i - 1)
    if n_out * 9 > n - i:
        raise TxDecodeError(f"output count {n_out} exceeds the remaining bytes")
    outs = []
    for _ in range(n_out):
        amount = _U64.unpack_from(data, i)[0]
        i += 8
        ln = data[i]
        i += 1
        if ln >= 0xFD:
            ln, i = _compact_at(data, i - 1)
        if i + ln > n:
            raise TxDecodeError("truncated output script")
        outs.append(TxOut(amount, data[i : i + ln]))
        i += ln
    body_end = i
    witnesses: list[tuple[bytes, ...]] = [()] * n_in
    if segwit:
        for k in range(n_in):
            items = data[i]
            i += 1
            if items >= 0xFD:
                items, i = _compact_at(data, i - 1)
            if items > n - i:
                raise TxDecodeError("witness item count exceeds the remaining bytes")
            stack = []
            for _ in range(items):
                ln = data[i]
                i += 1
                if ln >= 0xFD:
                    ln, i = _compact_at(data, i - 1)
                if i + ln > n:
                    raise TxDecodeError("truncated witness item")
                stack.append(data[i : i + ln])
                i += ln
            witnesses[k] = tuple(stack)
        if not any(witnesses):
            raise TxDecodeError("superfluous witness record")
    locktime = _U32.unpack_from(data, i)[0]
    end = i + 4
    # an input script that ran short shows up here at the latest
    if end > n:
        raise TxDecodeError("truncated transaction")
    inputs = tuple(TxIn(p, sc, q, w) for (p, sc, q), w in zip(ins, witnesses, strict=True))
    tx = Tx(version, inputs, tuple(outs), locktime)
    if segwit:
        h = hashlib.sha256(data[start : start + 4])
        h.update(data[body:body_end])
        h.update(data[i:end])
        tx._cache["txid"] = hashlib.sha256(h.digest()).digest()
    else:
        tx._cache["txid"] = hashlib.sha256(hashlib.sha256(data[start:end]).digest()).digest()
    return tx, end
