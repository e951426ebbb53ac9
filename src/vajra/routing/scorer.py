"""The probabilistic scorer shared by every hosted node of a runtime.

Theory of operation (Pickhardt-Richter, "Optimally Reliable & Cheap Payment Flows on the
Lightning Network", and LDK's `ProbabilisticScorer`). The liquidity of a channel direction
(what its source can send) is unknown in [0, capacity]; the scorer keeps, per direction
it has learned about, bounds `min_msat <= liquidity <= max_msat`. Assuming liquidity
uniform within the bounds, an HTLC of `a` msat succeeds with

    p(a) = 1                                   if a <= min_msat
         = (max_msat + 1 - a) / (max_msat + 1 - min_msat)   if min_msat < a <= max_msat
         = 0                                   if a > max_msat

and costs a penalty (msat, added to fees by the pathfinder)

    base_penalty_msat + a * base_penalty_amount_multiplier_msat / 2^30
    + min(-log10 p, 2) * (liquidity_penalty_multiplier_msat
                          + a * liquidity_penalty_amount_multiplier_msat / 2^20)

or `considered_impossible_penalty_msat` when p = 0 (LDK's defaults and cap at p = 1%).
Every payment attempt of every node teaches it (`path_succeeded`, `path_failed`): each
hop before the failing one had the amount (`min_msat` raised), the failing hop did not
(`max_msat` lowered below it). Learned bounds decay towards [0, capacity] with a
half-life (`liquidity_offset_half_life_s`, LDK's 6 hours): knowledge ages as channels
rebalance. Keys are `short_channel_id << 1 | direction`, so hint channels learn too.
Time (`now`) is passed in.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from vajra.routing.types import RouteHop

NEGATIVE_LOG10_UPPER_BOUND = 2.0
UNKNOWN_CAPACITY_MSAT = 1 << 40
"""Capacity assumed for channels the graph does not know (route hints): ~11 BTC."""


@dataclass(frozen=True, slots=True)
class ScoringParams:
    base_penalty_msat: int = 1000
    base_penalty_amount_multiplier_msat: int = 8192
    liquidity_penalty_multiplier_msat: int = 30_000
    liquidity_penalty_amount_multiplier_msat: int = 192
    considered_impossible_penalty_msat: int = 100_000_000
    liquidity_offset_half_life_s: float = 6 * 3600.0


class Bounds:
    """What is known of one channel direction's liquidity as of `updated`."""

    __slots__ = ("capacity_msat", "max_msat", "min_msat", "updated")

    def __init__(self, min_msat: int, max_msat: int, capacity_msat: int, updated: float) -> None:
        self.min_msat = min_msat
        self.max_msat = max_msat
        self.capacity_msat = capacity_msat
        self.updated = updated


def key(short_channel_id: int, direction: int) -> int:
    return short_channel_id << 1 | direction


class Scorer:
    """Liquidity bounds per channel direction and the penalty they imply."""

    def __init__(self, params: ScoringParams | None = None) -> None:
        self.params = params or ScoringParams()
        self.learned: dict[int, Bounds] = {}

    # --- reading --------------------------------------------------------------------------

    def bounds(self, k: int, now: float) -> tuple[int, int] | None:
        """(min_msat, max_msat) of direction key `k` decayed to `now`, or None if unknown."""
        b = self.learned.get(k)
        if b is None:
            return None
        return self._decayed(b, now)

    def _decayed(self, b: Bounds, now: float) -> tuple[int, int]:
        elapsed = now - b.updated
        if elapsed <= 0:
            return b.min_msat, b.max_msat
        f = 0.5 ** (elapsed / self.params.liquidity_offset_half_life_s)
        cap = b.capacity_msat
        return int(b.min_msat * f), cap - int((cap - b.max_msat) * f)

    def success_probability(
        self, k: int, amount_msat: int, capacity_msat: int | None, now: float
    ) -> float:
        b = self.learned.get(k)
        if b is not None:
            lo, hi = self._decayed(b, now)
        else:
            lo, hi = 0, capacity_msat if capacity_msat is not None else UNKNOWN_CAPACITY_MSAT
        if amount_msat <= lo:
            return 1.0
        if amount_msat > hi:
            return 0.0
        return (hi + 1 - amount_msat) / (hi + 1 - lo)

    def penalty_msat(
        self, k: int, amount_msat: int, capacity_msat: int | None, now: float
    ) -> float:
        """The cost (msat) this scorer adds for sending `amount_msat` over direction `k`."""
        p = self.success_probability(k, amount_msat, capacity_msat, now)
        return self.penalty_for_probability(p, amount_msat)

    def penalty_for_probability(self, p: float, amount_msat: int) -> float:
        q = self.params
        base = q.base_penalty_msat + amount_msat * q.base_penalty_amount_multiplier_msat / 2**30
        if p <= 0.0:
            return base + q.considered_impossible_penalty_msat
        if p >= 1.0:
            return base
        nl = min(-math.log10(p), NEGATIVE_LOG10_UPPER_BOUND)
        return base + nl * (
            q.liquidity_penalty_multiplier_msat
            + amount_msat * q.liquidity_penalty_amount_multiplier_msat / 2**20
        )

    # --- learning -------------------------------------------------------------------------

    def _entry(self, hop: RouteHop, now: float) -> Bounds:
        k = key(hop.short_channel_id, hop.direction)
        cap = hop.capacity_msat if hop.capacity_msat is not None else UNKNOWN_CAPACITY_MSAT
        b = self.learned.get(k)
        if b is None:
            b = self.learned[k] = Bounds(0, cap, cap, now)
            return b
        b.min_msat, b.max_msat = self._decayed(b, now)
        b.updated = now
        return b

    def path_succeeded(self, hops: Sequence[RouteHop], now: float) -> None:
        """Every hop carried its amount: its source had at least that much."""
        for hop in hops:
            b = self._entry(hop, now)
            b.min_msat = max(b.min_msat, min(hop.amount_msat, b.capacity_msat))
            b.max_msat = max(b.max_msat, b.min_msat)

    def path_failed(self, hops: Sequence[RouteHop], failed_index: int, now: float) -> None:
        """`hops[failed_index]` could not carry its amount (e.g. `temporary_channel_failure`
        from the node before it): hops before it had their amounts; it lacked its own."""
        for hop in hops[:failed_index]:
            b = self._entry(hop, now)
            b.min_msat = max(b.min_msat, min(hop.amount_msat, b.capacity_msat))
            b.max_msat = max(b.max_msat, b.min_msat)
        if 0 <= failed_index < len(hops):
            hop = hops[failed_index]
            b = self._entry(hop, now)
            b.max_msat = min(b.max_msat, max(hop.amount_msat - 1, 0))
            b.min_msat = min(b.min_msat, b.max_msat)
