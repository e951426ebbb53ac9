"""A real breach by LND, punished with the hosted node asleep and its signer stopped
(issue 11 "Show it"; decision 0026).

As LND's own integration tests make one: LND (carol) opens a channel to a hosted node of
a runtime whose signer is a live `vajra signer run`; carol pays the node, carol's data
directory is backed up, carol pays again (the backed-up state is now revoked: at that
revocation the node's signer signed its penalty and the runtime sealed it into the
shared watcher), then the signer is stopped, carol's old data restored and carol force
closes -- broadcasting the revoked commitment. The watcher, following btcd, broadcasts
the penalty as soon as the block holding the breach arrives: no wake (the signer is
down, a wake could not even unseal the node), no signer round trip. btcd mines it; it
takes carol's whole `to_local` to the node's own wallet."""

from __future__ import annotations

import shutil
import signal
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from vajra.bitcoin.tx import Tx
from vajra.testbed.errors import DaemonFailed
from vajra.testbed.lnd import Lnd
from vajra.testbed.procs import wait_until

from .conftest import LndPair

pytestmark = [pytest.mark.interop, pytest.mark.slow]

CAPACITY_SAT = 100_000
DEPTH = 3


def _channels(rt: Any, node_id: str) -> list[dict[str, Any]]:
    return list(rt.admin(f"/v1/nodes/{node_id}/channels")["channels"])


def _asleep(rt: Any) -> bool:
    return int(rt.counters().get("awake", 0)) == 0


def _carol_channel(carol: Lnd, node_id: str, *, active: bool) -> dict[str, Any] | None:
    for c in carol.list_channels(active_only=active):
        if c["remote_pubkey"] == node_id:
            return dict(c)
    return None


def _connect(carol: Lnd, uri: str) -> None:
    def once() -> bool | None:
        try:
            carol.connect(uri)
        except DaemonFailed as e:  # LND may have redialled its channel peer by itself
            if "already connected" in str(e):
                return True
            if "still in the process of starting" in str(e):
                return None
            raise
        return True

    wait_until(once, timeout=60, interval=1, what="carol connected to the node")


