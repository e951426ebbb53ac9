"""The signer's on-chain channel policy: our commitment for broadcast, BOLT 5 sweeps.

`sign_holder` signs our latest, unrevoked commitment (a unilateral close) and marks it
so it is never revoked afterwards. `sign_sweep` signs one transaction spending claims
of a commitment on chain, each rebuilt from the signer's own copy of the channel
(`vajra.onchain.claims`, the same code the node runs), only into the node's own wallet:

    policy-sweep-destination-allowlisted  the destination is not a wallet script
    policy-sweep-unknown-commitment       no such commitment in the signer's copy
    policy-sweep-input-mismatch           the outpoint is not that commitment's claim
                                          of that kind and value
    policy-sweep-kind                     a kind this side cannot spend by sweep
    policy-sweep-preimage                 an HTLC preimage claim without its preimage
    policy-sweep-fee                      a fee above half of what is swept
    policy-sweep-unbuildable              no inputs, dust, below the relay feerate

`sign_htlc_tx` signs our HTLC-timeout/success transaction of the commitment it signed
for broadcast, with the peer's stored HTLC signature (BOLT 3):

    policy-htlc-commitment                not the commitment signed for broadcast
    policy-htlc-output                    not one of its HTLC outputs
    policy-htlc-preimage                  HTLC-success without the HTLC's preimage
    policy-htlc-anchors-fee               under anchors (a fee input is needed: not built)

Keys (BOLT 3 "Key Derivation"): `to_local` and the second stage with our delayed key
at our point; `to_remote` with our payment basepoint secret (option_static_remotekey:
untweaked); HTLC outputs of the peer's commitment with our HTLC key at its point.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import TYPE_CHECKING

from vajra.bitcoin.sighash import SIGHASH_ALL
from vajra.bitcoin.tx import SEQUENCE_FINAL
from vajra.channel import signer_io as io
from vajra.channel.commitment import build_htlc_tx
from vajra.channel.keys import derive_privkey
from vajra.channel.signing import htlc_sighash, htlc_witness
from vajra.channel.spec import Side
from vajra.channel.sweep import SweepError, SweepInput, build_sweep
from vajra.crypto.hashes import sha256
from vajra.crypto.secp256k1 import PrivateKey, compact_to_der
from vajra.errors import PolicyViolation
from vajra.onchain.claims import Claim, ClaimKind, claims_of, second_stage
from vajra.onchain.classify import Classified, CloseKind
from vajra.onchain.view import CommitmentRef

if TYPE_CHECKING:
    from vajra.signer.channels import ChannelSigner

SEQUENCE_NO_DELAY = 0xFFFF_FFFD
"""An input with no relative delay: non-final (so an nLockTime applies), RBF-signalling."""

_LOCAL_KINDS = {ClaimKind.TO_LOCAL, ClaimKind.SECOND_STAGE}
_REMOTE_KINDS = {ClaimKind.TO_REMOTE, ClaimKind.HTLC_TIMEOUT, ClaimKind.HTLC_PREIMAGE}


def sign_holder(s: ChannelSigner, r: io.SignHolderCommitment) -> io.HolderCommitmentSigned:
    tx = s.sign_holder_commitment(r.number)  # not-revoked, latest, validated
    s.holder_broadcast = max(s.holder_broadcast, r.number)
    return io.HolderCommitmentSigned(tx)


def sign_htlc_tx(s: ChannelSigner, r: io.SignHtlcTransaction) -> io.HtlcTransactionSigned:
    params = s.channel
    if params.anchors:
        raise PolicyViolation(
            "policy-htlc-anchors-fee", "zero-fee HTLC transactions need a fee input"
        )
    held = s.holder.get(r.number)
    if r.number != s.holder_broadcast or held is None:
        raise PolicyViolation("policy-htlc-commitment", f"number {r.number}")
    ref = CommitmentRef(Side.LOCAL, r.number, held.spec, s.secrets.per_commitment_point(r.number))
    commitment = ref.build(params)
    order = [vout for vout, _ in commitment.htlc_outputs]
    if r.outpoint.txid != commitment.tx.txid or r.outpoint.vout not in order:
        raise PolicyViolation("policy-htlc-output", str(r.outpoint))
    vout = r.outpoint.vout
    out = commitment.outputs[vout]
    assert out.htlc is not None and out.witness_script is not None
    if not out.htlc.offered and (r.preimage is None or sha256(r.preimage) != out.htlc.payment_hash):
        raise PolicyViolation("policy-htlc-preimage", str(r.outpoint))
    tx = build_htlc_tx(
        commitment,
        vout,
        ref.keys(params),
        to_self_delay=params.params[Side.REMOTE].to_self_delay,
        feerate_per_kw=held.spec.feerate_per_kw,
        anchors=False,
    )
    digest = htlc_sighash(tx, out.witness_script, out.txout.amount_sat, SIGHASH_ALL)
    key = PrivateKey(derive_privkey(s.secrets.htlc_base, ref.point))
    ours = key.sign_digest_der(digest) + bytes([SIGHASH_ALL])
    theirs = compact_to_der(held.htlc_signatures[order.index(vout)]) + bytes([SIGHASH_ALL])
    preimage = None if out.htlc.offered else r.preimage
    return io.HtlcTransactionSigned(
        tx.with_witnesses([htlc_witness(theirs, ours, preimage, out.witness_script)])
    )


def _ref(s: ChannelSigner, owner: Side, number: int) -> CommitmentRef:
    if owner is Side.LOCAL:
        held = s.holder.get(number)
        if held is not None:
            return CommitmentRef(owner, number, held.spec, s.secrets.per_commitment_point(number))
    else:
        theirs = s.counterparty.get(number)
        if theirs is not None:
            return CommitmentRef(owner, number, theirs[0], theirs[1])
    raise PolicyViolation("policy-sweep-unknown-commitment", f"{owner.name} {number}")


def _claim(s: ChannelSigner, c: io.SweepClaim) -> tuple[Claim, bytes]:
    """The claim as the signer rebuilds it, and the secret that signs it."""
    try:
        kind = ClaimKind(c.kind)
    except ValueError:
        raise PolicyViolation("policy-sweep-kind", c.kind) from None
    if kind not in (_LOCAL_KINDS if c.owner is Side.LOCAL else _REMOTE_KINDS):
        raise PolicyViolation("policy-sweep-kind", f"{kind.value} on {c.owner.name}'s commitment")
    ref = _ref(s, c.owner, c.number)
    params = s.channel
    if kind is ClaimKind.SECOND_STAGE:
        k = ref.keys(params)
        claim = second_stage(
            Claim(kind, c.outpoint, 0, b"", 0, 0, 0, c.owner, c.number),
            params,
            c.outpoint,
            c.value_sat,
            k.revocation_pubkey,
            k.local_delayed_pubkey,
        )
    else:
        try:
            commitment = ref.build(params)
        except ValueError as e:
            raise PolicyViolation("policy-sweep-unknown-commitment", str(e)) from None
        close = CloseKind.HOLDER if c.owner is Side.LOCAL else CloseKind.COUNTERPARTY
        txid = commitment.tx.txid
        found = [
            x
            for x in claims_of(Classified(close, txid, ref, commitment), params)
            if x.outpoint == c.outpoint
        ]
        if not found or found[0].kind is not kind or found[0].value_sat != c.value_sat:
            raise PolicyViolation("policy-sweep-input-mismatch", str(c.outpoint))
        claim = found[0]
    secrets = s.secrets
    if kind in _LOCAL_KINDS:
        return claim, derive_privkey(secrets.delayed_payment_base, ref.point)
    if kind is ClaimKind.TO_REMOTE:
        return claim, secrets.payment_base
    return claim, derive_privkey(secrets.htlc_base, ref.point)


def _allowed(allowlisted: Collection[bytes] | Callable[[bytes], bool] | None, spk: bytes) -> bool:
    if callable(allowlisted):
        return allowlisted(spk)
    return allowlisted is not None and spk in allowlisted


def sign_sweep(
    s: ChannelSigner,
    r: io.SignSweep,
    allowlisted: Collection[bytes] | Callable[[bytes], bool] | None,
) -> io.SweepSigned:
    """The signed sweep, or PolicyViolation with a `policy-sweep-*` code."""
    if not _allowed(allowlisted, r.destination):
        raise PolicyViolation("policy-sweep-destination-allowlisted", r.destination.hex())
    claims: list[tuple[Claim, bytes, io.SweepClaim]] = []
    for c in r.claims:
        claim, secret = _claim(s, c)
        if claim.kind is ClaimKind.HTLC_PREIMAGE and (
            c.preimage is None or sha256(c.preimage) != claim.payment_hash
        ):
            raise PolicyViolation("policy-sweep-preimage", str(c.outpoint))
        claims.append((claim, secret, c))
    inputs = [
        SweepInput(
            cl.outpoint,
            cl.value_sat,
            cl.witness_script,
            cl.csv if cl.csv else SEQUENCE_NO_DELAY,
            cl.witness_weight,
        )
        for cl, _, _ in claims
    ]
    locktime = max((cl.cltv for cl, _, _ in claims), default=0)
    try:
        sweep = build_sweep(inputs, r.destination, r.feerate_per_kw, locktime=locktime)
    except SweepError as e:
        raise PolicyViolation("policy-sweep-unbuildable", str(e)) from None
    total = sum(i.value_sat for i in inputs)
    if sweep.fee_sat * 2 > total:
        raise PolicyViolation("policy-sweep-fee", f"{sweep.fee_sat} sat of {total}")
    witnesses: list[tuple[bytes, ...]] = []
    for (cl, secret, c), digest in zip(claims, sweep.sighashes, strict=True):
        key = PrivateKey(secret)
        sig = key.sign_digest_der(digest) + bytes([SIGHASH_ALL])
        if cl.is_p2wpkh:  # BIP 141 P2WPKH: <sig> <pubkey>, no script
            witnesses.append((sig, key.pubkey))
        elif cl.kind is ClaimKind.TO_REMOTE:
            witnesses.append((sig, cl.witness_script))
        elif cl.kind is ClaimKind.HTLC_PREIMAGE:
            assert c.preimage is not None
            witnesses.append((sig, c.preimage, cl.witness_script))
        else:  # to_local / second stage: <sig> <> (the delayed branch); timeout: <sig> <>
            witnesses.append((sig, b"", cl.witness_script))
    assert SEQUENCE_FINAL not in {i.sequence for i in inputs}
    return io.SweepSigned(sweep.tx.with_witnesses(witnesses), sweep.fee_sat)
