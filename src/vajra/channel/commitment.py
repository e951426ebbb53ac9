"""BOLT 3 commitment transactions and their HTLC transactions (sans-IO, pure functions).

One commitment transaction belongs to one side, its *owner* ("local" in BOLT 3's words):
its `to_local` output is delayed by `to_self_delay` (chosen by the other side) and
revocable with `revocationpubkey`. The same code builds the holder's commitment and the
counterparty's: callers pass the owner's keys (`CommitmentKeys.derive` with the owner's
basepoints first) and the owner's view of the amounts and HTLCs.

Channel types: `option_static_remotekey` always (`to_remote` pays the counterparty's
`payment_basepoint` directly), with or without `option_anchors_zero_fee_htlc_tx`
(`anchors=True`: CSV-1 `to_remote`, two 330-sat anchors, zero-fee HTLC transactions whose
counterparty signatures are `SIGHASH_SINGLE|SIGHASH_ANYONECANPAY`).

Construction follows BOLT 3 "Commitment Transaction Construction" step by step: trim
HTLCs, compute the base fee, take it (and the anchors) from the opener, add outputs that
are not dust, add anchors, sort by (amount, scriptPubKey, cltv_expiry).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from vajra.bitcoin.script import p2wpkh, p2wsh
from vajra.bitcoin.tx import OutPoint, Tx, TxIn, TxOut
from vajra.channel.keys import Basepoints, derive_pubkey, derive_revocation_pubkey
from vajra.channel.scripts import (
    anchor_script,
    offered_htlc_script,
    received_htlc_script,
    to_local_script,
    to_remote_anchors_script,
)
from vajra.crypto.hashes import sha256

ANCHOR_OUTPUT_SAT = 330
""""The amount of the output is fixed at 330 sats, the default dust limit for P2WSH.\""""
COMMITMENT_WEIGHT = 724
COMMITMENT_WEIGHT_ANCHORS = 1124
HTLC_OUTPUT_WEIGHT = 172
HTLC_TIMEOUT_WEIGHT = 663
HTLC_SUCCESS_WEIGHT = 703


@dataclass(frozen=True, slots=True)
class Htlc:
    """An HTLC as its commitment's owner sees it."""

    offered: bool
    """True if the owner offered it (it leaves by HTLC-timeout), False if received."""
    amount_msat: int
    payment_hash: bytes
    cltv_expiry: int

    @property
    def amount_sat(self) -> int:
        """ "The amounts for each output MUST be rounded down to whole satoshis.\""""
        return self.amount_msat // 1000


@dataclass(frozen=True, slots=True)
class CommitmentKeys:
    """The keys of one commitment transaction (BOLT 3 "Key Derivation"), owner = local."""

    per_commitment_point: bytes
    revocation_pubkey: bytes
    local_delayed_pubkey: bytes
    local_htlc_pubkey: bytes
    remote_htlc_pubkey: bytes
    remote_pubkey: bytes
    local_funding_pubkey: bytes
    remote_funding_pubkey: bytes

    @classmethod
    def derive(
        cls, per_commitment_point: bytes, owner: Basepoints, other: Basepoints
    ) -> CommitmentKeys:
        """Keys of the owner's commitment at `per_commitment_point` (the owner's point).
        `remotepubkey` is the other side's `payment_basepoint` (option_static_remotekey)."""
        pcp = per_commitment_point
        return cls(
            per_commitment_point=pcp,
            revocation_pubkey=derive_revocation_pubkey(other.revocation_basepoint, pcp),
            local_delayed_pubkey=derive_pubkey(owner.delayed_payment_basepoint, pcp),
            local_htlc_pubkey=derive_pubkey(owner.htlc_basepoint, pcp),
            remote_htlc_pubkey=derive_pubkey(other.htlc_basepoint, pcp),
            remote_pubkey=other.payment_basepoint,
            local_funding_pubkey=owner.funding_pubkey,
            remote_funding_pubkey=other.funding_pubkey,
        )


@dataclass(frozen=True, slots=True)
class CommitmentOutput:
    """One output with what is needed to spend or sign for it."""

    kind: str
    """to_local, to_remote, local_anchor, remote_anchor, offered_htlc or received_htlc."""
    txout: TxOut
    witness_script: bytes | None
    """None only for the P2WPKH `to_remote` of a channel without anchors."""
    htlc: Htlc | None = None


