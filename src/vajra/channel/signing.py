"""BOLT 3 signature hashes and witnesses for commitment and HTLC transactions.

Signatures here are DER with the sighash byte appended, as they sit in a witness; BOLT 2
messages carry 64-byte compact signatures (`crypto.secp256k1.compact_to_der` converts).
Under option_anchors the counterparty signs HTLC transactions with
`SIGHASH_SINGLE|SIGHASH_ANYONECANPAY` (BOLT 3 "HTLC-Timeout and HTLC-Success
Transactions", BOLT 5), so the owner can add inputs and outputs to pay the fee; the
owner's own signature stays `SIGHASH_ALL`.
"""

from __future__ import annotations

from collections.abc import Sequence

from vajra.bitcoin.sighash import (
    SIGHASH_ALL,
    SIGHASH_ANYONECANPAY,
    SIGHASH_SINGLE,
    SegwitV0Sighasher,
)
from vajra.bitcoin.tx import Tx
from vajra.channel.commitment import Commitment, CommitmentKeys, build_htlc_tx
from vajra.crypto.secp256k1 import PrivateKey, verify_digest
from vajra.errors import ProtocolError


def commitment_sighash(
    commitment: Commitment, funding_script: bytes, funding_amount_sat: int
) -> bytes:
    """The digest both funding keys sign (SIGHASH_ALL over the funding input)."""
    return SegwitV0Sighasher(commitment.tx).sighash(
        0, funding_script, funding_amount_sat, SIGHASH_ALL
    )


def commitment_witness(
    funding_script: bytes, pubkey_a: bytes, sig_a: bytes, pubkey_b: bytes, sig_b: bytes
) -> tuple[bytes, ...]:
    """`0 <signature_for_pubkey1> <signature_for_pubkey2>` and the funding script, pubkey1
    being the lesser key (signatures DER + sighash byte)."""
    (_, s1), (_, s2) = sorted(((pubkey_a, sig_a), (pubkey_b, sig_b)))
    return (b"", s1, s2, funding_script)


def counterparty_htlc_sighash_type(*, anchors: bool) -> int:
    """The hash type of the counterparty's signature on our HTLC transactions."""
    return SIGHASH_SINGLE | SIGHASH_ANYONECANPAY if anchors else SIGHASH_ALL


def htlc_sighash(
    htlc_tx: Tx, htlc_witness_script: bytes, htlc_amount_sat: int, hash_type: int
) -> bytes:
    """The digest of the HTLC transaction's single input (the commitment's HTLC output)."""
    return SegwitV0Sighasher(htlc_tx).sighash(0, htlc_witness_script, htlc_amount_sat, hash_type)


def htlc_witness(
    remote_sig: bytes, local_sig: bytes, payment_preimage: bytes | None, htlc_witness_script: bytes
) -> tuple[bytes, ...]:
    """`0 <remotehtlcsig> <localhtlcsig> <payment_preimage>` (HTLC-success) or with `<>`
    in place of the preimage (HTLC-timeout), then the HTLC output's witness script."""
    return (b"", remote_sig, local_sig, payment_preimage or b"", htlc_witness_script)


# -- commitment_signed: what one side signs and the other checks (BOLT 2) -------------


def htlc_digests(
    commitment: Commitment,
    keys: CommitmentKeys,
    *,
    to_self_delay: int,
    feerate_per_kw: int,
    anchors: bool,
    hash_type: int,
) -> list[bytes]:
    """The sighash of every HTLC transaction of `commitment`, in HTLC output order (the
    order of `htlc_signatures`)."""
    out = []
    for vout, o in commitment.htlc_outputs:
        assert o.witness_script is not None
        tx = build_htlc_tx(
            commitment,
            vout,
            keys,
            to_self_delay=to_self_delay,
            feerate_per_kw=feerate_per_kw,
            anchors=anchors,
        )
        out.append(htlc_sighash(tx, o.witness_script, o.txout.amount_sat, hash_type))
    return out


def sign_commitment(
    commitment: Commitment,
    keys: CommitmentKeys,
    funding_script: bytes,
    funding_amount_sat: int,
    funding_key: PrivateKey,
    htlc_key: PrivateKey,
    *,
    to_self_delay: int,
    feerate_per_kw: int,
    anchors: bool,
) -> tuple[bytes, list[bytes]]:
    """`commitment_signed`'s `signature` and `htlc_signatures` (64-byte compact) for the
    *other* side's commitment: our funding key over the commitment (SIGHASH_ALL), our
    HTLC key over each of its HTLC transactions (SINGLE|ANYONECANPAY under anchors)."""
    sig = funding_key.sign_digest(
        commitment_sighash(commitment, funding_script, funding_amount_sat)
    )
    digests = htlc_digests(
        commitment,
        keys,
        to_self_delay=to_self_delay,
        feerate_per_kw=feerate_per_kw,
        anchors=anchors,
        hash_type=counterparty_htlc_sighash_type(anchors=anchors),
    )
    return sig, [htlc_key.sign_digest(d) for d in digests]


def verify_commitment_signed(
    commitment: Commitment,
    keys: CommitmentKeys,
    funding_script: bytes,
    funding_amount_sat: int,
    signature: bytes,
    htlc_signatures: Sequence[bytes],
    *,
    to_self_delay: int,
    feerate_per_kw: int,
    anchors: bool,
) -> None:
    """Check a received `commitment_signed` against our own `commitment` (keys: ours as
    owner). BOLT 2: a `signature` not valid for the local commitment transaction (or not
    low-S), a `num_htlcs` other than the number of HTLC outputs, or an `htlc_signature`
    not valid for its HTLC transaction each fail the channel: `ProtocolError` naming
    which."""
    digest = commitment_sighash(commitment, funding_script, funding_amount_sat)
    if not verify_digest(keys.remote_funding_pubkey, signature, digest):
        raise ProtocolError("commitment signature is not valid", message="commitment_signed")
    digests = htlc_digests(
        commitment,
        keys,
        to_self_delay=to_self_delay,
        feerate_per_kw=feerate_per_kw,
        anchors=anchors,
        hash_type=counterparty_htlc_sighash_type(anchors=anchors),
    )
    if len(htlc_signatures) != len(digests):
        raise ProtocolError(
            f"{len(htlc_signatures)} HTLC signatures for {len(digests)} HTLC outputs",
            message="commitment_signed",
        )
    for k, (sig, d) in enumerate(zip(htlc_signatures, digests, strict=True)):
        if not verify_digest(keys.remote_htlc_pubkey, sig, d):
            raise ProtocolError(f"HTLC signature {k} is not valid", message="commitment_signed")
