"""Compare-and-swap semantics of the versioned KV store (SQLite backend)."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vajra.store import KVStore, SqliteStore, StoreConflict, StoreCorrupt
from vajra.store.sqlite import SCHEMA_VERSION

N1 = b"\x02" + b"\x11" * 32
N2 = b"\x03" + b"\x22" * 32


def test_first_write_is_version_1_and_each_write_adds_one(store: SqliteStore) -> None:
    assert store.get(N1, "state") is None
    assert store.put(N1, "state", b"a", 0) == 1
    assert store.put(N1, "state", b"b", 1) == 2
    assert store.get(N1, "state") == (2, b"b")
    assert store.get(N2, "state") is None  # keys are per node


def test_stale_writer_gets_conflict_with_both_versions(store: SqliteStore) -> None:
    store.put(N1, "k", b"a", 0)
    store.put(N1, "k", b"b", 1)
    with pytest.raises(StoreConflict) as e:
        store.put(N1, "k", b"stale", 1)
    assert (e.value.expected, e.value.actual, e.value.deleted) == (1, 2, False)
    with pytest.raises(StoreConflict):
        store.put(N1, "k", b"exists", 0)  # 0 means "must not exist"
    assert store.get(N1, "k") == (2, b"b")


def test_delete_leaves_a_tombstone_so_versions_never_repeat(store: SqliteStore) -> None:
    store.put(N1, "k", b"a", 0)
    assert store.delete(N1, "k", 1) == 2
    assert store.get(N1, "k") is None
    assert store.list_keys(N1) == []
    with pytest.raises(StoreConflict) as e:
        store.put(N1, "k", b"again", 0)
    assert (e.value.actual, e.value.deleted) == (2, True)
    with pytest.raises(StoreConflict):
        store.delete(N1, "k", 2)  # a tombstone cannot be deleted again
    assert store.put(N1, "k", b"again", 2) == 3
    assert store.get(N1, "k") == (3, b"again")


def test_delete_is_compare_and_swap_too(store: SqliteStore) -> None:
    with pytest.raises(StoreConflict):
        store.delete(N1, "missing", 0)
    store.put(N1, "k", b"a", 0)
    store.put(N1, "k", b"b", 1)
    with pytest.raises(StoreConflict):
        store.delete(N1, "k", 1)
    assert store.get(N1, "k") == (2, b"b")


def test_list_keys_sorted_per_node(store: SqliteStore) -> None:
    for k in ("chan/2", "state", "chan/1"):
        store.put(N1, k, b"x", 0)
    store.put(N2, "other", b"x", 0)
    assert store.list_keys(N1) == ["chan/1", "chan/2", "state"]
    assert store.list_keys(N2) == ["other"]


def test_empty_blob_is_a_value_not_a_deletion(store: SqliteStore) -> None:
    store.put(N1, "k", b"", 0)
    assert store.get(N1, "k") == (1, b"")


@settings(max_examples=200, deadline=None)
@given(
    ops=st.lists(
        st.tuples(st.integers(0, 4), st.sampled_from(["read", "write", "write"])), max_size=60
    )
)
def test_exactly_the_writers_holding_the_current_version_win(ops: list[tuple[int, str]]) -> None:
    """Five writers interleave reads and writes, each writing on the version it last read:
    a write succeeds iff that version is still the current one."""
    store: KVStore = SqliteStore(":memory:")
    known = [0] * 5
    current = 0
    for i, (w, op) in enumerate(ops):
        if op == "read":
            got = store.get(N1, "k")
            known[w] = 0 if got is None else got[0]
            continue
        try:
            new = store.put(N1, "k", b"w%d-%d" % (w, i), known[w])
        except StoreConflict as e:
            assert known[w] != current
            assert e.actual == current
        else:
            assert known[w] == current
            assert new == current + 1
            current = known[w] = new
    got = store.get(N1, "k")
    assert (0 if got is None else got[0]) == current


def test_threads_racing_on_one_file_never_both_win_a_version(tmp_path: Path) -> None:
    path = tmp_path / "race.db"
    SqliteStore(path).close()
    wins: list[list[int]] = [[] for _ in range(4)]

    def writer(i: int) -> None:
        s = SqliteStore(path)
        for _ in range(40):
            got = s.get(N1, "k")
            v = 0 if got is None else got[0]
            with contextlib.suppress(StoreConflict):
                wins[i].append(s.put(N1, "k", b"t%d" % i, v))
        s.close()

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    all_wins = sorted(v for w in wins for v in w)
    s = SqliteStore(path)
    got = s.get(N1, "k")
    assert got is not None
    assert all_wins == list(range(1, got[0] + 1))  # each version won exactly once


def test_schema_version_recorded_and_newer_schema_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    SqliteStore(path).close()
    db = sqlite3.connect(path)
    assert db.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
    assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    db.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    db.commit()
    db.close()
    with pytest.raises(StoreCorrupt):
        SqliteStore(path)


def test_reopen_keeps_data_and_does_not_migrate_twice(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    s = SqliteStore(path)
    s.put(N1, "k", b"a", 0)
    s.close()
    s = SqliteStore(path)
    assert s.get(N1, "k") == (1, b"a")
    s.close()


def test_not_a_database_is_store_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 300)
    with pytest.raises(StoreCorrupt):
        SqliteStore(path)
