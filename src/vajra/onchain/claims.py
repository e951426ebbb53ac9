"""What the node is owed from a commitment on chain, and from when (BOLT 5).

A `Claim` is one output the node can take, with everything needed to spend it except
the signature: its outpoint and value, its witness script, the nSequence (relative
delay, BIP 68/112) and nLockTime (absolute, BIP 65) the spend needs, the expected
witness weight (signatures counted at 73 bytes), and which commitment and HTLC it comes
from, so the signer rebuilds the script from its own copy before it signs.

    our commitment (BOLT 5 "Unilateral Close Handling: Local Commitment Transaction")
      to_local                    TO_LOCAL        after to_self_delay (the peer's)
      HTLC we offered             HTLC_TIMEOUT_TX at cltv_expiry: the HTLC-timeout
                                                  transaction (both signatures), whose
                                                  output is a SECOND_STAGE claim
      HTLC we received            HTLC_SUCCESS_TX with its preimage: the HTLC-success
                                                  transaction, output SECOND_STAGE
      output of either            SECOND_STAGE    after to_self_delay
    their commitment ("Remote Commitment Transaction")
      to_remote (ours)            TO_REMOTE       CSV 1 under anchors, else at once
      HTLC we offered             HTLC_TIMEOUT    at cltv_expiry, our HTLC key alone
                                                  (CSV 1 under anchors)
      HTLC we received            HTLC_PREIMAGE   with its preimage at once (CSV 1)

A received HTLC whose preimage the node lacks is still a claim (`needs_preimage`): if
the preimage arrives before the peer times it out, it is taken.

Heights: `spendable_height(confirmed_at)` is the lowest chain tip at which the spend can
enter the mempool: a relative delay of n blocks on an output confirmed at height h allows
a block at h + n, so the tip h + n - 1 (BIP 68); an nLockTime L allows a block above L,
so the tip L (Bitcoin's IsFinalTx: nLockTime < the block's height).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from vajra.bitcoin.script import p2wpkh, p2wpkh_script_code, p2wsh
from vajra.bitcoin.tx import OutPoint
from vajra.channel.commitment import CommitmentOutput
from vajra.channel.scripts import to_local_script, to_remote_anchors_script
from vajra.channel.spec import ChannelParams, HtlcEntry, Side
from vajra.crypto.hashes import hash160, sha256
from vajra.onchain.classify import Classified, CloseKind

SIGNATURE_SIZE = 73
"""A DER signature plus its sighash byte, at its largest (BOLT 3 Appendix A)."""


class ClaimKind(enum.StrEnum):
    TO_LOCAL = "to_local"
    TO_REMOTE = "to_remote"
    HTLC_TIMEOUT_TX = "htlc_timeout_tx"
    HTLC_SUCCESS_TX = "htlc_success_tx"
    SECOND_STAGE = "second_stage"
    HTLC_TIMEOUT = "htlc_timeout"
    HTLC_PREIMAGE = "htlc_preimage"


SWEPT_BY_SWEEP = frozenset(
    {
        ClaimKind.TO_LOCAL,
        ClaimKind.TO_REMOTE,
        ClaimKind.SECOND_STAGE,
        ClaimKind.HTLC_TIMEOUT,
        ClaimKind.HTLC_PREIMAGE,
    }
)
"""Claims one key of ours spends: batched into one sweep to the node's wallet. The other
two (our HTLC transactions) carry the peer's signature and are broadcast one by one."""


@dataclass(frozen=True, slots=True)
class Claim:
    kind: ClaimKind
    outpoint: OutPoint
    value_sat: int
    witness_script: bytes
    """The P2WSH witness script; for a P2WPKH `to_remote` (no anchors) the BIP 143
    scriptCode instead (its witness is <sig> <pubkey>, `is_p2wpkh`)."""
    csv: int
    """Relative delay in blocks (the input's nSequence); 0: none."""
    cltv: int
    """Absolute height the spend's nLockTime must reach; 0: none."""
    witness_weight: int
    owner: Side
    """Whose commitment the output (or, for SECOND_STAGE, its HTLC transaction) is on."""
    number: int
    """That commitment's number."""
    htlc: tuple[Side, int] | None = None
    """(offerer, id) of the HTLC, in our frame."""
    payment_hash: bytes | None = None

    def spendable_height(self, confirmed_at: int) -> int:
        """The lowest tip height at which the spend is valid in the next block, for an
        output confirmed at `confirmed_at` (see the module docstring)."""
        return max(confirmed_at + self.csv - 1 if self.csv else confirmed_at, self.cltv)

    @property
    def is_p2wpkh(self) -> bool:
        return self.kind is ClaimKind.TO_REMOTE and self.witness_script[:1] == b"\x76"

    @property
    def needs_preimage(self) -> bool:
        return self.kind in (ClaimKind.HTLC_SUCCESS_TX, ClaimKind.HTLC_PREIMAGE)


def _weight(item_sizes: list[int], script: bytes) -> int:
    """Witness bytes: the item count, each item with its one-byte length, the script."""
    sizes = [*item_sizes, len(script)]
    return 1 + sum((1 if n < 0xFD else 3) + n for n in sizes)


def to_remote_script(params: ChannelParams) -> bytes:
    """The scriptPubKey of our `to_remote` on any counterparty commitment: under
    `option_static_remotekey` it pays our `payment_basepoint` untweaked, so it is the same
    for every commitment the peer ever had (watch it from the start: it catches a
    commitment we cannot recognise, BOLT 5 "Unilateral Close Handling: Remote ...")."""
    ours = params.basepoints[Side.LOCAL].payment_basepoint
    return p2wsh(to_remote_anchors_script(ours)) if params.anchors else p2wpkh(ours)


