"""The shared scorer: probabilities from bounds, learning from attempts, decay, and that
what it learns changes the route."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.routing.graphs import NOW, channel, nid, scid
from vajra.gossip.graph import Graph
from vajra.routing.pathfind import find_route
from vajra.routing.scorer import Scorer, ScoringParams, key
from vajra.routing.types import RouteHop

CAP = 1_000_000_000


def _hop(n: int, amount: int) -> RouteHop:
    return RouteHop(nid("X"), scid(n), 0, amount, 40, 0, CAP)


def test_uniform_probability_and_penalty() -> None:
    s = Scorer()
    k = key(scid(1), 0)
    assert s.success_probability(k, 0, CAP, NOW) == 1.0
    assert s.success_probability(k, CAP // 2, CAP, NOW) == pytest.approx(0.5, rel=1e-6)
    assert s.success_probability(k, CAP + 1, CAP, NOW) == 0.0
    p = s.params
    base = p.base_penalty_msat + 1000 * p.base_penalty_amount_multiplier_msat / 2**30
    assert s.penalty_for_probability(1.0, 1000) == base
    assert s.penalty_for_probability(0.0, 1000) == base + p.considered_impossible_penalty_msat
    # -log10(0.5) * (30,000 + 1000 * 192 / 2^20)
    assert s.penalty_for_probability(0.5, 1000) == pytest.approx(
        base + math.log10(2) * (30_000 + 1000 * 192 / 2**20)
    )
    # capped at p = 1%
    assert s.penalty_for_probability(1e-9, 1000) == s.penalty_for_probability(0.01, 1000)


def test_failure_and_success_set_bounds() -> None:
    s = Scorer()
    hops = [_hop(1, 3_000_000), _hop(2, 2_000_000), _hop(3, 1_000_000)]
    s.path_failed(hops, 1, NOW)
    assert s.bounds(key(scid(1), 0), NOW) == (3_000_000, CAP)  # had it
    assert s.bounds(key(scid(2), 0), NOW) == (0, 1_999_999)  # lacked it
    assert s.bounds(key(scid(3), 0), NOW) is None  # never reached
    assert s.success_probability(key(scid(2), 0), 2_000_000, CAP, NOW) == 0.0
    assert s.success_probability(key(scid(1), 0), 3_000_000, CAP, NOW) == 1.0
    s.path_succeeded([_hop(2, 500_000)], NOW)
    assert s.bounds(key(scid(2), 0), NOW) == (500_000, 1_999_999)


def test_bounds_decay_with_the_half_life() -> None:
    s = Scorer(ScoringParams(liquidity_offset_half_life_s=3600))
    s.path_failed([_hop(1, 400_000_001), _hop(2, 1)], 0, NOW)
    s.path_succeeded([_hop(3, 400_000_000)], NOW)
    lo, hi = s.bounds(key(scid(1), 0), NOW + 3600)  # type: ignore[misc]
    assert (lo, hi) == (0, CAP - (CAP - 400_000_000) // 2)
    lo3, _ = s.bounds(key(scid(3), 0), NOW + 7200)  # type: ignore[misc]
    assert lo3 == 100_000_000


@given(
    st.lists(st.tuples(st.integers(1, CAP), st.booleans(), st.integers(0, 10 * 3600)), max_size=20)
)
def test_bounds_stay_ordered_within_capacity(events: list[tuple[int, bool, int]]) -> None:
    s = Scorer()
    t = NOW
    k = key(scid(1), 0)
    for amount, ok, dt in events:
        t += dt
        if ok:
            s.path_succeeded([_hop(1, amount)], t)
        else:
            s.path_failed([_hop(1, amount)], 0, t)
        b = s.bounds(k, t)
        assert b is not None and 0 <= b[0] <= b[1] <= CAP
        p = s.success_probability(k, amount, CAP, t)
        assert 0.0 <= p <= 1.0
        if not ok:
            assert p == 0.0


def test_what_the_scorer_learns_changes_the_route() -> None:
    # two routes with the same fees; one hop of the first fails, so the second wins;
    # after the knowledge decays the tie-break returns to the first
    g = Graph()
    channel(g, 1, "A", "B")
    channel(g, 2, "B", "D", fee_base_msat=1000)
    channel(g, 3, "A", "C")
    channel(g, 4, "C", "D", fee_base_msat=1001)
    s = Scorer()
    amount = 100_000_000
    r1 = find_route(g, s, nid("A"), nid("D"), amount, NOW)
    assert r1.hops[0].node_id == nid("B")
    s.path_failed(r1.hops, 1, NOW)  # B -> D lacked the amount
    r2 = find_route(g, s, nid("A"), nid("D"), amount, NOW + 1)
    assert r2.hops[0].node_id == nid("C")
    # a success on the first route's channels for a higher amount lifts their minimum
    s.path_succeeded(r2.hops, NOW + 2)
    assert s.bounds(key(scid(4), r2.hops[1].direction), NOW + 2)[0] == amount  # type: ignore[index]
    r3 = find_route(g, s, nid("A"), nid("D"), amount, NOW + 30 * 86_400)
    assert r3.hops[0].node_id == nid("B")


def test_one_scorer_serves_every_payer() -> None:
    # what payer A learned steers payer E, which shares only the failing channel
    g = Graph()
    for n, (a, b, fee) in enumerate(
        [("A", "B", 0), ("E", "B", 0), ("B", "D", 1000), ("B", "C", 0), ("C", "D", 1500)], 1
    ):
        channel(g, n, a, b, fee_base_msat=fee)
    s = Scorer()
    r = find_route(g, s, nid("A"), nid("D"), 50_000_000, NOW)
    assert [h.node_id for h in r.hops] == [nid("B"), nid("D")]
    s.path_failed(r.hops, 1, NOW)
    r_e = find_route(g, s, nid("E"), nid("D"), 50_000_000, NOW)
    assert [h.node_id for h in r_e.hops] == [nid("B"), nid("C"), nid("D")]