@dataclass(frozen=True, slots=True)
class Commitment:
    tx: Tx
    outputs: tuple[CommitmentOutput, ...]
    """In transaction order (`outputs[i]` is `tx.outputs[i]`)."""
    base_fee_sat: int
    """What BOLT 3 "Fee Calculation" charges the opener (the actual fee can be higher)."""

    @property
    def htlc_outputs(self) -> list[tuple[int, CommitmentOutput]]:
        """(output index, output) of every untrimmed HTLC, in output order: the order of
        `htlc_signatures` in `commitment_signed`."""
        return [(i, o) for i, o in enumerate(self.outputs) if o.htlc is not None]


def obscuring_factor(opener_payment_basepoint: bytes, accepter_payment_basepoint: bytes) -> int:
    """ "the lower 48 bits of SHA256(payment_basepoint from open_channel ||
    payment_basepoint from accept_channel)\""""
    return int.from_bytes(sha256(opener_payment_basepoint + accepter_payment_basepoint)[-6:], "big")


def htlc_timeout_fee_sat(feerate_per_kw: int, *, anchors: bool) -> int:
    return 0 if anchors else feerate_per_kw * HTLC_TIMEOUT_WEIGHT // 1000


def htlc_success_fee_sat(feerate_per_kw: int, *, anchors: bool) -> int:
    return 0 if anchors else feerate_per_kw * HTLC_SUCCESS_WEIGHT // 1000


def is_trimmed(htlc: Htlc, dust_limit_sat: int, feerate_per_kw: int, *, anchors: bool) -> bool:
    """BOLT 3 "Trimmed Outputs": the HTLC amount minus its second-stage fee is below the
    owner's `dust_limit_satoshis`."""
    fee = (htlc_timeout_fee_sat if htlc.offered else htlc_success_fee_sat)(
        feerate_per_kw, anchors=anchors
    )
    return htlc.amount_sat - fee < dust_limit_sat


def commitment_fee_sat(feerate_per_kw: int, untrimmed_htlcs: int, *, anchors: bool) -> int:
    """The base fee: weight 724 (1124 with anchors) + 172 per untrimmed HTLC, times
    `feerate_per_kw` / 1000, rounded down."""
    weight = (
        COMMITMENT_WEIGHT_ANCHORS if anchors else COMMITMENT_WEIGHT
    ) + HTLC_OUTPUT_WEIGHT * untrimmed_htlcs
    return feerate_per_kw * weight // 1000


def commitment_number_fields(commitment_number: int, factor: int) -> tuple[int, int]:
    """(locktime, sequence) carrying the obscured 48-bit commitment number: "upper 8 bits
    are 0x20, lower 24 bits are the lower 24 bits of the obscured commitment number" and
    "upper 8 bits are 0x80, lower 24 bits are upper 24 bits"."""
    if not 0 <= commitment_number < 1 << 48:
        raise ValueError("commitment number is 48 bits")
    obscured = (commitment_number ^ factor) & ((1 << 48) - 1)
    return 0x20 << 24 | obscured & 0xFFFFFF, 0x80 << 24 | obscured >> 24


def commitment_number_of(tx: Tx, factor: int) -> int | None:
    """The commitment number a commitment transaction carries (None if its locktime and
    sequence do not have the 0x20 / 0x80 markers): how a node recognises which of its
    commitments, perhaps a revoked one, reached the chain."""
    if len(tx.inputs) != 1 or tx.locktime >> 24 != 0x20 or tx.inputs[0].sequence >> 24 != 0x80:
        return None
    obscured = (tx.inputs[0].sequence & 0xFFFFFF) << 24 | tx.locktime & 0xFFFFFF
    return obscured ^ factor


