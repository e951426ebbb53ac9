"""Pathfinding on hand graphs: cheapest path, HTLC limits, disabled, hints, first hops."""

from __future__ import annotations

import pytest

from tests.unit.routing.graphs import NOW, channel, nid, scid
from vajra.gossip.graph import Graph
from vajra.invoice.model import RouteHintHop
from vajra.routing.pathfind import find_route
from vajra.routing.scorer import Scorer
from vajra.routing.types import FirstHop, NoRoute, NoRouteReason, RouteParams


def _diamond(**cheap: int | bool) -> Graph:
    """A -> B -> D (B charges 5000 msat) and A -> C -> D (C charges 1000 msat + 100 ppm)."""
    g = Graph()
    channel(g, 1, "A", "B")
    channel(g, 2, "B", "D", fee_base_msat=5000)
    channel(g, 3, "A", "C")
    channel(g, 4, "C", "D", fee_base_msat=1000, fee_ppm=100, cltv=144, **cheap)  # type: ignore[arg-type]
    return g


def test_cheapest_path_with_exact_amounts_and_cltv() -> None:
    g = _diamond()
    r = find_route(g, Scorer(), nid("A"), nid("D"), 10_000_000, NOW, final_cltv_expiry_delta=18)
    assert [h.node_id for h in r.hops] == [nid("C"), nid("D")]
    assert [h.short_channel_id for h in r.hops] == [scid(3), scid(4)]
    # C forwards 10,000,000 and charges 1000 + 10,000,000 * 100 / 1e6 = 2000
    assert r.hops[1].amount_msat == 10_000_000 and r.hops[1].cltv_expiry_delta == 18
    assert r.hops[0].amount_msat == 10_002_000 and r.hops[0].cltv_expiry_delta == 18 + 144
    assert r.hops[0].fee_msat == 2000 and r.hops[1].fee_msat == 0
    assert r.fee_msat == 2000 and r.amount_msat == 10_002_000
    assert r.total_cltv_expiry_delta == 162
    # direction: 0 when the channel is used from the lesser node id
    assert r.hops[0].direction == 0 and r.hops[1].direction == 0
    assert r.hops[0].capacity_msat == 1_000_000_000


@pytest.mark.parametrize(
    "limit",
    [{"htlc_max": 9_999_999}, {"htlc_min": 10_000_001}, {"disabled": True}],
)
def test_limits_of_the_cheap_path_send_it_the_other_way(limit: dict[str, int | bool]) -> None:
    g = _diamond(**limit)
    r = find_route(g, Scorer(), nid("A"), nid("D"), 10_000_000, NOW)
    assert [h.node_id for h in r.hops] == [nid("B"), nid("D")]
    assert r.fee_msat == 5000


def test_htlc_max_counts_the_fees_of_later_hops() -> None:
    # A -> C -> E -> D: the HTLC on A->C carries E's fee too
    g = Graph()
    channel(g, 1, "A", "C", htlc_max=10_000_000)  # A's own channel: no fee, but the limit
    channel(g, 2, "C", "E", fee_base_msat=0)
    channel(g, 3, "E", "D", fee_base_msat=1)
    with pytest.raises(NoRoute):
        find_route(g, Scorer(), nid("A"), nid("D"), 10_000_000, NOW)
    r = find_route(g, Scorer(), nid("A"), nid("D"), 9_999_999, NOW)
    assert r.amount_msat == 10_000_000


def test_capacity_and_max_fee_and_max_cltv() -> None:
    g = _diamond()
    with pytest.raises(NoRoute) as e:
        find_route(g, Scorer(), nid("A"), nid("D"), 1_000_000_001, NOW)
    assert e.value.reason is NoRouteReason.NO_PATH
    with pytest.raises(NoRoute):
        find_route(
            g, Scorer(), nid("A"), nid("D"), 10_000_000, NOW, params=RouteParams(max_fee_msat=1999)
        )
    r = find_route(
        g, Scorer(), nid("A"), nid("D"), 10_000_000, NOW, params=RouteParams(max_fee_msat=2000)
    )
    assert r.fee_msat == 2000
    # C's 144 blocks do not fit under 100: B's 40 do
    r = find_route(
        g,
        Scorer(),
        nid("A"),
        nid("D"),
        10_000_000,
        NOW,
        params=RouteParams(max_total_cltv_expiry_delta=100),
    )
    assert r.hops[0].node_id == nid("B") and r.total_cltv_expiry_delta == 58


def test_one_way_channel_and_unknown_nodes() -> None:
    g = Graph()
    channel(g, 1, "A", "B", both=False)
    assert find_route(g, Scorer(), nid("A"), nid("B"), 1000, NOW).hops[0].node_id == nid("B")
    with pytest.raises(NoRoute):
        find_route(g, Scorer(), nid("B"), nid("A"), 1000, NOW)
    with pytest.raises(NoRoute) as e:
        find_route(g, Scorer(), nid("A"), nid("Z"), 1000, NOW)
    assert e.value.reason is NoRouteReason.UNKNOWN_PAYEE
    with pytest.raises(NoRoute) as e:
        find_route(g, Scorer(), nid("A"), nid("A"), 1000, NOW)
    assert e.value.reason is NoRouteReason.SAME_NODE


