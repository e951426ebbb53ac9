"""PSBT roles after the creator (BIP 174 "Roles"): what a signer checks and signs, the
input finalizer and the transaction extractor.

`signing_data` is BIP 174 "Data Signers Check For": the spent output comes from the
witness UTXO or the non-witness UTXO (which must agree), a redeemScript must hash to the
P2SH scriptPubKey, a witnessScript to the P2WSH program, and a witness UTXO is refused
for a non-witness input (its amount is not committed to). Violations raise `PsbtError`.

Finalizing covers the templates Vajra spends and the BIP's own vectors: P2WPKH (native
and P2SH-wrapped) and m-of-n `CHECKMULTISIG` behind P2SH, P2WSH or P2SH-P2WSH.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from vajra.bitcoin.psbt import Psbt, PsbtError
from vajra.bitcoin.script import (
    p2sh,
    p2wpkh,
    p2wpkh_script_code,
    push_data,
    witness_program,
)
from vajra.bitcoin.sighash import SIGHASH_ALL, SighashError, bip143_sighash, legacy_sighash
from vajra.bitcoin.tx import Tx, TxIn, TxOut
from vajra.crypto.hashes import hash160, sha256
from vajra.crypto.secp256k1 import PrivateKey

OP_CHECKMULTISIG = 0xAE


@dataclass(frozen=True, slots=True)
class SigningData:
    """What a signature on input n commits to."""

    segwit: bool
    """BIP 143 (segwit v0) or the legacy sighash."""
    script_code: bytes
    amount_sat: int
    spent: TxOut


def spent_output(psbt: Psbt, n: int) -> TxOut:
    """The output input `n` spends, from its UTXO fields."""
    i = psbt.inputs[n]
    vout = psbt.tx.inputs[n].prevout.vout
    from_tx = i.non_witness_utxo.outputs[vout] if i.non_witness_utxo is not None else None
    if i.witness_utxo is not None:
        if from_tx is not None and from_tx != i.witness_utxo:
            raise PsbtError(f"input {n}: witness and non-witness UTXOs disagree")
        return i.witness_utxo
    if from_tx is None:
        raise PsbtError(f"input {n}: no UTXO")
    return from_tx


def fee_sat(psbt: Psbt) -> int:
    """Inputs' spent amounts minus outputs' amounts; `PsbtError` if an input has no UTXO
    or the outputs exceed the inputs. Only as trustworthy as the UTXOs: see
    `signing_data(require_previous_tx=True)`."""
    spent = sum(spent_output(psbt, n).amount_sat for n in range(len(psbt.inputs)))
    fee = spent - sum(o.amount_sat for o in psbt.tx.outputs)
    if fee < 0:
        raise PsbtError("outputs exceed inputs")
    return fee


def signing_data(psbt: Psbt, n: int, *, require_previous_tx: bool = False) -> SigningData:
    """BIP 174 signer checks for input `n`; the scriptCode and amount to sign.

    With `require_previous_tx`, every input must carry its previous transaction (the
    non-witness UTXO, whose txid the parser checked against the outpoint): a BIP 143
    signature commits only to its own input's amount, so a signer that does not trust
    the PSBT's creator cannot otherwise know the fee it signs (two signing rounds, each
    lying about a different input's amount, combine into one overpaying transaction).
    """
    if not 0 <= n < len(psbt.inputs):
        raise PsbtError(f"no input {n}")
    i = psbt.inputs[n]
    if require_previous_tx and i.non_witness_utxo is None:
        raise PsbtError(f"input {n}: no previous transaction (non-witness UTXO)")
    spent = spent_output(psbt, n)
    script = spent.script_pubkey
    if i.redeem_script is not None:
        if script != p2sh(i.redeem_script):
            raise PsbtError(f"input {n}: redeemScript does not match the scriptPubKey")
        script = i.redeem_script
    wp = witness_program(script)
    if wp is None:
        # "If a witness UTXO is provided, no non-witness signature may be created"
        if i.witness_utxo is not None:
            raise PsbtError(f"input {n}: witness UTXO for a non-witness input")
        return SigningData(False, script, spent.amount_sat, spent)
    version, program = wp
    if version != 0:
        raise PsbtError(f"input {n}: witness version {version} is not signed here")
    if len(program) == 20:
        return SigningData(True, p2wpkh_script_code(program), spent.amount_sat, spent)
    if i.witness_script is None or sha256(i.witness_script) != program:
        raise PsbtError(f"input {n}: witnessScript does not match the witness program")
    return SigningData(True, i.witness_script, spent.amount_sat, spent)


def sighash(
    psbt: Psbt, n: int, hash_type: int | None = None, *, require_previous_tx: bool = False
) -> bytes:
    """The digest a signature on input `n` signs. The input's PSBT_IN_SIGHASH_TYPE, when
    present, is the only type allowed ("the Signer must use that sighash type")."""
    want = psbt.inputs[n].sighash_type
    if hash_type is None:
        hash_type = SIGHASH_ALL if want is None else want
    elif want is not None and hash_type != want:
        raise PsbtError(f"input {n}: sighash type {hash_type:#x}, PSBT asks {want:#x}")
    d = signing_data(psbt, n, require_previous_tx=require_previous_tx)
    try:
        if d.segwit:
            return bip143_sighash(psbt.tx, n, d.script_code, d.amount_sat, hash_type)
        return legacy_sighash(psbt.tx, n, d.script_code, hash_type)
    except SighashError as e:  # a PSBT asking for an undefined hash type is bad input
        raise PsbtError(f"input {n}: {e}") from None


def sign_input(
    psbt: Psbt,
    n: int,
    key: PrivateKey,
    hash_type: int | None = None,
    *,
    require_previous_tx: bool = False,
) -> bytes:
    """Sign input `n` with `key` (RFC 6979 ECDSA) and record the partial signature;
    returns it (DER + sighash byte). Whether to sign at all is the caller's policy."""
    ht = hash_type if hash_type is not None else (psbt.inputs[n].sighash_type or SIGHASH_ALL)
    digest = sighash(psbt, n, ht, require_previous_tx=require_previous_tx)
    sig = key.sign_digest_der(digest) + bytes((ht & 0xFF,))
    psbt.inputs[n].partial_sigs[key.pubkey] = sig
    return sig


