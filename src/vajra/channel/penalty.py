"""Penalty transactions: a revoked commitment's outputs taken by the revocation path.

BOLT 5 "Revoked Transaction Close Handling": once a node sees a counterparty commitment
it holds the revocation private key for, it "MUST *resolve* the _remote node's main
output_ by spending it using the revocation private key", every HTLC output the same way,
and the cheater's HTLC-timeout / HTLC-success transactions too. BOLT 3 gives the
witnesses:

    to_local (and a second-stage HTLC tx output):  <revocation_sig> 1
    offered / received HTLC output:                 <revocation_sig> <revocationpubkey>

The revocation private key is BOLT 3's `revocationprivkey`, derived by the signer from
its `revocation_basepoint_secret` and the `per_commitment_secret` the peer released
(`keys.derive_revocation_privkey`); this module never sees a secret except in
`sign_penalty`, which the signer calls.

A `PenaltyPlan` lists the revocable outputs of one transaction; `build_penalty` turns it
into an unsigned `Sweep` (`sweep.py`) to a destination at a feerate, `sign_penalty`
signs it. Inputs signal BIP 125 replaceability so a copy at a higher feerate (signed at
the same time, see DESIGN.md section 12, "Justice without waking") can replace one that
is stuck. The outputs that are ours anyway (`to_remote`, anchors) are left out: BOLT 5
says the local node "MAY take no action regarding the _local node's main output_".

All of one commitment's revocable outputs go in one transaction ("MAY use a single
transaction to *resolve* all the outputs"); if the cheater confirms an HTLC transaction
first, that penalty is invalid, and its second stage is taken by
`second_stage_penalty` when the node sees it.

Sans-IO, pure; errors are `PenaltyError` (a `SweepError`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from vajra.bitcoin.script import p2wsh
from vajra.bitcoin.sighash import SIGHASH_ALL
from vajra.bitcoin.tx import OutPoint, Tx
from vajra.channel.commitment import Commitment
from vajra.channel.scripts import to_local_script
from vajra.channel.sweep import (
    SIGNATURE_WITNESS_SIZE,
    Sweep,
    SweepError,
    SweepInput,
    assemble,
    build_sweep,
    witness_weight,
)
from vajra.crypto.secp256k1 import PrivateKey

PENALTY_SEQUENCE = 0xFFFF_FFFD
"""BIP 125: below 0xFFFFFFFE signals replaceability; no relative lock applies."""

KIND_TO_LOCAL = 0
"""Witness `<revocation_sig> 1` (to_local, and second-stage HTLC transaction outputs)."""
KIND_HTLC = 1
"""Witness `<revocation_sig> <revocationpubkey>` (offered and received HTLC outputs)."""

_EXTRA_ITEM_SIZE = {KIND_TO_LOCAL: 1, KIND_HTLC: 33}


class PenaltyError(SweepError):
    """Nothing revocable in the transaction, or it is not what the caller said it is."""


@dataclass(frozen=True, slots=True)
class PenaltyInput:
    """One revocable output: its sweep description and its witness `kind`."""

    sweep_input: SweepInput
    kind: int


@dataclass(frozen=True, slots=True)
class PenaltyPlan:
    """The revocable outputs of one transaction (`txid`) under `revocation_pubkey`."""

    txid: bytes
    revocation_pubkey: bytes
    inputs: tuple[PenaltyInput, ...]

    @property
    def value_sat(self) -> int:
        return sum(i.sweep_input.value_sat for i in self.inputs)


def _input(txid: bytes, vout: int, value_sat: int, script: bytes, kind: int) -> PenaltyInput:
    weight = witness_weight([SIGNATURE_WITNESS_SIZE, _EXTRA_ITEM_SIZE[kind]], script)
    return PenaltyInput(
        SweepInput(OutPoint(txid, vout), value_sat, script, PENALTY_SEQUENCE, weight), kind
    )


def commitment_penalty(revoked: Commitment, revocation_pubkey: bytes) -> PenaltyPlan:
    """The plan for a revoked commitment as its owner (the cheater) built it
    (`spec.build_commitment_for(channel, spec, Side.REMOTE, number, point)` from our
    side): its `to_local` and every HTLC output. `revocation_pubkey` is that commitment's
    (`CommitmentKeys.revocation_pubkey`); each script must pay to it, else `PenaltyError`.
    `PenaltyError` too if nothing is revocable (every such output trimmed)."""
    txid = revoked.tx.txid
    inputs: list[PenaltyInput] = []
    for vout, out in enumerate(revoked.outputs):
        script = out.witness_script
        if out.kind == "to_local" and script is not None:
            kind = KIND_TO_LOCAL
        elif out.kind in ("offered_htlc", "received_htlc") and script is not None:
            kind = KIND_HTLC
        else:
            continue
        if p2wsh(script) != out.txout.script_pubkey:
            raise PenaltyError(f"output {vout}: script does not match its scriptPubKey")
        if kind == KIND_TO_LOCAL and script[2:35] != revocation_pubkey:
            raise PenaltyError(f"output {vout}: to_local does not pay the revocation key")
        inputs.append(_input(txid, vout, out.txout.amount_sat, script, kind))
    if not inputs:
        raise PenaltyError("no revocable output (to_local and HTLCs all trimmed)")
    return PenaltyPlan(txid, revocation_pubkey, tuple(inputs))


def second_stage_penalty(
    htlc_tx: Tx, revocation_pubkey: bytes, to_self_delay: int, delayed_pubkey: bytes
) -> PenaltyPlan:
    """The plan for the cheater's HTLC-timeout or HTLC-success transaction spending a
    revoked commitment's HTLC output: its output(s) paying BOLT 3's `to_local` script
    with the revoked commitment's `revocation_pubkey`, `to_self_delay` (ours, imposed on
    them) and their `local_delayedpubkey` at that commitment. Under anchors the cheater
    may add inputs and outputs (SIGHASH_SINGLE|ANYONECANPAY), so every matching output is
    taken. `PenaltyError` if none matches."""
    script = to_local_script(revocation_pubkey, to_self_delay, delayed_pubkey)
    spk = p2wsh(script)
    inputs = tuple(
        _input(htlc_tx.txid, vout, o.amount_sat, script, KIND_TO_LOCAL)
        for vout, o in enumerate(htlc_tx.outputs)
        if o.script_pubkey == spk
    )
    if not inputs:
        raise PenaltyError(f"{htlc_tx.txid_hex} pays no revocable to_local output")
    return PenaltyPlan(htlc_tx.txid, revocation_pubkey, inputs)


def build_penalty(plan: PenaltyPlan, destination: bytes, feerate_per_kw: int) -> Sweep:
    """The unsigned penalty transaction (see `sweep.build_sweep` for its errors)."""
    return build_sweep([i.sweep_input for i in plan.inputs], destination, feerate_per_kw)


def penalty_stack(kind: int, signature: bytes, revocation_pubkey: bytes) -> tuple[bytes, ...]:
    """The witness items before the witness script, BOLT 3 (`signature` with its
    sighash byte)."""
    return (signature, b"\x01") if kind == KIND_TO_LOCAL else (signature, revocation_pubkey)


def sign_penalty(plan: PenaltyPlan, sweep: Sweep, revocation_privkey: bytes) -> Tx:
    """Sign every input of `sweep` (built from `plan`) with `revocation_privkey`
    (SIGHASH_ALL); `PenaltyError` if the key is not the plan's revocation key."""
    key = PrivateKey(revocation_privkey)
    if key.pubkey != plan.revocation_pubkey:
        raise PenaltyError("the key is not this plan's revocation key")
    stacks: list[Sequence[bytes]] = [
        penalty_stack(
            i.kind, key.sign_digest_der(digest) + bytes((SIGHASH_ALL,)), plan.revocation_pubkey
        )
        for i, digest in zip(plan.inputs, sweep.sighashes, strict=True)
    ]
    return assemble(sweep, stacks)