def test_route_hints_reach_a_private_payee() -> None:
    g = _diamond()
    payee = nid("P")  # not in the graph: reachable only through the hint D -> P
    hint = (RouteHintHop(nid("D"), 999, 2000, 1000, 30),)
    r = find_route(g, Scorer(), nid("A"), payee, 5_000_000, NOW, route_hints=[hint])
    assert [h.node_id for h in r.hops] == [nid("C"), nid("D"), payee]
    assert r.hops[2].short_channel_id == 999 and r.hops[2].capacity_msat is None
    # D charges 2000 + 5,000,000 * 1000 / 1e6 = 7000; C charges 1000 + 5,007,000 * 100 / 1e6
    assert r.hops[1].amount_msat == 5_007_000
    assert r.hops[0].amount_msat == 5_007_000 + 1000 + 500
    assert r.hops[2].cltv_expiry_delta == 18 and r.hops[1].cltv_expiry_delta == 48
    # a two-hop hint whose first node is public
    hint2 = (RouteHintHop(nid("B"), 777, 0, 0, 10), RouteHintHop(nid("Q"), 778, 0, 0, 10))
    r2 = find_route(g, Scorer(), nid("A"), payee, 5_000_000, NOW, route_hints=[hint2])
    assert [h.short_channel_id for h in r2.hops] == [scid(1), 777, 778]


def test_first_hops_replace_the_payers_channels() -> None:
    g = _diamond()
    payer = nid("H")  # a hosted node with a private channel to B
    r = find_route(
        g,
        Scorer(),
        payer,
        nid("D"),
        1_000_000,
        NOW,
        first_hops=[FirstHop(555, nid("B"), 2_000_000)],
    )
    assert [h.short_channel_id for h in r.hops] == [555, scid(2)]
    with pytest.raises(NoRoute):
        find_route(
            g,
            Scorer(),
            payer,
            nid("D"),
            1_000_000,
            NOW,
            first_hops=[FirstHop(555, nid("B"), 1_000_000)],
        )
    # with first hops given, A's graph channels are not used: only its channel to B
    r = find_route(
        g,
        Scorer(),
        nid("A"),
        nid("D"),
        1_000_000,
        NOW,
        first_hops=[FirstHop(scid(1), nid("B"), 10**9)],
    )
    assert r.hops[0].node_id == nid("B")


def test_excluded_channels_and_max_hops() -> None:
    g = _diamond()
    r = find_route(g, Scorer(), nid("A"), nid("D"), 1000, NOW, excluded={scid(4)})
    assert r.hops[0].node_id == nid("B")
    with pytest.raises(NoRoute):
        find_route(g, Scorer(), nid("A"), nid("D"), 1000, NOW, params=RouteParams(max_hops=1))


def test_route_over_a_graph_built_from_signed_gossip() -> None:
    from tests.unit.gossip.helpers import CHAIN, Lookup, announce, node_id, update
    from vajra.gossip.core import GossipCore

    core, lookup = GossipCore(CHAIN), Lookup()
    ab = announce("alice", "bob", 10, 500_000, lookup)
    bc = announce("bob", "carol", 11, 500_000, lookup)
    for ann, (x, y) in ((ab, ("alice", "bob")), (bc, ("bob", "carol"))):
        core.apply(ann, lookup, NOW)
        core.apply(update(ann, x, NOW, htlc_maximum_msat=400_000_000), lookup, NOW)
        core.apply(update(ann, y, NOW, htlc_maximum_msat=400_000_000), lookup, NOW)
    r = find_route(core.graph, Scorer(), node_id("alice"), node_id("carol"), 1_000_000, NOW)
    assert [h.short_channel_id for h in r.hops] == [ab.short_channel_id, bc.short_channel_id]
    assert r.fee_msat == 1000 + 100  # sign_channel_update's defaults: 1000 msat + 100 ppm
    core.apply(update(bc, "bob", NOW + 1, disabled=True), lookup, NOW + 1)
    with pytest.raises(NoRoute):
        find_route(core.graph, Scorer(), node_id("alice"), node_id("carol"), 1_000_000, NOW)


def test_mpp_splits_what_no_single_channel_carries() -> None:
    from vajra.routing.mpp import split_routes

    # A -> B -> D and A -> C -> D, each channel 1,000,000 sat: 1.5M sat needs both
    g = Graph()
    channel(g, 1, "A", "B", fee_base_msat=0)
    channel(g, 2, "B", "D", fee_base_msat=0)
    channel(g, 3, "A", "C", fee_base_msat=0)
    channel(g, 4, "C", "D", fee_base_msat=0)
    one = split_routes(g, Scorer(), nid("A"), nid("D"), 900_000_000, NOW)
    assert len(one) == 1
    parts = split_routes(g, Scorer(), nid("A"), nid("D"), 1_500_000_000, NOW)
    assert sum(r.hops[-1].amount_msat for r in parts) == 1_500_000_000
    assert {r.hops[0].node_id for r in parts} == {nid("B"), nid("C")}
    for n in (1, 2, 3, 4):  # no channel carries more than its capacity in total
        used = sum(h.amount_msat for r in parts for h in r.hops if h.short_channel_id == scid(n))
        assert used <= 1_000_000_000
    with pytest.raises(NoRoute):
        split_routes(g, Scorer(), nid("A"), nid("D"), 2_000_000_001, NOW)
    # a first hop's outbound liquidity bounds the parts over it together
    with pytest.raises(NoRoute):
        split_routes(
            g,
            Scorer(),
            nid("H"),
            nid("D"),
            1_500_000_000,
            NOW,
            first_hops=[
                FirstHop(900, nid("B"), 1_200_000_000),
                FirstHop(901, nid("C"), 200_000_000),
            ],
        )
