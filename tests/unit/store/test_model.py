"""Model-based test: the SQLite store against a plain-dict model of the same semantics.

The model is the specification in a few lines: versions (with tombstones), CAS, leases
with epochs and expiry, fenced writes. Hypothesis drives both with random operations
(stale and current versions, several runtimes, time moving forward) and compares every
result and the whole visible state after each step.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from vajra.store import Lease, LeaseHeld, LeaseLost, SealedStore, SqliteStore, StoreConflict
from vajra.store.base import KVStore

NODES = [b"\x02" + b"\x01" * 32, b"\x03" + b"\x02" * 32]
KEYS = ["state", "chan/1", "chan/2"]
RUNTIMES = ["rt-a", "rt-b", "rt-c"]
T = TypeVar("T")


@dataclass
class ModelLease:
    holder: str | None
    epoch: int
    expiry: float


class Model:
    """The semantics of `base.KVStore`, as plainly as they can be written."""

    def __init__(self) -> None:
        self.kv: dict[tuple[bytes, str], tuple[int, bytes | None]] = {}
        self.leases: dict[bytes, ModelLease] = {}

    def current_epoch(self, node: bytes) -> int | None:
        lease = self.leases.get(node)
        return None if lease is None or lease.holder is None else lease.epoch

    def write(
        self, node: bytes, key: str, blob: bytes | None, expected: int, epoch: int | None
    ) -> int | type[Exception]:
        if epoch is not None and self.current_epoch(node) != epoch:
            return LeaseLost
        stored, value = self.kv.get((node, key), (0, None))
        if expected != stored or (blob is None and value is None):
            return StoreConflict
        self.kv[node, key] = (stored + 1, blob)
        return stored + 1

    def acquire(self, node: bytes, runtime: str, now: float, ttl: float) -> int | type[Exception]:
        lease = self.leases.get(node)
        if lease is not None and lease.holder not in (None, runtime) and lease.expiry > now:
            return LeaseHeld
        epoch = 1 if lease is None else lease.epoch + 1
        self.leases[node] = ModelLease(runtime, epoch, now + ttl)
        return epoch

    def holds(self, lease: Lease) -> bool:
        m = self.leases.get(lease.node_id)
        return m is not None and m.holder == lease.runtime_id and m.epoch == lease.epoch


def _outcome(f: Callable[[], T]) -> T | type[Exception]:
    """What an operation came to: its result, or the type of store error it raised."""
    try:
        return f()
    except (StoreConflict, LeaseHeld, LeaseLost) as e:
        return type(e)


class StoreMachine(RuleBasedStateMachine):
    sealed = False

    def __init__(self) -> None:
        super().__init__()
        self.dir = tempfile.mkdtemp()
        self.raw = SqliteStore(Path(self.dir) / "model.db")
        self.store: KVStore = self.raw
        if self.sealed:
            s = SealedStore(self.raw)
            for i, node in enumerate(NODES):
                s.unlock(node, bytes((i + 1,)) * 32)
            self.store = s
        self.model = Model()
        self.now = 1000.0
        self.held: dict[tuple[bytes, str], Lease] = {}  # what each runtime believes it holds
        self.counter = 0

    def teardown(self) -> None:
        self.raw.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _blob(self) -> bytes:
        self.counter += 1
        return b"value-%d" % self.counter

    def _stored(self, node: bytes, key: str) -> int:
        return self.model.kv.get((node, key), (0, None))[0]

    # --- writes ------------------------------------------------------------------------

    @rule(node=st.sampled_from(NODES), key=st.sampled_from(KEYS), expected=st.integers(0, 6))
    def put_any_version(self, node: bytes, key: str, expected: int) -> None:
        blob = self._blob()
        want = self.model.write(node, key, blob, expected, None)
        assert _outcome(lambda: self.store.put(node, key, blob, expected)) == want

    @rule(node=st.sampled_from(NODES), key=st.sampled_from(KEYS))
    def put_current_version(self, node: bytes, key: str) -> None:
        expected = self._stored(node, key)
        blob = self._blob()
        want = self.model.write(node, key, blob, expected, None)
        assert _outcome(lambda: self.store.put(node, key, blob, expected)) == want

    @rule(node=st.sampled_from(NODES), key=st.sampled_from(KEYS), stale=st.booleans())
    def delete(self, node: bytes, key: str, stale: bool) -> None:
        expected = max(0, self._stored(node, key) - stale)
        want = self.model.write(node, key, None, expected, None)
        assert _outcome(lambda: self.store.delete(node, key, expected)) == want

    @rule(
        node=st.sampled_from(NODES),
        key=st.sampled_from(KEYS),
        runtime=st.sampled_from(RUNTIMES),
        current_version=st.booleans(),
    )
    def fenced_put(self, node: bytes, key: str, runtime: str, current_version: bool) -> None:
        lease = self.held.get((node, runtime))
        epoch = lease.epoch if lease is not None else 1
        expected = self._stored(node, key) if current_version else 0
        blob = self._blob()
        want = self.model.write(node, key, blob, expected, epoch)
        got = _outcome(lambda: self.store.put(node, key, blob, expected, lease_epoch=epoch))
        assert got == want

    # --- leases ------------------------------------------------------------------------

    @rule(
        node=st.sampled_from(NODES),
        runtime=st.sampled_from(RUNTIMES),
        ttl=st.sampled_from([1.0, 5.0, 30.0]),
    )
    def acquire(self, node: bytes, runtime: str, ttl: float) -> None:
        want = self.model.acquire(node, runtime, self.now, ttl)
        got = _outcome(lambda: self.store.acquire_lease(node, runtime, self.now, ttl))
        if isinstance(got, Lease):
            assert isinstance(want, int)
            assert got == Lease(node, runtime, want, self.now + ttl)
            self.held[node, runtime] = got
        else:
            assert got == want

    @precondition(lambda self: bool(self.held))
    @rule(data=st.data(), ttl=st.sampled_from([1.0, 5.0, 30.0]))
    def renew(self, data: st.DataObject, ttl: float) -> None:
        lease = data.draw(st.sampled_from(sorted(self.held.values(), key=repr)))
        ok = self.model.holds(lease)
        got = _outcome(lambda: self.store.renew_lease(lease, self.now, ttl))
        if ok:
            assert isinstance(got, Lease)
            assert got == Lease(lease.node_id, lease.runtime_id, lease.epoch, self.now + ttl)
            self.model.leases[lease.node_id].expiry = self.now + ttl
            self.held[lease.node_id, lease.runtime_id] = got
        else:
            assert got is LeaseLost

    @precondition(lambda self: bool(self.held))
    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        lease = data.draw(st.sampled_from(sorted(self.held.values(), key=repr)))
        ok = self.model.holds(lease)
        got = _outcome(lambda: self.store.release_lease(lease))
        if ok:
            assert got is None
            self.model.leases[lease.node_id].holder = None
        else:
            assert got is LeaseLost

    @rule(dt=st.sampled_from([0.5, 1.0, 4.0, 31.0]))
    def time_passes(self, dt: float) -> None:
        self.now += dt

    # --- the whole visible state matches ------------------------------------------------

    @invariant()
    def same_visible_state(self) -> None:
        for node in NODES:
            for key in KEYS:
                version, blob = self.model.kv.get((node, key), (0, None))
                assert self.store.get(node, key) == (None if blob is None else (version, blob))
            live = sorted(
                k for (n, k), (_, b) in self.model.kv.items() if n == node and b is not None
            )
            assert self.store.list_keys(node) == live
            m = self.model.leases.get(node)
            want = (
                None if m is None or m.holder is None else Lease(node, m.holder, m.epoch, m.expiry)
            )
            assert self.store.get_lease(node) == want


class SealedStoreMachine(StoreMachine):
    """The same model holds through the sealing wrapper."""

    sealed = True


TestStoreModel = StoreMachine.TestCase
TestStoreModel.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
TestSealedStoreModel = SealedStoreMachine.TestCase
TestSealedStoreModel.settings = settings(max_examples=30, stateful_step_count=40, deadline=None)
