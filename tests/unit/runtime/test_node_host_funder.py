"""`NodeHost` as FUNDER (decision 0028): a hosted node on the real store and an in-process
signer opens to a fundee `Node` (its own reference signer) through `NodeHost.act` and
`deliver`; its `FundChannel` and `BroadcastFunding` effects reach the host's funder sink
(the worker's `Opener`) only after the state that emitted them is written, and never
the peer; without a sink they are dropped (counted nowhere, the node keeps waiting)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.unit.node.test_node_funder import FUNDING_TX, B, Side_
from vajra.bitcoin.tx import OutPoint
from vajra.node.funding import BroadcastFunding, FundChannel, OpenRequest
from vajra.runtime.local_signer import LocalSigner
from vajra.runtime.node_host import STATE_KEY, HostConfig, NodeHost
from vajra.store import SealedStore, SqliteStore
from vajra.wire import Message

TMP = bytes(range(32))


class Sink:
    def __init__(self, store: SqliteStore) -> None:
        self.store = store
        self.seen: list[tuple[FundChannel | BroadcastFunding, int]] = []

    def effect(self, node_id: bytes, effect: FundChannel | BroadcastFunding) -> None:
        got = self.store.get(node_id, STATE_KEY)
        self.seen.append((effect, got[0] if got else 0))  # the written version by then


def test_funder_effects_reach_the_sink_after_the_write(tmp_path: Path) -> None:
    async def main() -> None:
        store = SqliteStore(tmp_path / "s.db")
        signer = LocalSigner.open(bytes(range(32)))
        node_id = (await signer.create_nodes(1))[0].node_id
        to_peer: list[Message] = []

        def send(node: bytes, peer: bytes, msg: Message) -> bool:
            assert node == node_id and peer == B
            to_peer.append(msg)
            return True

        host = NodeHost(SealedStore(store), signer, HostConfig("rt"), send=send, plain=store)
        sink = Sink(store)
        host.funder = sink
        fundee = Side_(B, b"fundee")

        def exchange() -> list[Message]:
            """The fundee handles what we sent; its answers."""
            out: list[Message] = []
            for m in to_peer:
                fundee.node.handle(node_id, m, 1)
                out += fundee.settle()
            to_peer.clear()
            return out

        req = OpenRequest(TMP, 100_000, 0, anchors=False)
        await host.act(node_id, lambda n, now: n.open_channel_out(B, req, now), height=-1)
        assert [m.NAME for m in to_peer] == ["open_channel"]
        (accept,) = exchange()
        assert await host.deliver(node_id, B, accept) == []  # FundChannel is not a message
        ((fund, version),) = sink.seen
        assert isinstance(fund, FundChannel) and fund.amount_sat == 100_000
        assert version > 0  # written before the effect
        assert fund.temporary_channel_id == TMP and len(fund.script_pubkey) == 34
        outpoint = OutPoint(FUNDING_TX, 1)
        built = await host.act(node_id, lambda n, now: n.funding_built(TMP, outpoint, now),
                               height=-1)  # fmt: skip
        assert built and [m.NAME for m in to_peer] == ["funding_created"]
        (signed,) = exchange()
        await host.deliver(node_id, B, signed)
        bcast, version2 = sink.seen[1]
        assert isinstance(bcast, BroadcastFunding) and bcast.outpoint == outpoint
        assert version2 > version and bcast.temporary_channel_id == TMP
        # A second open without a sink: its FundChannel is dropped, the opening waits.
        host.funder = None
        req2 = OpenRequest(bytes(32), 100_000, 0, anchors=False)
        await host.act(node_id, lambda n, now: n.open_channel_out(B, req2, now), height=-1)
        (accept2,) = exchange()
        await host.deliver(node_id, B, accept2)
        assert len(sink.seen) == 2
        await host.close()
        store.close()

    asyncio.run(main())
