"""Sealed values: swaps between nodes/keys/versions, rollbacks and tampering are caught;
the database file never holds a plaintext or a state key."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from vajra.store import (
    IntegrityError,
    KVStore,
    LeaseLost,
    NodeLocked,
    RollbackDetected,
    SealedStore,
    Seen,
    SqliteStore,
    StoreConflict,
)
from vajra.store.sealed import OVERHEAD, seal, unseal

N1 = b"\x02" + b"\x11" * 32
N2 = b"\x03" + b"\x22" * 32
K1 = bytes(range(32))
K2 = bytes(range(32, 64))


@pytest.fixture
def raw(store: SqliteStore) -> SqliteStore:
    return store


@pytest.fixture
def sealed(raw: SqliteStore) -> SealedStore:
    s = SealedStore(raw)
    s.unlock(N1, K1)
    s.unlock(N2, K2)
    return s


def test_round_trip_and_the_backend_sees_only_ciphertext(
    raw: SqliteStore, sealed: SealedStore
) -> None:
    assert sealed.put(N1, "state", b"channel state", 0) == 1
    assert sealed.get(N1, "state") == (1, b"channel state")
    got = raw.get(N1, "state")
    assert got is not None
    assert b"channel state" not in got[1]
    assert len(got[1]) == len(b"channel state") + OVERHEAD
    assert got[1][0] == 1  # format byte


def test_sealing_twice_gives_different_blobs() -> None:
    assert seal(K1, N1, "k", 1, b"same") != seal(K1, N1, "k", 1, b"same")


def test_sealed_store_is_a_kvstore(sealed: SealedStore) -> None:
    store: KVStore = sealed
    store.put(N1, "a", b"x", 0)
    assert store.list_keys(N1) == ["a"]


@pytest.mark.parametrize(
    ("node", "key", "version", "state_key"),
    [
        (N2, "state", 1, K1),  # moved to another node (even with the same state key)
        (N1, "other", 1, K1),  # moved to another key
        (N1, "state", 2, K1),  # replayed as another version
        (N1, "state", 1, K2),  # opened with another node's key
    ],
)
def test_unseal_rejects_a_blob_out_of_its_place(
    node: bytes, key: str, version: int, state_key: bytes
) -> None:
    blob = seal(K1, N1, "state", 1, b"payload")
    assert unseal(K1, N1, "state", 1, blob) == b"payload"
    with pytest.raises(IntegrityError):
        unseal(state_key, node, key, version, blob)


def test_blob_swapped_between_keys_in_the_backend_is_rejected(
    raw: SqliteStore, sealed: SealedStore
) -> None:
    sealed.put(N1, "chan/a", b"A", 0)
    sealed.put(N1, "chan/b", b"B", 0)
    blob_a = raw.get(N1, "chan/a")
    assert blob_a is not None
    raw.put(N1, "chan/b", blob_a[1], 1)  # the backend (or a thief) moves a's blob to b
    with pytest.raises(IntegrityError):
        sealed.get(N1, "chan/b")


def test_blob_swapped_between_nodes_is_rejected(raw: SqliteStore, sealed: SealedStore) -> None:
    sealed.put(N1, "state", b"one", 0)
    blob = raw.get(N1, "state")
    assert blob is not None
    raw.put(N2, "state", blob[1], 0)
    with pytest.raises(IntegrityError):
        sealed.get(N2, "state")


def test_old_blob_replayed_as_a_newer_version_is_rejected(
    raw: SqliteStore, sealed: SealedStore
) -> None:
    sealed.put(N1, "state", b"v1: balance 100", 0)
    old = raw.get(N1, "state")
    assert old is not None
    sealed.put(N1, "state", b"v2: balance 40", 1)
    raw.put(N1, "state", old[1], 2)  # version 3 now holds v1's blob
    fresh = SealedStore(raw)  # no high-water marks: only the AEAD protects
    fresh.unlock(N1, K1)
    with pytest.raises(IntegrityError):
        fresh.get(N1, "state")


def test_tampered_truncated_or_unknown_format_blobs_are_rejected(
    raw: SqliteStore, sealed: SealedStore
) -> None:
    sealed.put(N1, "state", b"payload", 0)
    got = raw.get(N1, "state")
    assert got is not None
    blob = got[1]
    version = 1
    for bad in (
        blob[:-1] + bytes((blob[-1] ^ 1,)),
        blob[: OVERHEAD - 1],
        b"\x02" + blob[1:],
        b"",
    ):
        version = raw.put(N1, "state", blob, version)  # keep the AD version matching
        version = raw.put(N1, "state", bad, version)
        fresh = SealedStore(raw)
        fresh.unlock(N1, K1)
        with pytest.raises(IntegrityError):
            fresh.get(N1, "state")


class _Switchable:
    """A backend the test can swap under the sealed store, like a restore from backup."""

    def __init__(self, inner: KVStore) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


def _backup(src: SqliteStore, dst: Path) -> SqliteStore:
    a = sqlite3.connect(src.path)
    b = sqlite3.connect(dst)
    a.backup(b)
    a.close()
    b.close()
    return SqliteStore(dst)


def test_backend_rolled_back_to_an_older_version_is_detected(
    tmp_path: Path, raw: SqliteStore
) -> None:
    backend = _Switchable(raw)
    sealed = SealedStore(backend)  # type: ignore[arg-type]
    sealed.unlock(N1, K1)
    sealed.put(N1, "state", b"v1", 0)
    snapshot = _backup(raw, tmp_path / "backup.db")
    sealed.put(N1, "state", b"v2", 1)
    backend.inner = snapshot  # the operator restores yesterday's backup
    with pytest.raises(RollbackDetected) as e:
        sealed.get(N1, "state")
    assert (e.value.seen, e.value.served) == (2, 1)
    # ... and a write on top of the rolled-back version is refused too.
    with pytest.raises(RollbackDetected):
        sealed.put(N1, "state", b"v2'", 1)
    snapshot.close()


def test_backend_dropping_a_live_key_is_detected(tmp_path: Path, raw: SqliteStore) -> None:
    backend = _Switchable(raw)
    sealed = SealedStore(backend)  # type: ignore[arg-type]
    sealed.unlock(N1, K1)
    empty = SqliteStore(tmp_path / "empty.db")
    sealed.put(N1, "state", b"v1", 0)
    backend.inner = empty
    with pytest.raises(RollbackDetected) as e:
        sealed.get(N1, "state")
    assert e.value.served == 0
    empty.close()


def test_deleted_key_reads_as_none_without_alarm(sealed: SealedStore) -> None:
    sealed.put(N1, "chan", b"x", 0)
    assert sealed.delete(N1, "chan", 1) == 2
    assert sealed.get(N1, "chan") is None
    assert sealed.high_water(N1) == {"chan": Seen(2, False)}
    assert sealed.put(N1, "chan", b"again", 2) == 3
    assert sealed.get(N1, "chan") == (3, b"again")


def test_persisted_high_water_marks_detect_rollback_in_a_new_runtime(
    tmp_path: Path, raw: SqliteStore
) -> None:
    first = SealedStore(raw)
    first.unlock(N1, K1)
    first.put(N1, "state", b"v1", 0)
    snapshot = _backup(raw, tmp_path / "backup.db")
    first.put(N1, "state", b"v2", 1)
    marks = first.forget(N1)  # e.g. handed to the signer when the node sleeps
    assert marks == {"state": Seen(2, True)}
    second = SealedStore(snapshot)
    second.unlock(N1, K1, high_water=marks)
    with pytest.raises(RollbackDetected):
        second.get(N1, "state")
    snapshot.close()


def test_conflict_reporting_an_older_version_than_seen_is_a_rollback(
    tmp_path: Path, raw: SqliteStore
) -> None:
    backend = _Switchable(raw)
    sealed = SealedStore(backend)  # type: ignore[arg-type]
    sealed.unlock(N1, K1)
    sealed.put(N1, "state", b"v1", 0)
    sealed.put(N1, "state", b"v2", 1)
    snapshot = _backup(raw, tmp_path / "backup.db")
    sealed.put(N1, "state", b"v3", 2)
    backend.inner = snapshot  # holds v2
    with pytest.raises(RollbackDetected):
        sealed.put(N1, "state", b"v4", 3)  # backend says "conflict, actual 2" < seen 3
    snapshot.close()


def test_locked_node_cannot_be_read_or_written(sealed: SealedStore) -> None:
    sealed.put(N1, "state", b"x", 0)
    sealed.lock(N1)
    with pytest.raises(NodeLocked):
        sealed.get(N1, "state")
    with pytest.raises(NodeLocked):
        sealed.put(N1, "state", b"y", 1)
    assert sealed.high_water(N1) == {"state": Seen(1, True)}  # kept across sleep


def test_state_key_must_be_32_bytes(raw: SqliteStore) -> None:
    with pytest.raises(ValueError):
        SealedStore(raw).unlock(N1, b"short")


def test_leases_and_fencing_pass_through(sealed: SealedStore) -> None:
    a = sealed.acquire_lease(N1, "rt-a", now=0.0, ttl=5.0)
    sealed.put(N1, "state", b"x", 0, lease_epoch=a.epoch)
    sealed.acquire_lease(N1, "rt-b", now=5.0, ttl=5.0)
    with pytest.raises(LeaseLost):
        sealed.put(N1, "state", b"zombie", 1, lease_epoch=a.epoch)
    with pytest.raises(StoreConflict):
        sealed.put(N1, "state", b"stale", 0)
    assert sealed.get(N1, "state") == (1, b"x")


def test_database_files_hold_neither_plaintext_nor_state_key(tmp_path: Path) -> None:
    path = tmp_path / "secret.db"
    raw = SqliteStore(path)
    sealed = SealedStore(raw)
    keys = {bytes((2,)) + os.urandom(32): os.urandom(32) for _ in range(20)}
    plaintexts: list[bytes] = []
    for node_id, state_key in keys.items():
        sealed.unlock(node_id, state_key)
        version = 0
        for i in range(5):
            p = b"PLAINTEXT-%d-" % i + os.urandom(24).hex().encode() + b"-balance=123456789"
            plaintexts.append(p)
            version = sealed.put(node_id, "state", p, version)
        sealed.put(node_id, "chan/1", b"KEY-IN-VALUE:" + state_key, 0)
        plaintexts.append(b"KEY-IN-VALUE:" + state_key)
    # Scan while open (the WAL holds the recent writes) and again after close.
    for when in ("open", "closed"):
        files = [p for p in tmp_path.iterdir() if p.name.startswith("secret.db")]
        assert files
        data = b"".join(p.read_bytes() for p in files)
        assert len(data) > 0
        for state_key in keys.values():
            assert state_key not in data, when
        for p in plaintexts:
            assert p not in data, when
            assert p[:16] not in data, when
        for marker in (b"PLAINTEXT", b"balance=", b"KEY-IN-VALUE"):
            assert marker not in data, when
        raw.close()
