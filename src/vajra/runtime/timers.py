"""The runtime's ONE timer table (decision 0021): for each node with a pending deadline,
(node index, due height, due unix time). Owned by the supervisor.

Theory of operation
-------------------
A node asks for its earliest deadline with a `WakeAt` effect; the worker forwards it to
the supervisor, which `set`s it here: each set replaces the node's previous deadline
and gets a new generation number (`gen`); both fields None cancels it. A node costs a
row (`runtime_timers` in the store file) and a dict entry only while it has a deadline.

`due(tip_height, now)` is asked on every new tip from the chain service and on the clock
(once a second): a deadline is due when the tip reaches its height or the clock its
time, whichever comes first. Due entries leave the heaps (they are not reported twice)
but keep their row: the supervisor wakes the node and, once the worker reports the wake
done, calls `done(index, gen)`, which deletes the row only if no newer `set` replaced it.
A crash before that leaves the row, and the reload at start finds it due again
(at-least-once; a node's wake is idempotent).

`TimerHeap` is the pure in-memory part (two heaps with lazy deletion: entries whose gen
is no longer the node's are skipped when they surface); `TimerTable` adds the SQLite
rows. SQLite calls block (fsync): the supervisor runs them in a thread.
"""

from __future__ import annotations

import heapq
import os
import sqlite3
import threading
from dataclasses import dataclass

from vajra.errors import VajraError

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS runtime_timers (node INTEGER PRIMARY KEY,"
    " height INTEGER, unix_time INTEGER, gen INTEGER NOT NULL)"
)


class TimerStateError(VajraError):
    """The timer table cannot be read or written (locked past the timeout, corrupt)."""


@dataclass(frozen=True, slots=True)
class Deadline:
    """A node's pending deadline (at least one of `height` / `unix_time` is set)."""

    index: int
    height: int | None
    unix_time: int | None
    gen: int


_NONE = Deadline(-1, None, None, -1)


class TimerHeap:
    """The in-memory deadlines: one entry per node, two min-heaps (by height, by time)."""

    __slots__ = ("_by_height", "_by_time", "_current", "_fired")

    def __init__(self) -> None:
        self._current: dict[int, Deadline] = {}
        self._fired: set[int] = set()  # nodes whose current deadline was reported
        self._by_height: list[tuple[int, int, int]] = []  # (height, index, gen)
        self._by_time: list[tuple[int, int, int]] = []  # (unix_time, index, gen)

    def __len__(self) -> int:
        return len(self._current)

    def get(self, index: int) -> Deadline | None:
        return self._current.get(index)

    def put(self, d: Deadline) -> None:
        """Replace the node's deadline with `d`."""
        self._current[d.index] = d
        self._fired.discard(d.index)
        if d.height is not None:
            heapq.heappush(self._by_height, (d.height, d.index, d.gen))
        if d.unix_time is not None:
            heapq.heappush(self._by_time, (d.unix_time, d.index, d.gen))
        if len(self._by_height) + len(self._by_time) > 4 * len(self._current) + 1024:
            self._compact()

    def _compact(self) -> None:
        """Drop the entries of replaced deadlines (a node that keeps moving its deadline
        would otherwise grow the heaps without bound)."""
        live = self._current
        self._by_height = [e for e in self._by_height if live.get(e[1], _NONE).gen == e[2]]
        self._by_time = [e for e in self._by_time if live.get(e[1], _NONE).gen == e[2]]
        heapq.heapify(self._by_height)
        heapq.heapify(self._by_time)

    def remove(self, index: int, gen: int | None = None) -> bool:
        """Forget the node's deadline (only if its gen is `gen`, when given)."""
        d = self._current.get(index)
        if d is None or (gen is not None and d.gen != gen):
            return False
        del self._current[index]
        self._fired.discard(index)
        return True

    def due(self, tip_height: int | None, now: int, most: int | None = None) -> list[Deadline]:
        """Deadlines reached by the tip or the clock, each reported once (they stay in
        `get` until `remove`d: the row lives until the wake is done); at most `most`
        per call (the rest at the next call), so a mass expiry does not stall the loop."""
        out: dict[int, Deadline] = {}
        for heap, limit in ((self._by_height, tip_height), (self._by_time, now)):
            if limit is None:
                continue
            while heap and heap[0][0] <= limit and (most is None or len(out) < most):
                _, index, gen = heapq.heappop(heap)
                d = self._current.get(index)
                if d is not None and d.gen == gen and index not in self._fired:
                    out[index] = d
        self._fired.update(out)  # the other heap's entry of the same deadline is stale
        return sorted(out.values(), key=lambda d: d.index)


class TimerTable:
    """`TimerHeap` backed by the `runtime_timers` rows of the store file (own connection,
    WAL, synchronous FULL like the store; guarded by a lock, callers may use threads)."""

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout_ms: int = 10_000) -> None:
        self.path = os.fspath(path)
        self._lock = threading.Lock()
        self.heap = TimerHeap()
        try:
            self._db = sqlite3.connect(
                self.path, timeout=busy_timeout_ms / 1000, isolation_level=None,
                check_same_thread=False,  # guarded by self._lock
            )  # fmt: skip
            self._db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = FULL")
            self._db.execute(_SCHEMA)
            rows = self._db.execute("SELECT node, height, unix_time, gen FROM runtime_timers")
            self._gen = 0
            for node, height, unix_time, gen in rows.fetchall():
                self.heap.put(Deadline(int(node), height, unix_time, int(gen)))
                self._gen = max(self._gen, int(gen))
        except sqlite3.Error as e:
            raise TimerStateError(f"timer table {self.path}: {e}") from e

    def __len__(self) -> int:
        return len(self.heap)

    def set(self, index: int, height: int | None, unix_time: int | None) -> Deadline | None:
        """Replace node `index`'s deadline (durably); both None cancels it. Returns the new
        deadline (None when cancelled). `ValueError` on a negative index, height or time."""
        if (
            index < 0
            or (height is not None and height < 0)
            or (unix_time is not None and unix_time < 0)
        ):
            raise ValueError("timer index, height and time are non-negative")
        with self._lock:
            try:
                if height is None and unix_time is None:
                    self._db.execute("DELETE FROM runtime_timers WHERE node = ?", (index,))
                    self.heap.remove(index)
                    return None
                self._gen += 1
                d = Deadline(index, height, unix_time, self._gen)
                self._db.execute(
                    "INSERT OR REPLACE INTO runtime_timers VALUES (?, ?, ?, ?)",
                    (index, height, unix_time, d.gen),
                )
            except sqlite3.Error as e:
                raise TimerStateError(f"timer table: {e}") from e
            self.heap.put(d)
            return d

    def due(self, tip_height: int | None, now: int, most: int | None = None) -> list[Deadline]:
        """See `TimerHeap.due` (memory only: no SQL)."""
        with self._lock:
            return self.heap.due(tip_height, now, most)

    def done(self, index: int, gen: int) -> bool:
        """The wake for deadline `gen` is done: delete it unless a newer `set` replaced it."""
        with self._lock:
            try:
                cur = self._db.execute(
                    "DELETE FROM runtime_timers WHERE node = ? AND gen = ?", (index, gen)
                )
            except sqlite3.Error as e:
                raise TimerStateError(f"timer table: {e}") from e
            d = self.heap.get(index)
            if d is not None and d.gen == gen:
                self.heap.remove(index)
            return cur.rowcount > 0

    def close(self) -> None:
        with self._lock:
            self._db.close()
