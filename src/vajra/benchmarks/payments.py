"""`vajra bench payments`: a hosted node's two-hop send against LND's, in one run on one
topology (issue 10; decision 0027).

Topology on a fresh regtest (btcd + three LND): LND-A and LND-B with a public channel,
LND-C with a public channel to LND-A, and the hosted node H (a runtime with its live
signer, `vajra signer run`, and the user's ring enrolled) with a private channel from
LND-A. The runtime syncs its one graph from LND-A (`--gossip-peer`).

Figures (each over `--payments` payments of `--amount-msat` to fresh LND-B invoices,
H's and LND-C's sends interleaved so both see the same load):

- send_ms_p50 / _p99: H -> LND-A -> LND-B. From the admin API's `POST
  /v1/nodes/ID/pay` (the ring's authorisation signed in this process beforehand, as the
  device would) until the node's payment list says `succeeded` (polled every 2 ms):
  the worker's route query to the one graph, the signer's `ApprovePayment` and
  commitment signatures over the link, both BOLT 2 commitment dances, LND-A's forward.
  The node stays awake between payments (idle timeout 60 s): no wake is counted.
- lnd_send_ms_p50 / _p99: LND-C -> LND-A -> LND-B, `lncli payinvoice`, timed by LND
  itself (the payment's `creation_time_ns` to its last HTLC's `resolve_time_ns`: lncli's
  start-up is not counted).
- send_latency_ratio: send_ms_p50 / lnd_send_ms_p50 (target <= 1.0).
- send_started_ms_p50: the part of send_ms until the POST answered: the node has its
  route, the signer approved the authorisation and signed the commitment adding the
  HTLC, and `update_add_htlc` + `commitment_signed` left for LND-A; the rest of send_ms
  is the commitment dances with LND-A, LND-A -> LND-B and back, and the poll.
- route_service_ms_mean: the supervisor's route search per query (`/v1/status` graph).
- route_ms_p50 / route_ms_p99 / graph_bytes_per_channel: `vajra bench routing`'s figures
  on a synthetic 50,000-channel, 15,000-node graph (target route_ms_p50 <= 50), run in
  this process after the network part.

Every payment's outcome is checked (succeeded, the preimage's hash is the invoice's)
and, at the end, H's balance and LND-A's view of it agree to the msat.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from vajra.crypto.hashes import sha256
from vajra.testbed.btcd import COINBASE_MATURITY, Btcd
from vajra.testbed.errors import DaemonFailed
from vajra.testbed.lnd import Lnd
from vajra.testbed.procs import free_port, wait_until
from vajra.testbed.vajra_process import VajraProcess

TARGETS = {"send_latency_ratio": "<= 1.0", "route_ms_p50": "<= 50"}
PASSWORD = "bench-password-0123456789"
OWNER_RULES = ("--auto-approve-below-msat=100000000", "--confirm-above-msat=1000000000",
               "--per-payment-max-msat=5000000000", "--hourly-limit-msat=50000000000",
               "--daily-limit-msat=100000000000")  # fmt: skip
RING_RULES = ("--auto-approve-below-msat=50000000", "--confirm-above-msat=90000000",
              "--per-payment-max-msat=100000000", "--hourly-limit-msat=20000000000",
              "--daily-limit-msat=40000000000")  # fmt: skip
PUBLIC_SAT = 5_000_000
PRIVATE_SAT = 5_000_000
H_PUSH_SAT = 3_000_000
MAX_FEE_MSAT = 100_000


def _pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return round(s[min(len(s) - 1, int(q * len(s)))], 2)


class _Bed:
    """btcd, LND-A/B/C, the runtime and the signer; `stop` ends all of it."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.btcd = Btcd(base / "btcd")
        self.a = Lnd(self.btcd, base / "a", alias="lnd-a")
        self.b = Lnd(self.btcd, base / "b", alias="lnd-b")
        self.c = Lnd(self.btcd, base / "c", alias="lnd-c")
        self.store = base / "rt" / "store.db"
        self.env = {**os.environ, "VAJRA_SIGNER_PASSWORD": PASSWORD,
                    "VAJRA_SIGNER_DIR": str(base / "signer"),
                    "VAJRA_DEVICE_DIR": str(base / "devices"),
                    "VAJRA_RUNTIME_DIR": str(self.store) + ".hub"}  # fmt: skip
        self.rt: VajraProcess | None = None
        self.signer: VajraProcess | None = None

    def vajra(self, *args: str) -> Any:
        p = subprocess.run([sys.executable, "-m", "vajra", *args], env=self.env,
                           capture_output=True, text=True, timeout=180, check=False)  # fmt: skip
        if p.returncode != 0:
            raise DaemonFailed(f"vajra {' '.join(args[:2])}: {p.stderr[-400:]}", name="vajra")
        return json.loads(p.stdout.strip().splitlines()[-1])

    def stop(self) -> None:
        for proc in (self.signer, self.rt):
            if proc is not None:
                proc.stop()
        for lnd in (self.c, self.b, self.a):
            lnd.stop()
        self.btcd.stop()

    # --- setting up ------------------------------------------------------------------------

    def chain(self) -> None:
        btcd, a, b, c = self.btcd, self.a, self.b, self.c
        btcd.start()
        for lnd in (a, b, c):
            lnd.start()
        btcd.set_mining_address(a.new_address())
        btcd.generate(COINBASE_MATURITY + 20)
        for lnd in (a, b, c):
            lnd.wait_synced()
        wait_until(a.confirmed_balance_sat, timeout=60, what="LND-A's coins")
        a.connect(b.uri)
        c.connect(a.uri)
        btcd.generate(10)  # LND's sendcoins wants its coins some blocks past maturity
        a.wait_synced()
        a.cli("sendcoins", "--addr", c.new_address(), "--amt", PUBLIC_SAT * 2)
        btcd.wait_mempool(1)
        btcd.generate(1)
        wait_until(lambda: c.confirmed_balance_sat() >= PUBLIC_SAT * 2, timeout=60,
                   what="LND-C's coins")  # fmt: skip
        a.open_channel(b.node_id, PUBLIC_SAT, sat_per_vbyte=2)
        btcd.wait_mempool(1)
        c.open_channel(a.node_id, PUBLIC_SAT, sat_per_vbyte=2)
        btcd.wait_mempool(2)
        btcd.generate(6)  # BOLT 7: announced at 6 confirmations

    def runtime(self) -> str:
        """The runtime (gossip from LND-A), the signer paired, one node, the devices."""
        b = self.btcd
        url = f"btcd://{b.rpcuser}:{b.rpcpass}@{b.rpc_host}?cert={b.rpc_cert}"
        signer_port = free_port()
        self.vajra("signer", "init", "--json")
        env = {k: v for k, v in os.environ.items() if not k.startswith("VAJRA_SIGNER")}
        self.store.parent.mkdir(parents=True)
        self.rt = VajraProcess.runtime(
            self.store, workers=2, env=env, timeout=120, extra=(
                "--signer-port", str(signer_port), "--signer-host", "127.0.0.1",
                "--idle-timeout", "60", "--chain", url, "--chain-poll", "0.2",
                "--gossip-peer", f"{self.a.node_id}@{self.a.p2p_host}",
            ),
        )  # fmt: skip
        code = self.vajra("runtime", "pairing-code", "--store", str(self.store), "--json")
        self.vajra("signer", "pair", "--runtime", f"127.0.0.1:{signer_port}", "--code",
                   code["code"], "--json")  # fmt: skip
        self.signer = VajraProcess.start(
            ["signer", "run", "--max-backoff", "0.5"], log=self.base / "signer.log",
            env=self.env, ready_event="running", name="signer",
        )  # fmt: skip
        rt = self.rt
        wait_until(lambda: rt.admin("/v1/signers")["signers"][0]["loaded"], timeout=30,
                   what="the signer loaded")  # fmt: skip
        self.vajra("nodes", "--store", str(self.store), "create", "--count", "1", "--signer", "1")
        phone = self.vajra("device", "create", "--type", "p256", "--name", "phone", "--json")
        self.vajra("device", "create", "--type", "secp256k1", "--name", "ring", "--json")
        self.vajra("signer", "add-owner", "--key-type", "p256", "--pubkey", phone["pubkey"],
                   "--label", "phone", "--json", *OWNER_RULES)  # fmt: skip
        self.vajra("device", "enroll", "--name", "ring", "--by", "phone", "--label", "ring",
                   *RING_RULES)  # fmt: skip
        node = rt.nodes()[0]
        node_id = str(node["node_id"])
        self.a.connect(f"{node_id}@{node['host']}:{node['port']}")
        self.a.cli("openchannel", f"--node_key={node_id}", f"--local_amt={PRIVATE_SAT}",
                   f"--push_amt={H_PUSH_SAT}", "--private", "--sat_per_vbyte=2")  # fmt: skip
        self.btcd.generate(6)
        wait_until(lambda: rt.admin(f"/v1/nodes/{node_id}/channels")["channels"][0]["state"]
                   == "ready", timeout=120, interval=0.5, what="H's channel ready")  # fmt: skip
        wait_until(lambda: rt.admin("/v1/status")["graph"]["channels"] >= 2, timeout=120,
                   what="both public channels in the runtime's graph")  # fmt: skip
        self.c.wait_route(self.b.node_id, 1000)
        return node_id

    # --- one payment each ------------------------------------------------------------------

    def h_pays(self, node_id: str, amount_msat: int) -> tuple[float, float, int]:
        """(ms from POST to succeeded, ms until the POST answered, fee msat)."""
        from vajra.cli_device import DeviceFile
        from vajra.node.payments import read_invoice
        from vajra.signer.messages import PaymentAuthorisation

        assert self.rt is not None
        inv = self.b.add_invoice(amount_msat, memo="bench H")
        bolt11 = str(inv["payment_request"])
        decoded = read_invoice(bolt11, int(time.time()))
        dev = DeviceFile(self.base / "devices" / "ring.json")
        auth = PaymentAuthorisation(
            bytes.fromhex(node_id), decoded.payment_hash, amount_msat, MAX_FEE_MSAT,
            int(time.time()) + 600, dev.next_counter(), dev.key.device_id, 0,
        ).signed(dev.key)  # fmt: skip
        body = {"bolt11": bolt11, "authorisation": auth.encode().hex()}
        h = str(inv["r_hash"])
        t0 = time.perf_counter()
        rec: dict[str, Any] = dict(self.rt.admin(f"/v1/nodes/{node_id}/pay", body))
        started = (time.perf_counter() - t0) * 1000
        deadline = t0 + 60
        while rec.get("state") not in ("succeeded", "failed"):
            if time.perf_counter() > deadline:
                raise AssertionError(f"H's payment still {rec.get('state')}")
            time.sleep(0.002)
            for p in self.rt.admin(f"/v1/nodes/{node_id}/payments")["payments"]:
                if p.get("direction") == "outgoing" and p["payment_hash"] == h:
                    rec = dict(p)
        ms = (time.perf_counter() - t0) * 1000
        if rec["state"] != "succeeded" or sha256(bytes.fromhex(rec["preimage"])).hex() != h:
            raise AssertionError(f"H's payment did not succeed: {rec}")
        return ms, started, int(rec["fee_msat"])

    def c_pays(self, amount_msat: int) -> float:
        inv = self.b.add_invoice(amount_msat, memo="bench C")
        res = self.c.pay_invoice(str(inv["payment_request"]))
        end = max(int(x["resolve_time_ns"]) for x in res["htlcs"])
        return (end - int(res["creation_time_ns"])) / 1e6