# -- finalizer -------------------------------------------------------------------------


def _multisig(script: bytes) -> tuple[int, list[bytes]] | None:
    """(m, pubkeys) of `OP_m <pubkey>... OP_n OP_CHECKMULTISIG`, else None."""
    if len(script) < 3 or script[-1] != OP_CHECKMULTISIG:
        return None
    m, n = script[0] - 0x50, script[-2] - 0x50
    if not 1 <= m <= n <= 16:
        return None
    keys, pos = [], 1
    while pos < len(script) - 2:
        size = script[pos]
        if size not in (33, 65):
            return None
        keys.append(script[pos + 1 : pos + 1 + size])
        pos += 1 + size
    return (m, keys) if pos == len(script) - 2 and len(keys) == n else None


def finalize_input(psbt: Psbt, n: int) -> None:
    """BIP 174 input finalizer for input `n`: builds the final scriptSig / witness from
    the partial signatures and clears everything but the UTXOs and unknown keys.
    `PsbtError` if the template is not one we finalize or signatures are missing."""
    i = psbt.inputs[n]
    if i.final_script_sig is not None or i.final_script_witness is not None:
        return
    d = signing_data(psbt, n)
    script = i.redeem_script if i.redeem_script is not None else d.spent.script_pubkey
    wrap = push_data(i.redeem_script) if i.redeem_script is not None else b""
    wp = witness_program(script)
    final_wit: tuple[bytes, ...]
    if wp is not None and len(wp[1]) == 20:
        pub = next((p for p in i.partial_sigs if hash160(p) == wp[1]), None)
        if pub is None:
            raise PsbtError(f"input {n}: no signature for the P2WPKH key")
        final_sig, final_wit = wrap, (i.partial_sigs[pub], pub)
    else:
        inner = i.witness_script if wp is not None else script
        ms = _multisig(inner or b"")
        if ms is None:
            raise PsbtError(f"input {n}: no finalizer for this script")
        m, keys = ms
        sigs = [i.partial_sigs[k] for k in keys if k in i.partial_sigs][:m]
        if len(sigs) < m:
            raise PsbtError(f"input {n}: {len(sigs)} of {m} signatures")
        if wp is not None:
            assert inner is not None
            # CHECKMULTISIG pops one extra element: an empty push (BIP 147 NULLDUMMY)
            final_sig, final_wit = wrap, (b"", *sigs, inner)
        else:
            pushes = b"".join(push_data(s) for s in sigs)
            final_sig, final_wit = b"\x00" + pushes + wrap, ()
    psbt.inputs[n] = type(i)(
        non_witness_utxo=i.non_witness_utxo,
        witness_utxo=i.witness_utxo,
        final_script_sig=final_sig or None,
        final_script_witness=final_wit or None,
        unknown=i.unknown,
    )


def finalize(psbt: Psbt) -> None:
    """Finalize every input (see `finalize_input`)."""
    for n in range(len(psbt.inputs)):
        finalize_input(psbt, n)


def extract(psbt: Psbt) -> Tx:
    """BIP 174 transaction extractor: the network transaction of a finalized PSBT."""
    ins = []
    for n, (txin, i) in enumerate(zip(psbt.tx.inputs, psbt.inputs, strict=True)):
        if i.final_script_sig is None and i.final_script_witness is None:
            raise PsbtError(f"input {n} is not finalized")
        ins.append(
            TxIn(
                txin.prevout, i.final_script_sig or b"", txin.sequence, i.final_script_witness or ()
            )
        )
    return Tx(psbt.tx.version, tuple(ins), psbt.tx.outputs, psbt.tx.locktime)


def change_outputs(
    psbt: Psbt, fingerprint: bytes, derive_pubkey: Callable[[tuple[int, ...]], bytes]
) -> list[int]:
    """BIP 174 "Change Detection" for single-key outputs: the indices of outputs that
    pay P2WPKH to a key carrying our master `fingerprint` whose path, derived by the
    signer itself (`derive_pubkey`), really gives that key. A derivation the PSBT merely
    claims proves nothing; the re-derivation is what makes an output ours."""
    ours = []
    for k, (txout, out) in enumerate(zip(psbt.tx.outputs, psbt.outputs, strict=True)):
        for pubkey, origin in out.bip32_derivations.items():
            if origin.fingerprint != fingerprint or txout.script_pubkey != p2wpkh(pubkey):
                continue
            if derive_pubkey(origin.path) == pubkey:
                ours.append(k)
                break
    return ours
