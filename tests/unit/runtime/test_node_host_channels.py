"""`NodeHost` with channels, on the real store and an in-process signer: the signer
loop runs before the write, the write before the send (BOLT 2 persistence), a signer
lost mid-channel drops the unwritten state, and the channel summary is written in clear
for the admin API."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from tests.unit.node.test_node_channels import OUTPOINT, PEER, Funder
from vajra.channel import signer_io as io
from vajra.channel.establish_io import LocalKeys
from vajra.errors import PolicyViolation
from vajra.node import NodeState
from vajra.runtime.local_signer import LocalSigner
from vajra.runtime.node_host import (
    CHANNELS_KEY,
    STATE_KEY,
    ChannelAborted,
    HostConfig,
    NodeHost,
)
from vajra.runtime.remote_signer import SignerUnavailable
from vajra.store import SealedStore, SqliteStore
from vajra.wire import AcceptChannel, FundingSigned, Message


class ChannelSigning(LocalSigner):
    """The dev signer (a real `SignerCore`: keys, its own copy of each channel, policy,
    fencing, audit), recording the epochs it is asked with; `fail_with` makes the next
    channel request raise as a lost link or a fenced-out epoch would."""

    def __init__(self, base: LocalSigner) -> None:
        super().__init__(base._core)
        self.fail_with: Exception | None = None
        self.epochs: list[int] = []

    async def new_channel(self, node_id: bytes, epoch: int) -> tuple[int, LocalKeys]:
        self.epochs.append(epoch)
        return await super().new_channel(node_id, epoch)

    async def channel_request(
        self, node_id: bytes, epoch: int, channel_index: int, request: io.SignerRequest
    ) -> io.SignerResult:
        self.epochs.append(epoch)
        if self.fail_with is not None:
            raise self.fail_with
        return await super().channel_request(node_id, epoch, channel_index, request)


@pytest.fixture
def env(tmp_path: Path):  # type: ignore[no-untyped-def]
    store = SqliteStore(tmp_path / "s.db")
    base = LocalSigner.open(bytes(range(32)))
    node_id = asyncio.run(base.create_nodes(1))[0].node_id
    yield store, ChannelSigning(base), node_id
    store.close()


def _state(store: SqliteStore, signer: LocalSigner, node_id: bytes) -> tuple[int, NodeState]:
    sealed = SealedStore(store)
    lease = store.acquire_lease(node_id, "reader", 2e6, 5)
    try:
        sealed.unlock(node_id, asyncio.run(signer.state_key(node_id, lease.epoch)))
        got = sealed.get(node_id, STATE_KEY)
        assert got is not None
        return got[0], NodeState.decode(got[1])
    finally:
        store.release_lease(lease)


def test_funding_signed_only_after_the_state_holding_it_is_written(env) -> None:  # type: ignore[no-untyped-def]
    store, signer, node_id = env
    seen_at_send: list[int] = []

    def send(node: bytes, peer: bytes, msg: Message) -> bool:
        raise AssertionError("the reply goes to the peer in front of us")

    host = NodeHost(SealedStore(store), signer, HostConfig("rt"), clock=lambda: 1e6,
                    send=send, plain=store)  # fmt: skip
    funder = Funder()

    async def main() -> None:
        (accept,) = await host.deliver(node_id, PEER, funder.open_msg())
        assert isinstance(accept, AcceptChannel)
        funder.est.receive_message(accept, 0.0)
        (created,) = funder.step()
        version_before = store.get(node_id, STATE_KEY)
        (signed,) = await host.deliver(node_id, PEER, created)
        assert isinstance(signed, FundingSigned)
        got = store.get(node_id, STATE_KEY)
        assert got is not None and version_before is not None and got[0] > version_before[0]
        seen_at_send.append(got[0])
        await host.close()

    asyncio.run(main())
    version, st = _state(store, signer, node_id)
    assert version == seen_at_send[0]  # nothing written after the send
    (entry,) = st.channels.values()
    assert entry.committed and entry.phase == "awaiting_depth" and entry.channel_index >= 0
    assert entry.params is not None and entry.params.funding_outpoint == OUTPOINT
    summary = store.get(node_id, CHANNELS_KEY)
    assert summary is not None
    (row,) = json.loads(summary[1])
    assert row["state"] == "awaiting_depth" and row["capacity_sat"] == 100_000
    assert row["channel_id"] == entry.params.channel_id.hex()
    assert b"secret" not in summary[1] and entry.peer.hex() == row["peer"]
    lease_epochs = set(signer.epochs)
    assert len(lease_epochs) == 1 and 0 not in lease_epochs  # every request fenced


@pytest.mark.parametrize(
    "error",
    [SignerUnavailable(0, "link down"), PolicyViolation("stale_epoch", "epoch 1 < newest 2")],
)
def test_signer_lost_mid_establishment_drops_the_unwritten_state(env, error: Exception) -> None:  # type: ignore[no-untyped-def]
    store, signer, node_id = env
    host = NodeHost(SealedStore(store), signer, HostConfig("rt"), clock=lambda: 1e6, plain=store)
    funder = Funder()

    async def main() -> None:
        (accept,) = await host.deliver(node_id, PEER, funder.open_msg())
        funder.est.receive_message(accept, 0.0)
        (created,) = funder.step()
        written = store.get(node_id, STATE_KEY)
        signer.fail_with = error
        with pytest.raises(ChannelAborted):
            await host.deliver(node_id, PEER, created)
        assert not host.is_awake(node_id)  # dropped, lease released
        assert store.get_lease(node_id) is None
        assert store.get(node_id, STATE_KEY) == written  # nothing of the aborted input
        await host.close()

    asyncio.run(main())
    _, st = _state(store, signer, node_id)
    (entry,) = st.channels.values()
    assert not entry.committed and entry.phase == "opening"  # as it was before funding_created


def test_open_refused_when_the_signer_cannot_give_keys(env) -> None:  # type: ignore[no-untyped-def]
    store, signer, node_id = env

    async def no_keys(node_id: bytes, epoch: int) -> tuple[int, LocalKeys]:
        raise SignerUnavailable(0, "link down")

    signer.new_channel = no_keys  # type: ignore[method-assign]
    host = NodeHost(SealedStore(store), signer, HostConfig("rt"), clock=lambda: 1e6)

    async def main() -> None:
        (err,) = await host.deliver(node_id, PEER, Funder().open_msg())
        assert err.NAME == "error" and b"signer unavailable" in err.data  # type: ignore[attr-defined]
        assert host.is_awake(node_id)  # the node is fine; only this open was refused
        await host.close()

    asyncio.run(main())
    assert not _state(store, signer, node_id)[1].channels
