"""PSBT version 0 (BIP 174): the format in which the runtime asks the signer to sign.

`Psbt.parse` / `Psbt.from_base64` apply BIP 174's and Bitcoin Core's parse rules (magic,
no duplicate keys, exact key lengths for typed keys, valid public keys, key paths in
whole 4-byte steps, an unsigned transaction in the legacy serialization with empty
scriptSigs and witnesses, one map per input and output, every value consumed exactly)
and raise `PsbtError` (a `DecodeError`) otherwise. Unknown and proprietary keys are kept
verbatim. `serialize` writes typed fields in key-type order and keyed fields (partial
signatures by key id, derivations and unknowns by key), as Bitcoin Core does.

Roles (BIP 174 "Roles"): creator `Psbt.from_tx`; updater: set the fields; signer side:
`check_input`, `sighash`, `add_partial_sig` (`vajra.bitcoin.psbt_roles`); combiner
`combine`; finalizer and extractor in `vajra.bitcoin.psbt_roles`.
"""

from __future__ import annotations

import base64
import binascii
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field

from vajra.bitcoin.tx import Reader, Tx, TxDecodeError, TxOut, ser_bytes, ser_compact_size
from vajra.crypto.hashes import hash160
from vajra.crypto.secp256k1 import check_pubkey
from vajra.errors import DecodeError

MAGIC = b"psbt\xff"

PSBT_GLOBAL_UNSIGNED_TX = 0x00
PSBT_GLOBAL_XPUB = 0x01
PSBT_GLOBAL_VERSION = 0xFB

PSBT_IN_NON_WITNESS_UTXO = 0x00
PSBT_IN_WITNESS_UTXO = 0x01
PSBT_IN_PARTIAL_SIG = 0x02
PSBT_IN_SIGHASH_TYPE = 0x03
PSBT_IN_REDEEM_SCRIPT = 0x04
PSBT_IN_WITNESS_SCRIPT = 0x05
PSBT_IN_BIP32_DERIVATION = 0x06
PSBT_IN_FINAL_SCRIPTSIG = 0x07
PSBT_IN_FINAL_SCRIPTWITNESS = 0x08

PSBT_OUT_REDEEM_SCRIPT = 0x00
PSBT_OUT_WITNESS_SCRIPT = 0x01
PSBT_OUT_BIP32_DERIVATION = 0x02

_U32 = struct.Struct("<I")


class PsbtError(TxDecodeError):
    """Bytes that are not a valid version 0 PSBT, or a PSBT a role cannot act on."""


@dataclass(frozen=True, slots=True)
class KeyOrigin:
    """BIP 174 key origin: master key fingerprint (4 bytes) and BIP 32 path."""

    fingerprint: bytes
    path: tuple[int, ...]

    def serialize(self) -> bytes:
        return self.fingerprint + b"".join(_U32.pack(i) for i in self.path)

    @classmethod
    def parse(cls, value: bytes) -> KeyOrigin:
        if len(value) < 4 or len(value) % 4:
            raise PsbtError("key origin is a fingerprint and whole 4-byte path steps")
        path = tuple(int(_U32.unpack_from(value, k)[0]) for k in range(4, len(value), 4))
        return cls(value[:4], path)


@dataclass(slots=True)
class PsbtInput:
    non_witness_utxo: Tx | None = None
    witness_utxo: TxOut | None = None
    partial_sigs: dict[bytes, bytes] = field(default_factory=dict)
    """public key -> DER signature with its sighash byte."""
    sighash_type: int | None = None
    redeem_script: bytes | None = None
    witness_script: bytes | None = None
    bip32_derivations: dict[bytes, KeyOrigin] = field(default_factory=dict)
    final_script_sig: bytes | None = None
    final_script_witness: tuple[bytes, ...] | None = None
    unknown: dict[bytes, bytes] = field(default_factory=dict)
    """Every other key (type byte + key data), verbatim: preimages, taproot, proprietary."""


@dataclass(slots=True)
class PsbtOutput:
    redeem_script: bytes | None = None
    witness_script: bytes | None = None
    bip32_derivations: dict[bytes, KeyOrigin] = field(default_factory=dict)
    unknown: dict[bytes, bytes] = field(default_factory=dict)


