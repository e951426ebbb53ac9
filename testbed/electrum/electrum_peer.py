"""Electrum 4.3.4 (Debian's python3-electrum) as a peer of hosted nodes.

Runs in the test bed's Electrum venv (testbed/install.sh), not the project venv. For each
`--node ID@HOST:PORT` it dials the node with Electrum's own `LNTransport` (BOLT 8) and
runs Electrum's own `Peer`: the `init` it sends carries the chosen feature set
(`--features wallet` = `LNWALLET_FEATURES`, what a wallet uses for its channel peers;
`--features gossip` = `LNGOSSIP_FEATURES`, what its gossip sync uses), and Electrum's
`on_init` judges ours with its `ln_compare_features`. Then, through `Peer` methods:

  ping -> pong (`on_pong`), `get_channel_range()` (sends `query_channel_range`, parses
  every `reply_channel_range` with `on_reply_channel_range` and checks the replies cover
  the query, as Electrum's gossip sync does), `get_short_channel_ids()` (sends
  `query_short_channel_ids`, waits for `on_reply_short_channel_ids_end`),
  `request_gossip()` (`gossip_timestamp_filter`), and a final ping: still connected.

Only the worker object Electrum's `Peer` calls back into is ours (`HarnessWorker`, the
handful of `LNWorker` methods those steps touch: no wallet, no channels, no gossip DB).
One JSON line per node on stdout:
`{"node_id", "features", "ok", "step", "error", "their_features", "ids", "complete"}`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import sys
from typing import Any

from electrum import constants, lnworker
from electrum.lnpeer import Peer
from electrum.lntransport import LNTransport
from electrum.lnutil import LnFeatures, LNPeerAddr

STEP_TIMEOUT = 15.0


class HarnessNetwork:
    """What `Peer` reads from Electrum's `Network`: the loop, no gossip DB, a height."""

    def __init__(self, loop: asyncio.AbstractEventLoop, height: int) -> None:
        self.asyncio_loop = loop
        self.lngossip = None  # process_gossip() then stores nothing
        self.config: dict[str, Any] = {}
        self._height = height

    def get_local_height(self) -> int:
        return self._height


class HarnessWorker:
    """The `LNWorker` callbacks `Peer` makes during init, pings and gossip queries."""

    def __init__(self, network: HarnessNetwork, features: LnFeatures) -> None:
        self.network = network
        self.features = features

    def on_peer_successfully_established(self, peer: Peer) -> None:
        pass

    def peer_closed(self, peer: Peer) -> None:
        pass

    def uses_trampoline(self) -> bool:
        return True  # gossip messages are not queued for a graph we do not keep

    def channels_for_peer(self, node_id: bytes) -> dict[bytes, Any]:
        return {}

    def get_channel_by_id(self, channel_id: bytes) -> None:
        return None


async def visit(uri: str, features: str, height: int) -> dict[str, Any]:
    node_hex, _, hostport = uri.partition("@")
    host, _, port = hostport.rpartition(":")
    out: dict[str, Any] = {"node_id": node_hex, "features": features, "ok": False}
    feats = lnworker.LNWALLET_FEATURES if features == "wallet" else lnworker.LNGOSSIP_FEATURES
    worker = HarnessWorker(HarnessNetwork(asyncio.get_running_loop(), height), feats)
    transport = LNTransport(
        os.urandom(32), LNPeerAddr(host, int(port), bytes.fromhex(node_hex)), proxy=None
    )
    peer = Peer(worker, bytes.fromhex(node_hex), transport)  # type: ignore[arg-type]
    loop_task = asyncio.ensure_future(peer._message_loop())
    step = "init"
    try:
        await asyncio.wait_for(asyncio.shield(peer.initialized), STEP_TIMEOUT)
        out["their_features"] = hex(int(peer.their_features))
        out["negotiated"] = hex(int(peer.features))
        step = "ping"
        peer.pong_event.clear()
        peer.send_message("ping", num_pong_bytes=4, byteslen=4)
        await asyncio.wait_for(peer.pong_event.wait(), STEP_TIMEOUT)
        step = "query_channel_range"
        ids, complete = await asyncio.wait_for(peer.get_channel_range(), STEP_TIMEOUT)
        out["ids"], out["complete"] = len(ids), bool(complete)
        step = "query_short_channel_ids"
        scid = (height - 1).to_bytes(3, "big") + bytes(5)  # one (unknown) channel
        await asyncio.wait_for(peer.get_short_channel_ids([scid]), STEP_TIMEOUT)
        step = "gossip_timestamp_filter"
        peer.request_gossip(0)
        step = "ping_after"
        peer.pong_event.clear()
        peer.send_message("ping", num_pong_bytes=4, byteslen=4)
        await asyncio.wait_for(peer.pong_event.wait(), STEP_TIMEOUT)
        if loop_task.done():
            raise RuntimeError("connection ended")
        out["ok"] = True
        step = "done"
    except BaseException as e:
        if isinstance(e, KeyboardInterrupt):
            raise
        out["error"] = f"{type(e).__name__}: {e}"
    finally:
        out["step"] = step
        peer.close_and_cleanup()
        loop_task.cancel()
        with contextlib.suppress(BaseException):
            await loop_task
    return out


async def main_async(args: argparse.Namespace) -> int:
    for uri in args.node:
        print(json.dumps(await visit(uri, args.features, args.height)), flush=True)
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--features", choices=("wallet", "gossip"), required=True)
    p.add_argument("--node", action="append", required=True, help="NODE_ID@HOST:PORT")
    p.add_argument("--height", type=int, default=200, help="our chain height (regtest)")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    constants.set_regtest()
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
