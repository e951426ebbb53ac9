"""Crash safety: a writer process killed with SIGKILL mid-writes leaves a consistent store.

A child process writes sealed values (10 B to 20 kB, so some span overflow pages) to a
few keys and registry batches, printing each commit after it returns. The parent kills it
at a random moment, reopens the file and checks: SQLite's integrity check passes; every
key opens (authenticates) and holds exactly the content of its version; no commit the
child reported is lost and at most the one in flight at the kill got in; registry batches
are all-or-nothing. Then the next round resumes from what is stored.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vajra.store import SealedStore, SqliteStore

NODE = b"\x02" + b"\x5a" * 32
STATE_KEY = bytes(range(100, 132))
KEYS = [f"chan/{i}" for i in range(6)]
BATCH = 50

_CHILD = r"""
import sys
from vajra.store import NodeRow, SealedStore, SqliteStore
from tests.unit.store.test_crash import KEYS, NODE, STATE_KEY, BATCH, content

raw = SqliteStore(sys.argv[1])
store = SealedStore(raw)
store.unlock(NODE, STATE_KEY)
versions = {}
for k in KEYS:
    got = store.get(NODE, k)
    versions[k] = 0 if got is None else got[0]
registered = raw.count()
print("ready", flush=True)
i = 0
while True:
    k = KEYS[i % len(KEYS)]
    versions[k] = store.put(NODE, k, content(k, versions[k] + 1), versions[k])
    print("put", k, versions[k], flush=True)
    i += 1
    if i % 7 == 0:
        rows = [
            NodeRow(bytes((3,)) + (registered + j).to_bytes(32, "big"), "127.0.0.1", 9735, 1)
            for j in range(BATCH)
        ]
        raw.register_nodes(rows)
        registered += BATCH
        print("nodes", registered, flush=True)
"""


def content(key: str, version: int) -> bytes:
    """The value the writer stores at (key, version): derivable, of varied size."""
    size = 10 + (version * 7919 + len(key) * 104729) % 20_000
    return (f"{key}@{version};".encode() * (size // 8 + 2))[:size]


def _verify(
    path: Path, reported: dict[str, int], nodes_reported: int
) -> tuple[dict[str, int], int]:
    raw = SqliteStore(path)
    try:
        raw.check_integrity()
        store = SealedStore(raw)
        store.unlock(NODE, STATE_KEY)
        stored: dict[str, int] = {}
        for k in KEYS:
            got = store.get(NODE, k)  # authenticates: a torn value would not open
            version, value = (0, b"") if got is None else got
            assert reported[k] <= version <= reported[k] + 1, (k, reported[k], version)
            if version:
                assert value == content(k, version)
            stored[k] = version
        count = raw.count()
        assert count % BATCH == 0
        assert nodes_reported <= count <= nodes_reported + BATCH
        return stored, count
    finally:
        raw.close()


@pytest.mark.timeout(180)
def test_sigkill_mid_writes_leaves_the_store_consistent(tmp_path: Path) -> None:
    path = tmp_path / "crash.db"
    rng = random.Random(7)
    root = Path(__file__).resolve().parents[3]
    env = dict(os.environ, PYTHONPATH=str(root) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    reported = dict.fromkeys(KEYS, 0)
    nodes = 0
    for _ in range(6):
        child = subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(path)],
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        stop_after = rng.randint(5, 120)
        for _ in range(stop_after):
            line = child.stdout.readline().split()
            if line[0] == "put":
                reported[line[1]] = int(line[2])
            else:
                nodes = int(line[1])
        time.sleep(rng.random() * 0.004)  # land anywhere in a write, not just after a print
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        assert child.returncode == -signal.SIGKILL
        # Lines printed between our last read and the kill are commits too; the last piece
        # may be a line the kill cut in half (no newline yet): it proves nothing, skip it.
        for rest in child.stdout.read().split("\n")[:-1]:
            parts = rest.split()
            if parts and parts[0] == "put":
                reported[parts[1]] = int(parts[2])
            elif parts:
                nodes = int(parts[1])
        child.stdout.close()
        reported, nodes = _verify(path, reported, nodes)
    assert sum(reported.values()) > 0
