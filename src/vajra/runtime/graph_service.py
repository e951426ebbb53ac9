"""The supervisor's graph part, in one object (decision 0027): the `SharedGraph` (one
graph, store and scorer), the `RouteService` the workers ask, and the `GossipSync`
sessions that fill the graph -- started, reported and closed together.

    graph = GraphService(store, chain_hash, workers, gossip_peers, chain_url)
    graph.start()              # on the event loop, after the workers' fds are given
    graph.status()             # /v1/status "graph"
    await graph.close()
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

from vajra.chain.btcd import BtcdSource
from vajra.errors import VajraError
from vajra.gossip.chain_lookup import ChainSourceLookup
from vajra.gossip.core import ChainLookup
from vajra.runtime.gossip_sync import GossipPeer, GossipSync
from vajra.runtime.route_service import RouteService, SharedGraph


class GraphConfigError(VajraError):
    """A gossip configuration the runtime cannot run (bad peer, no chain source)."""


class GraphService:
    def __init__(
        self,
        store: str | None,
        chain_hash: bytes,
        workers: int,
        gossip_peers: Sequence[str] = (),
        chain_url: str | None = None,
    ) -> None:
        try:
            peers = [GossipPeer.parse(p) for p in gossip_peers]
        except ValueError as e:
            raise GraphConfigError(str(e)) from None
        if peers and not chain_url:
            # BOLT 7: a channel_announcement is accepted only once its funding output is
            # checked on chain; without a chain source nothing could be.
            raise GraphConfigError("--gossip-peer needs a chain source (--chain)")
        self.shared = SharedGraph.open(None if store is None else store + ".gossip", chain_hash)
        self.routes = RouteService(self.shared, workers)
        self._chain_url = chain_url
        self.sync = GossipSync(self.shared, peers, self._lookup, chain_hash) if peers else None
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def _lookup(self) -> ChainLookup:
        assert self._chain_url is not None
        return ChainSourceLookup(BtcdSource.from_url(self._chain_url))

    def worker_fd(self, i: int) -> int:
        return self.routes.worker_fd(i)

    def start(self) -> None:
        self.routes.start()
        if self.sync is not None:
            self._task = asyncio.create_task(self.sync.run(self._stop))

    def status(self) -> dict[str, Any]:
        out = self.routes.status()
        if self.sync is not None:
            out["gossip"] = self.sync.status()
        return out

    async def close(self) -> None:
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.routes.close()
        self.shared.close()
