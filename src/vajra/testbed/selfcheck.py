"""The test bed's self-check: proves every installed component works, for real.

btcd mines a regtest chain to coinbase maturity; two LND nodes connect, one opens a
channel to the other, it confirms and activates; one pays the other's invoice and both
channel balances move by exactly the invoice amount (integer msat); the LDK harness
dials an LND node (BOLT 8 initiator), exchanges `init`, pings and sees the `pong`, and
accepts a connection from the other LND node (BOLT 8 responder); lnprototest imports in
its virtualenv. Everything is stopped at the end and no process may be left behind.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vajra.testbed import paths as tb_paths
from vajra.testbed.btcd import COINBASE_MATURITY, Btcd
from vajra.testbed.ldk import LdkPeer
from vajra.testbed.lnd import Lnd
from vajra.testbed.procs import leftover_pids, run, started_pgids, wait_until

CHANNEL_SAT = 1_000_000
INVOICE_MSAT = 21_000_123  # not a whole number of sats on purpose: msat must be exact
LDK_SEED = "42" * 32  # a fixed LDK node id, so logs are comparable between runs


class Steps:
    """Runs named steps, timing each and logging one line per step."""

    def __init__(self, log: Callable[[str], None]) -> None:
        self.log = log
        self.t0 = time.monotonic()
        self.steps: list[dict[str, Any]] = []

    def run(self, name: str, fn: Callable[[], str]) -> None:
        start = time.monotonic()
        self.log(f"[{start - self.t0:6.1f}s] {name} ...")
        detail = fn()
        secs = time.monotonic() - start
        self.steps.append({"step": name, "seconds": round(secs, 2), "detail": detail})
        self.log(f"[{time.monotonic() - self.t0:6.1f}s] {name}: ok ({secs:.1f}s) {detail}")


def _wait_active_channel(node: Lnd, timeout: float = 90.0) -> None:
    wait_until(
        lambda: node.list_channels(active_only=True),
        timeout=timeout,
        what=f"{node.alias}'s channel active",
        proc=node.proc,
    )


@dataclass
class _Bed:
    """The daemons of one self-check run; each step below works on it."""

    base: Path
    tp: tb_paths.TestbedPaths
    btcd: Btcd
    alice: Lnd
    bob: Lnd
    ldk: LdkPeer


def _start_btcd(bed: _Bed) -> str:
    bed.btcd.start()
    return f"regtest rpc={bed.btcd.rpc_host} height={bed.btcd.getblockcount()}"


def _start_lnds(bed: _Bed) -> str:
    bed.alice.start()
    bed.bob.start()
    return f"alice={bed.alice.node_id[:16]}.. bob={bed.bob.node_id[:16]}.."


def _mine_to_maturity(bed: _Bed) -> str:
    alice, bob, btcd = bed.alice, bed.bob, bed.btcd
    btcd.set_mining_address(alice.new_address("p2wkh"))
    btcd.generate(COINBASE_MATURITY + 10)
    alice.wait_synced()
    bob.wait_synced()
    bal = wait_until(
        lambda: alice.confirmed_balance_sat(), timeout=60, what="alice's matured coinbase balance"
    )
    return f"height={btcd.getblockcount()} alice_confirmed_sat={bal}"


def _connect_lnds(bed: _Bed) -> str:
    alice, bob = bed.alice, bed.bob
    alice.connect(bob.uri)
    wait_until(lambda: bob.node_id in alice.peer_ids(), timeout=30, what="alice sees bob")
    wait_until(lambda: alice.node_id in bob.peer_ids(), timeout=30, what="bob sees alice")
    return "alice <-> bob connected"


def _open_channel(bed: _Bed) -> str:
    txid = bed.alice.open_channel(bed.bob.node_id, CHANNEL_SAT)
    bed.btcd.wait_mempool(1)
    bed.btcd.generate(6)
    for node in (bed.alice, bed.bob):
        _wait_active_channel(node)
    tx = bed.btcd.getrawtransaction(txid)
    return f"funding_txid={txid} confirmations={tx.get('confirmations')} capacity_sat={CHANNEL_SAT}"


def _pay(bed: _Bed) -> str:
    alice, bob = bed.alice, bed.bob
    a0, b0 = alice.local_balance_msat(), bob.local_balance_msat()
    inv = bob.add_invoice(INVOICE_MSAT, memo="vajra selfcheck")
    alice.wait_route(bob.node_id, INVOICE_MSAT)
    res = alice.pay_invoice(str(inv["payment_request"]))
    fee = int(res.get("fee_msat", 0))
    wait_until(
        lambda: bob.local_balance_msat() == b0 + INVOICE_MSAT,
        timeout=30,
        what=f"bob's local balance to grow by {INVOICE_MSAT} msat",
    )
    a1, b1 = alice.local_balance_msat(), bob.local_balance_msat()
    if a0 - a1 != INVOICE_MSAT + fee or b1 - b0 != INVOICE_MSAT:
        raise AssertionError(
            f"balances moved wrongly: alice {a0}->{a1}, bob {b0}->{b1}, "
            f"invoice {INVOICE_MSAT} msat, fee {fee} msat"
        )
    settled = bob.lookup_invoice(str(inv["r_hash"]))
    if settled.get("state") != "SETTLED":
        raise AssertionError(f"bob's invoice is {settled.get('state')}, not SETTLED")
    return f"paid {INVOICE_MSAT} msat (fee {fee}); alice {a0}->{a1} msat, bob {b0}->{b1} msat"


def _ldk_dials_lnd(bed: _Bed) -> str:
    alice, ldk = bed.alice, bed.ldk
    ldk.start()
    ldk.connect("127.0.0.1", alice.p2p_port, alice.node_id)
    wait_until(lambda: ldk.node_id in alice.peer_ids(), timeout=30, what="alice lists LDK as peer")
    if alice.node_id not in ldk.list_peers():
        raise AssertionError("LDK does not list alice after init")
    rtt = ldk.ping(alice.node_id)
    return f"ldk={ldk.node_id[:16]}.. init exchanged with alice; ping->pong {rtt:.0f} ms"


def _lnd_dials_ldk(bed: _Bed) -> str:
    bob, ldk = bed.bob, bed.ldk
    port = ldk.listen(0)
    bob.connect(f"{ldk.node_id}@127.0.0.1:{port}")
    wait_until(lambda: bob.node_id in ldk.list_peers(), timeout=30, what="LDK lists bob as peer")
    wait_until(lambda: ldk.node_id in bob.peer_ids(), timeout=30, what="bob lists LDK")
    return f"bob connected to LDK listening on 127.0.0.1:{port}"


def _lnprototest_imports(bed: _Bed) -> str:
    out = run(
        [
            bed.tp.lnprototest_python,
            "-c",
            "import importlib.metadata as m, lnprototest, pyln.proto.wire;"
            "print(m.version('lnprototest'), m.version('pyln-proto'))",
        ],
        timeout=60,
        name="lnprototest",
    )
    lnpt, pyln = out.split()
    return f"lnprototest {lnpt}, pyln-proto {pyln} import in {bed.tp.lnprototest_dir.name}"


def _electrum_imports(bed: _Bed) -> str:
    out = run(
        [
            bed.tp.electrum_python,
            "-c",
            "import electrum.ecc_fast, electrum.lnpeer, electrum.version as v;"
            "print(v.ELECTRUM_VERSION)",
        ],
        timeout=60,
        name="electrum",
    )
    return f"Debian Electrum {out.strip()} with libsecp256k1 in {bed.tp.electrum_dir.name}"


STEPS: tuple[tuple[str, Callable[[_Bed], str]], ...] = (
    ("start btcd", _start_btcd),
    ("start two LND nodes", _start_lnds),
    ("mine to coinbase maturity (coins to alice)", _mine_to_maturity),
    ("connect alice to bob", _connect_lnds),
    ("open channel alice -> bob and confirm it", _open_channel),
    ("alice pays bob's invoice; balances move exactly", _pay),
    ("LDK dials LND (init, ping/pong)", _ldk_dials_lnd),
    ("LND dials LDK (LDK as BOLT 8 responder)", _lnd_dials_ldk),
    ("lnprototest venv", _lnprototest_imports),
    ("Electrum venv", _electrum_imports),
)


def run_selfcheck(
    log: Callable[[str], None] = print, *, workdir: Path | None = None, keep: bool = False
) -> dict[str, Any]:
    """Run the self-check; return a JSON-able summary (`ok` says whether it passed).

    Daemon logs go under `workdir` (a temp dir by default), which is removed after a pass
    unless `keep`, and kept after a failure so its logs can be read.
    """
    tp = tb_paths.installed()
    base = workdir or Path(tempfile.mkdtemp(prefix="vajra-selfcheck-"))
    steps = Steps(log)
    groups_before = started_pgids()
    summary: dict[str, Any] = {
        "ok": False,
        "versions": tp.as_json()["versions"],
        "workdir": str(base),
        "steps": steps.steps,
    }
    bed: _Bed | None = None
    try:
        btcd = Btcd(base / "btcd")
        bed = _Bed(
            base, tp, btcd, Lnd(btcd, base / "alice", alias="alice"),
            Lnd(btcd, base / "bob", alias="bob"), LdkPeer(base / "ldk", seed_hex=LDK_SEED),
        )  # fmt: skip
        for name, step in STEPS:
            steps.run(name, lambda step=step: step(bed))  # type: ignore[misc]
        summary["ok"] = True
    except Exception as e:
        summary["error"] = f"{type(e).__name__}: {e}"
        log(f"FAILED: {summary['error']}")
        log(f"logs kept in {base}")
    finally:
        if bed is not None:
            _stop_all(bed, summary, log)
    _finish(summary, groups_before, steps, log)
    if summary["ok"] and workdir is None and not keep:
        shutil.rmtree(base, ignore_errors=True)
    return summary


def _stop_all(bed: _Bed, summary: dict[str, Any], log: Callable[[str], None]) -> None:
    for stopper in (bed.ldk, bed.bob, bed.alice, bed.btcd):
        try:
            stopper.stop()
        except Exception as e:
            log(f"stop failed: {e}")
            summary["ok"] = False


def _finish(
    summary: dict[str, Any], groups_before: set[int], steps: Steps, log: Callable[[str], None]
) -> None:
    """No process of this run may be left; the time taken; the closing line."""
    # Only this run's processes: a caller (a test session) may have daemons of its own.
    left = leftover_pids(started_pgids() - groups_before)
    summary["leftover_pids"] = left
    if left:
        summary["ok"] = False
        summary.setdefault("error", f"processes left running: {left}")
    summary["seconds"] = round(time.monotonic() - steps.t0, 1)
    if summary["ok"]:
        log(f"self-check passed in {summary['seconds']}s")
