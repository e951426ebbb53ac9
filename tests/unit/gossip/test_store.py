"""The gossip store: what the core accepted survives a restart; pruning is persisted."""

from __future__ import annotations

from pathlib import Path

from tests.unit.gossip.helpers import CHAIN, NOW, Lookup, announce, node_id, secret, update
from vajra.gossip.core import STALE_AFTER_S, GossipCore
from vajra.gossip.sign import sign_node_announcement
from vajra.gossip.store import GossipStore
from vajra.wire import scid_from_parts


def test_restart_reloads_the_graph(tmp_path: Path) -> None:
    db = tmp_path / "gossip.sqlite"
    store = GossipStore(db, batch=3)
    core = GossipCore(CHAIN, sink=store)
    lookup = Lookup()
    anns = [announce(f"n{i}", f"n{i + 1}", 100 + i, 10_000 * (i + 1), lookup) for i in range(5)]
    for ann in anns:
        core.apply(ann, lookup, NOW)
        core.apply(update(ann, f"n{anns.index(ann)}", NOW, fee_base_msat=11), lookup, NOW)
    core.apply(sign_node_announcement(secret("n0"), NOW, alias=b"zero"), lookup, NOW)
    # a scid with the top bit set still round-trips (SQLite integers are signed)
    big = announce("hi", "lo", 0xFFFFFF, 5000, lookup)
    core.apply(big, lookup, NOW)
    store.close()

    store2 = GossipStore(db)
    core2 = GossipCore(CHAIN, sink=store2)
    assert store2.load(core2) == 6
    g1, g2 = core.graph, core2.graph
    assert sorted(g2.short_channel_ids()) == sorted(g1.short_channel_ids())
    for scid in g1.short_channel_ids():
        assert g2.channel(scid) == g1.channel(scid)
    i = g2.node_index(node_id("n0"))
    assert i is not None and g2.node_timestamp[i] == NOW
    # and it keeps applying the rules: the reloaded update is not newer than itself
    assert core2.apply(update(anns[0], "n0", NOW, fee_base_msat=11), lookup, NOW).value == (
        "duplicate"
    )
    gone = core2.prune(NOW + STALE_AFTER_S + 1)
    assert len(gone) == 6
    store2.close()

    store3 = GossipStore(db)
    core3 = GossipCore(CHAIN, sink=store3)
    assert store3.load(core3) == 0
    assert core3.graph.channel(scid_from_parts(100, 1, 0)) is None
    store3.close()
