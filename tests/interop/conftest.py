"""Fixtures for interop tests against the real test bed (btcd, LND, LDK, lnprototest).

The components must be installed (`testbed/install.sh`; `make test` does it). A missing
component fails the test with that instruction rather than skipping it silently.

Scopes: `btcd` and `lnd_pair` are session-scoped (starting LND and mining to maturity
costs seconds); `ldk_peer` is per test (a fresh LDK node each time); `ldk_on_chain` is
one LDK node per module on `lnd_pair`'s btcd, connected to alice and bob, its wallet
funded by alice (for channel tests). `btcd` is a bare
chain mining to a fixed address nobody spends from; `lnd_pair` has its own btcd
(`lnd_pair.btcd`) mining to alice's wallet, because btcd can change its mining address
only before the first block (it wipes its regtest chain on restart). Every wait inside is
bounded, every daemon is stopped at teardown, and `_no_leftover_processes` (torn down
last) fails the session if any process the test bed started is still alive.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from vajra.testbed import paths as tb_paths
from vajra.testbed.btcd import COINBASE_MATURITY, Btcd
from vajra.testbed.errors import TestbedNotInstalled
from vajra.testbed.ldk import LdkPeer
from vajra.testbed.lnd import Lnd
from vajra.testbed.procs import leftover_pids, started_pgids, stop_all, wait_until


@pytest.fixture(scope="session", autouse=True)
def _no_leftover_processes() -> Iterator[None]:
    """Autouse and session-scoped, so set up first and torn down after every other fixture."""
    before = started_pgids()
    yield
    stop_all()  # whatever a test started by hand and forgot
    left = leftover_pids(started_pgids() - before)
    assert not left, f"test bed processes still alive after the session: {left}"


@pytest.fixture(scope="session")
def testbed_paths() -> tb_paths.TestbedPaths:
    try:
        return tb_paths.installed()
    except TestbedNotInstalled as e:
        pytest.fail(str(e), pytrace=False)


@pytest.fixture(scope="session")
def btcd(
    testbed_paths: tb_paths.TestbedPaths, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Btcd]:
    """A bare regtest btcd whose blocks pay a fixed address (no wallet holds its key)."""
    node = Btcd(tmp_path_factory.mktemp("btcd"), mining_address=BURN_ADDRESS)
    node.start()
    try:
        yield node
    finally:
        node.stop()


# BIP 173's regtest P2WPKH test vector: valid for btcd's --miningaddr, spent by no one.
BURN_ADDRESS = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"


@dataclass
class LndPair:
    """Two LND nodes on `btcd`, connected to each other; alice holds matured coins."""

    btcd: Btcd
    alice: Lnd
    bob: Lnd


@pytest.fixture(scope="session")
def lnd_pair(
    testbed_paths: tb_paths.TestbedPaths, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LndPair]:
    base: Path = tmp_path_factory.mktemp("lnd")
    btcd = Btcd(base / "btcd")
    alice = Lnd(btcd, base / "alice", alias="alice")
    bob = Lnd(btcd, base / "bob", alias="bob")
    try:
        btcd.start()
        alice.start()
        bob.start()
        btcd.set_mining_address(alice.new_address())
        btcd.generate(COINBASE_MATURITY + 10)
        alice.wait_synced()
        bob.wait_synced()
        wait_until(alice.confirmed_balance_sat, timeout=60, what="alice's matured coins")
        alice.connect(bob.uri)
        wait_until(lambda: bob.node_id in alice.peer_ids(), timeout=30, what="alice sees bob")
        yield LndPair(btcd, alice, bob)
    finally:
        bob.stop()
        alice.stop()
        btcd.stop()


@pytest.fixture
def ldk_peer(testbed_paths: tb_paths.TestbedPaths, tmp_path: Path) -> Iterator[LdkPeer]:
    """A fresh LDK node (the Node harness) for one test."""
    peer = LdkPeer(tmp_path / "ldk")
    peer.start()
    try:
        yield peer
    finally:
        peer.stop()


# What alice sends LDK's wallet in `ldk_on_chain` (sat): room for a few channels.
LDK_WALLET_FUNDING_SAT = 2_000_000


@pytest.fixture(scope="module")
def ldk_on_chain(
    testbed_paths: tb_paths.TestbedPaths,
    lnd_pair: LndPair,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LdkPeer]:
    """One LDK node per module, fed `lnd_pair.btcd`'s blocks, connected to alice and bob.

    Its wallet holds `LDK_WALLET_FUNDING_SAT` from alice, confirmed. It listens, so LND can
    dial it back. It keeps its state in a data dir, so a test may `restart` it (and must then
    attach the chain and connect alice and bob again). Shares btcd and both LNDs with every other test of the session.
    """
    btcd, alice, bob = lnd_pair.btcd, lnd_pair.alice, lnd_pair.bob
    base = tmp_path_factory.mktemp("ldk-chain")
    peer = LdkPeer(base / "ldk", data_dir=base / "ldk-data", log_level="info")
    peer.start()
    try:
        peer.listen()
        peer.attach_chain(btcd)
        for lnd in (alice, bob):
            peer.connect("127.0.0.1", lnd.p2p_port, lnd.node_id)
        # LND's sendcoins wants its coins some blocks past the first maturity.
        btcd.generate(10)
        alice.wait_synced()
        alice.cli("sendcoins", "--addr", peer.new_address(), "--amt", LDK_WALLET_FUNDING_SAT)
        btcd.wait_mempool(1)
        btcd.generate(1)
        wait_until(
            lambda: peer.sync() and peer.balance().confirmed_sat == LDK_WALLET_FUNDING_SAT,
            timeout=30,
            what="LDK's wallet sees alice's coins",
        )
        yield peer
    finally:
        peer.stop()
