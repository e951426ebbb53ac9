"""Pathfinding over the shared graph plus an invoice's route hints: backwards Dijkstra.

Theory of operation. The search starts at the payee with the amount to deliver and the
final CLTV delta, and walks channels backwards (BOLT 7: "amounts and expiries for HTLCs
need to be calculated backward from the destination to the source"). Reaching node `u`
over the channel `u -> v`, the HTLC on that channel carries `need[v]` (what `v` must
receive); `u` adds its fee `fee_base_msat + need[v] * fee_proportional_millionths /
1,000,000` and its `cltv_expiry_delta` (the payer adds neither). A channel direction is
usable when it has an update, is not disabled, is routable (BOLT 7: `htlc_maximum_msat`
within capacity and >= `htlc_minimum_msat`), and `htlc_minimum_msat <= need[v] <=
htlc_maximum_msat`. The label of a node is its cost: fees plus the scorer's penalty for
every hop (`routing.scorer`), and the search stops when the payer is settled. Limits:
total CLTV delta, total fee, hop count. Route hints (BOLT 11 `r`) add private channels
towards the payee; `first_hops` replace the payer's own channels with exact liquidity.

Amounts depend on the path below a node, so, as in LDK, a node keeps the one label that
reached it cheapest: the result is the cheapest route in all but contrived graphs.

The search is A*: every hop costs at least `floor`, the scorer's base penalty at the
delivered amount (fees are >= 0, the payer's first hops cost 0), so `floor * hops from
the payer` is a lower bound of what a node still has to pay. Hop counts come from a BFS
around the payer over every channel in both directions (a superset of what the search
uses, so the bound is consistent and a settled node is final), expanded by whole layers
within `BFS_EDGE_BUDGET` edges. Labels that cannot beat the payer's best are not pushed.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from heapq import heappop, heappush

from vajra.gossip.graph import NODE_NO_ROUTE, ROUTABLE, Graph
from vajra.invoice.model import RouteHintHop
from vajra.routing.scorer import NEGATIVE_LOG10_UPPER_BOUND, Scorer
from vajra.routing.types import (
    FirstHop,
    NoRoute,
    NoRouteReason,
    Route,
    RouteHop,
    RouteParams,
)

_INF = math.inf


@dataclass(frozen=True, slots=True)
class _Extra:
    """A channel direction from outside the graph (a hint or a first hop)."""

    short_channel_id: int
    src: int
    direction: int
    fee_base_msat: int
    fee_proportional_millionths: int
    cltv_expiry_delta: int
    htlc_minimum_msat: int
    htlc_maximum_msat: int
    capacity_msat: int | None
    first_hop: bool


def find_route(
    graph: Graph,
    scorer: Scorer,
    payer: bytes,
    payee: bytes,
    amount_msat: int,
    now: float,
    *,
    final_cltv_expiry_delta: int = 18,
    route_hints: Sequence[Sequence[RouteHintHop]] = (),
    first_hops: Sequence[FirstHop] | None = None,
    params: RouteParams | None = None,
    excluded: Collection[int] = (),
    in_flight: Mapping[int, int] | None = None,
) -> Route:
    """The cheapest route (fees + scorer penalties) delivering `amount_msat` to `payee`
    with `final_cltv_expiry_delta` (BOLT 11 `c`). `excluded`: scids not to use. `in_flight`: msat other parts of the same payment already
    route over a channel direction (key `scid << 1 | direction`): they count against its
    capacity (a first hop's `outbound_msat`) and in its penalty. Raises
    `NoRoute`."""
    p = params or RouteParams()
    if amount_msat <= 0:
        raise NoRoute(NoRouteReason.BAD_AMOUNT, str(amount_msat))
    if payer == payee:
        raise NoRoute(NoRouteReason.SAME_NODE)
    n = len(graph.node_ids)
    extra_ids: dict[bytes, int] = {}
    extra_nodes: list[bytes] = []

    def index(node_id: bytes) -> int:
        i = graph.node_index(node_id)
        if i is not None:
            return i
        j = extra_ids.get(node_id)
        if j is None:
            j = extra_ids[node_id] = n + len(extra_nodes)
            extra_nodes.append(node_id)
        return j

    payer_i, payee_i = index(payer), index(payee)
    extra_in: dict[int, list[_Extra]] = {}
    for hint in route_hints:
        for j, hop in enumerate(hint):
            dst = hint[j + 1].pubkey if j + 1 < len(hint) else payee
            if hop.pubkey == dst:
                continue
            e = _Extra(
                hop.short_channel_id,
                index(hop.pubkey),
                0 if hop.pubkey < dst else 1,
                hop.fee_base_msat,
                hop.fee_proportional_millionths,
                hop.cltv_expiry_delta,
                0,
                1 << 64,
                None,
                False,
            )
            extra_in.setdefault(index(dst), []).append(e)
    if first_hops is not None:
        for fh in first_hops:
            e = _Extra(
                fh.short_channel_id,
                payer_i,
                0 if payer < fh.node_id else 1,
                0,
                0,
                0,
                fh.htlc_minimum_msat,
                fh.outbound_msat,
                None,
                True,
            )
            extra_in.setdefault(index(fh.node_id), []).append(e)
    if payee_i >= n and payee_i not in extra_in:
        raise NoRoute(NoRouteReason.UNKNOWN_PAYEE, payee.hex())
    if payer_i >= n and first_hops is None:
        raise NoRoute(NoRouteReason.UNKNOWN_PAYER, payer.hex())

    total = n + len(extra_nodes)
    cost = [_INF] * total
    need = [0] * total
    cltv = [0] * total
    hops = [0] * total
    via: list[int | _Extra] = [0] * total
    nxt = [-1] * total
    done = bytearray(total)
    max_cltv = p.max_total_cltv_expiry_delta
    max_need = amount_msat + p.max_fee_msat if p.max_fee_msat is not None else 1 << 70
    max_hops = p.max_hops
    skip_payer_graph = first_hops is not None
    excl = frozenset(excluded)
    flight = in_flight or {}

    # the graph's arrays and the scorer's parameters, bound once (the hot loop)
    node_in, node_flags = graph.node_in, graph.node_flags
    src, flags = graph.src, graph.flags
    hmin, hmax = graph.htlc_minimum_msat, graph.htlc_maximum_msat
    fbase, fprop, cdelta = (
        graph.fee_base_msat,
        graph.fee_proportional_millionths,
        graph.cltv_expiry_delta,
    )
    scids, caps = graph.scid, graph.capacity_sat
    learned = scorer.learned
    q = scorer.params
    base_pen = float(q.base_penalty_msat)
    base_mult = q.base_penalty_amount_multiplier_msat / 2**30
    liq_mult = float(q.liquidity_penalty_multiplier_msat)
    liq_amt_mult = q.liquidity_penalty_amount_multiplier_msat / 2**20
    log10 = math.log10
    upper = NEGATIVE_LOG10_UPPER_BOUND

    # A* towards the payer: every hop costs at least `floor` (the scorer's base penalty at
    # the delivered amount; first hops cost nothing), so floor * (hops from the payer) is a
    # consistent lower bound of what a node still has to pay. Hop counts from a bounded BFS.
    floor = base_pen + amount_msat * base_mult
    lower = _hop_bounds(graph, payer_i, total, extra_in, floor)

    cost[payee_i] = 0.0
    need[payee_i] = amount_msat
    cltv[payee_i] = final_cltv_expiry_delta
    heap: list[tuple[float, int]] = [(lower[payee_i], payee_i)]
    while heap:
        _, v = heappop(heap)
        if done[v]:
            continue
        done[v] = 1
        if v == payer_i:
            break
        if hops[v] >= max_hops:
            continue
        if v != payee_i and v < n and node_flags[v] & NODE_NO_ROUTE:
            continue
        c = cost[v]
        amt = need[v]
        pen_amt = base_pen + amt * base_mult
        best = cost[payer_i]
        if c + pen_amt >= best:
            continue  # every hop costs at least pen_amt: nothing from v can beat the payer's label
        cl = cltv[v]
        hv = hops[v] + 1
        liq = liq_mult + amt * liq_amt_mult
        if v < n:
            for h in node_in[v]:
                if flags[h] != ROUTABLE:
                    continue
                u = src[h]
                if done[u] or amt < hmin[h] or amt > hmax[h]:
                    continue
                if u == payer_i:
                    if skip_payer_graph:
                        continue
                    ncl = cl
                    nneed = amt
                else:
                    ncl = cl + cdelta[h]
                    nneed = amt + fbase[h] + amt * fprop[h] // 1_000_000
                    if ncl > max_cltv or nneed > max_need:
                        continue
                lb = c + (nneed - amt) + pen_amt  # the penalty is at least pen_amt
                if lb >= cost[u] or lb + lower[u] >= best:
                    continue
                s = h >> 1
                if excl and scids[s] in excl:
                    continue
                k = scids[s] << 1 | (h & 1)
                if flight and k in flight:
                    used = flight[k] + amt
                    if used > caps[s] * 1000:
                        continue
                    pen = scorer.penalty_msat(k, used, caps[s] * 1000, now)
                elif k not in learned:
                    capm = caps[s] * 1000 + 1
                    nl = -log10((capm - amt) / capm)
                    pen = pen_amt + (nl if nl < upper else upper) * liq
                else:
                    pen = scorer.penalty_msat(k, amt, caps[s] * 1000, now)
                nc = c + (nneed - amt) + pen
                if nc < cost[u] and nc + lower[u] < best:
                    cost[u] = nc
                    need[u] = nneed
                    cltv[u] = ncl
                    hops[u] = hv
                    via[u] = h
                    nxt[u] = v
                    heappush(heap, (nc + lower[u], u))
                    if u == payer_i:
                        best = nc
        for e in extra_in.get(v, ()):
            u = e.src
            if done[u] or amt < e.htlc_minimum_msat or amt > e.htlc_maximum_msat:
                continue
            if e.short_channel_id in excl:
                continue
            k = e.short_channel_id << 1 | e.direction
            used = flight.get(k, 0) + amt if flight else amt
            if e.first_hop and used > e.htlc_maximum_msat:
                continue
            if u == payer_i:
                ncl, nneed = cl, amt
            else:
                ncl = cl + e.cltv_expiry_delta
                nneed = amt + e.fee_base_msat + amt * e.fee_proportional_millionths // 1_000_000
                if ncl > max_cltv or nneed > max_need:
                    continue
            pen = 0.0 if e.first_hop else scorer.penalty_msat(k, used, None, now)
            nc = c + (nneed - amt) + pen
            if nc < cost[u] and nc + lower[u] < best:
                cost[u] = nc
                need[u] = nneed
                cltv[u] = ncl
                hops[u] = hv
                via[u] = e
                nxt[u] = v
                heappush(heap, (nc + lower[u], u))
                if u == payer_i:
                    best = nc

    if not done[payer_i]:
        raise NoRoute(NoRouteReason.NO_PATH, f"{amount_msat} msat")
    out: list[RouteHop] = []
    u = payer_i
    while u != payee_i:
        v = nxt[u]
        edge = via[u]
        if isinstance(edge, _Extra):
            scid, direction, cap = edge.short_channel_id, edge.direction, edge.capacity_msat
        else:
            scid, direction, cap = scids[edge >> 1], edge & 1, caps[edge >> 1] * 1000
        node_id = graph.node_ids[v] if v < n else extra_nodes[v - n]
        fee = need[v] - need[nxt[v]] if v != payee_i else 0
        out.append(RouteHop(node_id, scid, direction, need[v], cltv[v], fee, cap))
        u = v
    return Route(tuple(out))


BFS_EDGE_BUDGET = 4000
"""Edges the lower-bound BFS may visit: it expands whole layers while they fit (the
payer's 2-hop ball through a hub is a few thousand). Measured on the benchmark graph: a
larger ball costs more than the stronger bound saves."""


def _hop_bounds(
    graph: Graph,
    payer: int,
    total: int,
    extra_in: dict[int, list[_Extra]],
    floor: float,
) -> list[float]:
    """floor * (hops from the payer) per node, over every channel in either direction
    (a superset of what the search may use, so the bound stays consistent); first hops
    count 0 hops, as they cost 0. Nodes beyond the layers expanded get (layers + 1)."""
    extra_nbrs: dict[int, list[int]] = {}
    first: list[int] = []
    for dst, edges in extra_in.items():
        for e in edges:
            if e.first_hop:
                first.append(dst)
            else:
                extra_nbrs.setdefault(dst, []).append(e.src)
                extra_nbrs.setdefault(e.src, []).append(dst)
    n = len(graph.node_ids)
    node_in, src = graph.node_in, graph.src
    dist = [-1] * total
    layer = [payer]
    dist[payer] = 0
    for x in first:
        if dist[x] < 0:
            dist[x] = 0
            layer.append(x)
    labelled = list(layer)
    depth = 0
    visited = 0
    while layer:
        # a layer expanded in part adds nothing (its new nodes get the bound the rest
        # gets), so expand it whole or not at all
        visited += sum(len(node_in[x]) for x in layer if x < n)
        if visited > BFS_EDGE_BUDGET:
            break
        nxt: list[int] = []
        d = depth + 1
        for x in layer:
            if x < n:
                for h in node_in[x]:
                    u = src[h]
                    if dist[u] < 0:
                        dist[u] = d
                        nxt.append(u)
                        labelled.append(u)
            for u in extra_nbrs.get(x, ()):
                if dist[u] < 0:
                    dist[u] = d
                    nxt.append(u)
                    labelled.append(u)
        layer = nxt
        depth = d
    # after expanding `depth` layers every node within `depth` hops is labelled; if the
    # BFS ran out of nodes, the rest cannot reach the payer at all
    out = [floor * (depth + 1) if layer else _INF] * total
    for x in labelled:
        out[x] = floor * dist[x]
    return out
