"""Small hand-made graphs for pathfinding tests, built through the graph's insert API."""

from __future__ import annotations

from vajra.gossip.graph import Graph, Policy
from vajra.wire import scid_from_parts

NOW = 1_800_000_000


def nid(name: str) -> bytes:
    """A 33-byte node id whose order follows the name's (pathfinding needs no real key)."""
    return b"\x02" + name.encode().ljust(32, b"\0")


def scid(n: int) -> int:
    return scid_from_parts(100 + n, 1, 0)


def channel(
    g: Graph,
    n: int,
    a: str,
    b: str,
    *,
    capacity_sat: int = 1_000_000,
    fee_base_msat: int = 1000,
    fee_ppm: int = 0,
    cltv: int = 40,
    htlc_min: int = 1,
    htlc_max: int | None = None,
    disabled: bool = False,
    both: bool = True,
) -> int:
    """Channel number `n` from `a` to `b` with the policy for a->b (and b->a if `both`)."""
    ia, ib = nid(a), nid(b)
    n1, n2 = (ia, ib) if ia < ib else (ib, ia)
    slot = g.add_channel(scid(n), n1, n2, capacity_sat, NOW)
    pol = Policy(
        fee_base_msat,
        fee_ppm,
        cltv,
        htlc_min,
        htlc_max if htlc_max is not None else capacity_sat * 1000,
        disabled,
        NOW,
    )
    d = 0 if ia == n1 else 1
    g.set_policy(slot, d, pol)
    if both:
        g.set_policy(slot, 1 - d, pol)
    return slot
