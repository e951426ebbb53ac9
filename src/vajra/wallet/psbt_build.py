"""The wallet's PSBTs (BIP 174): the unsigned spend the signer is asked to sign, and the
finished transaction from what it returns.

Updater: every input gets PSBT_IN_WITNESS_UTXO (the spent output: amount and script,
which BIP 143 commits to) and PSBT_IN_BIP32_DERIVATION (its key and the key's origin in
the node's BIP 84 account); the change output gets PSBT_OUT_BIP32_DERIVATION, which is
how the signer proves the change is the node's own (`onchain-no-unknown-outputs`).
Finalizer and extractor: `vajra.bitcoin.psbt_roles`.
"""

from __future__ import annotations

from vajra.bitcoin.psbt import KeyOrigin, Psbt
from vajra.bitcoin.psbt_roles import extract, finalize_input
from vajra.bitcoin.tx import TxOut
from vajra.errors import DecodeError
from vajra.wallet.account import CHANGE, Account
from vajra.wallet.select import Spend


def unsigned_psbt(
    spend: Spend, acct: Account, fingerprint: bytes, coin: int, change_index: int
) -> bytes:
    """The serialized PSBT of `spend` (change, if any, at m/.../1/`change_index`)."""
    p = Psbt.from_tx(spend.tx)
    for i, c in enumerate(spend.coins):
        p.inputs[i].witness_utxo = TxOut(c.value_sat, c.script_pubkey)
        pub = acct.pubkey(c.change, c.index)
        p.inputs[i].bip32_derivations[pub] = KeyOrigin(
            fingerprint, acct.path(c.change, c.index, coin)
        )
    if spend.change_output is not None:
        pub = acct.pubkey(CHANGE, change_index)
        p.outputs[spend.change_output].bip32_derivations[pub] = KeyOrigin(
            fingerprint, acct.path(CHANGE, change_index, coin)
        )
    return p.serialize()


def finalize(signed: bytes, spend: Spend) -> bytes:
    """The network serialization of the signed spend; DecodeError if the signer's PSBT
    is not the same transaction or lacks a signature."""
    p = Psbt.parse(signed)
    if p.tx.serialize(witness=False) != spend.tx.serialize(witness=False):
        raise DecodeError("the signed PSBT is another transaction")
    for n in range(len(p.inputs)):
        if not p.inputs[n].partial_sigs:
            raise DecodeError(f"input {n} is not signed")
        finalize_input(p, n)
    return extract(p).serialize()
