"""A hosted node opens a channel to LND and to LDK as FUNDER, in process, every part real: our BOLT 8
initiator over a real socket to the peer (alice of `lnd_pair`; `ldk_on_chain`), the `Node`'s funder path
(`vajra.node.funding`), a real `SignerCore` behind `LocalSigner` (channel keys,
commitment 0 signed and validated, the funding PSBT signed under a ring's on-chain
authorisation for exactly the 2-of-2 script and amount), the wallet service drafting
the funding PSBT from the node's coins, btcd's chain through the real watcher, follower
and broadcaster. LND lists the channel active with our funding outpoint; the node's
summary says ready, local balance = capacity - push - commitment fee rules.

Also shown: the signer refuses the funding PSBT before commitment 0 is validated
(decision 0017), nothing broadcast. What this test does not cover: the runtime's own
outbound session and `vajra node ID open` (not built yet, see decision 0020's funder
addendum)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.interop.conftest import LndPair
from tests.interop.peer_loop import dial
from tests.interop.test_wallet_onchain import Devices
from vajra.chain.broadcast import Broadcaster
from vajra.chain.btcd import BtcdSource
from vajra.chain.db import ChainDb
from vajra.chain.fees import FeePolicy, estimate_fee
from vajra.chain.follower import ChainFollower
from vajra.chain.types import Purpose
from vajra.chain.watcher import Watcher
from vajra.crypto.hashes import sha256
from vajra.node import Node, NodeState
from vajra.node.effects import SendTo, Wake, Watch
from vajra.node.funding import BroadcastFunding, FundChannel, OpenRequest
from vajra.noise import StaticKey
from vajra.peer import InitReceived, MessageReceived
from vajra.runtime.local_signer import LocalSigner
from vajra.runtime.node_requests import answer_requests
from vajra.signer.core import SignerCore
from vajra.signer.devices import DeviceKey, KeyType, Role, Rules
from vajra.signer.keys import SignerKeys
from vajra.signer.messages import CommandKind, Enrolment
from vajra.signer.onchain_messages import OnchainAuthorisation
from vajra.signer.state import SqliteState
from vajra.store import NodeRow, SqliteStore
from vajra.testbed.ldk import LdkChannel, LdkPeer
from vajra.testbed.procs import wait_until
from vajra.wallet.service import ChainParts, Draft, WalletError, WalletService

pytestmark = [pytest.mark.interop, pytest.mark.slow]

CAPACITY_SAT = 200_000
PUSH_MSAT = 5_000_000
INDEX = 3
EPOCH = 1
FUNDER_RULES = Rules(  # msat: a funding of 200k sat is within the ring's limits
    auto_approve_below_msat=1_000_000_000,
    confirm_above_msat=1_000_000_000,
    per_payment_max_msat=1_000_000_000,
    hourly_limit_msat=2_000_000_000,
    daily_limit_msat=2_000_000_000,
)


class FunderDevices(Devices):
    def __init__(self, core: SignerCore) -> None:  # a phone owner and a generous ring
        self.core = core
        self.phone = DeviceKey(KeyType.P256, sha256(b"phone"))
        self.ring = DeviceKey(KeyType.SECP256K1, sha256(b"ring"))
        self.counters = {self.phone.device_id: 0, self.ring.device_id: 0}
        e = Enrolment(KeyType.P256, self.phone.pubkey, Role.OWNER, Rules(1, 1, 1, 1, 1), "phone")
        assert core.policy.bootstrap_owner(e, int(time.time())).approved
        ring = Enrolment(KeyType.SECP256K1, self.ring.pubkey, Role.SPENDER, FUNDER_RULES, "ring")
        assert self.command(CommandKind.ENROLL, ring=ring)

    def fund(self, node: bytes, script: bytes, amount: int, max_fee: int) -> bytes:
        return OnchainAuthorisation(node, sha256(script), amount, max_fee, int(time.time()) + 300,
                                    self.next(self.ring), self.ring.device_id).signed(self.ring).encode()  # fmt: skip


@dataclass
class Opened:
    """What `_open_as_funder` leaves for the test's checks on the peer's side."""

    result: dict[str, Any]
    loop: asyncio.AbstractEventLoop
    svc: WalletService
    follower: ChainFollower
    node_id: bytes
    store: SqliteStore

    def close(self) -> None:
        self.loop.run_until_complete(self.result["conn"].close())
        self.loop.close()
        self.store.close()


def _open_as_funder(
    lnd_pair: LndPair, tmp_path: Path, peer: str, port: int, synced: Callable[[], object],
    seed: bytes,
) -> Opened:  # fmt: skip
    """A fresh hosted node funded by alice opens CAPACITY_SAT (PUSH_MSAT pushed) to
    `peer` at 127.0.0.1:`port` and runs it to ready (`synced`: wait for the peer to see
    the chain's tip)."""
    btcd, lnd = lnd_pair.btcd, lnd_pair.alice
    btcd.generate(1)
    lnd.wait_synced()
    core = SignerCore(SignerKeys(sha256(seed) * 2, "regtest"),
                      SqliteState(tmp_path / "signer.db", durable=False))  # fmt: skip
    signer = LocalSigner(core)
    devices = FunderDevices(core)
    node_id = asyncio.run(signer.create_nodes(1))[0].node_id
    store = SqliteStore(str(tmp_path / "store.db"))
    store.register_nodes([NodeRow(node_id, "127.0.0.9", 9735, 0)])
    rpc_host, rpc_port = btcd.rpc_host.split(":")
    source = BtcdSource(rpc_host, int(rpc_port), btcd.rpcuser, btcd.rpcpass,
                        cert=str(btcd.rpc_cert))  # fmt: skip
    db = ChainDb(tmp_path / "chain.db")
    watcher = Watcher(db)
    follower = ChainFollower(source, watcher)
    follower.sync()
    broadcaster = Broadcaster(source, db)
    svc = WalletService(
        store, ChainParts(watcher, broadcaster, lambda: estimate_fee(source, 6, FeePolicy()).sat_per_kvb),
        "regtest", lambda n: signer, lambda n: INDEX if n == node_id else None, "test",
    )  # fmt: skip
    # The node's wallet gets coins from LND.
    addr = asyncio.run(svc.new_address(node_id))["address"]
    lnd.cli("sendcoins", "--addr", addr, "--amt", 400_000)
    btcd.wait_mempool(1)
    btcd.generate(1)
    follower.sync()
    assert svc.balance(node_id)["confirmed_sat"] == 400_000

    async def main() -> tuple[Node, dict[str, Any]]:
        (secret,) = await signer.identity_secrets([node_id], EPOCH)
        conn = await dial(StaticKey(secret), bytes.fromhex(peer), "127.0.0.1", port)
        node = Node(node_id, NodeState())
        drafts: dict[bytes, Draft] = {}
        result: dict[str, Any] = {}
        seen = 0

        async def settle() -> None:
            await answer_requests(node, signer, EPOCH, int(time.time()))
            for eff in node.take_effects():
                if isinstance(eff, SendTo):
                    conn.conn.send(eff.message, time.monotonic())
                    conn._flush()
                elif isinstance(eff, Watch):
                    assert eff.purpose is Purpose.FUNDING and eff.script_pubkey is not None
                    watcher.watch_scripts(INDEX, [eff.script_pubkey], Purpose.FUNDING)
                elif isinstance(eff, FundChannel):
                    draft = await svc.draft(node_id, eff.script_pubkey, eff.amount_sat)
                    drafts[eff.temporary_channel_id] = draft
                    assert node.funding_built(eff.temporary_channel_id, draft.outpoint, 1)
                    await settle()  # SetupChannel, the peer's commitment 0, funding_created
                    # Before funding_signed the signer refuses the funding PSBT.
                    early = devices.fund(node_id, eff.script_pubkey, eff.amount_sat,
                                         draft.spend.fee_sat)  # fmt: skip
                    with pytest.raises(WalletError) as refused:
                        await svc.sign_draft(node_id, draft, early)
                    result["early_refusal"] = refused.value.detail
                elif isinstance(eff, BroadcastFunding):
                    draft = drafts.pop(eff.temporary_channel_id)
                    assert draft.outpoint == eff.outpoint
                    auth = devices.fund(node_id, draft.script_pubkey, draft.amount_sat,
                                        draft.spend.fee_sat)  # fmt: skip
                    result["sent"] = await svc.sign_draft(node_id, draft, auth)

        await conn.wait_for(InitReceived)
        tmp = os.urandom(32)
        node.open_channel_out(
            bytes.fromhex(peer), OpenRequest(tmp, CAPACITY_SAT, PUSH_MSAT, anchors=False), 1
        )
        await settle()
        deadline = time.monotonic() + 90
        mined = False
        while time.monotonic() < deadline:
            while seen < len(conn.events):
                ev = conn.events[seen]
                seen += 1
                if isinstance(ev, MessageReceived):
                    node.handle(bytes.fromhex(peer), ev.message, int(time.time()))
                    await settle()
            if "sent" in result and not mined:
                btcd.wait_mempool(1)
                btcd.generate(6)
                follower.sync()
                synced()
                tip = watcher.tip()
                node.on_wake(Wake("chain", tip, tuple(watcher.events(INDEX))), int(time.time()))
                await settle()
                mined = True
            (summary,) = node.channel_summaries() or ({},)
            if summary.get("state") == "ready":
                break
            await asyncio.sleep(0.1)
        result["summary"] = node.channel_summaries()
        result["conn"] = conn
        return node, result

    loop = asyncio.new_event_loop()
    _, result = loop.run_until_complete(main())
    opened = Opened(result, loop, svc, follower, node_id, store)
    assert "early_refusal" in result, "\n".join(repr(e)[:300] for e in result["conn"].events)
    assert result["early_refusal"] == "onchain-funding-before-commitment"
    sent = result["sent"]
    assert sent["decision"]["outcome"] == "approve"
    (summary,) = result["summary"]
    assert summary["state"] == "ready" and summary["funder"] == "local"
    assert summary["capacity_sat"] == CAPACITY_SAT
    assert summary["funding_txid"] == sent["txid"]
    assert summary["remote_balance_msat"] == PUSH_MSAT
    # The node's wallet: what alice sent minus the capacity and the funding fee (change).
    follower.sync()
    bal = svc.balance(node_id)
    assert bal["confirmed_sat"] == 400_000 - CAPACITY_SAT - int(sent["fee_sat"])
    return opened


def test_hosted_node_opens_to_lnd_as_funder(lnd_pair: LndPair, tmp_path: Path) -> None:
    lnd = lnd_pair.alice
    opened = _open_as_funder(lnd_pair, tmp_path, lnd.node_id, lnd.p2p_port, lnd.wait_synced,
                             b"funder to lnd")  # fmt: skip
    try:
        sent, node_hex = opened.result["sent"], opened.node_id.hex()

        def lnd_channel() -> dict[str, Any] | None:
            for c in lnd.list_channels(active_only=True):
                if c["remote_pubkey"] == node_hex:
                    return c
            return None

        wait_until(lambda: lnd_channel() is not None, timeout=60, what="LND lists it active")
        ch = lnd_channel()
        assert ch is not None and int(ch["capacity"]) == CAPACITY_SAT
        assert str(ch["channel_point"]).startswith(str(sent["txid"]))
        assert int(ch["local_balance"]) == PUSH_MSAT // 1000
    finally:
        opened.close()


def test_hosted_node_opens_to_ldk_as_funder(
    lnd_pair: LndPair, ldk_on_chain: LdkPeer, tmp_path: Path
) -> None:
    ldk = ldk_on_chain
    assert ldk.listen_port is not None
    opened = _open_as_funder(lnd_pair, tmp_path, ldk.node_id, ldk.listen_port, ldk.sync,
                             b"funder to ldk")  # fmt: skip
    try:
        sent, node_hex = opened.result["sent"], opened.node_id.hex()

        def ldk_channel() -> LdkChannel | None:
            ldk.sync()
            for c in ldk.list_channels():
                if c.counterparty == node_hex and c.is_usable:
                    return c
            return None

        wait_until(lambda: ldk_channel() is not None, timeout=60, what="LDK: channel usable")
        ch = ldk_channel()
        assert ch is not None and ch.capacity_sat == CAPACITY_SAT and not ch.is_outbound
        assert ch.funding_txid == sent["txid"]
    finally:
        opened.close()
