"""The funding check over a `ChainSource`: a real serialized chain (tests' MemoryChain)."""

from __future__ import annotations

import pytest

from tests.unit.chain.memchain import MemoryChain
from tests.unit.gossip.helpers import CHAIN, NOW, announce
from vajra.bitcoin.tx import OutPoint, Tx, TxIn, TxOut
from vajra.gossip.chain_lookup import ChainSourceLookup
from vajra.gossip.core import GossipCore
from vajra.gossip.errors import GossipError, Outcome
from vajra.gossip.verify import expected_funding_script
from vajra.wire import scid_from_parts


def test_announcement_checked_against_the_block_its_scid_names() -> None:
    chain = MemoryChain()
    ann0 = announce("alice", "bob", 1)
    script = expected_funding_script(ann0)
    funding = Tx(
        2, (TxIn(OutPoint(b"\x11" * 32, 0), b""),), (TxOut(5000, b"\x51"), TxOut(777_000, script))
    )
    chain.mine([funding])  # height 1: coinbase is tx 0, funding is tx 1, output 1
    scid = scid_from_parts(1, 1, 1)
    from tests.unit.gossip.helpers import secret
    from vajra.gossip.sign import sign_channel_announcement

    ann = sign_channel_announcement(
        CHAIN, scid, secret("alice"), secret("bob"), secret("alice/funding"), secret("bob/funding")
    )
    assert expected_funding_script(ann) == script
    lookup = ChainSourceLookup(chain)
    core = GossipCore(CHAIN)
    # one confirmation: too early (BOLT 7: 6, "close to 6" accepted)
    with pytest.raises(GossipError, match="funding_missing"):
        core.apply(ann, lookup, NOW)
    for _ in range(4):
        chain.mine([])
    assert core.apply(ann, lookup, NOW) is Outcome.ADDED
    info = core.graph.channel(scid)
    assert info is not None and info.capacity_sat == 777_000
    # output 0 of the same transaction is not the 2-of-2
    wrong = sign_channel_announcement(
        CHAIN,
        scid_from_parts(1, 1, 0),
        secret("alice"),
        secret("bob"),
        secret("alice/funding"),
        secret("bob/funding"),
    )
    with pytest.raises(GossipError, match="funding_mismatch"):
        core.apply(wrong, lookup, NOW)
    # an index past the block's transactions names nothing
    assert lookup.funding_output(scid_from_parts(1, 9, 0)) is None