def _htlc_entry(o: CommitmentOutput, c: Classified, used: set[tuple[Side, int]]) -> HtlcEntry:
    """The spec entry of an HTLC output not yet `used` (matched by hash, amount and
    expiry; identical HTLCs are interchangeable on chain)."""
    assert o.htlc is not None and c.ref is not None
    offerer = c.ref.owner if o.htlc.offered else c.ref.owner.other
    for h in c.ref.spec.htlcs:
        if (h.offerer, h.id) not in used and (
            h.offerer,
            h.payment_hash,
            h.amount_msat // 1000,
            h.cltv_expiry,
        ) == (offerer, o.htlc.payment_hash, o.htlc.amount_sat, o.htlc.cltv_expiry):
            used.add((h.offerer, h.id))
            return h
    raise ValueError("HTLC output not in its commitment's spec")  # our own build: a bug


def claims_of(c: Classified, params: ChannelParams) -> list[Claim]:
    """Every output of a HOLDER or COUNTERPARTY close the node is owed (none for the
    other kinds: a mutual close pays the wallet directly, a breach is the penalty's)."""
    if c.kind not in (CloseKind.HOLDER, CloseKind.COUNTERPARTY):
        return []
    assert c.ref is not None and c.commitment is not None
    anchors = params.anchors
    ours = c.kind is CloseKind.HOLDER
    delay = params.params[Side.REMOTE].to_self_delay  # the peer's, on our to_local
    out: list[Claim] = []
    used: set[tuple[Side, int]] = set()
    for vout, o in enumerate(c.commitment.outputs):
        op = OutPoint(c.txid, vout)
        value = o.txout.amount_sat
        ws = o.witness_script
        base = (c.ref.owner, c.ref.number)
        if ours and o.kind == "to_local" and ws is not None:
            w = _weight([SIGNATURE_SIZE, 0], ws)  # <local_delayedsig> <>
            out.append(Claim(ClaimKind.TO_LOCAL, op, value, ws, delay, 0, w, *base))
        elif not ours and o.kind == "to_remote" and ws is not None:
            w = _weight([SIGNATURE_SIZE], ws)  # <remote_sig>
            out.append(Claim(ClaimKind.TO_REMOTE, op, value, ws, 1, 0, w, *base))
        elif not ours and o.kind == "to_remote":
            # Without anchors: P2WPKH to our payment basepoint, not a wallet script; the
            # claim carries the BIP 143 scriptCode, the witness is <sig> <pubkey>.
            key = params.basepoints[Side.LOCAL].payment_basepoint
            code = p2wpkh_script_code(hash160(key))
            w = 1 + (1 + SIGNATURE_SIZE) + (1 + len(key))
            out.append(Claim(ClaimKind.TO_REMOTE, op, value, code, 0, 0, w, *base))
        elif o.htlc is not None and ws is not None:
            h = _htlc_entry(o, c, used)
            we_offered = h.offerer is Side.LOCAL
            csv = 1 if anchors else 0
            if ours:
                # 0 <remotehtlcsig> <localhtlcsig> <preimage or empty>
                kind = ClaimKind.HTLC_TIMEOUT_TX if we_offered else ClaimKind.HTLC_SUCCESS_TX
                w = _weight([0, SIGNATURE_SIZE, SIGNATURE_SIZE, 0 if we_offered else 32], ws)
                cltv = h.cltv_expiry if we_offered else 0
                out.append(
                    Claim(
                        kind, op, value, ws, csv, cltv, w, *base, (h.offerer, h.id), h.payment_hash
                    )
                )
            else:
                # received by them: <remotehtlcsig> <> after the expiry; offered by them:
                # <remotehtlcsig> <payment_preimage>
                kind = ClaimKind.HTLC_TIMEOUT if we_offered else ClaimKind.HTLC_PREIMAGE
                w = _weight([SIGNATURE_SIZE, 0 if we_offered else 32], ws)
                cltv = h.cltv_expiry if we_offered else 0
                out.append(
                    Claim(
                        kind, op, value, ws, csv, cltv, w, *base, (h.offerer, h.id), h.payment_hash
                    )
                )
    return out


def second_stage(
    claim: Claim,
    params: ChannelParams,
    outpoint: OutPoint,
    value_sat: int,
    keys_revocation: bytes,
    keys_delayed: bytes,
) -> Claim:
    """The SECOND_STAGE claim of our confirmed HTLC-timeout/success transaction's
    output `outpoint` (BOLT 5: "spend the output ... after to_self_delay")."""
    delay = params.params[Side.REMOTE].to_self_delay
    ws = to_local_script(keys_revocation, delay, keys_delayed)
    w = _weight([SIGNATURE_SIZE, 0], ws)
    return Claim(
        ClaimKind.SECOND_STAGE,
        outpoint,
        value_sat,
        ws,
        delay,
        0,
        w,
        claim.owner,
        claim.number,
        claim.htlc,
        claim.payment_hash,
    )


def preimage_for(claim: Claim, preimages: Mapping[bytes, bytes]) -> bytes | None:
    """The preimage a claim needs, if known (checked against the hash)."""
    if claim.payment_hash is None:
        return None
    p = preimages.get(claim.payment_hash)
    return p if p is not None and sha256(p) == claim.payment_hash else None
