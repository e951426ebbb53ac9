"""On-chain spends on the signer: does a transaction match the device's consent, and
its signatures (decision 0011). Sans-IO.

The runtime builds the spend as a PSBT (BIP 174) and sends it with the device's
on-chain authorisation (`vajra.signer.onchain_messages`). The signer signs only if
every check below holds (the first failure is the refusal's reason), inside the same
audited decision that uses up the device's consent (`Policy.decide_consent`):

    input without witness_utxo or key origin, origin outside this node's BIP 84
    account, or a derived key that does not pay the spent script
                                            -> onchain-foreign-input
    no output pays the authorised script    -> onchain-destination-missing
    the authorised script is paid more than once, or not exactly amount_sat
                                            -> onchain-amount-mismatch
    any other output not provably the node's own wallet (key origin in its account,
    derived key pays exactly that script)   -> onchain-no-unknown-outputs
    outputs worth more than the inputs      -> onchain-bad-psbt
    fee (inputs - outputs) above max_fee_sat -> onchain-fee-over-max
    an output funding one of the node's channels whose holder commitment 0 is not yet
    validated, or not exactly at its outpoint and capacity (`vajra.signer.
    channel_requests.check_funding`, decision 0017)
                                            -> onchain-funding-before-commitment,
                                               onchain-funding-mismatch

These refusals do not use up the consent (the runtime built the transaction, and must not
be able to burn the user's authorisation with a bad one). Only P2WPKH inputs of the
node's own account are signed, with SIGHASH_ALL (BIP 143), which commits to every input
and output, so nothing can be added or changed after signing.

Amounts are trusted from each input's `witness_utxo`. BIP 143 commits to the amount
being signed, so a lie makes that input's signature invalid; the known residual attack
(two signing sessions with different lies about two inputs) needs two consents here,
each of which is checked against its own maximum fee.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from vajra.bitcoin.script import p2wpkh, p2wpkh_script_code
from vajra.bitcoin.sighash import SIGHASH_ALL, SegwitV0Sighasher
from vajra.bitcoin.tx import Tx, TxOut
from vajra.crypto.bip32 import HARDENED
from vajra.crypto.hashes import hash160, sha256
from vajra.errors import PolicyViolation
from vajra.signer.keys import NodeKeys
from vajra.signer.onchain_messages import OnchainAuthorisation

FOREIGN_INPUT = "onchain-foreign-input"
DESTINATION_MISSING = "onchain-destination-missing"
AMOUNT_MISMATCH = "onchain-amount-mismatch"
NO_UNKNOWN_OUTPUTS = "onchain-no-unknown-outputs"
BAD_PSBT = "onchain-bad-psbt"
FEE_OVER_MAX = "onchain-fee-over-max"
REASONS = (FOREIGN_INPUT, DESTINATION_MISSING, AMOUNT_MISMATCH, NO_UNKNOWN_OUTPUTS, BAD_PSBT,
           FEE_OVER_MAX)  # fmt: skip


@dataclass(frozen=True, slots=True)
class KeyOrigin:
    """BIP 174 PSBT_IN/OUT_BIP32_DERIVATION: a public key, its master fingerprint, path."""

    pubkey: bytes
    fingerprint: bytes
    path: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class SpendView:
    """What the checks read from a PSBT: the unsigned transaction, each input's spent
    output and key origins, each output's key origins."""

    tx: Tx
    spent: Sequence[TxOut | None]
    input_origins: Sequence[Sequence[KeyOrigin]]
    output_origins: Sequence[Sequence[KeyOrigin]]


@dataclass(frozen=True, slots=True)
class InputSignature:
    """A signature for input `index` (DER + sighash byte) by `pubkey`: PSBT_IN_PARTIAL_SIG."""

    index: int
    pubkey: bytes
    signature: bytes


