"""BOLT 3 signature hashes and witnesses for commitment and HTLC transactions.

Signatures here are DER with the sighash byte appended, as they sit in a witness; BOLT 2
messages carry 64-byte compact signatures (`crypto.secp256k1.compact_to_der` converts).
Under option_anchors the counterparty signs HTLC transactions with
`SIGHASH_SINGLE|SIGHASH_ANYONECANPAY` (BOLT 3 "HTLC-Timeout and HTLC-Success
Transactions", BOLT 5), so the owner can add inputs and outputs to pay the fee; the
owner's own signature stays `SIGHASH_ALL`.
"""

from __future__ import annotations

from vajra.bitcoin.sighash import (
    SIGHASH_ALL,
    SIGHASH_ANYONECANPAY,
    SIGHASH_SINGLE,
    SegwitV0Sighasher,
)
from vajra.bitcoin.tx import Tx
from vajra.channel.commitment import Commitment


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