def build_commitment(
    *,
    funding_outpoint: OutPoint,
    keys: CommitmentKeys,
    to_self_delay: int,
    dust_limit_sat: int,
    feerate_per_kw: int,
    to_local_msat: int,
    to_remote_msat: int,
    owner_is_opener: bool,
    htlcs: Sequence[Htlc],
    commitment_number: int,
    obscuring_factor: int,
    anchors: bool,
) -> Commitment:
    """The owner's commitment transaction (unsigned). Amounts: `to_local_msat` and
    `to_remote_msat` are the balances before the fee and anchors, HTLCs excluded.
    ValueError if the opener cannot pay the two anchors."""
    untrimmed = [
        h for h in htlcs if not is_trimmed(h, dust_limit_sat, feerate_per_kw, anchors=anchors)
    ]
    base_fee = commitment_fee_sat(feerate_per_kw, len(untrimmed), anchors=anchors)
    # "Subtract this base fee from the funder ... also subtract two times the fixed
    # anchor size of 330 sats from the funder". A funder who cannot pay the whole base
    # fee keeps nothing (Appendix C, "fee greater than funder amount"); the anchors it
    # must be able to pay, else they would be created from nothing (BOLT 2's fee and
    # reserve rules keep a channel out of that state).
    anchor_msat = 2 * ANCHOR_OUTPUT_SAT * 1000 if anchors else 0
    funder_msat = to_local_msat if owner_is_opener else to_remote_msat
    if funder_msat < anchor_msat:
        raise ValueError("the opener's balance cannot pay the anchor outputs")
    funder_msat = max(0, funder_msat - anchor_msat - base_fee * 1000)
    if owner_is_opener:
        to_local_msat = funder_msat
    else:
        to_remote_msat = funder_msat
    outs: list[tuple[CommitmentOutput, int]] = []
    for h in untrimmed:
        if h.offered:
            ws = offered_htlc_script(
                keys.revocation_pubkey,
                keys.remote_htlc_pubkey,
                keys.local_htlc_pubkey,
                h.payment_hash,
                anchors=anchors,
            )
        else:
            ws = received_htlc_script(
                keys.revocation_pubkey,
                keys.remote_htlc_pubkey,
                keys.local_htlc_pubkey,
                h.payment_hash,
                h.cltv_expiry,
                anchors=anchors,
            )
        kind = "offered_htlc" if h.offered else "received_htlc"
        outs.append((CommitmentOutput(kind, TxOut(h.amount_sat, p2wsh(ws)), ws, h), h.cltv_expiry))
    to_local_sat, to_remote_sat = to_local_msat // 1000, to_remote_msat // 1000
    has_local = to_local_sat >= dust_limit_sat
    has_remote = to_remote_sat >= dust_limit_sat
    if has_local:
        ws = to_local_script(keys.revocation_pubkey, to_self_delay, keys.local_delayed_pubkey)
        outs.append((CommitmentOutput("to_local", TxOut(to_local_sat, p2wsh(ws)), ws), 0))
    if has_remote:
        if anchors:
            ws = to_remote_anchors_script(keys.remote_pubkey)
            outs.append((CommitmentOutput("to_remote", TxOut(to_remote_sat, p2wsh(ws)), ws), 0))
        else:
            outs.append(
                (
                    CommitmentOutput(
                        "to_remote", TxOut(to_remote_sat, p2wpkh(keys.remote_pubkey)), None
                    ),
                    0,
                )
            )
    if anchors:
        for present, kind, key in (
            (has_local, "local_anchor", keys.local_funding_pubkey),
            (has_remote, "remote_anchor", keys.remote_funding_pubkey),
        ):
            if present or untrimmed:
                ws = anchor_script(key)
                outs.append((CommitmentOutput(kind, TxOut(ANCHOR_OUTPUT_SAT, p2wsh(ws)), ws), 0))
    # BOLT 3 "Transaction Output Ordering": value, then scriptpubkey (a shorter script
    # first on a common prefix, which is how bytes compare), then cltv_expiry for HTLCs.
    outs.sort(key=lambda oc: (oc[0].txout.amount_sat, oc[0].txout.script_pubkey, oc[1]))
    locktime, sequence = commitment_number_fields(commitment_number, obscuring_factor)
    tx = Tx(2, (TxIn(funding_outpoint, b"", sequence),), tuple(o.txout for o, _ in outs), locktime)
    return Commitment(tx, tuple(o for o, _ in outs), base_fee)


def build_htlc_tx(
    commitment: Commitment,
    output_index: int,
    keys: CommitmentKeys,
    *,
    to_self_delay: int,
    feerate_per_kw: int,
    anchors: bool,
) -> Tx:
    """The HTLC-timeout (offered) or HTLC-success (received) transaction spending HTLC
    output `output_index` of the owner's `commitment` (unsigned). BOLT 3 "HTLC-Timeout
    and HTLC-Success Transactions": version 2, locktime `cltv_expiry` (timeout) or 0,
    sequence 0 (1 with anchors), one output to the owner's delayed `to_local` script."""
    out = commitment.outputs[output_index]
    htlc = out.htlc
    if htlc is None:
        raise ValueError(f"output {output_index} is not an HTLC output")
    if htlc.offered:
        fee, locktime = htlc_timeout_fee_sat(feerate_per_kw, anchors=anchors), htlc.cltv_expiry
    else:
        fee, locktime = htlc_success_fee_sat(feerate_per_kw, anchors=anchors), 0
    ws = to_local_script(keys.revocation_pubkey, to_self_delay, keys.local_delayed_pubkey)
    txin = TxIn(OutPoint(commitment.tx.txid, output_index), b"", 1 if anchors else 0)
    return Tx(2, (txin,), (TxOut(htlc.amount_sat - fee, p2wsh(ws)),), locktime)
