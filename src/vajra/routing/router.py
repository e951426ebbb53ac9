"""What a paying node asks of the runtime's routing: a route, and to hear every attempt's
outcome (decision 0027). Sans-IO.

A hosted node never owns a graph or a scorer: the runtime has ONE of each (decision
0019) and lends the node a `Router`. In-process (`LocalRouter`) the router is the graph
and scorer themselves; in a runtime worker it is a client of the supervisor's route
service (`vajra.runtime.route_client`), which holds the one graph and scorer for every
worker. The node cannot tell the difference: both raise `NoRoute` the same way.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Protocol

from vajra.gossip.graph import Graph
from vajra.invoice.model import RouteHintHop
from vajra.routing.pathfind import find_route
from vajra.routing.scorer import Scorer
from vajra.routing.types import FirstHop, Route, RouteHop, RouteParams


class Router(Protocol):
    def route(
        self,
        payer: bytes,
        payee: bytes,
        amount_msat: int,
        now: float,
        *,
        final_cltv_expiry_delta: int,
        route_hints: Sequence[Sequence[RouteHintHop]],
        first_hops: Sequence[FirstHop] | None,
        params: RouteParams,
        excluded: Collection[int],
    ) -> Route:
        """`pathfind.find_route`'s answer over the runtime's graph and scorer. Raises
        `NoRoute` (reason `no_path`, ... or, for a remote router, `unavailable`)."""
        ...

    def path_succeeded(self, hops: Sequence[RouteHop], now: float) -> None:
        """Every hop carried its amount (the scorer's `path_succeeded`)."""
        ...

    def path_failed(self, hops: Sequence[RouteHop], failed_index: int, now: float) -> None:
        """`hops[failed_index]` could not carry its amount (the scorer's `path_failed`)."""
        ...


class LocalRouter:
    """A `Router` over a graph and scorer in this process (tests, benchmarks, and the
    supervisor's route service itself)."""

    __slots__ = ("graph", "scorer")

    def __init__(self, graph: Graph | None = None, scorer: Scorer | None = None) -> None:
        self.graph = graph if graph is not None else Graph()
        self.scorer = scorer if scorer is not None else Scorer()

    def route(
        self,
        payer: bytes,
        payee: bytes,
        amount_msat: int,
        now: float,
        *,
        final_cltv_expiry_delta: int,
        route_hints: Sequence[Sequence[RouteHintHop]],
        first_hops: Sequence[FirstHop] | None,
        params: RouteParams,
        excluded: Collection[int],
    ) -> Route:
        return find_route(
            self.graph, self.scorer, payer, payee, amount_msat, now,
            final_cltv_expiry_delta=final_cltv_expiry_delta, route_hints=route_hints,
            first_hops=first_hops, params=params, excluded=excluded,
        )  # fmt: skip

    def path_succeeded(self, hops: Sequence[RouteHop], now: float) -> None:
        self.scorer.path_succeeded(hops, now)

    def path_failed(self, hops: Sequence[RouteHop], failed_index: int, now: float) -> None:
        self.scorer.path_failed(hops, failed_index, now)
