"""Registry density and speed on the SQLite store; prints one JSON object.

    python bench/store_registry.py --rows 1000000

Inserts `--rows` nodes (random 33-byte ids, IPv4 addresses across 127/8, one signer per
node: the worst case for the signer column) in batches of `--batch`, one transaction and
one fsync per batch through `SqliteStore.register_nodes`, then times `get_node` for
random registered ids. File size is measured after the store is closed (the WAL folded
into the main file), as inserted and again after VACUUM.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time

from vajra.store import NodeRow, SqliteStore


def _rows(rng: random.Random, start: int, n: int) -> list[NodeRow]:
    out = []
    for i in range(start, start + n):
        node_id = bytes((2 + (i & 1),)) + rng.randbytes(32)
        host = f"127.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"
        out.append(NodeRow(node_id, host, 9735 + (i >> 24), signer_id=i, flags=0))
    return out


def run(rows: int, batch: int, path: str, lookups: int, seed: int) -> dict[str, object]:
    rng = random.Random(seed)
    store = SqliteStore(path)
    sample: list[bytes] = []
    insert_s = 0.0
    done = 0
    while done < rows:
        chunk = _rows(rng, done, min(batch, rows - done))
        sample.extend(r.node_id for r in rng.sample(chunk, min(len(chunk), 64)))
        t0 = time.perf_counter()
        store.register_nodes(chunk)
        insert_s += time.perf_counter() - t0
        done += len(chunk)
    assert store.count() == rows
    times = []
    for node_id in rng.choices(sample, k=lookups):
        t0 = time.perf_counter_ns()
        row = store.get_node(node_id)
        times.append(time.perf_counter_ns() - t0)
        assert row is not None
    store.close()
    size = os.path.getsize(path)
    db = sqlite3.connect(path)
    page_size = db.execute("PRAGMA page_size").fetchone()[0]
    db.execute("VACUUM")
    db.close()
    vacuumed = os.path.getsize(path)
    return {
        "rows": rows,
        "bytes_per_node": round(size / rows, 1),
        "bytes_per_node_vacuumed": round(vacuumed / rows, 1),
        "inserts_per_s": round(rows / insert_s),
        "lookup_us_p50": round(statistics.median(times) / 1000, 2),
        "lookup_us_p99": round(statistics.quantiles(times, n=100)[98] / 1000, 2),
        "file_bytes": size,
        "batch": batch,
        "page_size": page_size,
        "synchronous": "FULL",
        "cache_mib": 16,
        "sqlite": sqlite3.sqlite_version,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=10_000)
    ap.add_argument("--lookups", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dir", help="where to put the database (default: a temp dir)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.dir) as d:
        result = run(args.rows, args.batch, os.path.join(d, "registry.db"), args.lookups, args.seed)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