def run(
    payments: int, amount_msat: int, route_pairs: int, workdir: Path | None = None
) -> dict[str, Any]:
    base = workdir or Path(tempfile.mkdtemp(prefix="vajra-bench-payments-"))
    bed = _Bed(base)
    out: dict[str, Any] = {"payments": payments, "amount_msat": amount_msat}
    try:
        bed.chain()
        node_id = bed.runtime()
        bed.h_pays(node_id, amount_msat)  # warm-up: the node wakes, routes, learns
        bed.c_pays(amount_msat)
        h_ms: list[float] = []
        h_start: list[float] = []
        c_ms: list[float] = []
        fees = set()
        for _ in range(payments):
            ms, started, fee = bed.h_pays(node_id, amount_msat)
            h_ms.append(ms)
            h_start.append(started)
            fees.add(fee)
            c_ms.append(bed.c_pays(amount_msat))
        assert bed.rt is not None
        graph = bed.rt.admin("/v1/status")["graph"]
        out |= {
            "send_ms_p50": _pct(h_ms, 0.5), "send_ms_p99": _pct(h_ms, 0.99),
            "lnd_send_ms_p50": _pct(c_ms, 0.5), "lnd_send_ms_p99": _pct(c_ms, 0.99),
            "send_latency_ratio": round(statistics.median(h_ms) / statistics.median(c_ms), 3),
            "send_started_ms_p50": _pct(h_start, 0.5),
            "route_service_ms_mean": graph["route_ms_mean"],
            "h_fee_msat": sorted(fees),
            "route_queries": graph["queries"], "scorer_reports": graph["reports"],
        }  # fmt: skip
    finally:
        bed.stop()
    from vajra.benchmarks import routing

    r = routing.run(50_000, 15_000, route_pairs, 1)
    out |= {k: r[k] for k in ("route_ms_p50", "route_ms_p99", "graph_bytes_per_channel") if k in r}
    out["targets"] = TARGETS
    return out
