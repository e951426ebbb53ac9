"""`vajra bench routing`: the shared graph's memory per channel and route search time on a
synthetic mainnet-size graph, and verified gossip application rates.

Figures:

- graph_bytes_per_channel: Python heap of the graph per channel, measured with
  `tracemalloc` as the slope between a graph of N/2 channels (and N/2 * nodes/channels
  nodes) and one of N: (bytes(N) - bytes(N/2)) / (N/2). Counts the arrays, node ids,
  the node index and adjacency; not allocator slack. `graph_rss_bytes_per_channel` is
  the RSS growth of the process while building the N-channel graph (first build, before
  tracemalloc), / N: it includes slack and is noisier.
- route_ms_p50 / _p99: `find_route` between `--pairs` random (seeded) node pairs, amount
  log-uniform in [1,000, 1,000,000] sat, on the N-channel graph, with a scorer that has
  learned bounds for 10% of channel directions (so both penalty paths run); every search
  is timed, found or not (`routes_found` says how many found one). Wall clock;
  `route_cpu_ms_*` is the same in process CPU time (the machine is shared).
- gossip_*_per_s: `GossipCore` applying `channel_announcement`s (4 signatures + funding
  check against an in-memory lookup) and `channel_update`s (1 signature) signed here
  with real keys.

The graph is generated with a seeded RNG: node weights from a Pareto distribution
(alpha 1.3, capped at 1,500x the minimum), every node gets one channel to a weight-chosen partner, the rest join two
weight-chosen nodes (a hub-heavy degree distribution like mainnet's: median degree 2-3,
a few nodes with thousands); capacities log-normal around 2M sat; fees, CLTV deltas,
HTLC limits drawn from the spreads seen on mainnet; 3% of directions disabled, 2% never
updated. It is inserted through `Graph.add_channel` / `Graph.set_policy`, the calls
`GossipCore` makes for verified gossip.
"""

from __future__ import annotations

import gc
import hashlib
import math
import os
import random
import statistics
import time
import tracemalloc
from typing import Any

from vajra.gossip.graph import Graph, Policy
from vajra.routing.pathfind import find_route
from vajra.routing.scorer import Bounds, Scorer, key
from vajra.routing.types import NoRoute

TARGETS = {"route_ms_p50": "<= 50", "graph_bytes_per_channel": "< 200"}
NOW = 1_800_000_000


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _node_id(seed: int, i: int) -> bytes:
    return b"\x02" + hashlib.sha256(f"{seed}:{i}".encode()).digest()


def channel_specs(channels: int, nodes: int, seed: int) -> list[tuple[int, int, int]]:
    """(node a, node b, capacity_sat) per channel, a != b (see the module header)."""
    rng = random.Random(seed)
    weights = [min(rng.paretovariate(1.3), 1500.0) for _ in range(nodes)]
    cum: list[float] = []
    acc = 0.0
    for w in weights:
        acc += w
        cum.append(acc)
    population = range(nodes)

    def pick() -> int:
        return rng.choices(population, cum_weights=cum)[0]

    def capacity() -> int:
        return int(min(max(math.exp(rng.gauss(math.log(2_000_000), 1.3)), 20_000), 5e8))

    out: list[tuple[int, int, int]] = []
    for a in range(min(nodes, channels)):
        b = pick()
        while b == a:
            b = pick()
        out.append((a, b, capacity()))
    while len(out) < channels:
        a, b = pick(), pick()
        if a != b:
            out.append((a, b, capacity()))
    return out


def build_graph(specs: list[tuple[int, int, int]], seed: int) -> Graph:
    """Insert the channels and one policy per direction through the graph's insert API."""
    rng = random.Random(seed + 1)
    g = Graph()
    for n, (a, b, cap) in enumerate(specs):
        ida, idb = _node_id(seed, a), _node_id(seed, b)
        n1, n2 = (ida, idb) if ida < idb else (idb, ida)
        block, tx = 500_000 + n // 1000, n % 1000
        slot = g.add_channel(block << 40 | tx << 16, n1, n2, cap, NOW - 86_400)
        for direction in (0, 1):
            r = rng.random()
            if r < 0.02:
                continue
            g.set_policy(
                slot,
                direction,
                Policy(
                    fee_base_msat=rng.choice((0, 1000, 1000, 1000, rng.randrange(5000))),
                    fee_proportional_millionths=int(
                        min(math.exp(rng.gauss(math.log(100), 1.5)), 5000)
                    ),
                    cltv_expiry_delta=rng.choice((18, 34, 40, 40, 80, 144)),
                    htlc_minimum_msat=rng.choice((1, 1000, 1000)),
                    htlc_maximum_msat=int(cap * 1000 * rng.choice((1.0, 0.99, 0.5))),
                    disabled=r < 0.05,
                    timestamp=NOW - rng.randrange(7 * 86_400),
                ),
            )
    return g


def _traced_bytes(specs: list[tuple[int, int, int]], seed: int) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        g = build_graph(specs, seed)
        gc.collect()
        size = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    del g
    return size


