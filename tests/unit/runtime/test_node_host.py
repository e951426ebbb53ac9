"""Wake/sleep with the real store and an in-process signer: leases, sealing, fencing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.e2e.runtime_proc import open_channel_msg
from vajra.node import NodeState
from vajra.runtime.local_signer import LocalSigner
from vajra.runtime.node_host import STATE_KEY, HostConfig, NodeHost, WakeFailed
from vajra.store import SealedStore, SqliteStore
from vajra.wire import ErrorMessage

PEER = bytes([2]) + bytes(range(32))


class Clock:
    def __init__(self) -> None:
        self.t = 1_000_000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def env(tmp_path: Path):  # type: ignore[no-untyped-def]
    store = SqliteStore(tmp_path / "s.db")
    signer = LocalSigner.open(bytes(range(32)))
    node_id = asyncio.run(signer.create_nodes(1))[0].node_id
    yield store, signer, node_id
    store.close()


def _host(store: SqliteStore, signer: LocalSigner, rid: str, clock: Clock, **kw: float) -> NodeHost:
    return NodeHost(SealedStore(store), signer, HostConfig(rid, **kw), clock=clock)


def test_wake_process_write_sleep(env) -> None:  # type: ignore[no-untyped-def]
    store, signer, node_id = env
    clock = Clock()
    host = _host(store, signer, "rt-a", clock, idle_timeout=5)

    async def main() -> None:
        tid = bytes(range(32))
        out = await host.deliver(node_id, PEER, open_channel_msg(tid))
        assert out[0] == ErrorMessage(channel_id=tid, data=out[0].data)  # type: ignore[union-attr]
        assert host.is_awake(node_id) and host.wakes == 1
        lease = store.get_lease(node_id)
        assert lease is not None and lease.runtime_id == "rt-a"
        got = store.get(node_id, STATE_KEY)
        assert got is not None and got[0] == 1
        assert PEER.hex().encode() not in got[1]  # sealed at rest
        await host.deliver(node_id, PEER, open_channel_msg())  # awake: no second wake
        assert host.wakes == 1
        assert await host.sleep_idle() == 0
        clock.t += 6
        assert await host.sleep_idle() == 1
        assert not host.is_awake(node_id)
        assert store.get_lease(node_id) is None  # released
        # Wakes again from the stored state.
        await host.deliver(node_id, PEER, open_channel_msg())
        assert host.wakes == 2
        await host.close()

    asyncio.run(main())
    sealed = SealedStore(store)
    lease = store.acquire_lease(node_id, "reader", clock.t, 5)
    sealed.unlock(node_id, asyncio.run(signer.state_key(node_id, lease.epoch)))
    got = sealed.get(node_id, STATE_KEY)
    assert got is not None
    st = NodeState.decode(got[1])
    assert st.channel_requests == 3 and PEER.hex() in st.peers


def test_two_runtimes_cannot_both_own_a_node(env) -> None:  # type: ignore[no-untyped-def]
    store, signer, node_id = env
    clock = Clock()
    a = _host(store, signer, "rt-a", clock, idle_timeout=5)
    b = _host(store, signer, "rt-b", clock, idle_timeout=5, wake_wait=0.05)

    async def main() -> None:
        await a.deliver(node_id, PEER, open_channel_msg())
        with pytest.raises(WakeFailed) as e:
            await b.deliver(node_id, PEER, open_channel_msg())
        assert e.value.reason == "lease_held"
        assert not b.is_awake(node_id)
        clock.t += 6
        await a.sleep_idle()  # a lets go: now b may
        await b.deliver(node_id, PEER, open_channel_msg())
        assert b.is_awake(node_id)
        await a.close()
        await b.close()

    asyncio.run(main())


def test_fenced_out_copy_cannot_write(env) -> None:  # type: ignore[no-untyped-def]
    store, signer, node_id = env
    clock = Clock()
    a = _host(store, signer, "rt-a", clock, idle_timeout=1000, lease_ttl=10)
    b = _host(store, signer, "rt-b", clock, idle_timeout=1000, lease_ttl=10)

    async def main() -> None:
        await a.deliver(node_id, PEER, open_channel_msg())
        clock.t += 11  # a's lease expired (a stalled process); b takes over
        await b.deliver(node_id, PEER, open_channel_msg())
        version_b = store.get(node_id, STATE_KEY)[0]  # type: ignore[index]
        with pytest.raises(WakeFailed) as e:
            await a.deliver(node_id, PEER, open_channel_msg())
        assert e.value.reason == "lease_lost"
        assert not a.is_awake(node_id)
        assert store.get(node_id, STATE_KEY)[0] == version_b  # type: ignore[index]
        await b.close()
        await a.close()

    asyncio.run(main())
