"""Issue 13 item 2: a rogue runtime holding a copy of the runtime's link key cannot do
lasting damage. Real sockets, a real signer daemon, the runtime's real wake path.

The rogue is a hub started from a copy of the runtime's state directory (link key and
pins) on the runtime's address, so the signer's redial reaches it and the pinned key
matches: everything a stolen `link_key` file allows.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from tests.e2e.runtime_proc import open_channel_msg
from tests.unit.signer.helpers import World
from tests.unit.signer.test_link_session import KEYS, LINK_KEY, hub_at, run
from vajra.errors import PolicyViolation
from vajra.runtime.node_host import HostConfig, NodeHost
from vajra.signer.core import SignerCore
from vajra.signer.daemon import RuntimeAddress, SignerDaemon, pair
from vajra.signer.link_server import LinkHandler
from vajra.signer.state import MAX_EPOCH_STEP
from vajra.store import SealedStore, SqliteStore

PEER = bytes([2]) + bytes(range(32))
QUOTA = 10


@run
async def test_a_rogue_runtime_cannot_lock_out_nodes_or_create_past_the_quota(
    tmp_path: Path,
) -> None:
    core = SignerCore(KEYS, World().state)
    # The owner's quota, in the signer's state (a `quota` audit entry), as `vajra signer
    # quota --nodes` sets it; the handler reads it at each request, as `vajra signer run`.
    assert core.policy.set_node_quota(QUOTA, 1).approved
    real, stolen = tmp_path / "hub", tmp_path / "stolen"
    async with hub_at(real) as hub:
        port = hub.port
        p = await pair("127.0.0.1", port, hub.pairing_code().code, LINK_KEY)
        daemon = SignerDaemon(
            LinkHandler(core, node_quota=core.node_quota), LINK_KEY,
            RuntimeAddress("127.0.0.1", port, p.runtime_pubkey), tmp_path / "local.sock",
            backoff_base=0.02, backoff_cap=0.1,
        )  # fmt: skip
        task = asyncio.create_task(daemon.run())
        rs = hub.signer(1)
        await rs.wait_connected(5)
        nodes = [g.node_id for g in await rs.create_nodes(3)]
        shutil.copytree(real, stolen)  # the copy an attacker took of the runtime's disk

    async with hub_at(stolen, port=port) as rogue:
        rrs = rogue.signer(1)
        await rrs.wait_connected(5)
        # Every identity secret: expected, the runtime holds them (documented).
        assert len(await rrs.identity_secrets(nodes, 0)) == 3
        # 1,000 nodes with no approval: refused, audited, none created.
        for count in (1000, QUOTA - 3 + 1):
            with pytest.raises(PolicyViolation) as e:
                await rrs.create_nodes(count)
            assert e.value.reason == "node_quota"
        assert len(core.nodes()) == 3
        refused = [e for e in core.state.audit_entries() if e.reason == "node_quota"]
        assert [e.kind for e in refused] == ["create_nodes", "create_nodes"]  # the owner sees it
        # Push an epoch to 2^63 - 1: refused. The most it can do is one bounded step.
        with pytest.raises(PolicyViolation) as e:
            await rrs.state_key(nodes[0], (1 << 63) - 1)
        assert e.value.reason == "epoch_jump"
        await rrs.state_key(nodes[0], MAX_EPOCH_STEP)
        with pytest.raises(PolicyViolation) as e:
            await rrs.state_key(nodes[0], 2 * MAX_EPOCH_STEP + 1)
        assert e.value.reason == "epoch_jump"

    # The real runtime comes back: its store's lease epoch (1) is below the pushed one,
    # and the wake recovers by taking the signer's newest + 1.
    store = SqliteStore(tmp_path / "store.db")
    async with hub_at(real, port=port) as hub:
        rs = hub.signer(1)
        await rs.wait_connected(5)
        host = NodeHost(SealedStore(store), rs, HostConfig("rt-a"), clock=lambda: 1e6)
        out = await host.deliver(nodes[0], PEER, open_channel_msg())
        assert out and host.is_awake(nodes[0])
        lease = store.get_lease(nodes[0])
        assert lease is not None and lease.epoch == MAX_EPOCH_STEP + 1
        # Another node the rogue never touched wakes at its ordinary epoch.
        await host.deliver(nodes[1], PEER, open_channel_msg())
        lease = store.get_lease(nodes[1])
        assert lease is not None and lease.epoch == 1
        await host.sleep(nodes[0])
        await host.sleep(nodes[1])
        daemon.stop()
        await task
    store.close()
