"""`NodeHost.pay` on the real store and the dev signer (a real `SignerCore`: device
policy, channel records, audit): a device's authorisation travels to the node, the
signer binds it, the HTLC goes out only after the state is written, the peer fulfils,
and the payments list is written in clear for the admin API; a frozen device's payment
is refused with nothing sent (decision 0023)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from tests.unit.channel.pair import side_params
from tests.unit.node.refsigner import local_keys, secrets
from tests.unit.node.test_node_pay import HEIGHT, PEER, RING, T, invoice
from tests.unit.signer.helpers import World as Devices
from vajra.bitcoin.chains import CHAIN_HASHES
from vajra.bitcoin.tx import OutPoint
from vajra.chain.types import BlockRef, ChainEvent, EventKind, Purpose
from vajra.channel import signer_io as io
from vajra.channel.establish import (
    EstablishConfig,
    Establishment,
    FundingConfirmed,
    FundingOutpoint,
    OpenArgs,
    State,
)
from vajra.channel.machine import Channel
from vajra.channel.spec import Side
from vajra.crypto.hashes import sha256
from vajra.node.channels import funding_output_script
from vajra.node.effects import Wake
from vajra.runtime.local_signer import LocalSigner
from vajra.runtime.node_host import CHANNELS_KEY, HostConfig, NodeHost
from vajra.runtime.payment_routing import PAYMENTS_KEY
from vajra.signer.channels import ChannelSigner
from vajra.signer.messages import CommandKind, PaymentAuthorisation
from vajra.store import SealedStore, SqliteStore
from vajra.wire import Message, UpdateAddHtlc

OUTPOINT = OutPoint(sha256(b"host funding"), 0)


class Peer:
    """The channel's funder (LND's role) with its own reference signer."""

    def __init__(self) -> None:
        self.secret = secrets(b"host funder")
        args = OpenArgs(sha256(b"tmp"), 100_000, 40_000_000, 2_500, True)
        self.est = Establishment.funder(
            EstablishConfig(CHAIN_HASHES["regtest"], side_params(354)), local_keys(self.secret),
            args,
        )  # fmt: skip
        self.signer: ChannelSigner | None = None
        self.ch: Channel | None = None

    def step(self) -> list[Message]:
        core = self.ch or self.est
        while (req := core.next_signer_request()) is not None:
            if isinstance(req, io.SetupChannel):
                self.signer = ChannelSigner.setup(self.secret, req)
                core.signer_result(io.ChannelSetUp(), 0.0)
                continue
            assert self.signer is not None
            core.signer_result(self.signer.handle(req), 0.0)
        if self.ch is None and self.est.state is State.AWAIT_FUNDING_OUTPOINT:
            self.est.command(FundingOutpoint(OUTPOINT), 0.0)
            return self.step()
        ch = self.ch
        if ch is not None and ch.state.value == "normal" and ch.ledger.can_send_commit():
            ch.command(io.SignCommitment(), 0.0)
            return self.step()
        return core.messages_to_send()


@pytest.fixture
def env(tmp_path: Path):  # type: ignore[no-untyped-def]
    store = SqliteStore(tmp_path / "s.db")
    signer = LocalSigner.open(bytes(range(32)))
    node_id = asyncio.run(signer.create_nodes(1))[0].node_id
    core = signer._core
    devices = Devices(state=core.state)
    devices.policy = core.policy
    devices.bootstrap(now=T)
    devices.enroll(RING, now=T)
    yield store, signer, node_id, devices
    store.close()


def _run(
    host: NodeHost, node_id: bytes, peer: Peer, sent: list[Message], inbox: list[Message]
) -> None:
    """Messages both ways until quiet: the peer's through `deliver`, the node's from the
    replies and from the `send` callback (what it sent outside a delivery)."""
    for _ in range(40):
        back: list[Message] = []
        for m in inbox:
            back += asyncio.run(host.deliver(node_id, PEER, m))
        back += sent
        sent.clear()
        core = peer.ch or peer.est
        for m in back:
            core.receive_message(m, 0.0)
        inbox = peer.step()
        if not inbox and not back:
            return
    raise AssertionError("did not settle")


def _open(
    store: SqliteStore, signer: LocalSigner, node_id: bytes
) -> tuple[NodeHost, Peer, list[Message]]:
    sent: list[Message] = []

    def send(node: bytes, to: bytes, msg: Message) -> bool:
        assert node == node_id and to == PEER
        sent.append(msg)
        return True

    host = NodeHost(SealedStore(store), signer, HostConfig("rt", idle_timeout=1e9),
                    clock=lambda: float(T), send=send, plain=store)  # fmt: skip
    peer = Peer()
    _run(host, node_id, peer, sent, peer.est.messages_to_send())
    got = store.get(node_id, CHANNELS_KEY)
    assert got is not None
    host_view = host._awake[node_id].node.state.channels
    (entry,) = host_view.values()
    assert entry.params is not None
    script = funding_output_script(entry.params)
    ev = ChainEvent(1, 0, EventKind.RECEIVED, Purpose.FUNDING, OUTPOINT, OUTPOINT.txid,
                    100_000, script, HEIGHT - 10, bytes(32), True)  # fmt: skip
    asyncio.run(host.wake(node_id, Wake("chain", BlockRef(HEIGHT, bytes(32)), (ev,))))
    for m in sent:
        peer.est.receive_message(m, 0.0)
    sent.clear()
    peer.est.command(FundingConfirmed(), 0.0)
    _run(host, node_id, peer, sent, peer.step())
    assert peer.est.state is State.READY
    peer.ch = peer.est.channel()
    return host, peer, sent


def _auth(node_id: bytes, d: Devices, amount: int, pre: bytes) -> bytes:
    return PaymentAuthorisation(
        node_id=node_id, payment_hash=sha256(pre), amount_msat=amount, max_fee_msat=1_000,
        expiry=T + 60, counter=d.next_counter(RING), device_id=RING.device_id,
    ).signed(RING).encode()  # fmt: skip


def test_the_hosted_node_pays_its_peer_under_the_ring(env) -> None:  # type: ignore[no-untyped-def]
    store, signer, node_id, devices = env
    host, peer, sent = _open(store, signer, node_id)
    pre = b"\x61" * 32
    view = asyncio.run(host.pay(node_id, invoice(3_000_000, pre),
                                _auth(node_id, devices, 3_000_000, pre), None, height=HEIGHT))  # fmt: skip
    assert view["state"] == "in_flight"
    add = sent[0]
    assert isinstance(add, UpdateAddHtlc) and add.amount_msat == 3_000_000
    _run(host, node_id, peer, sent, [])
    assert peer.ch is not None
    peer.ch.command(io.FulfillHtlc(add.id, pre), 0.0)
    _run(host, node_id, peer, sent, peer.step())
    got = store.get(node_id, PAYMENTS_KEY)
    assert got is not None
    (p,) = json.loads(got[1])
    assert p["state"] == "succeeded" and p["preimage"] == pre.hex() and p["fee_msat"] == 0
    summary = store.get(node_id, CHANNELS_KEY)
    assert summary is not None
    (row,) = json.loads(summary[1])
    theirs = peer.ch.ledger.local_commit.spec.balance_msat
    assert row["local_balance_msat"] == 40_000_000 - 3_000_000 == theirs[Side.REMOTE]
    assert row["remote_balance_msat"] == theirs[Side.LOCAL]
    asyncio.run(host.close())


def test_a_frozen_ring_pays_nothing(env) -> None:  # type: ignore[no-untyped-def]
    store, signer, node_id, devices = env
    host, peer, sent = _open(store, signer, node_id)
    assert signer._core.policy.command(devices.command(CommandKind.FREEZE, RING, now=T), T).approved
    pre = b"\x62" * 32
    view = asyncio.run(host.pay(node_id, invoice(3_000_000, pre),
                                _auth(node_id, devices, 3_000_000, pre), None, height=HEIGHT))  # fmt: skip
    assert view["state"] == "failed" and view["reason"] == "device_frozen"
    assert sent == []
    _run(host, node_id, peer, sent, [])
    assert peer.ch is not None and peer.ch.ledger.projected().htlcs == ()
    asyncio.run(host.close())
