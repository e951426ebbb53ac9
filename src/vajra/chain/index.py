"""The watcher's compact in-memory index: every watched script and outpoint of every node.

Theory of operation
-------------------
A watched item is a 64-bit key (the process's keyed SipHash of a script, or of an
outpoint's 36-byte wire form: `script_key`), the owning node index (u32) and a purpose (u8). Items live
in three parallel sorted `array`s (13 bytes per item, no Python object per item) plus a
bitmap prefilter (about 2 bytes per item) that rejects most misses with one byte test, so
a block's thousands of lookups rarely reach the binary search.

New items go to a small pending buffer (a dict, searched too) that is merged into the
sorted arrays when it reaches 1/8 of them (or 4096 items): the amortised cost of an add is
O(log n), and a merge is one sort.

A 64-bit truncation can collide: a hit is a *candidate* that the caller confirms against
the durable registration (the full script or outpoint in the store), so a collision costs
a store lookup, never a wrong event. `remove` turns an item into a tombstone (purpose 0)
that the next merge drops, so the index does not grow with history: the watcher removes
the outpoints of outputs spent deeper than any reorg it keeps (`Watcher.prune`).
"""

from __future__ import annotations

from array import array
from bisect import bisect_left

_MASK64 = (1 << 64) - 1
_MIN_MERGE = 4096


def script_key(script_pubkey: bytes) -> int:
    """The index key of an output script: its keyed 64-bit hash in this process.

    Python's `hash` of bytes is SipHash keyed with a random per-process secret (unless
    PYTHONHASHSEED pins it), computed in C in ~50 ns: no one can grind scripts that
    collide with a victim's key, and the index is rebuilt from the store at every start,
    so the key never needs to be stable across processes.
    """
    return hash(script_pubkey) & _MASK64


def outpoint_key(prevout: bytes) -> int:
    """The index key of an outpoint given as its 36-byte wire form (txid || vout LE)."""
    return hash(prevout) & _MASK64


