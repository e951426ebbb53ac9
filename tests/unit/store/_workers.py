"""Process bodies for the multi-process store tests (importable by `spawn` children)."""

from __future__ import annotations

import contextlib
import time
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier

from vajra.store import LeaseHeld, SqliteStore, StoreConflict


def race_for_leases(
    path: str, runtime_id: str, node_ids: list[bytes], start: Barrier, out: Queue[object]
) -> None:
    """For each node, wait for every racer, then try to take the lease and, if it won,
    write the node's state fenced by its epoch. Reports (node, runtime, epoch | None)."""
    store = SqliteStore(path)
    try:
        for node_id in node_ids:
            start.wait()
            try:
                lease = store.acquire_lease(node_id, runtime_id, now=1000.0, ttl=30.0)
            except LeaseHeld:
                out.put((node_id, runtime_id, None))
                continue
            store.put(node_id, "owner", runtime_id.encode(), 0, lease_epoch=lease.epoch)
            out.put((node_id, runtime_id, lease.epoch))
    finally:
        store.close()


def cas_writer(path: str, name: str, rounds: int, start: Barrier, out: Queue[object]) -> None:
    """Read-modify-write one key `rounds` times; report the versions this process won."""
    store = SqliteStore(path)
    won: list[int] = []
    start.wait()
    for _ in range(rounds):
        got = store.get(b"\x02" * 33, "counter")
        version = 0 if got is None else got[0]
        time.sleep(0.001)  # widen the read-to-write window so the processes collide
        with contextlib.suppress(StoreConflict):
            won.append(store.put(b"\x02" * 33, "counter", name.encode(), version))
    store.close()
    out.put((name, won))
