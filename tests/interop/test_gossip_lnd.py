"""LND's real gossip into the shared graph: a public channel between the session's two
LND nodes, announced after 6 blocks, received over a real BOLT 8 session with our
`gossip_timestamp_filter`, applied with every signature checked and the funding output
checked on btcd through `ChainSourceLookup`; then routed over."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.interop.chain_support import source_of
from tests.interop.conftest import LndPair
from tests.interop.peer_loop import dial
from vajra.bitcoin.block import scan_block
from vajra.bitcoin.chains import CHAIN_HASHES
from vajra.gossip.chain_lookup import ChainSourceLookup
from vajra.gossip.core import GossipCore
from vajra.gossip.errors import GossipError, Outcome
from vajra.gossip.graph import ChannelInfo
from vajra.noise import StaticKey
from vajra.peer import InitReceived, MessageReceived
from vajra.routing.pathfind import find_route
from vajra.routing.scorer import Scorer
from vajra.testbed.procs import wait_until
from vajra.wire import (
    ChannelAnnouncement,
    ChannelUpdate,
    GossipTimestampFilter,
    NodeAnnouncement,
    scid_parts,
)

pytestmark = pytest.mark.interop

OURS = StaticKey(bytes([0x61]) * 32)
CHAIN = CHAIN_HASHES["regtest"]
CAPACITY_SAT = 1_000_000


def test_lnd_gossip_builds_the_graph(lnd_pair: LndPair) -> None:
    alice, bob, btcd = lnd_pair.alice, lnd_pair.bob, lnd_pair.btcd
    funding_txid = alice.open_channel(bob.node_id, CAPACITY_SAT)
    wait_until(
        lambda: alice.pending_channels().get("pending_open_channels") or None,
        timeout=60,
        what="the funding transaction",
    )
    btcd.generate(6)

    def ours() -> dict[str, object] | None:
        for c in alice.list_channels(active_only=True):
            if c.get("remote_pubkey") == bob.node_id and not c.get("private"):
                return c  # type: ignore[no-any-return]
        return None

    wait_until(ours, timeout=120, what="the public channel active")
    core = GossipCore(CHAIN)
    lookup = ChainSourceLookup(source_of(btcd))
    outcomes: list[tuple[str, str]] = []
    alice_id, bob_id = bytes.fromhex(alice.node_id), bytes.fromhex(bob.node_id)

    def channel() -> ChannelInfo | None:
        for scid in core.graph.short_channel_ids():
            info = core.graph.channel(scid)
            if info is not None and {info.node_id_1, info.node_id_2} == {alice_id, bob_id}:
                return info
        return None

    def complete() -> bool:
        info = channel()
        if info is None or None in info.policies:
            return False
        ia, ib = core.graph.node_index(alice_id), core.graph.node_index(bob_id)
        return bool(
            ia is not None
            and ib is not None
            and core.graph.node_timestamp[ia]
            and core.graph.node_timestamp[ib]
        )

    async def main() -> None:
        host, port = alice.p2p_host.split(":")
        conn = await dial(OURS, alice_id, host, int(port))
        await conn.wait_for(InitReceived)
        conn.conn.send(GossipTimestampFilter(CHAIN, 0, 0xFFFFFFFF), time.monotonic())
        conn._flush()
        seen = 0
        deadline = time.monotonic() + 180
        while not complete():
            if time.monotonic() > deadline:
                raise AssertionError(f"gossip incomplete: {outcomes}")
            await asyncio.sleep(0.2)
            for ev in conn.events[seen:]:
                if isinstance(ev, MessageReceived) and isinstance(
                    ev.message, ChannelAnnouncement | ChannelUpdate | NodeAnnouncement
                ):
                    try:
                        out = core.apply(ev.message, lookup, int(time.time()))
                        outcomes.append((ev.message.NAME, out.value))
                    except GossipError as e:
                        outcomes.append((ev.message.NAME, str(e)))
            seen = len(conn.events)
        await conn.close()

    asyncio.run(main())
    info = channel()
    assert info is not None and info.capacity_sat == CAPACITY_SAT
    scid = info.short_channel_id
    # the scid names LND's funding transaction in the block btcd has at that height
    height, tx_index, _ = scid_parts(scid)
    source = source_of(btcd)
    block_hash = source.block_hash(height)
    assert block_hash is not None
    _, txs = scan_block(source.block(block_hash))
    assert txs[tx_index].txid[::-1].hex() == funding_txid
    # everything LND sent verified: nothing refused
    assert all(o in {v.value for v in Outcome} for _, o in outcomes), outcomes
    assert ("channel_announcement", "added") in outcomes
    route = find_route(core.graph, Scorer(), alice_id, bob_id, 10_000, time.time())
    assert [h.short_channel_id for h in route.hops] == [scid]
