"""Property: whatever HTLCs a runtime tries under one authorisation — parts, retries
after failures, amounts at random — the peer is never offered more than the cap at once
with that hash, a refused add never reaches it, and once the payment is fulfilled no
HTLC with the hash leaves again (decision 0023; reference `ChannelSigner`)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.channel.pair import Pair, make_pair
from vajra.channel import signer_io as io
from vajra.channel.spec import Side
from vajra.crypto.hashes import sha256

PRE = b"\x77" * 32
H = sha256(PRE)
CLTV = 700_000


def _offered_to_b(p: Pair) -> int:
    """What B's own (latest) commitment holds of A's HTLCs with the hash."""
    spec = p.b.channel.ledger.local_commit.spec
    return sum(h.amount_msat for h in spec.offered_by(Side.REMOTE) if h.payment_hash == H)


def _add(p: Pair, amount: int) -> bool:
    """A adds and signs, its signer answering before A's outbox is collected (as the
    node does). True if the signer signed."""
    a = p.a.channel
    a.command(io.AddHtlc(amount, H, CLTV), 0.0)
    a.command(io.SignCommitment(), 0.0)
    req = a.next_signer_request()
    assert req is not None
    result = p.a.signer.handle(req)
    a.signer_result(result, 0.0)
    p.flush()
    p.settle_all()
    return isinstance(result, io.CounterpartySigned)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cap=st.integers(1_000_000, 30_000_000),
    steps=st.lists(
        st.one_of(
            st.tuples(st.just("add"), st.integers(1_000, 20_000_000)),
            st.tuples(st.just("fail"), st.just(0)),
        ),
        max_size=8,
    ),
    fulfil=st.booleans(),
)
def test_htlcs_of_one_hash_never_exceed_the_cap(
    cap: int, steps: list[tuple[str, int]], fulfil: bool
) -> None:
    p = make_pair()
    p.a.signer.authorise_payment(H, cap)
    for op, amount in steps:
        if op == "add":
            before = p.a.channel.ledger.next_htlc_id[Side.LOCAL]
            in_flight = _offered_to_b(p)
            signed = _add(p, amount)
            assert signed == (in_flight + amount <= cap)
            if not signed:  # withdrawn: B never saw it, A's id is free again
                assert p.a.channel.ledger.next_htlc_id[Side.LOCAL] == before
                assert p.b.channel.ledger.next_htlc_id[Side.REMOTE] == before
        else:
            offered = p.b.channel.ledger.local_commit.spec.offered_by(Side.REMOTE)
            if offered:
                p.b.channel.command(io.FailHtlc(offered[0].id, b"\x00" * 32), 0.0)
                p.flush()
                p.settle_all()
        assert _offered_to_b(p) <= cap
        assert p.a.channel.ledger.projected() == p.b.channel.ledger.projected().flipped()
    offered = p.b.channel.ledger.local_commit.spec.offered_by(Side.REMOTE)
    if fulfil and offered:
        p.b.channel.command(io.FulfillHtlc(offered[0].id, PRE), 0.0)
        p.flush()
        p.settle_all()
        assert H not in p.a.signer.approved_payments
        assert not _add(p, 1_000)  # paid: nothing more leaves under this hash
        assert _offered_to_b(p) <= cap