def _kits(store: Path) -> int:
    db = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    try:
        return int(db.execute("SELECT COUNT(*) FROM chain_justice").fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        db.close()


def _pay(rt: Any, carol: Lnd, node_id: str, amount_msat: int, total_msat: int) -> None:
    inv = rt.admin(f"/v1/nodes/{node_id}/invoice",
                   {"amount_msat": amount_msat, "description": "breach", "expiry_s": 600})  # fmt: skip

    def paid() -> bool | None:
        try:
            carol.pay_invoice(str(inv["bolt11"]))
        except DaemonFailed as e:  # the link not yet usable right after reestablish
            if "INSUFFICIENT_BALANCE" in str(e) or "NO_ROUTE" in str(e):
                return None
            raise
        return True

    wait_until(paid, timeout=90, interval=2, what="carol pays the node")
    wait_until(lambda: _channels(rt, node_id)[0]["local_balance_msat"] == total_msat,
               timeout=60, what="the node's summary shows the payment")  # fmt: skip


@pytest.mark.timeout(1200)
def test_lnd_breach_is_punished_with_the_node_asleep_and_its_signer_stopped(
    lnd_pair: LndPair, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from tests.e2e.test_wallet_cli import Env

    btcd, alice = lnd_pair.btcd, lnd_pair.alice
    base = tmp_path_factory.mktemp("breach")
    (base / "env").mkdir()
    env = Env(base / "env", btcd)
    carol = Lnd(btcd, base / "carol", alias="carol")
    try:
        env.json("signer", "init", "--json")
        rt = env.start_runtime()
        code = env.json("runtime", "pairing-code", "--store", str(env.store), "--json")
        env.json("signer", "pair", "--runtime", f"127.0.0.1:{rt.ready['signer_port']}",
                 "--code", code["code"], "--json")  # fmt: skip
        env.start_signer()
        wait_until(lambda: rt.admin("/v1/signers")["signers"][0]["loaded"], timeout=20,
                   what="signer loaded")  # fmt: skip
        env.json("nodes", "--store", str(env.store), "create", "--count", "1", "--signer", "1")
        node = rt.nodes()[0]
        node_id = str(node["node_id"])
        uri = f"{node_id}@{node['host']}:{node['port']}"
        rt.admin(f"/v1/nodes/{node_id}/wallet/address", {})  # the wallet record

        carol.start()
        # LND's sendcoins wants its coins some blocks past the first maturity.
        btcd.generate(10)
        alice.wait_synced()
        alice.cli("sendcoins", f"--addr={carol.new_address()}", "--amt=500000",
                  "--sat_per_vbyte=2")  # fmt: skip
        btcd.generate(3)
        carol.wait_synced()
        wait_until(carol.confirmed_balance_sat, timeout=60, what="carol's coins")
        _connect(carol, uri)
        carol.cli("openchannel", f"--node_key={node_id}", f"--local_amt={CAPACITY_SAT}",
                  "--private", "--sat_per_vbyte=2")  # fmt: skip
        btcd.generate(DEPTH + 3)
        wait_until(lambda: _carol_channel(carol, node_id, active=True), timeout=120,
                   interval=1, what="the channel active")  # fmt: skip
        wait_until(lambda: _channels(rt, node_id)[0]["state"] == "ready", timeout=30,
                   what="the node's summary says ready")  # fmt: skip

        wait_until(lambda: _asleep(rt), timeout=30, what="the node asleep")
        _pay(rt, carol, node_id, 20_000_000, 20_000_000)
        wait_until(lambda: _asleep(rt), timeout=30, what="the node asleep")
        # Carol's state now: the one it will cheat with once it is revoked.
        carol.stop()
        backup = base / "carol-data-backup"
        shutil.copytree(carol.lnddir / "data", backup)
        carol.start()
        carol.wait_synced()
        _connect(carol, uri)
        wait_until(lambda: _carol_channel(carol, node_id, active=True), timeout=120,
                   interval=1, what="the channel active again")  # fmt: skip
        kits_before = _kits(env.store)
        _pay(rt, carol, node_id, 10_000_000, 30_000_000)
        wait_until(lambda: _kits(env.store) > kits_before, timeout=30,
                   what="the penalty of the revoked state kept by the watcher")  # fmt: skip
        wait_until(lambda: _asleep(rt), timeout=30, what="the node asleep")

        # The signer stops; carol restores its old data and force closes.
        assert env.signer is not None
        env.signer.send_signal(signal.SIGTERM)
        env.signer.wait(15)
        carol.stop()
        shutil.rmtree(carol.lnddir / "data")
        shutil.copytree(backup, carol.lnddir / "data")
        carol.start()
        carol.wait_synced()
        ch = _carol_channel(carol, node_id, active=False)
        assert ch is not None and int(ch["local_balance"]) > 70_000  # the old, richer state
        txid, vout = str(ch["channel_point"]).split(":")

        def force_close() -> dict[str, Any] | None:
            try:
                return carol.cli("closechannel", f"--funding_txid={txid}",
                                 f"--output_index={vout}", "--force", timeout=120)  # fmt: skip
            except DaemonFailed as e:
                if "still in the process of starting" in str(e):
                    return None
                raise

        closing = wait_until(force_close, timeout=120, interval=1, what="carol force closes")
        cheat_id = str(closing["closing_txid"])
        wait_until(lambda: cheat_id in btcd.getrawmempool(), timeout=60, what="the breach")
        cheat = Tx.parse(bytes.fromhex(btcd.getrawtransaction(cheat_id, False)))
        btcd.generate(1)

        def penalty() -> Tx | None:
            for t in btcd.getrawmempool():
                tx = Tx.parse(bytes.fromhex(btcd.getrawtransaction(t, False)))
                ours = all(i.prevout.txid == cheat.txid for i in tx.inputs)
                if tx.inputs and ours and len(tx.outputs) == 1:
                    return tx
            return None

        found = wait_until(penalty, timeout=60, interval=0.5, what="the penalty broadcast")
        assert env.signer.poll() is not None  # the signer is still stopped
        btcd.generate(1)
        got = btcd.getrawtransaction(found.txid_hex)
        assert got["confirmations"] >= 1
        # The penalty took carol's to_local: the output worth 100,000 - 20,000 sat less
        # carol's commitment fee and anchors (carol funded: it pays them).
        taken = sum(cheat.outputs[i.prevout.vout].amount_sat for i in found.inputs)
        carol_to_local = max(o.amount_sat for o in cheat.outputs)
        assert taken == carol_to_local > CAPACITY_SAT - 20_000 - 5_000
        assert 0 < taken - found.outputs[0].amount_sat < 3_000  # the fee, 2,500 sat/kw
    finally:
        carol.stop()
        env.close()
