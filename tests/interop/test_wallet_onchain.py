"""Node wallets on a real chain, in process: btcd regtest and LND, the chain layer's
real watcher, follower, broadcaster and fee estimate, the wallet service, and a real
`SignerCore` (SQLite state, device rules, audit) behind the `LocalSigner` client.

LND sends to a hosted node's address; the watcher credits it and the balance is exact.
The node sends to an LND address with the ring's on-chain authorisation: LND sees it
confirm and the node's balance is exact (change back to its own wallet). The same send
without an authorisation, over the ring's per-payment limit, or with the ring frozen is
refused by the signer with the reason, and nothing reaches btcd's mempool or the
broadcaster. (The CLI and live-signer version: tests/e2e/test_wallet_cli.py.)
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from tests.interop.conftest import LndPair
from vajra.bitcoin.script import address_to_script
from vajra.chain.broadcast import Broadcaster
from vajra.chain.btcd import BtcdSource
from vajra.chain.db import ChainDb
from vajra.chain.fees import FeePolicy, estimate_fee
from vajra.chain.follower import ChainFollower
from vajra.chain.types import from_display_hex
from vajra.chain.watcher import Watcher
from vajra.crypto.hashes import sha256
from vajra.runtime.local_signer import LocalSigner
from vajra.signer.core import SignerCore
from vajra.signer.devices import DeviceKey, KeyType, Role, Rules
from vajra.signer.keys import SignerKeys
from vajra.signer.messages import CommandKind, DeviceCommand, Enrolment
from vajra.signer.onchain_messages import OnchainAuthorisation
from vajra.signer.state import SqliteState
from vajra.store import NodeRow, SqliteStore
from vajra.wallet.service import ChainParts, WalletError, WalletService

RING_RULES = Rules(  # msat: auto below 30k sat, per send at most 50k sat
    auto_approve_below_msat=30_000_000,
    confirm_above_msat=40_000_000,
    per_payment_max_msat=50_000_000,
    hourly_limit_msat=100_000_000,
    daily_limit_msat=200_000_000,
)
OWNER_RULES = Rules(1, 1, 1, 1, 1)


class Devices:
    """The signer's registry with an owner phone and a ring, as a user sets it up."""

    def __init__(self, core: SignerCore) -> None:
        self.core = core
        self.phone = DeviceKey(KeyType.P256, sha256(b"phone"))
        self.ring = DeviceKey(KeyType.SECP256K1, sha256(b"ring"))
        self.counters = {self.phone.device_id: 0, self.ring.device_id: 0}
        e = Enrolment(KeyType.P256, self.phone.pubkey, Role.OWNER, OWNER_RULES, "phone")
        assert core.policy.bootstrap_owner(e, int(time.time())).approved
        ring = Enrolment(KeyType.SECP256K1, self.ring.pubkey, Role.SPENDER, RING_RULES, "ring")
        assert self.command(CommandKind.ENROLL, ring=ring)

    def next(self, k: DeviceKey) -> int:
        self.counters[k.device_id] += 1
        return self.counters[k.device_id]

    def command(self, kind: CommandKind, ring: Enrolment | None = None) -> bool:
        cmd = DeviceCommand(kind, self.phone.device_id, self.next(self.phone),
                            int(time.time()) + 300, self.ring.device_id, ring).signed(self.phone)  # fmt: skip
        return self.core.policy.command(cmd.encode(), int(time.time())).approved

    def consent(self, node: bytes, address: str, amount: int, max_fee: int) -> bytes:
        script = address_to_script(address, "regtest")
        return OnchainAuthorisation(node, sha256(script), amount, max_fee, int(time.time()) + 300,
                                    self.next(self.ring), self.ring.device_id).signed(self.ring).encode()  # fmt: skip