def _prime_scorer(g: Graph, scorer: Scorer, rng: random.Random) -> None:
    for s in range(len(g.scid)):
        for d in (0, 1):
            if rng.random() < 0.10:
                cap = g.capacity_sat[s] * 1000
                lo = int(cap * rng.random() * 0.5)
                hi = lo + int((cap - lo) * rng.random())
                scorer.learned[key(g.scid[s], d)] = Bounds(lo, hi, cap, NOW - 3600)


def gossip_rates(count: int, seed: int) -> dict[str, float]:
    """Verified `GossipCore` application of `count` announcements and 2x updates."""
    from vajra.bitcoin.chains import CHAIN_HASHES
    from vajra.crypto.secp256k1 import pubkey_from_secret
    from vajra.gossip.core import FundingOutput, GossipCore
    from vajra.gossip.sign import sign_channel_announcement, sign_channel_update
    from vajra.gossip.verify import expected_funding_script

    rng = random.Random(seed)
    chain = CHAIN_HASHES["bitcoin"]

    def secret() -> bytes:
        return rng.randbytes(31) + b"\x01"

    anns, updates, outputs = [], [], {}
    for i in range(count):
        keys = [secret() for _ in range(4)]
        ann = sign_channel_announcement(chain, 600_000 << 40 | i << 16, *keys)
        outputs[ann.short_channel_id] = FundingOutput(expected_funding_script(ann), 1_000_000)
        anns.append(ann)
        ordered = sorted((keys[0], keys[1]), key=pubkey_from_secret)
        for d in (0, 1):
            updates.append(
                sign_channel_update(
                    chain,
                    ann.short_channel_id,
                    ordered[d],
                    NOW,
                    direction=d,
                    htlc_maximum_msat=10**9,
                )
            )

    class Lookup:
        def funding_output(self, short_channel_id: int) -> FundingOutput | None:
            return outputs.get(short_channel_id)

    core = GossipCore(chain)
    t0 = time.perf_counter()
    for ann in anns:
        core.apply(ann, Lookup(), NOW)
    t1 = time.perf_counter()
    for upd in updates:
        core.apply(upd, Lookup(), NOW)
    t2 = time.perf_counter()
    assert core.graph.channel_count == count
    return {
        "gossip_announcements_per_s": round(count / (t1 - t0)),
        "gossip_updates_per_s": round(len(updates) / (t2 - t1)),
    }


def run(channels: int, nodes: int, pairs: int, seed: int) -> dict[str, Any]:
    specs = channel_specs(channels, nodes, seed)
    half = channel_specs(channels // 2, nodes // 2, seed)
    gc.collect()
    rss0 = _rss()
    t0 = time.perf_counter()
    g = build_graph(specs, seed)
    build_s = time.perf_counter() - t0
    gc.collect()
    rss_per = (_rss() - rss0) / channels
    small, full = _traced_bytes(half, seed), _traced_bytes(specs, seed)
    slope = (full - small) / (channels - channels // 2)

    degrees = sorted(len(a) for a in g.node_in if a)
    scorer = Scorer()
    rng = random.Random(seed + 2)
    _prime_scorer(g, scorer, rng)
    ids = [g.node_ids[i] for i in range(len(g.node_ids)) if g.node_in[i]]
    times: list[float] = []
    cpu: list[float] = []
    found = 0
    hop_counts: list[int] = []
    for _ in range(pairs):
        a, b = rng.sample(ids, 2)
        amount = int(math.exp(rng.uniform(math.log(1_000_000), math.log(1_000_000_000))))
        t, tc = time.perf_counter(), time.process_time()
        try:
            r = find_route(g, scorer, a, b, amount, NOW)
            found += 1
            hop_counts.append(len(r.hops))
        except NoRoute:
            pass
        times.append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - tc) * 1000)
    times.sort()
    cpu.sort()
    out: dict[str, Any] = {
        "channels": g.channel_count,
        "nodes": g.node_count,
        "degree_median": degrees[len(degrees) // 2],
        "degree_max": degrees[-1],
        "graph_bytes_per_channel": round(slope, 1),
        "graph_bytes_method": "tracemalloc slope between N/2 and N channels",
        "graph_rss_bytes_per_channel": round(rss_per, 1),
        "graph_build_s": round(build_s, 2),
        "route_pairs": pairs,
        "routes_found": found,
        "route_hops_mean": round(statistics.mean(hop_counts), 2) if hop_counts else None,
        "route_ms_p50": round(times[len(times) // 2], 2),
        "route_ms_p99": round(times[min(len(times) - 1, int(0.99 * len(times)))], 2),
        "route_ms_max": round(times[-1], 2),
        "route_cpu_ms_p50": round(cpu[len(cpu) // 2], 2),
        "route_cpu_ms_p99": round(cpu[min(len(cpu) - 1, int(0.99 * len(cpu)))], 2),
        "loadavg_1m_after": round(os.getloadavg()[0], 2),
        "seed": seed,
        "targets": TARGETS,
    }
    out.update(gossip_rates(200, seed))
    return out