def _own_key(keys: NodeKeys, origins: Sequence[KeyOrigin], script: bytes) -> tuple[int, int] | None:
    """(change, index) if one origin is in the node's BIP 84 account and the key it
    derives pays `script` (P2WPKH); None otherwise. The key is derived here, never taken
    from the PSBT."""
    account = keys.account_path()
    for o in origins:
        if o.fingerprint != keys.master_fingerprint or len(o.path) != 5:
            continue
        if tuple(o.path[:3]) != account:
            continue
        change, index = o.path[3], o.path[4]
        if change not in (0, 1) or index >= HARDENED:
            continue
        pub = keys.onchain(change, index).pubkey
        if pub == o.pubkey and p2wpkh(pub) == script:
            return change, index
    return None


def check_spend(
    view: SpendView, auth: OnchainAuthorisation, keys: NodeKeys
) -> list[tuple[int, int]]:
    """The (change, index) key of each input if `view` is exactly what `auth` consents
    to, spending only the node's own coins; PolicyViolation with the reason otherwise."""
    tx = view.tx
    n_in, n_out = len(tx.inputs), len(tx.outputs)
    if not (len(view.spent) == len(view.input_origins) == n_in and n_in > 0):
        raise PolicyViolation(BAD_PSBT, "inputs and their PSBT maps do not match")
    if len(view.output_origins) != n_out or n_out == 0:
        raise PolicyViolation(BAD_PSBT, "outputs and their PSBT maps do not match")
    paths: list[tuple[int, int]] = []
    total_in = 0
    for i, (spent, origins) in enumerate(zip(view.spent, view.input_origins, strict=True)):
        if spent is None:
            raise PolicyViolation(FOREIGN_INPUT, f"input {i} has no witness_utxo")
        own = _own_key(keys, origins, spent.script_pubkey)
        if own is None:
            raise PolicyViolation(FOREIGN_INPUT, f"input {i} is not this node's coin")
        paths.append(own)
        total_in += spent.amount_sat
    to_destination = [o for o in tx.outputs if sha256(o.script_pubkey) == auth.script_hash]
    if not to_destination:
        raise PolicyViolation(DESTINATION_MISSING, "no output pays the authorised script")
    if len(to_destination) != 1 or to_destination[0].amount_sat != auth.amount_sat:
        raise PolicyViolation(AMOUNT_MISMATCH, "the authorised script is not paid amount_sat")
    for j, (out, origins) in enumerate(zip(tx.outputs, view.output_origins, strict=True)):
        if sha256(out.script_pubkey) == auth.script_hash:
            continue
        if _own_key(keys, origins, out.script_pubkey) is None:
            raise PolicyViolation(NO_UNKNOWN_OUTPUTS, f"output {j} is not this node's wallet")
    fee = total_in - sum(o.amount_sat for o in tx.outputs)
    if fee < 0:
        raise PolicyViolation(BAD_PSBT, "outputs exceed inputs")
    if fee > auth.max_fee_sat:
        raise PolicyViolation(FEE_OVER_MAX, f"fee {fee} sat > max {auth.max_fee_sat} sat")
    return paths


def sign_inputs(
    view: SpendView, keys: NodeKeys, paths: Sequence[tuple[int, int]]
) -> list[InputSignature]:
    """BIP 143 SIGHASH_ALL signatures of every input (P2WPKH, keys of `paths`), after
    `check_spend` approved them."""
    hasher = SegwitV0Sighasher(view.tx)
    out: list[InputSignature] = []
    for i, (change, index) in enumerate(paths):
        key = keys.onchain(change, index)
        spent = view.spent[i]
        assert spent is not None  # check_spend refused otherwise
        digest = hasher.sighash(i, p2wpkh_script_code(hash160(key.pubkey)), spent.amount_sat,
                                SIGHASH_ALL)  # fmt: skip
        out.append(
            InputSignature(i, key.pubkey, key.sign_digest_der(digest) + bytes([SIGHASH_ALL]))
        )
    return out
