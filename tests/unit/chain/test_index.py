"""The compact index: exact lookups across merges, duplicates, prefilter, memory per item."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from vajra.chain.index import CompactIndex, outpoint_key, script_key


def test_lookup_finds_every_item_and_nothing_else() -> None:
    rng = random.Random(7)
    idx = CompactIndex()
    items = [(rng.getrandbits(64), i, 1 + i % 4) for i in range(20_000)]
    for k, n, p in items[:10_000]:
        idx.add(k, n, p)  # crosses several merges
    idx.add_many(items[10_000:])
    assert len(idx) == 20_000
    for k, n, p in items:
        assert (n, p) in idx.lookup(k)
    misses = [rng.getrandbits(64) for _ in range(20_000)]
    assert sum(1 for m in misses if idx.lookup(m)) == 0


def test_duplicate_keys_keep_every_owner() -> None:
    idx = CompactIndex()
    k = script_key(b"\x00\x14" + b"\x11" * 20)
    idx.add(k, 5, 1)
    idx.add(k, 9, 3)
    assert sorted(idx.lookup(k)) == [(5, 1), (9, 3)]
    idx.merge()
    idx.add(k, 2, 1)  # one in the arrays, one pending
    assert sorted(idx.lookup(k)) == [(2, 1), (5, 1), (9, 3)]


def test_keys_are_distinct_for_script_and_outpoint_forms() -> None:
    assert script_key(b"a") != script_key(b"b")
    assert outpoint_key(b"\x00" * 36) != outpoint_key(b"\x00" * 35 + b"\x01")


def test_memory_per_item_is_compact() -> None:
    idx = CompactIndex()
    rng = random.Random(1)
    idx.add_many([(rng.getrandbits(64), i, 1) for i in range(100_000)])
    # 13 bytes of arrays + about 2-4 bytes of prefilter per item.
    assert idx.memory_bytes() / 100_000 < 20


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2**64 - 1), st.integers(0, 2**32 - 1), st.integers(1, 4))))
def test_matches_a_dict_model(items: list[tuple[int, int, int]]) -> None:
    idx = CompactIndex()
    model: dict[int, list[tuple[int, int]]] = {}
    for i, (k, n, p) in enumerate(items):
        idx.add(k, n, p)
        model.setdefault(k, []).append((n, p))
        if i % 7 == 0:
            idx.merge()
    for k, owners in model.items():
        assert sorted(idx.lookup(k)) == sorted(owners)


def test_bulk_load_finds_small_and_large_sets() -> None:
    for n in (1, 2, 5000):
        idx = CompactIndex()
        keys = [script_key(i.to_bytes(4, "big")) for i in range(n)]
        idx.load_packed([CompactIndex.pack(k, i, 1) for i, k in enumerate(keys)])
        assert all(idx.lookup(k) == [(i, 1)] for i, k in enumerate(keys))


def test_inlined_prefilter_agrees_with_lookup() -> None:
    idx = CompactIndex()
    keys = [script_key(i.to_bytes(4, "big")) for i in range(3000)]
    idx.add_many([(k, 1, 1) for k in keys])
    bitmap, shift = idx.prefilter()
    for k in keys:
        b = k >> shift
        assert bitmap[b >> 3] & (1 << (b & 7))


def test_remove_leaves_tombstones_until_a_merge_drops_them() -> None:
    idx = CompactIndex()
    keys = [script_key(i.to_bytes(4, "big")) for i in range(40_000)]
    idx.add_many([(k, i, 1) for i, k in enumerate(keys)])
    idx.add(keys[0], 99, 2)  # a pending item for the same key
    assert idx.remove(keys[0], 0) == 1 and idx.lookup(keys[0]) == [(99, 2)]
    assert idx.remove(keys[0], 99) == 1 and idx.lookup(keys[0]) == []
    assert idx.remove(keys[0], 0) == 0
    for i in range(1, 10_000):  # past 1/8 of the arrays: a merge drops the tombstones
        idx.remove(keys[i], i)
    assert len(idx) == 30_000 and idx.memory_bytes() < 40_000 * 15
    assert all(idx.lookup(k) == [(i, 1)] for i, k in enumerate(keys) if i >= 10_000)
    assert not any(idx.lookup(k) for k in keys[:10_000])