@dataclass(slots=True)
class Psbt:
    """A version 0 PSBT: the unsigned transaction and one map per input and output."""

    tx: Tx
    inputs: list[PsbtInput]
    outputs: list[PsbtOutput]
    xpubs: dict[bytes, KeyOrigin] = field(default_factory=dict)
    """78-byte serialized extended public key -> its origin."""
    version: int | None = None
    unknown: dict[bytes, bytes] = field(default_factory=dict)

    # -- creator ------------------------------------------------------------------------

    @classmethod
    def from_tx(cls, tx: Tx) -> Psbt:
        """BIP 174 creator: an empty PSBT for `tx` (scriptSigs and witnesses must be
        empty)."""
        if any(i.script_sig or i.witness for i in tx.inputs):
            raise ValueError("the unsigned transaction has scriptSigs or witnesses")
        return cls(tx, [PsbtInput() for _ in tx.inputs], [PsbtOutput() for _ in tx.outputs])

    # -- encoding -----------------------------------------------------------------------

    @classmethod
    def from_base64(cls, s: str) -> Psbt:
        try:
            data = base64.b64decode(s.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise PsbtError("not base64") from None
        return cls.parse(data)

    def to_base64(self) -> str:
        return base64.b64encode(self.serialize()).decode()

    @classmethod
    def parse(cls, data: bytes) -> Psbt:
        """Parse a binary PSBT; `PsbtError` on anything BIP 174 calls invalid."""
        try:
            return _parse(bytes(data))
        except PsbtError:
            raise
        except DecodeError as e:
            raise PsbtError(str(e)) from None

    def serialize(self) -> bytes:
        out = [MAGIC]
        g: list[tuple[bytes, bytes]] = [
            (bytes((PSBT_GLOBAL_UNSIGNED_TX,)), self.tx.serialize(witness=False))
        ]
        g += [
            (bytes((PSBT_GLOBAL_XPUB,)) + k, v.serialize()) for k, v in sorted(self.xpubs.items())
        ]
        if self.version is not None:
            g.append((bytes((PSBT_GLOBAL_VERSION,)), _U32.pack(self.version)))
        out.append(_map(g, self.unknown))
        for i in self.inputs:
            out.append(_map(_input_pairs(i), i.unknown))
        for o in self.outputs:
            out.append(_map(_output_pairs(o), o.unknown))
        return b"".join(out)

    # -- combiner -----------------------------------------------------------------------

    def combine(self, *others: Psbt) -> Psbt:
        """BIP 174 combiner: the union of every map; the unsigned transactions must be
        equal. Where two PSBTs disagree on one key, the first one's value stays."""
        merged = Psbt.parse(self.serialize())
        for other in others:
            if other.tx.serialize() != self.tx.serialize():
                raise PsbtError("cannot combine PSBTs of different transactions")
            _merge_into(merged, other)
        return merged


# -- map encoding ----------------------------------------------------------------------


def _pair(key: bytes, value: bytes) -> bytes:
    return ser_bytes(key) + ser_bytes(value)


def _map(typed: list[tuple[bytes, bytes]], unknown: dict[bytes, bytes]) -> bytes:
    pairs = typed + sorted(unknown.items())
    return b"".join(_pair(k, v) for k, v in pairs) + b"\x00"


def _witness_stack(items: Iterable[bytes]) -> bytes:
    items = tuple(items)
    return ser_compact_size(len(items)) + b"".join(ser_bytes(w) for w in items)


def _input_pairs(i: PsbtInput) -> list[tuple[bytes, bytes]]:
    p: list[tuple[bytes, bytes]] = []
    if i.non_witness_utxo is not None:
        p.append((b"\x00", i.non_witness_utxo.serialize()))
    if i.witness_utxo is not None:
        p.append((b"\x01", i.witness_utxo.serialize()))
    # Bitcoin Core keys partial signatures by key id (HASH160 of the public key), so
    # that is their order on the wire (BIP 174's combiner vector shows it).
    p += [(b"\x02" + k, i.partial_sigs[k]) for k in sorted(i.partial_sigs, key=hash160)]
    if i.sighash_type is not None:
        p.append((b"\x03", _U32.pack(i.sighash_type)))
    if i.redeem_script is not None:
        p.append((b"\x04", i.redeem_script))
    if i.witness_script is not None:
        p.append((b"\x05", i.witness_script))
    p += [(b"\x06" + k, v.serialize()) for k, v in sorted(i.bip32_derivations.items())]
    if i.final_script_sig is not None:
        p.append((b"\x07", i.final_script_sig))
    if i.final_script_witness is not None:
        p.append((b"\x08", _witness_stack(i.final_script_witness)))
    return p


def _output_pairs(o: PsbtOutput) -> list[tuple[bytes, bytes]]:
    p: list[tuple[bytes, bytes]] = []
    if o.redeem_script is not None:
        p.append((b"\x00", o.redeem_script))
    if o.witness_script is not None:
        p.append((b"\x01", o.witness_script))
    p += [(b"\x02" + k, v.serialize()) for k, v in sorted(o.bip32_derivations.items())]
    return p


# -- parsing ----------------------------------------------------------------------------


def _read_map(r: Reader) -> list[tuple[bytes, bytes]]:
    pairs: list[tuple[bytes, bytes]] = []
    seen: set[bytes] = set()
    while True:
        key = r.var_bytes()
        if not key:
            return pairs
        value = r.var_bytes()
        if key in seen:
            raise PsbtError(f"duplicate key {key.hex()}")
        seen.add(key)
        pairs.append((key, value))


def _bare(key: bytes, what: str) -> None:
    if len(key) != 1:
        raise PsbtError(f"{what} key must be the type byte alone")


def _pubkey(key: bytes, what: str) -> bytes:
    pub = key[1:]
    if len(pub) not in (33, 65):
        raise PsbtError(f"{what} key must carry a 33- or 65-byte public key")
    try:
        check_pubkey(pub)
    except DecodeError:
        raise PsbtError(f"{what} key carries an invalid public key") from None
    return pub


def _whole_tx(value: bytes, *, allow_witness: bool) -> Tx:
    r = Reader(value)
    tx = Tx.read(r, allow_witness=allow_witness)
    if r.remaining():
        raise PsbtError("transaction value has trailing bytes")
    return tx


def _parse(data: bytes) -> Psbt:
    if not data.startswith(MAGIC):
        raise PsbtError("no PSBT magic")
    r = Reader(data, len(MAGIC))
    tx: Tx | None = None
    psbt_version: int | None = None
    xpubs: dict[bytes, KeyOrigin] = {}
    unknown: dict[bytes, bytes] = {}
    for key, value in _read_map(r):
        t = key[0]
        if t == PSBT_GLOBAL_UNSIGNED_TX:
            _bare(key, "unsigned tx")
            tx = _whole_tx(value, allow_witness=False)
        elif t == PSBT_GLOBAL_XPUB:
            if len(key) != 79:
                raise PsbtError("global xpub key must carry a 78-byte extended key")
            xpubs[key[1:]] = KeyOrigin.parse(value)
        elif t == PSBT_GLOBAL_VERSION:
            _bare(key, "version")
            if len(value) != 4:
                raise PsbtError("version is 4 bytes")
            psbt_version = int(_U32.unpack(value)[0])
            if psbt_version != 0:
                raise PsbtError(f"unsupported PSBT version {psbt_version}")
        else:
            unknown[key] = value
    if tx is None:
        raise PsbtError("no unsigned transaction")
    if any(i.script_sig or i.witness for i in tx.inputs):
        raise PsbtError("unsigned transaction has a scriptSig or witness")
    inputs = [_parse_input(_read_map(r), tx, n) for n in range(len(tx.inputs))]
    outputs = [_parse_output(_read_map(r)) for _ in tx.outputs]
    if r.remaining():
        raise PsbtError("trailing bytes after the last output map")
    return Psbt(tx, inputs, outputs, xpubs, psbt_version, unknown)


def _parse_input(pairs: list[tuple[bytes, bytes]], tx: Tx, n: int) -> PsbtInput:
    i = PsbtInput()
    for key, value in pairs:
        t = key[0]
        if t == PSBT_IN_NON_WITNESS_UTXO:
            _bare(key, "non-witness utxo")
            i.non_witness_utxo = _whole_tx(value, allow_witness=True)
            prevout = tx.inputs[n].prevout
            if i.non_witness_utxo.txid != prevout.txid:
                raise PsbtError(f"input {n}: non-witness utxo does not match the outpoint")
            if prevout.vout >= len(i.non_witness_utxo.outputs):
                raise PsbtError(f"input {n}: non-witness utxo has no output {prevout.vout}")
        elif t == PSBT_IN_WITNESS_UTXO:
            _bare(key, "witness utxo")
            r = Reader(value)
            i.witness_utxo = TxOut(r.u64(), r.var_bytes())
            if r.remaining():
                raise PsbtError("witness utxo has trailing bytes")
        elif t == PSBT_IN_PARTIAL_SIG:
            i.partial_sigs[_pubkey(key, "partial signature")] = value
        elif t == PSBT_IN_SIGHASH_TYPE:
            _bare(key, "sighash type")
            if len(value) != 4:
                raise PsbtError("sighash type is 4 bytes")
            i.sighash_type = int(_U32.unpack(value)[0])
        elif t == PSBT_IN_REDEEM_SCRIPT:
            _bare(key, "input redeemScript")
            i.redeem_script = value
        elif t == PSBT_IN_WITNESS_SCRIPT:
            _bare(key, "input witnessScript")
            i.witness_script = value
        elif t == PSBT_IN_BIP32_DERIVATION:
            i.bip32_derivations[_pubkey(key, "input BIP 32 derivation")] = KeyOrigin.parse(value)
        elif t == PSBT_IN_FINAL_SCRIPTSIG:
            _bare(key, "final scriptSig")
            i.final_script_sig = value
        elif t == PSBT_IN_FINAL_SCRIPTWITNESS:
            _bare(key, "final scriptWitness")
            r = Reader(value)
            i.final_script_witness = tuple(r.var_bytes() for _ in range(r.count(1)))
            if r.remaining():
                raise PsbtError("final scriptWitness has trailing bytes")
        else:
            i.unknown[key] = value
    return i


def _parse_output(pairs: list[tuple[bytes, bytes]]) -> PsbtOutput:
    o = PsbtOutput()
    for key, value in pairs:
        t = key[0]
        if t == PSBT_OUT_REDEEM_SCRIPT:
            _bare(key, "output redeemScript")
            o.redeem_script = value
        elif t == PSBT_OUT_WITNESS_SCRIPT:
            _bare(key, "output witnessScript")
            o.witness_script = value
        elif t == PSBT_OUT_BIP32_DERIVATION:
            o.bip32_derivations[_pubkey(key, "output BIP 32 derivation")] = KeyOrigin.parse(value)
        else:
            o.unknown[key] = value
    return o


def _merge_into(merged: Psbt, other: Psbt) -> None:
    for k, origin in other.xpubs.items():
        merged.xpubs.setdefault(k, origin)
    for k, value in other.unknown.items():
        merged.unknown.setdefault(k, value)
    if merged.version is None:
        merged.version = other.version
    for a, b in zip(merged.inputs, other.inputs, strict=True):
        a.non_witness_utxo = a.non_witness_utxo or b.non_witness_utxo
        a.witness_utxo = a.witness_utxo or b.witness_utxo
        a.sighash_type = a.sighash_type if a.sighash_type is not None else b.sighash_type
        a.redeem_script = a.redeem_script if a.redeem_script is not None else b.redeem_script
        a.witness_script = a.witness_script if a.witness_script is not None else b.witness_script
        if a.final_script_sig is None:
            a.final_script_sig = b.final_script_sig
        if a.final_script_witness is None:
            a.final_script_witness = b.final_script_witness
        for k, sig in b.partial_sigs.items():
            a.partial_sigs.setdefault(k, sig)
        for k, origin in b.bip32_derivations.items():
            a.bip32_derivations.setdefault(k, origin)
        for k, u in b.unknown.items():
            a.unknown.setdefault(k, u)
    for oa, ob in zip(merged.outputs, other.outputs, strict=True):
        oa.redeem_script = oa.redeem_script if oa.redeem_script is not None else ob.redeem_script
        if oa.witness_script is None:
            oa.witness_script = ob.witness_script
        for k, d in ob.bip32_derivations.items():
            oa.bip32_derivations.setdefault(k, d)
        for k, u in ob.unknown.items():
            oa.unknown.setdefault(k, u)