def test_lnd_funds_a_node_and_the_node_pays_lnd_under_the_rings_rules(
    lnd_pair: LndPair, tmp_path: Path
) -> None:
    btcd, alice = lnd_pair.btcd, lnd_pair.alice
    # LND's sendcoins refuses coins until it is some blocks past the first maturity
    # ("insufficient funds" with 550 BTC confirmed): mine a few more.
    btcd.generate(10)
    alice.wait_synced()
    core = SignerCore(SignerKeys(sha256(b"wallet e2e seed") * 2, "regtest"),
                      SqliteState(tmp_path / "signer.db", durable=False))  # fmt: skip
    signer = LocalSigner(core)
    devices = Devices(core)
    node = asyncio.run(signer.create_nodes(2))[1].node_id
    store = SqliteStore(str(tmp_path / "store.db"))
    store.register_nodes([NodeRow(node, "127.0.0.9", 9735, 0)])
    source = BtcdSource(btcd.rpc_host.split(":")[0], int(btcd.rpc_host.split(":")[1]),
                        btcd.rpcuser, btcd.rpcpass, cert=str(btcd.rpc_cert))  # fmt: skip
    db = ChainDb(tmp_path / "chain.db")
    watcher = Watcher(db)
    follower = ChainFollower(source, watcher)
    follower.sync()
    broadcaster = Broadcaster(source, db)
    fee = FeePolicy()
    svc = WalletService(
        store, ChainParts(watcher, broadcaster, lambda: estimate_fee(source, 6, fee).sat_per_kvb),
        "regtest", lambda n: signer, lambda n: 7 if n == node else None, "test",
    )  # fmt: skip

    # --- LND pays the node's address; the watcher sees it; the balance is exact -----------
    got = asyncio.run(svc.new_address(node))
    assert got["path"] == "m/84'/1'/1'/0/0"
    sent = alice.cli("sendcoins", "--addr", got["address"], "--amt", 100_000)
    btcd.wait_mempool(1)
    follower.sync_mempool()
    assert svc.balance(node)["unconfirmed_sat"] == 100_000
    btcd.generate(1)
    follower.sync()
    assert svc.balance(node)["confirmed_sat"] == 100_000
    [utxo] = svc.utxos(node)
    assert (utxo["txid"], utxo["value_sat"], utxo["confirmations"]) == (sent["txid"], 100_000, 1)

    # --- the node pays LND with the ring's consent; LND sees it confirm ---------------------
    dest = alice.new_address()
    quote = asyncio.run(svc.quote(node, dest, 20_000))
    auth = devices.consent(node, dest, 20_000, quote["fee_sat"])
    out = asyncio.run(svc.send(node, dest, 20_000, auth))
    assert out["decision"]["outcome"] == "approve" and out["decision"]["kind"] == "onchain"
    assert out["fee_sat"] == quote["fee_sat"] and out["broadcast_rejection"] is None
    assert btcd.wait_mempool(1) == [out["txid"]]
    follower.sync_mempool()
    change = 100_000 - 20_000 - out["fee_sat"]
    assert svc.balance(node)["confirmed_sat"] == 0  # its one coin is spent (mempool)
    assert svc.balance(node)["unconfirmed_sat"] == change
    btcd.generate(1)
    follower.sync()
    alice.wait_synced()
    seen = [u for u in alice.cli("listunspent")["utxos"] if u["address"] == dest]
    assert [(int(u["amount_sat"]), u["outpoint"].split(":")[0]) for u in seen] == [
        (20_000, out["txid"])
    ]
    assert int(seen[0]["confirmations"]) >= 1
    bal = svc.balance(node)
    assert bal == {"confirmed_sat": 100_000 - 20_000 - out["fee_sat"], "unconfirmed_sat": 0,
                   "tip_height": btcd.getblockcount()}  # fmt: skip
    assert broadcaster.status(from_display_hex(out["txid"])) is not None

    # --- refused by the signer, nothing broadcast -----------------------------------------
    def refused(auth: bytes, amount: int = 10_000) -> str:
        with pytest.raises(WalletError) as e:
            asyncio.run(svc.send(node, dest, amount, auth))
        assert e.value.code == "refused"
        assert btcd.getrawmempool() == []
        assert len(db.query("SELECT txid FROM chain_broadcasts")) == 1
        return str(e.value.detail)

    assert refused(b"") == "no_authorisation"
    assert refused(devices.consent(node, dest, 55_000, 1_000), 55_000) == "over_per_payment_max"
    assert devices.command(CommandKind.FREEZE)
    assert refused(devices.consent(node, dest, 10_000, 1_000)) == "device_frozen"
    assert svc.balance(node)["confirmed_sat"] == 100_000 - 20_000 - out["fee_sat"]
    kinds = [
        (e.kind, e.outcome, e.reason) for e in core.state.audit_entries() if e.kind == "onchain"
    ]
    assert kinds == [("onchain", "approve", "auto_approved"), ("onchain", "deny", "no_authorisation"),
                     ("onchain", "deny", "over_per_payment_max"), ("onchain", "deny", "device_frozen")]  # fmt: skip
    store.close()