class CompactIndex:
    """Key -> [(node index, purpose)], ~15 bytes of RSS per item. Not thread-safe."""

    __slots__ = (
        "_bits", "_dead", "_filter", "_keys", "_nodes", "_pending", "_pending_n", "_purposes",
    )  # fmt: skip

    def __init__(self) -> None:
        self._keys = array("Q")
        self._nodes = array("I")
        self._purposes = array("B")
        self._pending: dict[int, list[tuple[int, int]]] = {}
        self._pending_n = 0
        self._dead = 0
        self._bits = 16
        self._filter = bytearray(1 << (self._bits - 3))

    def __len__(self) -> int:
        return len(self._keys) - self._dead + self._pending_n

    def remove(self, key: int, node_index: int) -> int:
        """Drop `node_index`'s items under `key`; return how many. In the arrays an item
        becomes a tombstone (purpose 0, skipped by `lookup`) until the next merge, which
        runs once tombstones reach 1/8 of the arrays."""
        key &= _MASK64
        n = 0
        pending = self._pending.get(key)
        if pending:
            keep = [(nd, p) for nd, p in pending if nd != node_index]
            n = len(pending) - len(keep)
            self._pending_n -= n
            if keep:
                self._pending[key] = keep
            else:
                del self._pending[key]
        keys, nodes, purposes = self._keys, self._nodes, self._purposes
        i = bisect_left(keys, key)
        while i < len(keys) and keys[i] == key:
            if nodes[i] == node_index and purposes[i]:
                purposes[i] = 0
                self._dead += 1
                n += 1
            i += 1
        if self._dead and self._dead >= max(_MIN_MERGE, len(keys) >> 3):
            self.merge(force=True)
        return n

    def add(self, key: int, node_index: int, purpose: int) -> None:
        """Add one item (duplicates of an exact (key, node, purpose) are the caller's to avoid)."""
        self._pending.setdefault(key & _MASK64, []).append((node_index, purpose))
        self._pending_n += 1
        self._set_bit(key)
        if self._pending_n >= max(_MIN_MERGE, len(self._keys) >> 3):
            self.merge()

    def add_many(self, items: list[tuple[int, int, int]]) -> None:
        """Add (key, node index, purpose) items in bulk, merging once."""
        packed = [
            (k << 40) | (n << 8) | p
            for k, n, p in zip(self._keys, self._nodes, self._purposes, strict=True)
        ]
        packed.extend(self.pack(k, n, p) for k, n, p in items)
        self.load_packed(packed)

    def prefilter(self) -> tuple[bytearray, int]:
        """(bitmap, shift) for an inlined miss test: `key >> shift` is the bit index; a
        clear bit means `lookup(key)` is empty. Replaced on every merge: re-read it after
        any `add`."""
        return self._filter, 64 - self._bits

    def lookup(self, key: int) -> list[tuple[int, int]]:
        """The candidate (node index, purpose) pairs for `key` (empty: surely not watched)."""
        idx = key >> (64 - self._bits)
        if not self._filter[idx >> 3] & (1 << (idx & 7)):
            return []
        out: list[tuple[int, int]] = []
        keys = self._keys
        i = bisect_left(keys, key)
        n = len(keys)
        while i < n and keys[i] == key:
            if self._purposes[i]:  # 0: a removed item's tombstone
                out.append((self._nodes[i], self._purposes[i]))
            i += 1
        pending = self._pending.get(key)
        if pending:
            out.extend(pending)
        return out

    def merge(self, *, force: bool = False) -> None:
        """Fold the pending buffer into the sorted arrays, dropping tombstones (and resize
        the prefilter)."""
        if not self._pending and not force:
            return
        # One packed int per item sorts as (key, node, purpose) without tuples.
        packed = [
            (k << 40) | (n << 8) | p
            for k, n, p in zip(self._keys, self._nodes, self._purposes, strict=True)
        ]
        for k, lst in self._pending.items():
            packed.extend((k << 40) | (n << 8) | p for n, p in lst)
        self._pending.clear()
        self._pending_n = 0
        self.load_packed(packed)

    @staticmethod
    def pack(key: int, node_index: int, purpose: int) -> int:
        """One item as an int that sorts by (key, node, purpose): for `load_packed`."""
        return ((key & _MASK64) << 40) | (node_index << 8) | purpose

    def load_packed(self, packed: list[int]) -> None:
        """Replace the arrays with `packed` items (see `pack`) plus any pending ones; the
        list is sorted in place and consumed. The bulk path: one sort, no tuple per item."""
        for k, lst in self._pending.items():
            packed.extend((k << 40) | (n << 8) | p for n, p in lst)
        self._pending.clear()
        self._pending_n = 0
        if self._dead:
            packed = [v for v in packed if v & 0xFF]
            self._dead = 0
        packed.sort()
        keys = array("Q", [v >> 40 for v in packed])
        nodes = array("I", [(v >> 8) & 0xFFFFFFFF for v in packed])
        purposes = array("B", [v & 0xFF for v in packed])
        packed.clear()
        self._keys, self._nodes, self._purposes = keys, nodes, purposes
        self._resize_filter()

    def _resize_filter(self) -> None:
        # About 16 bits per item keeps the false-positive rate near 6%. Rebuilt from the
        # arrays every time: a bulk load sets no bits on the way in.
        self._bits = max(16, min(30, (len(self._keys) * 16).bit_length()))
        self._filter = bytearray(1 << (self._bits - 3))
        shift = 64 - self._bits
        f = self._filter
        for k in self._keys:
            idx = k >> shift
            f[idx >> 3] |= 1 << (idx & 7)

    def _set_bit(self, key: int) -> None:
        idx = (key & _MASK64) >> (64 - self._bits)
        self._filter[idx >> 3] |= 1 << (idx & 7)

    def memory_bytes(self) -> int:
        """Bytes held by the arrays and the filter (the pending buffer not counted)."""
        return (
            self._keys.itemsize * len(self._keys)
            + self._nodes.itemsize * len(self._nodes)
            + self._purposes.itemsize * len(self._purposes)
            + len(self._filter)
        )
