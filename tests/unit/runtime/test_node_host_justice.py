"""Justice armed by the host (decision 0026): once the peer revokes a commitment, the
awake node's host has the dev signer (a real `SignerCore`) sign its penalty to the
node's own wallet and hands the sealed kit to the runtime's services, here a real
watcher's justice store; mining that revoked commitment then sends the penalty with no
node and no signer involved."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import NamedTuple

from tests.unit.node.test_node_pay import HEIGHT, invoice
from tests.unit.runtime.test_node_host_pay import _auth, _open, _run, env  # noqa: F401
from vajra.bitcoin.tx import Tx
from vajra.chain.db import ChainDb
from vajra.chain.justice_kit import breach_hint
from vajra.chain.types import BlockRef, ChainEvent
from vajra.chain.watcher import Watcher
from vajra.channel import signer_io as io
from vajra.channel.spec import Side, build_commitment_for
from vajra.node.effects import WakeAt, Watch
from vajra.node.requests import CLOSE_CHANGE_INDEX
from vajra.wallet.account import CHANGE, Account, WalletState
from vajra.wallet.account import STORE_KEY as WALLET_KEY
from vajra.wire import UpdateAddHtlc


class Services:
    """The runtime's services as the supervisor gives them: the justice store is a real
    watcher's; the rest is recorded."""

    def __init__(self, watcher: Watcher) -> None:
        self.watcher = watcher
        self.stored: list[tuple[int, bytes]] = []

    async def watch(self, node_id: bytes, watch: Watch) -> None:
        pass

    async def set_timer(self, node_id: bytes, at: WakeAt) -> None:
        pass

    async def broadcast(self, node_id: bytes, raw_tx: bytes) -> None:
        pass

    async def store_justice(
        self, node_id: bytes, channel_index: int, hint: bytes, funding: bytes, blob: bytes
    ) -> None:
        self.stored.append((channel_index, hint))
        self.watcher.justice.add(0, channel_index, hint, blob, funding)

    async def pending_events(self, node_id: bytes) -> tuple[BlockRef | None, list[ChainEvent]]:
        return None, []

    async def ack_events(self, node_id: bytes, upto_seq: int) -> None:
        pass


def test_a_revocation_arms_justice_and_a_breach_sends_the_penalty(env, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    store, signer, node_id, devices = env
    xpub, fingerprint = asyncio.run(signer.account_xpub(node_id, 0))
    store.put(node_id, WALLET_KEY, WalletState(xpub, fingerprint).encode(), 0)
    wallet_script = Account(WalletState(xpub, fingerprint)).script(CHANGE, CLOSE_CHANGE_INDEX)
    host, peer, sent = _open(store, signer, node_id)
    watcher = Watcher(ChainDb(tmp_path / "chain.sqlite"))
    services = Services(watcher)
    host._services = services  # the supervisor's services, from here on
    pre = b"\x62" * 32
    asyncio.run(host.pay(node_id, invoice(3_000_000, pre),
                         _auth(node_id, devices, 3_000_000, pre), None, height=HEIGHT))  # fmt: skip
    add = sent[0]
    assert isinstance(add, UpdateAddHtlc)
    _run(host, node_id, peer, sent, [])
    assert peer.ch is not None and peer.signer is not None
    peer.ch.command(io.FulfillHtlc(add.id, pre), 0.0)
    _run(host, node_id, peer, sent, peer.step())
    assert services.stored, "no penalty was armed"
    assert len(watcher.justice) == len({h for _, h in services.stored})
    # The peer cheats: it broadcasts one of its own revoked commitments (its copy).
    current = peer.ch.ledger.local_commit.number
    hints = {h for _, h in services.stored}
    revoked = []
    for n, held in peer.signer.holder.items():
        point = peer.secret.per_commitment_point(n)
        tx = build_commitment_for(peer.signer.channel, held.spec, Side.LOCAL, n, point).tx
        if n < current and breach_hint(tx.txid) in hints:
            revoked.append(tx)
    assert revoked, "the stored kits are not for the peer's revoked commitments"
    cheat = revoked[-1]
    sent_raw: list[bytes] = []
    watcher.on_send(sent_raw.append)
    watcher.connect_block(
        HEIGHT, bytes(32), bytes(32),
        [_Scan(cheat.txid, [i.prevout.serialize() for i in cheat.inputs], [])],
    )  # fmt: skip
    assert len(sent_raw) == 1
    penalty = Tx.parse(sent_raw[0])
    assert {i.prevout.txid for i in penalty.inputs} == {cheat.txid}
    assert [o.script_pubkey for o in penalty.outputs] == [wallet_script]
    # Everything but the node's own to_remote and the two anchors is taken.
    spent = {i.prevout.vout for i in penalty.inputs}
    left = [o.amount_sat for v, o in enumerate(cheat.outputs) if v not in spent]
    assert sorted(left)[:2] == [330, 330] and len(left) == 3
    assert max(left) > 30_000  # the node's own balance, 37,000-40,000 sat
    taken = sum(cheat.outputs[v].amount_sat for v in spent)
    assert 0 < taken - penalty.outputs[0].amount_sat < 5_000  # the fee at 2,500 sat/kw
    asyncio.run(host.close())


class _Scan(NamedTuple):
    txid: bytes
    prevouts: list[bytes]
    outputs: list[tuple[bytes, int]]
