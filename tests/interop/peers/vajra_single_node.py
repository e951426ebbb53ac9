"""One Vajra node on a socket: the sans-IO peer core behind the test-only asyncio edge.

    python -m tests.interop.peers.vajra_single_node --secret HEX [--port P]

Prints `{"event": "ready", "nodes": [{"node_id", "host", "port"}], "features": {...}}` once
listening (the same ready line `vajra runtime --dev-node-secret` prints), then serves
until stdin closes or SIGTERM. Used by the lnprototest Vajra Runner for BOLT 1
scenarios against the protocol core alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys

from vajra.noise import StaticKey
from vajra.wire import features as feat

from ..peer_loop import Responder


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--secret", required=True)
    p.add_argument("--port", type=int, default=0)
    a = p.parse_args()
    key = StaticKey(bytes.fromhex(a.secret.rjust(64, "0")))
    resp = Responder(key)
    await resp.start(port=a.port)
    node = {"node_id": key.pubkey.hex(), "host": "127.0.0.1", "port": resp.port}
    ready = {"event": "ready", "nodes": [node], "features": feat.advertised()}
    print(json.dumps(ready), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_reader(sys.stdin.fileno(), lambda: stop.set() if not sys.stdin.read(1) else None)
    await stop.wait()
    await resp.stop()


if __name__ == "__main__":
    asyncio.run(main())
