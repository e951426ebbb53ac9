"""Real peers against hosted nodes: to LND and LDK each hosted node is an ordinary peer.

A runtime (real process, two workers) hosts a few thousand sleeping nodes. LND connects
to 1,000 of them at random and lists each as a peer with our init features; an LDK node
connects to a sample and gets pongs from every one of them. LND's own pings (a minute
after connecting) are answered too. Nothing wakes: the runtime
answers handshakes, init, pings and LND's gossip queries itself.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.e2e.runtime_proc import VajraProcess, start_runtime
from vajra.testbed.ldk import LdkPeer
from vajra.testbed.procs import wait_until
from vajra.wire import features as feat

from .conftest import LndPair

pytestmark = [pytest.mark.interop, pytest.mark.slow]

HOSTED = 3000
LND_SAMPLE = 1000
LDK_SAMPLE = 25


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VajraProcess]:
    store: Path = tmp_path_factory.mktemp("runtime") / "store.db"
    rt = start_runtime(store, create=HOSTED, workers=2)
    try:
        yield rt
    finally:
        rt.stop()


def _uri(n: dict[str, object]) -> str:
    return f"{n['node_id']}@{n['host']}:{n['port']}"


# 1,000 `lncli connect` and as many `disconnect`s plus LND's ping a minute after connecting:
# on a loaded 2-core machine that alone took over the default 300 s (observed).
@pytest.mark.timeout(900)
def test_lnd_lists_1000_hosted_nodes_as_peers(lnd_pair: LndPair, runtime: VajraProcess) -> None:
    lnd = lnd_pair.bob
    before = runtime.counters()  # the runtime is shared by the module: count deltas
    nodes = runtime.nodes()
    assert len(nodes) >= HOSTED
    sample = random.Random(5).sample(nodes, LND_SAMPLE)
    with ThreadPoolExecutor(8) as ex:
        list(ex.map(lambda n: lnd.connect(_uri(n)), sample))
    peers = {p["pub_key"]: p for p in lnd.list_peers()}
    ours = {str(b) for b in feat.our_bits(feat.INIT)}
    try:
        for n in sample:
            p = peers.get(str(n["node_id"]))
            assert p is not None, f"LND does not list {n['node_id']}"
            assert p["address"] == f"{n['host']}:{n['port']}"
            # LND shows the features it read from our init, bit by bit.
            assert ours <= set(p["features"]), (ours, p["features"])
        # LND pings each peer a minute after connecting and records the pong's round trip
        # (`ping_time`, microseconds): every sampled hosted node must have answered.
        ids = {str(n["node_id"]) for n in sample}

        def all_ponged() -> bool:
            got = {p["pub_key"]: int(p.get("ping_time", 0)) for p in lnd.list_peers()}
            return all(got.get(i, 0) > 0 for i in ids)

        wait_until(
            all_ponged, timeout=150, interval=5, what="LND's pings answered by every sampled node"
        )
        status = runtime.counters()
        gained = {k: status.get(k, 0) - before.get(k, 0) for k in ("handshakes", "pongs", "wakes")}
        assert gained["handshakes"] >= LND_SAMPLE and gained["pongs"] >= LND_SAMPLE, gained
        assert gained["wakes"] == 0, "connecting, pings and gossip must not wake nodes"
    finally:
        with ThreadPoolExecutor(8) as ex:
            list(ex.map(lambda n: lnd.cli("disconnect", str(n["node_id"])), sample))


def test_ldk_pings_hosted_nodes(ldk_peer: LdkPeer, runtime: VajraProcess) -> None:
    # The runtime is shared with the LND test (module fixture): judge this test on what
    # its counters gained during it, not on their totals.
    before = runtime.counters()
    sample = random.Random(7).sample(runtime.nodes(), LDK_SAMPLE)
    for n in sample:
        ldk_peer.connect(str(n["host"]), int(str(n["port"])), str(n["node_id"]))
    assert {str(n["node_id"]) for n in sample} <= set(ldk_peer.list_peers())
    timeout = 10.0
    for n in sample:  # one timer tick pings every peer; each must answer with a pong
        # LdkPeer.ping raises when no pong came within `timeout`; the round trip it
        # reports is LDK's own wall clock (whole ms, so 0 on a fast loopback).
        rtt_ms = ldk_peer.ping(str(n["node_id"]), timeout=timeout)
        assert 0 <= rtt_ms < timeout * 1000, rtt_ms

    def gained(name: str) -> int:
        return runtime.counters().get(name, 0) - before.get(name, 0)

    # Counters are published every 0.1 s by each worker.
    wait_until(lambda: gained("pongs") >= LDK_SAMPLE, timeout=30, what="LDK's pongs counted")
    assert gained("handshakes") >= LDK_SAMPLE and gained("inits") >= LDK_SAMPLE
    assert gained("wakes") == 0, "pings must not wake nodes"
