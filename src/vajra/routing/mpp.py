"""A simple multi-part split (BOLT 4 `basic_mpp`): when no single route carries the
amount, send it in 2, 4, ... equal parts, each routed with what the earlier parts already
put on a channel direction counted against its capacity and in its penalty.

Every part delivers its share to the payee with the invoice's `payment_secret` and
`total_msat` (the onion builder's job); the fee budget is split in proportion.
"""

from __future__ import annotations

from collections.abc import Sequence

from vajra.gossip.graph import Graph
from vajra.invoice.model import RouteHintHop
from vajra.routing.pathfind import find_route
from vajra.routing.scorer import Scorer, key
from vajra.routing.types import FirstHop, NoRoute, NoRouteReason, Route, RouteParams


def split_routes(
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
    max_parts: int = 16,
    min_part_msat: int = 10_000,
) -> list[Route]:
    """Routes whose delivered amounts add up to `amount_msat`: one when a single route
    exists, else the fewest equal parts (powers of two up to `max_parts`, none below
    `min_part_msat`) that all found a route. Raises `NoRoute`."""
    p = params or RouteParams()
    parts = 1
    while parts <= max_parts:
        share = -(-amount_msat // parts)
        if parts > 1 and share < min_part_msat:
            break
        routes = _try(
            graph,
            scorer,
            payer,
            payee,
            amount_msat,
            share,
            now,
            p,
            (final_cltv_expiry_delta, route_hints, first_hops),
        )
        if routes is not None:
            return routes
        parts *= 2
    raise NoRoute(NoRouteReason.NO_PATH, f"{amount_msat} msat in up to {max_parts} parts")


def _try(
    graph: Graph,
    scorer: Scorer,
    payer: bytes,
    payee: bytes,
    amount_msat: int,
    share: int,
    now: float,
    p: RouteParams,
    extra: tuple[int, Sequence[Sequence[RouteHintHop]], Sequence[FirstHop] | None],
) -> list[Route] | None:
    final_cltv, hints, first_hops = extra
    in_flight: dict[int, int] = {}
    routes: list[Route] = []
    left = amount_msat
    while left > 0:
        part = min(share, left)
        part_params = p
        if p.max_fee_msat is not None:
            spent = sum(r.fee_msat for r in routes)
            budget = (p.max_fee_msat * (amount_msat - left + part)) // amount_msat - spent
            part_params = RouteParams(p.max_total_cltv_expiry_delta, max(budget, 0), p.max_hops)
        try:
            r = find_route(
                graph,
                scorer,
                payer,
                payee,
                part,
                now,
                final_cltv_expiry_delta=final_cltv,
                route_hints=hints,
                first_hops=first_hops,
                params=part_params,
                in_flight=in_flight,
            )
        except NoRoute:
            return None
        routes.append(r)
        for hop in r.hops:
            k = key(hop.short_channel_id, hop.direction)
            in_flight[k] = in_flight.get(k, 0) + hop.amount_msat
        left -= part
    return routes
