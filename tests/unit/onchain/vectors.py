"""BOLT 3 Appendices C and F as `ChannelView`s: the listed keys, balances and HTLCs as
the channel state a node would hold (commitment 42 of the local side, funder local)."""

from __future__ import annotations

from tests.unit.channel.bolt3_vectors import CommitmentVector, appendix_c_params
from vajra.bitcoin.tx import OutPoint
from vajra.channel.keys import Basepoints
from vajra.channel.spec import ChannelParams, CommitSpec, HtlcEntry, Side, SideParams
from vajra.crypto.hashes import sha256
from vajra.crypto.secp256k1 import pubkey_from_secret
from vajra.onchain.view import ChannelView, CommitmentRef

P = appendix_c_params()


def b(key: str) -> bytes:
    v = P[key]
    assert isinstance(v, bytes)
    return v


def i(key: str) -> int:
    v = P[key]
    assert isinstance(v, int)
    return v


PCP = pubkey_from_secret(b("x_local_per_commitment_secret"))
FUNDING = OutPoint(b("funding_tx_id")[::-1], i("funding_output_index"))
NUMBER = i("commitment_number")
LOCAL = Basepoints(
    funding_pubkey=b("local_funding_pubkey"),
    # not listed (the owner's own revocation basepoint is unused on its commitment)
    revocation_basepoint=b("remote_revocation_basepoint"),
    payment_basepoint=b("local_payment_basepoint"),
    delayed_payment_basepoint=b("local_delayed_payment_basepoint"),
    htlc_basepoint=b("local_htlc_basepoint"),
    first_per_commitment_point=PCP,
)
REMOTE = Basepoints(
    funding_pubkey=b("remote_funding_pubkey"),
    revocation_basepoint=b("remote_revocation_basepoint"),
    payment_basepoint=b("remote_payment_basepoint"),
    delayed_payment_basepoint=b("local_delayed_payment_basepoint"),  # unused here
    htlc_basepoint=b("remote_htlc_basepoint"),
    first_per_commitment_point=PCP,
)


def params(v: CommitmentVector, *, anchors: bool) -> ChannelParams:
    def side(dust: int, delay: int) -> SideParams:
        return SideParams(dust, 0, 1, 483, 10**12, delay)

    return ChannelParams(
        channel_id=sha256(b"appendix c"),
        funding_outpoint=FUNDING,
        capacity_sat=i("funding_amount_satoshi"),
        funder=Side.LOCAL,
        anchors=anchors,
        # to_self_delay binds the *other* side: our to_local waits the remote's
        params=(side(v.dust_limit_sat, 144), side(v.dust_limit_sat, i("local_delay"))),
        basepoints=(LOCAL, REMOTE),
    )


def spec(v: CommitmentVector) -> CommitSpec:
    htlcs = sorted(
        (
            HtlcEntry(
                Side.LOCAL if h.offered else Side.REMOTE,
                h.number,
                h.amount_msat,
                sha256(h.payment_preimage),
                h.cltv_expiry,
            )
            for h in v.htlcs
        ),
        key=lambda h: (h.offerer, h.id),
    )
    return CommitSpec(v.feerate_per_kw, (v.to_local_msat, v.to_remote_msat), tuple(htlcs))


def holder_view(v: CommitmentVector, *, anchors: bool) -> ChannelView:
    """The local side's view: the vector's commitment is ours (HOLDER)."""
    p = params(v, anchors=anchors)
    ours = CommitmentRef(Side.LOCAL, NUMBER, spec(v), PCP)
    theirs = CommitmentRef(Side.REMOTE, NUMBER, spec(v), PCP)
    return ChannelView(p, ours, (theirs,))


def counterparty_view(v: CommitmentVector, *, anchors: bool) -> ChannelView:
    """The remote side's view: the vector's commitment is the peer's (COUNTERPARTY)."""
    p = params(v, anchors=anchors).flipped()
    theirs = CommitmentRef(Side.REMOTE, NUMBER, spec(v).flipped(), PCP)
    ours = CommitmentRef(Side.LOCAL, NUMBER - 1, spec(v).flipped(), PCP)
    return ChannelView(p, ours, (theirs,))
