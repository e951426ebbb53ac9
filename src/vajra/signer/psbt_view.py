"""The seam between the signer's on-chain checks and the PSBT codec (BIP 174).

`vajra.signer.onchain` reads a `SpendView` (unsigned transaction, spent outputs, key
origins) and produces `InputSignature`s; `PsbtCodec` turns PSBT bytes into that view
(with `vajra.bitcoin.psbt`) and puts the signatures back as PSBT_IN_PARTIAL_SIG
entries. The checks never see PSBT bytes.

What the codec refuses (`DecodeError` -> `onchain-bad-psbt`): bytes that are not a
valid PSBT (BIP 174 parse rules), an input asking for a sighash type other than ALL, and
a non-witness UTXO that is not the transaction the input spends or disagrees with the
witness UTXO.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from vajra.bitcoin.psbt import Psbt
from vajra.bitcoin.sighash import SIGHASH_ALL
from vajra.bitcoin.tx import TxOut
from vajra.errors import DecodeError
from vajra.signer.onchain import InputSignature, KeyOrigin, SpendView


@dataclass(frozen=True, slots=True)
class ParsedPsbt:
    view: SpendView
    psbt: Psbt


class PsbtCodec:
    def parse(self, data: bytes) -> ParsedPsbt:
        """The view of a PSBT; `DecodeError` if it is not one the signer may sign."""
        p = Psbt.parse(data)  # PsbtError is a DecodeError
        spent: list[TxOut | None] = []
        for n, i in enumerate(p.inputs):
            if i.sighash_type not in (None, SIGHASH_ALL):
                raise DecodeError(f"input {n} asks for sighash type {i.sighash_type}")
            prevout = p.tx.inputs[n].prevout
            if i.non_witness_utxo is not None:
                utxo = i.non_witness_utxo
                if utxo.txid != prevout.txid or prevout.vout >= len(utxo.outputs):
                    raise DecodeError(f"input {n}: non-witness UTXO is another transaction")
                if i.witness_utxo is not None and utxo.outputs[prevout.vout] != i.witness_utxo:
                    raise DecodeError(f"input {n}: witness and non-witness UTXOs disagree")
            spent.append(i.witness_utxo)
        view = SpendView(
            p.tx,
            spent,
            [[KeyOrigin(k, o.fingerprint, o.path) for k, o in i.bip32_derivations.items()]
             for i in p.inputs],
            [[KeyOrigin(k, o.fingerprint, o.path) for k, o in x.bip32_derivations.items()]
             for x in p.outputs],
        )  # fmt: skip
        return ParsedPsbt(view, p)

    def with_signatures(self, parsed: ParsedPsbt, sigs: Sequence[InputSignature]) -> bytes:
        """The PSBT with `sigs` added as partial signatures, serialised."""
        p = Psbt.parse(parsed.psbt.serialize())
        for s in sigs:
            p.inputs[s.index].partial_sigs[s.pubkey] = s.signature
        return p.serialize()


def psbt_codec() -> PsbtCodec:
    return PsbtCodec()
