"""Node wallets through the commands a user runs: btcd regtest and LND, `vajra runtime
--chain btcd://...` with its live signer (`vajra signer run`), devices from `vajra device`.

LND sends coins to a sleeping hosted node's address (`vajra node ID address`); the
watcher sees the transaction and its confirmation without waking the node, and `vajra
node ID balance --json` reports the exact amount. The node sends to an LND address with
the ring's on-chain authorisation (`vajra node ID send ... --device ring`): LND sees it
confirm; the node's balance is exact. The same send without an authorisation (admin API),
over the ring's per-payment limit, or with the ring frozen is refused by the signer with
its reason and nothing is broadcast. The signer's audit log shows every decision.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.runtime_proc import VajraProcess, free_port, start_runtime, wait_until
from vajra.runtime.admin_client import AdminClient, AdminError
from vajra.testbed.btcd import COINBASE_MATURITY, Btcd
from vajra.testbed.lnd import Lnd

pytestmark = pytest.mark.e2e
PASSWORD = "correct horse battery staple"
OWNER_RULES = ["--auto-approve-below-msat=100000000", "--confirm-above-msat=1000000000",
               "--per-payment-max-msat=5000000000", "--hourly-limit-msat=5000000000",
               "--daily-limit-msat=10000000000"]  # fmt: skip
RING_RULES = ["--auto-approve-below-msat=30000000", "--confirm-above-msat=40000000",
              "--per-payment-max-msat=50000000", "--hourly-limit-msat=200000000",
              "--daily-limit-msat=400000000"]  # 30k sat taps, at most 50k sat a send  # fmt: skip


class Env:
    def __init__(self, tmp: Path, btcd: Btcd) -> None:
        self.tmp = tmp
        self.store = tmp / "rt" / "store.db"
        self.store.parent.mkdir()
        self.env = {**os.environ, "VAJRA_SIGNER_PASSWORD": PASSWORD,
                    "VAJRA_SIGNER_DIR": str(tmp / "signer"),
                    "VAJRA_DEVICE_DIR": str(tmp / "devices"),
                    "VAJRA_RUNTIME_DIR": str(self.store) + ".hub"}  # fmt: skip
        self.btcd = btcd
        self.runtime: VajraProcess | None = None
        self.signer: subprocess.Popen[str] | None = None

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "vajra", *args], env=self.env,
                              capture_output=True, text=True, timeout=180)  # fmt: skip

    def json(self, *args: str) -> Any:
        p = self.run(*args)
        assert p.returncode == 0, (args, p.stdout, p.stderr)
        return json.loads(p.stdout.strip().splitlines()[-1])

    def node(self, node: str, *args: str, rc: int = 0) -> Any:
        """`vajra node NODE ... --json`: stdout JSON, or (rc != 0) the stderr JSON."""
        p = self.run("node", node, *args, "--store", str(self.store), "--json")
        assert p.returncode == rc, (args, p.returncode, p.stdout, p.stderr)
        return json.loads(p.stdout if rc == 0 else p.stderr)

    def start_runtime(self, *more: str) -> VajraProcess:
        b = self.btcd
        url = f"btcd://{b.rpcuser}:{b.rpcpass}@{b.rpc_host}?cert={b.rpc_cert}"
        extra = ("--signer-port", str(free_port()), "--signer-host", "127.0.0.1",
                 "--idle-timeout", "1", "--chain", url, *more)  # fmt: skip
        env = {k: v for k, v in os.environ.items() if not k.startswith("VAJRA_SIGNER")}
        self.runtime = start_runtime(self.store, dev=False, env=env, extra=extra)
        return self.runtime

    def start_signer(self) -> None:
        err = open(self.tmp / "signer.stderr", "a")  # noqa: SIM115 (closed with the process)
        p = subprocess.Popen([sys.executable, "-m", "vajra", "signer", "run", "--max-backoff",
                              "0.5"], env=self.env, stdout=subprocess.PIPE, stderr=err, text=True)  # fmt: skip
        err.close()
        assert p.stdout is not None
        line = p.stdout.readline()
        assert line and json.loads(line)["event"] == "running", "signer did not start"
        self.signer = p

    def close(self) -> None:
        if self.signer is not None and self.signer.poll() is None:
            self.signer.send_signal(signal.SIGTERM)
            try:
                self.signer.wait(10)
            except subprocess.TimeoutExpired:
                self.signer.kill()
                self.signer.wait()
        if self.runtime is not None:
            self.runtime.stop()


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Btcd, Lnd]]:
    base = tmp_path_factory.mktemp("wallet-cli-chain")
    btcd = Btcd(base / "btcd")
    alice = Lnd(btcd, base / "alice", alias="alice")
    try:
        btcd.start()
        alice.start()
        btcd.set_mining_address(alice.new_address())
        btcd.generate(COINBASE_MATURITY + 10)
        alice.wait_synced()
        wait_until(alice.confirmed_balance_sat, timeout=60, what="alice's matured coins")
        # LND's sendcoins refuses coins until it is some blocks past the first maturity
        # ("insufficient funds" with 550 BTC confirmed): mine a few more.
        btcd.generate(10)
        alice.wait_synced()
        yield btcd, alice
    finally:
        alice.stop()
        btcd.stop()


@pytest.fixture
def env(tmp_path: Path, chain: tuple[Btcd, Lnd]) -> Iterator[Env]:
    e = Env(tmp_path, chain[0])
    yield e
    e.close()


def _admin_post(rt: VajraProcess, path: str, body: object) -> tuple[int, Any]:
    try:
        return 200, AdminClient(rt.ready["admin"], timeout=60).post(path, body)
    except AdminError as e:
        return e.status, e.body


def test_lnd_funds_a_sleeping_node_which_pays_lnd_with_the_ring(
    env: Env, chain: tuple[Btcd, Lnd]
) -> None:
    btcd, alice = chain
    # --- signer, runtime with the chain, pairing, nodes, devices ---------------------------
    env.json("signer", "init", "--json")
    rt = env.start_runtime()
    code = env.json("runtime", "pairing-code", "--store", str(env.store), "--json")
    env.json("signer", "pair", "--runtime", f"127.0.0.1:{rt.ready['signer_port']}",
             "--code", code["code"], "--json")  # fmt: skip
    env.start_signer()
    wait_until(
        lambda: rt.admin("/v1/signers")["signers"][0]["loaded"], timeout=20, what="signer loaded"
    )
    env.json("nodes", "--store", str(env.store), "create", "--count", "3", "--signer", "1")
    node = rt.nodes()[1]["node_id"]
    phone = env.json("device", "create", "--type", "p256", "--name", "phone", "--json")
    env.json("device", "create", "--type", "secp256k1", "--name", "ring", "--json")
    env.json("signer", "add-owner", "--key-type", "p256", "--pubkey", phone["pubkey"],
             "--label", "phone", "--json", *OWNER_RULES)  # fmt: skip
    d = env.json("device", "enroll", "--name", "ring", "--by", "phone", "--label", "ring",
                 *RING_RULES)  # fmt: skip
    assert d["outcome"] == "approve"

    # --- LND pays the sleeping node; balance exact, node never woken ----------------------
    got = env.node(node, "address")
    assert re.fullmatch(r"m/84'/1'/[0-2]'/0/0", got["path"]), got
    sent = alice.cli("sendcoins", "--addr", got["address"], "--amt", 100_000)
    btcd.wait_mempool(1)
    wait_until(
        lambda: env.node(node, "balance")["unconfirmed_sat"] == 100_000, timeout=30, what="mempool"
    )
    btcd.generate(1)
    wait_until(
        lambda: env.node(node, "balance")["confirmed_sat"] == 100_000, timeout=30, what="balance"
    )
    bal = env.node(node, "balance")
    assert bal == {"confirmed_sat": 100_000, "unconfirmed_sat": 0,
                   "tip_height": btcd.getblockcount()}  # fmt: skip
    [utxo] = env.node(node, "utxos")["utxos"]
    assert (utxo["txid"], utxo["value_sat"]) == (sent["txid"], 100_000)
    assert rt.admin(f"/v1/nodes/{node}")["state"] == "sleeping"
    assert rt.counters()["wakes"] == 0

    # --- the node pays LND with the ring's authorisation; LND sees it confirm -------------
    dest = alice.new_address()
    out = env.node(node, "send", dest, "20000", "--device", "ring")
    assert out["decision"]["outcome"] == "approve" and out["broadcast_rejection"] is None
    assert btcd.wait_mempool(1) == [out["txid"]]
    btcd.generate(1)
    alice.wait_synced()
    seen = [u for u in alice.cli("listunspent")["utxos"] if u["address"] == dest]
    assert [(int(u["amount_sat"]), u["outpoint"].split(":")[0]) for u in seen] == [
        (20_000, out["txid"])
    ]
    left = 100_000 - 20_000 - out["fee_sat"]
    wait_until(
        lambda: env.node(node, "balance")["confirmed_sat"] == left, timeout=30, what="balance after"
    )
    assert env.node(node, "balance")["unconfirmed_sat"] == 0

    # --- refused by the signer, nothing broadcast -----------------------------------------
    status, err = _admin_post(rt, f"/v1/nodes/{node}/wallet/send",
                              {"address": dest, "amount_sat": 10_000})  # fmt: skip
    assert (status, err["error"], err["detail"]) == (400, "refused", "no_authorisation")
    err = env.node(node, "send", dest, "55000", "--device", "ring", rc=1)
    assert (err["error"], err["detail"]) == ("refused", "over_per_payment_max")
    assert env.json("device", "freeze", "ring", "--by", "phone", "--local")["outcome"] == "approve"
    err = env.node(node, "send", dest, "10000", "--device", "ring", rc=1)
    assert (err["error"], err["detail"]) == ("refused", "device_frozen")
    assert btcd.getrawmempool() == []
    assert env.node(node, "balance")["confirmed_sat"] == left
    audit = env.json("signer", "audit", "--json")
    assert audit["verified"] is True
    onchain = [(e["outcome"], e["reason"]) for e in audit["entries"] if e["kind"] == "onchain"]
    assert onchain == [("approve", "auto_approved"), ("deny", "no_authorisation"),
                       ("deny", "over_per_payment_max"), ("deny", "device_frozen")]  # fmt: skip
