"""The "close" node call (decision 0029) on a real `NodeHost`, store and dev signer: the
typed refusals change nothing; a close to a connected peer writes the state, then sends
our `shutdown` paying the node wallet's close script; the peer negotiates and the signed
closing transaction goes to the runtime's broadcaster, the wallet script to the watcher."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from tests.unit.node.test_node_pay import PEER
from tests.unit.runtime.test_node_host_pay import HEIGHT, Peer, _open
from tests.unit.runtime.test_node_host_pay import env as env  # the fixture
from vajra.bitcoin.tx import Tx
from vajra.chain.types import BlockRef, ChainEvent, Purpose
from vajra.channel import signer_io as io
from vajra.channel.machine import State as ChannelState
from vajra.crypto.hashes import sha256
from vajra.node.closing import CloseRefused
from vajra.node.effects import WakeAt, Watch
from vajra.node.requests import CLOSE_CHANGE_INDEX
from vajra.runtime.close_call import close
from vajra.runtime.node_host import CHANNELS_KEY, NodeHost
from vajra.runtime.node_services import ServiceError
from vajra.wallet.account import CHANGE, Account, WalletState
from vajra.wallet.account import STORE_KEY as WALLET_KEY
from vajra.wire import Message, Shutdown

THEIRS = bytes([0x00, 0x14]) + sha256(b"funder wallet")[:20]


class Services:
    """The supervisor's side as the node's effects reach it (the real one, over the
    control channel, is exercised by the interop test)."""

    def __init__(self) -> None:
        self.watched: list[Watch] = []
        self.broadcast_txs: list[bytes] = []

    async def watch(self, node_id: bytes, watch: Watch) -> None:
        self.watched.append(watch)

    async def set_timer(self, node_id: bytes, at: WakeAt) -> None:
        pass

    async def broadcast(self, node_id: bytes, raw_tx: bytes) -> None:
        self.broadcast_txs.append(raw_tx)

    async def ensure_wallet(self, node_id: bytes) -> None:
        # The supervisor would make the wallet record; this one cannot (no chain), so
        # the close is refused `no_wallet` until the test makes the record itself.
        raise ServiceError("no_chain", "the test's supervisor keeps no wallets")

    async def store_justice(
        self, node_id: bytes, channel_index: int, hint: bytes, funding: bytes, blob: bytes
    ) -> None:
        self.kits = getattr(self, "kits", 0) + 1

    async def pending_events(self, node_id: bytes) -> tuple[BlockRef | None, list[ChainEvent]]:
        return None, []

    async def ack_events(self, node_id: bytes, upto_seq: int) -> None:
        pass


def _refused(host: NodeHost, node_id: bytes, body: dict[str, Any]) -> str:
    with pytest.raises(CloseRefused) as e:
        asyncio.run(close(host, node_id, body, HEIGHT))
    return e.value.code


def test_close_call_refusals_then_a_negotiated_close(env) -> None:  # type: ignore[no-untyped-def]
    store, signer, node_id, _ = env
    host, peer, sent = _open(store, signer, node_id)
    services = Services()
    host._services = services
    (row,) = json.loads(store.get(node_id, CHANNELS_KEY)[1])
    cid = str(row["channel_id"])
    assert _refused(host, node_id, {"channel_id": "zz"}) == "bad_request"
    assert _refused(host, node_id, {"channel_id": cid}) == "no_wallet"
    xpub, fingerprint = asyncio.run(signer.account_xpub(node_id, 0))
    wallet = WalletState(xpub, fingerprint)
    store.put(node_id, WALLET_KEY, wallet.encode(), 0)
    ours = Account(wallet).script(CHANGE, CLOSE_CHANGE_INDEX)
    assert _refused(host, node_id, {"channel_id": "00" * 32}) == "unknown_channel"
    before = store.get(node_id, CHANNELS_KEY)
    # No session with the peer in this worker: refused, nothing written or sent.
    assert _refused(host, node_id, {"channel_id": cid}) == "peer_offline"
    assert store.get(node_id, CHANNELS_KEY) == before and sent == []
    host._reachable = lambda node, to: to == peer_id(host, node_id)
    view = asyncio.run(close(host, node_id, {"channel_id": cid}, HEIGHT))
    assert view["state"] == "closing" and view["channel_id"] == cid
    (sd,) = sent
    assert isinstance(sd, Shutdown) and sd.scriptpubkey == ours
    assert Watch(Purpose.CHANGE, script_pubkey=ours) in services.watched
    assert _refused(host, node_id, {"channel_id": cid}) == "already_closing"
    # The peer (the funder) answers and proposes the fee; the node agrees and broadcasts.
    assert peer.ch is not None
    peer.ch.receive_message(sd, 0.0)
    sent.clear()
    assert isinstance(peer.ch.next_event(), io.ShutdownReceived)
    peer.ch.command(io.Close(THEIRS, 253, 1_000), 0.0)
    _negotiate(host, node_id, peer, sent)
    assert peer.ch.state is ChannelState.CLOSED
    (raw,) = services.broadcast_txs
    outs = {o.script_pubkey: o.amount_sat for o in Tx.parse(raw).outputs}
    assert outs[ours] == 40_000  # the node's balance to the sat: the funder pays the fee
    (row,) = json.loads(store.get(node_id, CHANNELS_KEY)[1])
    assert row["state"] == "closing" and row["closing_txid"] == Tx.parse(raw).txid[::-1].hex()
    asyncio.run(host.close())


def peer_id(host: NodeHost, node_id: bytes) -> bytes:
    (entry,) = host._awake[node_id].node.state.channels.values()
    return entry.peer


def _negotiate(host: NodeHost, node_id: bytes, peer: Peer, sent: list[Message]) -> None:
    """The peer's closing_signed and the node's answers until quiet (the peer's signer
    may sign a close to its own wallet's script only)."""
    ch, signer = peer.ch, peer.signer
    assert ch is not None and signer is not None
    for _ in range(30):
        while (r := ch.next_signer_request()) is not None:
            ch.signer_result(signer.handle(r, allowlisted={THEIRS}), 0.0)
        out = ch.messages_to_send()
        back: list[Message] = []
        for m in out:
            back += asyncio.run(host.deliver(node_id, PEER, m))
        back += sent
        sent.clear()
        for m in back:
            ch.receive_message(m, 0.0)
        if not out and not back:
            return
    raise AssertionError("did not settle")
