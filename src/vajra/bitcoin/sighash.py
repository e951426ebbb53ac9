"""Signature hashes: BIP 143 (segwit v0) with every hash type, BIP 341 key path (taproot).

`SegwitV0Sighasher(tx)` computes hashPrevouts, hashSequence and hashOutputs once per
transaction, so signing many inputs (BOLT 3 HTLC transactions, a wallet spend) hashes the
transaction once. `TaprootSighasher(tx, spent_outputs)` does the same for BIP 341's
sha_prevouts, sha_amounts, sha_scriptpubkeys, sha_sequences and sha_outputs.

Hash types: ALL, NONE, SINGLE, each optionally with ANYONECANPAY (BOLT 3 anchors sign
HTLC transactions SINGLE|ANYONECANPAY), and for taproot DEFAULT (0x00). An input index
out of range, an undefined hash type, or BIP 341 SINGLE without a matching output raise
`SighashError` (a `ValueError`: these are caller mistakes, not peer input).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from typing import Final

from vajra.bitcoin.tx import Tx, TxOut, ser_bytes
from vajra.crypto.hashes import double_sha256, sha256
from vajra.crypto.secp256k1 import xonly_tweak_add

SIGHASH_DEFAULT: Final = 0x00
SIGHASH_ALL: Final = 0x01
SIGHASH_NONE: Final = 0x02
SIGHASH_SINGLE: Final = 0x03
SIGHASH_ANYONECANPAY: Final = 0x80

_U32 = struct.Struct("<I").pack
_U64 = struct.Struct("<Q").pack
_ZERO32 = bytes(32)


class SighashError(ValueError):
    """A sighash was requested that is not defined (bad index or hash type)."""


def tagged_hash(tag: str, msg: bytes) -> bytes:
    """BIP 340: SHA256(SHA256(tag) || SHA256(tag) || msg)."""
    t = sha256(tag.encode())
    return hashlib.sha256(t + t + msg).digest()


class SegwitV0Sighasher:
    """BIP 143 signature hashes of one transaction."""

    __slots__ = ("_outputs", "_prevouts", "_sequence", "tx")

    def __init__(self, tx: Tx) -> None:
        self.tx = tx
        self._prevouts: bytes | None = None
        self._sequence: bytes | None = None
        self._outputs: bytes | None = None

    def sighash(
        self, input_index: int, script_code: bytes, amount_sat: int, hash_type: int
    ) -> bytes:
        """double-SHA256 of the BIP 143 preimage of input `input_index`.

        `script_code` is the scriptCode without its length prefix: for P2WPKH the
        `OP_DUP OP_HASH160 <20> OP_EQUALVERIFY OP_CHECKSIG` template
        (`script.p2wpkh_script_code`), for P2WSH the witness script.
        """
        tx = self.tx
        if not 0 <= input_index < len(tx.inputs):
            raise SighashError(f"input {input_index} out of range")
        base = hash_type & 0x1F
        if hash_type & ~(0x1F | SIGHASH_ANYONECANPAY) or base not in (1, 2, 3):
            raise SighashError(f"undefined hash type {hash_type:#x}")
        anyone = bool(hash_type & SIGHASH_ANYONECANPAY)
        # "If the ANYONECANPAY flag is not set, hashPrevouts is the double SHA256 of the
        # serialization of all input outpoints; otherwise, hashPrevouts is a uint256 of 0."
        if anyone:
            hash_prevouts = _ZERO32
        else:
            if self._prevouts is None:
                self._prevouts = double_sha256(b"".join(i.prevout.serialize() for i in tx.inputs))
            hash_prevouts = self._prevouts
        # "If none of the ANYONECANPAY, SINGLE, NONE sighash type is set, hashSequence is
        # the double SHA256 of the serialization of nSequence of all inputs"
        if anyone or base != SIGHASH_ALL:
            hash_sequence = _ZERO32
        else:
            if self._sequence is None:
                self._sequence = double_sha256(b"".join(_U32(i.sequence) for i in tx.inputs))
            hash_sequence = self._sequence
        # "If the sighash type is neither SINGLE nor NONE, hashOutputs is the double SHA256
        # of the serialization of all output amount with scriptPubKey; if sighash type is
        # SINGLE and the input index is smaller than the number of outputs, hashOutputs is
        # the double SHA256 of the output amount with scriptPubKey of the same index as
        # the input; otherwise hashOutputs is a uint256 of 0x0000......0000."
        if base == SIGHASH_ALL:
            if self._outputs is None:
                self._outputs = double_sha256(b"".join(o.serialize() for o in tx.outputs))
            hash_outputs = self._outputs
        elif base == SIGHASH_SINGLE and input_index < len(tx.outputs):
            hash_outputs = double_sha256(tx.outputs[input_index].serialize())
        else:
            hash_outputs = _ZERO32
        txin = tx.inputs[input_index]
        preimage = b"".join(
            (
                _U32(tx.version & 0xFFFF_FFFF),
                hash_prevouts,
                hash_sequence,
                txin.prevout.serialize(),
                ser_bytes(script_code),
                _U64(amount_sat),
                _U32(txin.sequence),
                hash_outputs,
                _U32(tx.locktime),
                _U32(hash_type),
            )
        )
        return double_sha256(preimage)


def bip143_sighash(
    tx: Tx, input_index: int, script_code: bytes, amount_sat: int, hash_type: int
) -> bytes:
    """One BIP 143 sighash (see `SegwitV0Sighasher.sighash`)."""
    return SegwitV0Sighasher(tx).sighash(input_index, script_code, amount_sat, hash_type)


_TAPROOT_HASH_TYPES = frozenset((0x00, 0x01, 0x02, 0x03, 0x81, 0x82, 0x83))


class TaprootSighasher:
    """BIP 341 signature hashes (key path, `ext_flag` 0) of one transaction.

    `spent_outputs[i]` is the output input i spends: BIP 341 commits to every spent
    amount and scriptPubKey, so the signer can check them without the previous
    transactions.
    """

    __slots__ = ("_shared", "spent_outputs", "tx")

    def __init__(self, tx: Tx, spent_outputs: Sequence[TxOut]) -> None:
        if len(spent_outputs) != len(tx.inputs):
            raise SighashError("one spent output per input")
        self.tx = tx
        self.spent_outputs = tuple(spent_outputs)
        self._shared: tuple[bytes, bytes, bytes, bytes, bytes] | None = None

    def _hashes(self) -> tuple[bytes, bytes, bytes, bytes, bytes]:
        if self._shared is None:
            tx, spent = self.tx, self.spent_outputs
            self._shared = (
                sha256(b"".join(i.prevout.serialize() for i in tx.inputs)),
                sha256(b"".join(_U64(o.amount_sat) for o in spent)),
                sha256(b"".join(ser_bytes(o.script_pubkey) for o in spent)),
                sha256(b"".join(_U32(i.sequence) for i in tx.inputs)),
                sha256(b"".join(o.serialize() for o in tx.outputs)),
            )
        return self._shared

    def sig_msg(self, input_index: int, hash_type: int, annex: bytes | None = None) -> bytes:
        """BIP 341 SigMsg(hash_type, ext_flag=0) (without the epoch byte)."""
        tx = self.tx
        if hash_type not in _TAPROOT_HASH_TYPES:
            raise SighashError(f"undefined taproot hash type {hash_type:#x}")
        if not 0 <= input_index < len(tx.inputs):
            raise SighashError(f"input {input_index} out of range")
        base = hash_type & 0x03
        anyone = bool(hash_type & SIGHASH_ANYONECANPAY)
        parts = [bytes((hash_type,)), _U32(tx.version & 0xFFFF_FFFF), _U32(tx.locktime)]
        sha_prevouts, sha_amounts, sha_scripts, sha_sequences, sha_outputs = self._hashes()
        if not anyone:
            parts += (sha_prevouts, sha_amounts, sha_scripts, sha_sequences)
        if base not in (SIGHASH_NONE, SIGHASH_SINGLE):
            parts.append(sha_outputs)
        # spend_type = (ext_flag * 2) + annex_present; key path: ext_flag = 0
        parts.append(bytes((1 if annex is not None else 0,)))
        if anyone:
            txin, spent = tx.inputs[input_index], self.spent_outputs[input_index]
            parts += (
                txin.prevout.serialize(),
                _U64(spent.amount_sat),
                ser_bytes(spent.script_pubkey),
                _U32(txin.sequence),
            )
        else:
            parts.append(_U32(input_index))
        if annex is not None:
            parts.append(sha256(ser_bytes(annex)))
        if base == SIGHASH_SINGLE:
            # "Using SIGHASH_SINGLE without a "corresponding output" (an output with the
            # same index as the input being verified) cannot be signed"
            if input_index >= len(tx.outputs):
                raise SighashError("SIGHASH_SINGLE without a corresponding output")
            parts.append(sha256(tx.outputs[input_index].serialize()))
        return b"".join(parts)

    def sighash(self, input_index: int, hash_type: int, annex: bytes | None = None) -> bytes:
        """hash_TapSighash(0x00 || SigMsg(hash_type, 0)), the message BIP 340 signs."""
        return tagged_hash("TapSighash", b"\x00" + self.sig_msg(input_index, hash_type, annex))


def taproot_tweak(internal_key: bytes, merkle_root: bytes | None = None) -> bytes:
    """BIP 341 t = hash_TapTweak(p || merkle_root) (32 bytes) for an x-only internal key;
    a key-path-only output (BIP 86) has no merkle root."""
    if len(internal_key) != 32:
        raise ValueError("internal key is x-only (32 bytes)")
    return tagged_hash("TapTweak", internal_key + (merkle_root or b""))


def taproot_output_key(internal_key: bytes, merkle_root: bytes | None = None) -> bytes:
    """BIP 341 output key Q = P + hash_TapTweak(p || merkle_root)G, x-only (32 bytes); the
    P2TR script is `script.p2tr(Q)`."""
    return xonly_tweak_add(internal_key, taproot_tweak(internal_key, merkle_root))[0]


def legacy_sighash(tx: Tx, input_index: int, script_code: bytes, hash_type: int) -> bytes:
    """The pre-segwit signature hash (Bitcoin Core `SignatureHash`, SIGVERSION_BASE) for
    non-witness inputs found in PSBTs. `script_code` is used as given (no FindAndDelete or
    OP_CODESEPARATOR handling: the templates we sign contain neither). SINGLE with no
    matching output returns the historical value 1, as consensus does."""
    from vajra.bitcoin.tx import TxIn

    if not 0 <= input_index < len(tx.inputs):
        raise SighashError(f"input {input_index} out of range")
    base = hash_type & 0x1F
    anyone = bool(hash_type & SIGHASH_ANYONECANPAY)
    if base == SIGHASH_SINGLE and input_index >= len(tx.outputs):
        return (1).to_bytes(32, "little")
    ins = []
    for j, i in enumerate(tx.inputs):
        if anyone and j != input_index:
            continue
        seq = i.sequence
        if j != input_index and base in (SIGHASH_NONE, SIGHASH_SINGLE):
            seq = 0
        ins.append(TxIn(i.prevout, script_code if j == input_index else b"", seq))
    if base == SIGHASH_NONE:
        outs: tuple[TxOut, ...] = ()
    elif base == SIGHASH_SINGLE:
        blank = TxOut(0xFFFF_FFFF_FFFF_FFFF, b"")  # CTxOut() serializes value -1
        outs = (*[blank] * input_index, tx.outputs[input_index])
    else:
        outs = tx.outputs
    copy = Tx(tx.version, tuple(ins), outs, tx.locktime)
    return double_sha256(copy.serialize(witness=False) + _U32(hash_type & 0xFFFF_FFFF))
