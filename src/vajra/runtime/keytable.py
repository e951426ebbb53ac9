"""Compact shared tables: node identity keys and per-worker counters, in anonymous memory.

A sleeping node costs the runtime 65 bytes here (33-byte node id + 32-byte BOLT 8 identity
secret, indexed by the node's fabric index) and nothing else: no Python object per node.
The supervisor creates the tables in `memfd` memory (RAM, never a file on disk: the
secrets arrive from the signer and must not touch storage), writes rows as the signer
releases them and hands the file descriptors to its workers, which map them read-only.
A restarted worker maps the same memory again, so it needs nothing from the signer.

Layout of the key table (little-endian header, then two flat arrays):

    0   magic  "VJKEYS01"           8 bytes
    8   capacity                    u64
    16  count                       u64   rows [0, count) may be present; written last
    64  node ids   capacity x 33   (a zero first byte = no node at that index)
    ..  secrets    capacity x 32

The mapping is left out of core dumps (MADV_DONTDUMP, in the supervisor and every
worker) and the supervisor mlocks the secrets array so those shared pages are never
swapped (best effort: `protection` says what took effect; mlock can exceed
RLIMIT_MEMLOCK for a very large capacity). Supervisor and workers also turn off core
dumps and same-user ptrace altogether (`osutil.no_core_dumps`, issue 13 item 6).

Pages are touched only as rows are written, so a large capacity costs address space,
not memory. Writers: one (the supervisor). Readers check `count` and the row's first
byte, so a row being written is never used half-done (the count moves after the row).
"""

from __future__ import annotations

import ctypes
import mmap
import os
import struct

MAGIC = b"VJKEYS01"
_HEADER = 64
_ID = 33
_SECRET = 32
_U64 = struct.Struct("<Q")


def _dontdump(mm: mmap.mmap) -> bool:
    advice = getattr(mmap, "MADV_DONTDUMP", None)
    if advice is None:
        return False
    try:
        mm.madvise(advice)
    except OSError:
        return False
    return True


def _mlock(mm: mmap.mmap, offset: int, length: int) -> bool:
    """mlock the writable mapping's [offset, offset + length) (the shared pages stay
    resident for every process that maps them)."""
    from vajra.osutil import protect_region

    view = ctypes.c_char.from_buffer(mm)  # a writable mapping's address; released below
    try:
        locked, _ = protect_region(ctypes.addressof(view) + offset, length)
    finally:
        del view
    return locked


class KeyTable:
    """Node ids and identity secrets by node index, in shared anonymous memory."""

    __slots__ = ("_ids_at", "_mm", "_secrets_at", "capacity", "fd", "protection")

    def __init__(self, fd: int, mm: mmap.mmap, capacity: int) -> None:
        self.fd = fd
        self._mm = mm
        self.capacity = capacity
        self._ids_at = _HEADER
        self._secrets_at = _HEADER + capacity * _ID
        self.protection = {"dontdump": _dontdump(mm), "mlocked": False}

    @staticmethod
    def size_for(capacity: int) -> int:
        return _HEADER + capacity * (_ID + _SECRET)

    @classmethod
    def create(cls, capacity: int) -> KeyTable:
        """A new, empty table (supervisor). The fd is inheritable by workers."""
        fd = os.memfd_create("vajra-keys", 0)  # no MFD_CLOEXEC: workers inherit it
        size = cls.size_for(capacity)
        os.ftruncate(fd, size)
        mm = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        mm[0:8] = MAGIC
        _U64.pack_into(mm, 8, capacity)
        _U64.pack_into(mm, 16, 0)
        table = cls(fd, mm, capacity)
        table.protection["mlocked"] = _mlock(mm, table._secrets_at, capacity * _SECRET)
        return table

    @classmethod
    def attach(cls, fd: int) -> KeyTable:
        """Map a table created by the supervisor (worker), read-only."""
        size = os.fstat(fd).st_size
        mm = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ)
        if mm[0:8] != MAGIC:
            raise ValueError("not a vajra key table")
        (capacity,) = _U64.unpack_from(mm, 8)
        return cls(fd, mm, capacity)

    @property
    def count(self) -> int:
        """One past the highest index that may hold a node."""
        return int(_U64.unpack_from(self._mm, 16)[0])

    def put(self, index: int, node_id: bytes, secret: bytes) -> None:
        """Write one row (secret first, node id last: the id's first byte marks presence)."""
        if not 0 <= index < self.capacity:
            raise IndexError(f"index {index} outside table capacity {self.capacity}")
        if len(node_id) != _ID or len(secret) != _SECRET:
            raise ValueError("node id must be 33 bytes and secret 32 bytes")
        s = self._secrets_at + index * _SECRET
        self._mm[s : s + _SECRET] = secret
        i = self._ids_at + index * _ID
        self._mm[i : i + _ID] = node_id

    def publish(self, count: int) -> None:
        """Make rows [0, count) visible to readers."""
        if count > self.count:
            _U64.pack_into(self._mm, 16, count)

    def node_id(self, index: int) -> bytes | None:
        """The node id at `index`, or None if no node is there (or not yet published)."""
        if not 0 <= index < self.count:
            return None
        i = self._ids_at + index * _ID
        nid = self._mm[i : i + _ID]
        return nid if nid[0] in (2, 3) else None

    def secret(self, index: int) -> bytes:
        """The identity secret at `index` (call after `node_id` said a node is there)."""
        s = self._secrets_at + index * _SECRET
        return self._mm[s : s + _SECRET]

    def close(self) -> None:
        self._mm.close()
        os.close(self.fd)


