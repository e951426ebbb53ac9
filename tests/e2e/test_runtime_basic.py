"""The runtime end to end: real processes, real sockets, our own BOLT 8 initiator."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from peer_loop import dial  # type: ignore[import-not-found]

from tests.e2e.runtime_proc import (
    VajraProcess,
    client_key,
    open_channel_msg,
    start_runtime,
    wait_closed,
    wait_until,
)
from tests.e2e.state_reader import read_state
from vajra.bitcoin.chains import CHAIN_HASHES
from vajra.peer import ErrorReceived, InitReceived, MessageReceived, PongReceived
from vajra.wire import QueryChannelRange, QueryShortChannelIds, ReplyChannelRange

pytestmark = pytest.mark.e2e
N_NODES = 2000


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VajraProcess]:
    d = tmp_path_factory.mktemp("rt")
    rt = start_runtime(d / "store.db", create=N_NODES, extra=("--idle-timeout", "1"))
    try:
        yield rt
    finally:
        rt.stop()


def test_ready_line_and_listing(runtime: VajraProcess) -> None:
    assert runtime.ready["node_count"] == N_NODES
    nodes = runtime.nodes()
    assert len(nodes) == N_NODES
    assert {n["state"] for n in nodes} == {"sleeping"}
    hosts = {n["host"] for n in nodes}
    assert len(hosts) == N_NODES  # every node its own address
    assert {n["port"] for n in nodes} == {runtime.port}


def test_random_sleeping_nodes_answer_init_and_ping(runtime: VajraProcess) -> None:
    sample = random.sample(runtime.nodes(), 40)

    async def one(n: dict[str, object]) -> None:
        d = await dial(client_key(), bytes.fromhex(str(n["node_id"])), str(n["host"]), runtime.port)
        await d.wait_for(InitReceived)
        d.ping(16)
        pong = await d.wait_for(PongReceived)
        assert pong.byteslen == 16
        await d.close()

    async def main() -> None:
        await asyncio.gather(*(one(n) for n in sample))

    asyncio.run(main())
    wait_until(lambda: runtime.counters()["pongs"] >= 40, timeout=30, what="pong counter")
    c = runtime.counters()
    assert c["inits"] >= 40
    assert c["wakes"] == 0  # nobody woke for ping/pong


def test_gossip_queries_answered_without_waking(runtime: VajraProcess) -> None:
    n = random.choice(runtime.nodes())
    chain = CHAIN_HASHES["regtest"]

    async def main() -> None:
        d = await dial(client_key(), bytes.fromhex(n["node_id"]), n["host"], runtime.port)
        await d.wait_for(InitReceived)
        d.conn.send(QueryChannelRange(chain, 100, 1000), 0.0)
        d.conn.send(QueryShortChannelIds(chain, b"\x00"), 0.0)
        d._flush()
        got = await d.wait_for(MessageReceived)
        assert isinstance(got.message, ReplyChannelRange)
        assert (got.message.first_blocknum, got.message.number_of_blocks) == (100, 1000)
        assert got.message.sync_complete == 1
        for _ in range(50):
            names = [e.message.NAME for e in d.events if isinstance(e, MessageReceived)]
            if "reply_short_channel_ids_end" in names:
                break
            await asyncio.sleep(0.05)
        assert names == ["reply_channel_range", "reply_short_channel_ids_end"]
        await d.close()

    asyncio.run(main())
    assert runtime.counters()["wakes"] == 0


def test_unknown_address_is_closed(runtime: VajraProcess) -> None:
    async def main() -> None:
        # Inside the pool but past the last node, and outside the pool entirely.
        assert await wait_closed("127.1.200.200", runtime.port)
        assert await wait_closed("127.0.0.1", runtime.port)

    before = runtime.counters()["closed_unknown_address"]
    asyncio.run(main())
    wait_until(
        lambda: runtime.counters()["closed_unknown_address"] >= before + 2,
        timeout=30,
        what="counter",
    )


def test_open_channel_wakes_node_gets_error_and_sleeps(
    runtime: VajraProcess, tmp_path: Path
) -> None:
    n = random.choice(runtime.nodes())
    temp_id = bytes(range(32))
    me = client_key()

    async def main() -> None:
        d = await dial(me, bytes.fromhex(n["node_id"]), n["host"], runtime.port)
        await d.wait_for(InitReceived)
        d.conn.send(open_channel_msg(temp_id), 0.0)
        d._flush()
        err = await d.wait_for(ErrorReceived)
        assert err.channel_id == temp_id
        await d.close()

    asyncio.run(main())
    node = runtime.admin(f"/v1/nodes/{n['node_id']}")
    assert node["state"] in ("awake", "sleeping")
    wait_until(lambda: runtime.counters()["wakes"] >= 1, timeout=30, what="wake counter")
    # Workers publish their counters every 0.1 s: wait for it, do not race it.
    wait_until(lambda: runtime.counters()["errors_sent"] >= 1, timeout=30, what="errors_sent")
    # The node sleeps again after its idle timeout (1 s here).
    wait_until(
        lambda: runtime.admin(f"/v1/nodes/{n['node_id']}")["state"] == "sleeping",
        timeout=30,
        what="sleep",
    )
    wait_until(lambda: runtime.counters()["sleeps"] >= 1, timeout=30, what="sleep counter")
    # The peer is in the node's encrypted state.
    state = read_state(runtime.store, bytes.fromhex(n["node_id"]))
    assert me.pubkey.hex() in state.peers
    assert state.channel_requests >= 1
    assert me.pubkey.hex().encode() not in runtime.store.read_bytes()


def test_wakes_are_handed_to_the_owning_worker(runtime: VajraProcess) -> None:
    """Whichever worker accepts, a node wakes in worker index % W (SCM_RIGHTS handover)."""
    from vajra.runtime.fabric import DEFAULT_POOL, AddressPool

    pool = AddressPool.parse(DEFAULT_POOL, runtime.port)
    sample = random.sample(runtime.nodes(), 30)
    before = runtime.counters()

    async def one(n: dict[str, str]) -> None:
        d = await dial(client_key(), bytes.fromhex(n["node_id"]), n["host"], runtime.port)
        await d.wait_for(InitReceived)
        d.conn.send(open_channel_msg(), 0.0)
        d._flush()
        await d.wait_for(ErrorReceived)
        d.ping(8)  # the moved session keeps working
        await d.wait_for(PongReceived)
        await d.close()

    async def main() -> None:
        await asyncio.gather(*(one(n) for n in sample))

    asyncio.run(main())
    for n in sample:
        shown = runtime.admin(f"/v1/nodes/{n['node_id']}")
        if shown["state"] == "awake":
            assert shown["worker"] == pool.index_of(n["host"]) % 2  # type: ignore[operator]

    def settled() -> bool:
        c = runtime.counters()
        return c["handovers_in"] == c["handovers_out"] > before["handovers_out"]

    wait_until(settled, timeout=30, what="every handover received")  # workers publish every 0.1 s
    assert runtime.counters()["wake_failures"] == before["wake_failures"]
