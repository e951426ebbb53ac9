"""Property: on random graphs every route found obeys every rule it was searched under;
and with fee-free hops (the amount is the same on every channel) and no binding CLTV
limit, a route is found whenever a brute-force search finds a usable simple path of at
most 3 channels. (With a binding CLTV limit the one-label-per-node search, like LDK's,
can miss a costlier path that fits: not asserted.)"""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.routing.graphs import NOW, nid
from vajra.gossip.graph import ROUTABLE, Graph, Policy
from vajra.routing.pathfind import find_route
from vajra.routing.scorer import Scorer
from vajra.routing.types import NoRoute, RouteParams
from vajra.wire import scid_from_parts

NAMES = "ABCDEF"

_policy = st.tuples(
    st.integers(0, 3000),  # fee_base_msat
    st.integers(0, 5000),  # fee ppm
    st.integers(0, 200),  # cltv
    st.integers(1, 50_000),  # htlc_min
    st.integers(0, 3_000_000),  # htlc_max
    st.booleans(),  # disabled
)
_channel = st.tuples(
    st.sampled_from(NAMES),
    st.sampled_from(NAMES),
    st.integers(1, 3000),
    st.one_of(st.none(), _policy),
    st.one_of(st.none(), _policy),
)


def _build(chans: list[tuple[str, str, int, object, object]], free: bool) -> Graph:
    g = Graph()
    for n, (a, b, cap, p0, p1) in enumerate(chans):
        if a == b:
            continue
        n1, n2 = sorted((nid(a), nid(b)))
        slot = g.add_channel(scid_from_parts(n + 1, 0, 0), n1, n2, cap, NOW)
        for d, p in ((0, p0), (1, p1)):
            if p is not None:
                base, ppm, cltv, hmin, hmax, dis = p  # type: ignore[misc]
                if free:
                    base = ppm = 0
                g.set_policy(slot, d, Policy(base, ppm, cltv, hmin, hmax, dis, NOW))
    return g


def _check(g: Graph, route_hops: tuple, payer: bytes, amount: int, params: RouteParams) -> None:  # type: ignore[type-arg]
    prev = payer
    assert route_hops[-1].amount_msat == amount
    for i, hop in enumerate(route_hops):
        info = g.channel(hop.short_channel_id)
        assert info is not None
        assert {info.node_id_1, info.node_id_2} == {prev, hop.node_id}
        d = 0 if prev == info.node_id_1 else 1
        assert hop.direction == d
        slot = g.slot_of(hop.short_channel_id)
        assert slot is not None and g.flags[2 * slot + d] == ROUTABLE
        pol = info.policies[d]
        assert pol is not None
        assert pol.htlc_minimum_msat <= hop.amount_msat <= pol.htlc_maximum_msat
        assert hop.amount_msat <= info.capacity_sat * 1000
        if i > 0:  # the node before this hop charged its fee and delta
            before = route_hops[i - 1]
            fee = pol.fee_base_msat + hop.amount_msat * pol.fee_proportional_millionths // 1_000_000
            assert before.amount_msat == hop.amount_msat + fee
            assert before.cltv_expiry_delta == hop.cltv_expiry_delta + pol.cltv_expiry_delta
        prev = hop.node_id
    assert route_hops[0].cltv_expiry_delta <= params.max_total_cltv_expiry_delta
    assert len(set(h.node_id for h in route_hops)) == len(route_hops)


@settings(max_examples=200)
@given(
    st.lists(_channel, max_size=12),
    st.integers(1, 2_000_000),
    st.integers(18, 400),
    st.booleans(),
)
def test_routes_obey_the_rules_and_are_found(
    chans: list[tuple[str, str, int, object, object]], amount: int, max_cltv: int, free: bool
) -> None:
    g = _build(chans, free)
    params = RouteParams(max_total_cltv_expiry_delta=2016 if free else max_cltv)
    payer, payee = nid("A"), nid("F")
    try:
        r = find_route(g, Scorer(), payer, payee, amount, NOW, params=params)
    except NoRoute:
        r = None
    if r is not None:
        _check(g, r.hops, payer, amount, params)
    if free and g.node_index(payee) is not None and g.node_index(payer) is not None:
        # brute force: simple paths of <= 3 channels, same amount on every channel
        usable: dict[tuple[bytes, bytes], list[int]] = {}
        for scid in g.short_channel_ids():
            info = g.channel(scid)
            assert info is not None
            slot = g.slot_of(scid)
            assert slot is not None
            for d, (u, v) in enumerate(
                ((info.node_id_1, info.node_id_2), (info.node_id_2, info.node_id_1))
            ):
                pol = info.policies[d]
                if (
                    pol is not None
                    and g.flags[2 * slot + d] == ROUTABLE
                    and (pol.htlc_minimum_msat <= amount <= pol.htlc_maximum_msat)
                ):
                    usable.setdefault((u, v), []).append(scid)
        nodes = [nid(c) for c in NAMES]
        for k in range(0, 3):
            for mid in itertools.permutations([x for x in nodes if x not in (payer, payee)], k):
                path = [payer, *mid, payee]
                legs = [usable.get((path[i], path[i + 1])) for i in range(len(path) - 1)]
                if all(legs):
                    assert r is not None, path