COUNTERS: tuple[str, ...] = (
    "connections_accepted",
    "connections_open",  # gauge
    "closed_unknown_address",
    "handshakes",
    "handshake_failures",
    "inits",
    "pongs",
    "gossip_replies",
    "wake_triggers",
    "wakes",
    "wake_failures",
    "sleeps",
    "awake",  # gauge
    "errors_sent",  # BOLT 1 `error` messages we sent
    "warnings_sent",  # BOLT 1 `warning` messages we sent (counted apart from errors)
    "protocol_errors",
    "limit_cutoffs",  # every limit below, summed
    "per_node_cutoffs",  # refused at accept by the node's admission (admission.py)
    "connection_cutoffs",  # max_connections reached (refused at accept)
    "handshake_timeouts",  # handshake + init deadline passed
    "write_buffer_cutoffs",  # a peer that does not read
    "handovers_out",
    "handovers_in",
    "evictions",  # sessions closed to make room for a new connection (worker.py)
    "idle_timeouts",  # sessions without a channel closed for silence
    "frame_timeouts",  # a frame's header arrived, its body did not in time
    "graph_handoffs",  # gossip handed to the shared graph instead of a node
    "ignored_asleep",  # messages a sleeping node ignores (hibernation table)
    "wakes_refused",  # wake-worthy messages refused by the wake rate limits
    "signer_requests",  # state_key requests made by wakes (NodeHost)
    "chain_wakes",  # nodes woken by the supervisor for chain events (decision 0021)
    "timer_wakes",  # nodes woken by the supervisor for a due deadline
    "pushed_wake_failures",  # such wakes that failed (the supervisor retries them)
    "effect_failures",  # Watch/WakeAt effects the supervisor refused or did not take
    "connections_dialled",  # outbound sessions a node started (runtime/outbound.py)
)
GAUGES = frozenset({"connections_open", "awake"})
_SLOT = 8 * len(COUNTERS)


class Counters:
    """Per-worker counter slots in shared memory; the supervisor sums them for metrics."""

    __slots__ = ("_mm", "fd", "workers")

    def __init__(self, fd: int, mm: mmap.mmap, workers: int) -> None:
        self.fd = fd
        self._mm = mm
        self.workers = workers

    @classmethod
    def create(cls, workers: int) -> Counters:
        fd = os.memfd_create("vajra-counters", 0)
        os.ftruncate(fd, workers * _SLOT)
        mm = mmap.mmap(fd, workers * _SLOT, mmap.MAP_SHARED)
        return cls(fd, mm, workers)

    @classmethod
    def attach(cls, fd: int) -> Counters:
        size = os.fstat(fd).st_size
        return cls(fd, mmap.mmap(fd, size, mmap.MAP_SHARED), size // _SLOT)

    def write(self, worker: int, values: list[int]) -> None:
        """Store one worker's counters (in `COUNTERS` order)."""
        struct.pack_into(f"<{len(COUNTERS)}q", self._mm, worker * _SLOT, *values)

    def read(self, worker: int) -> list[int]:
        return list(struct.unpack_from(f"<{len(COUNTERS)}q", self._mm, worker * _SLOT))

    def reset_gauges(self, worker: int) -> None:
        """A worker died: its open connections and awake nodes are gone with it."""
        values = self.read(worker)
        for i, name in enumerate(COUNTERS):
            if name in GAUGES:
                values[i] = 0
        self.write(worker, values)

    def totals(self) -> dict[str, int]:
        out = dict.fromkeys(COUNTERS, 0)
        for w in range(self.workers):
            for name, v in zip(COUNTERS, self.read(w), strict=True):
                out[name] += v
        return out

    def close(self) -> None:
        self._mm.close()
        os.close(self.fd)


class NodeStates:
    """One byte per node index, shared: 0 = sleeping (listening), w + 1 = awake in worker w.

    Written by the worker that wakes or sleeps the node; read by the supervisor for
    `nodes list` and metrics; cleared for a dead worker by the supervisor.
    """

    __slots__ = ("_mm", "capacity", "fd")

    def __init__(self, fd: int, mm: mmap.mmap, capacity: int) -> None:
        self.fd = fd
        self._mm = mm
        self.capacity = capacity

    @classmethod
    def create(cls, capacity: int) -> NodeStates:
        fd = os.memfd_create("vajra-node-states", 0)
        os.ftruncate(fd, capacity)
        return cls(fd, mmap.mmap(fd, capacity, mmap.MAP_SHARED), capacity)

    @classmethod
    def attach(cls, fd: int) -> NodeStates:
        size = os.fstat(fd).st_size
        return cls(fd, mmap.mmap(fd, size, mmap.MAP_SHARED), size)

    def set(self, index: int, value: int) -> None:
        if 0 <= index < self.capacity:
            self._mm[index] = value

    def get(self, index: int) -> int:
        return self._mm[index] if 0 <= index < self.capacity else 0

    def clear_worker(self, worker: int) -> int:
        """Mark every node awake in `worker` as sleeping; how many there were."""
        mark = worker + 1
        n = 0
        start = 0
        while (i := self._mm.find(bytes((mark,)), start)) != -1:
            self._mm[i] = 0
            n += 1
            start = i + 1
        return n

    def close(self) -> None:
        self._mm.close()
        os.close(self.fd)
