"""Fee estimation with an operator floor and ceiling.

The source's estimate (sat/kvB) is clamped to `[floor, ceiling]`; when the source has no
estimate -- btcd's `estimatefee` answers -1 or an error until it has watched enough
blocks with transactions, which on a fresh regtest chain is always -- the operator's
`fallback` is used, clamped the same way. The result says which it was, so a caller (or
an operator reading metrics) can tell a real estimate from a fallback.

BOLT 3 speaks `feerate_per_kw` (sat per 1000 weight units): `sat_per_kvb // 4`. The floor
default 1012 sat/kvB is BOLT 2's 253 sat/kw minimum relay (`feerate_per_kw >= 253`).
"""

from __future__ import annotations

from dataclasses import dataclass

from vajra.chain.types import ChainSource

MIN_RELAY_SAT_PER_KVB = 1012


@dataclass(frozen=True, slots=True)
class FeePolicy:
    """Operator bounds, all sat/kvB. `ValueError` unless floor <= fallback <= ceiling."""

    floor: int = MIN_RELAY_SAT_PER_KVB
    ceiling: int = 500_000
    fallback: int = 25_000

    def __post_init__(self) -> None:
        if not 0 < self.floor <= self.fallback <= self.ceiling:
            raise ValueError(
                f"fee policy needs 0 < floor <= fallback <= ceiling (sat/kvB), got "
                f"{self.floor}/{self.fallback}/{self.ceiling}"
            )


@dataclass(frozen=True, slots=True)
class FeeEstimate:
    sat_per_kvb: int
    source: str
    """`node` (the source's estimate) or `fallback` (the operator's)."""
    clamped: bool
    """True if the floor or the ceiling changed the value."""

    @property
    def feerate_per_kw(self) -> int:
        """BOLT 3 units: sat per 1000 weight units."""
        return self.sat_per_kvb // 4


def estimate_fee(source: ChainSource, target_blocks: int, policy: FeePolicy) -> FeeEstimate:
    """The fee rate to confirm within `target_blocks`, within the operator's bounds.

    Raises `ChainUnavailable` if the source is away (a fallback is for a source with no
    data, not for one that does not answer: the caller decides whether to wait).
    """
    raw = source.estimate_fee(target_blocks)
    origin = "node"
    if raw is None:
        raw, origin = policy.fallback, "fallback"
    value = min(policy.ceiling, max(policy.floor, raw))
    return FeeEstimate(value, origin, value != raw)
