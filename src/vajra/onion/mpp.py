"""BOLT 4 "Basic Multi-Part Payments", the final node's side: collect an HTLC set.

Theory of operation (sans-IO, `now` in seconds passed in). Each accepted HTLC
(`final_hop.Accept`) is added under the caller's key for it (e.g. `(channel_id, htlc_id)`)
to the set of its `payment_hash`:

| event | condition | result |
|---|---|---|
| add | key already in the set | `Pending` (a replay after restart changes nothing) |
| add | `total_msat` differs from the set's | `Failed`: every part, `incorrect_or_unknown_payment_details` ("SHOULD fail the entire HTLC set if `total_msat` is not the same for all") |
| add | sum of `amount_msat` >= `total_msat` | `Complete`: fulfil every part ("SHOULD fulfill all HTLCs in the HTLC set"); the set is forgotten |
| add | otherwise | `Pending` ("MUST NOT fulfill any HTLCs in the HTLC set") |
| expire | `now >= first part's arrival + timeout_s` | `Failed`: every part, `mpp_timeout` ("MUST fail all HTLCs in the HTLC set after some reasonable timeout ... at least 60 seconds ... SHOULD use `mpp_timeout`") |

A single-part payment completes on its first add. The number of parts is bounded by the
channels' `max_accepted_htlcs`, not here. `next_deadline` tells the node when to wake
(a `WakeAt` effect) to run `expire`.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field

from vajra.onion.failures import (
    MPP_TIMEOUT,
    FailureMessage,
    incorrect_or_unknown_payment_details,
    simple,
)
from vajra.onion.final_hop import Accept

DEFAULT_TIMEOUT_S = 90.0  # BOLT 4: "SHOULD wait for at least 60 seconds"; LND waits 120


@dataclass(frozen=True, slots=True)
class Pending:
    payment_hash: bytes
    received_msat: int
    total_msat: int


@dataclass(frozen=True, slots=True)
class Complete:
    """Fulfil every part (same preimage). `received_msat` may exceed `total_msat`."""

    payment_hash: bytes
    parts: tuple[tuple[Hashable, Accept], ...]
    received_msat: int


@dataclass(frozen=True, slots=True)
class Failed:
    """Fail every part with its own failure message (`Fail.packet` with the part's secret)."""

    payment_hash: bytes
    parts: tuple[tuple[Hashable, Accept, FailureMessage], ...]
    reason: str


@dataclass(slots=True)
class _Set:
    total_msat: int
    first_seen: float
    parts: dict[Hashable, Accept] = field(default_factory=dict)

    @property
    def received_msat(self) -> int:
        return sum(a.amount_msat for a in self.parts.values())


class MppCollector:
    """HTLC sets of one node, keyed by `payment_hash`."""

    __slots__ = ("_sets", "timeout_s")

    def __init__(self, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.timeout_s = timeout_s
        self._sets: dict[bytes, _Set] = {}

    def __len__(self) -> int:
        return len(self._sets)

    def add(
        self, key: Hashable, part: Accept, *, now: float, height: int
    ) -> Pending | Complete | Failed:
        """Add an accepted HTLC; `height` is the best block height (for a failure)."""
        s = self._sets.get(part.payment_hash)
        if s is None:
            s = self._sets[part.payment_hash] = _Set(part.total_msat, now)
        elif key in s.parts:
            return Pending(part.payment_hash, s.received_msat, s.total_msat)
        elif part.total_msat != s.total_msat:
            del self._sets[part.payment_hash]
            everyone = [*s.parts.items(), (key, part)]
            failed = tuple(
                (k, a, incorrect_or_unknown_payment_details(a.amount_msat, height))
                for k, a in everyone
            )
            return Failed(part.payment_hash, failed, "total_msat_mismatch")
        s.parts[key] = part
        received = s.received_msat
        if received >= s.total_msat:
            del self._sets[part.payment_hash]
            return Complete(part.payment_hash, tuple(s.parts.items()), received)
        return Pending(part.payment_hash, received, s.total_msat)

    def expire(self, now: float) -> list[Failed]:
        """Fail every set whose first part arrived `timeout_s` or more before `now`."""
        out: list[Failed] = []
        for payment_hash, s in list(self._sets.items()):
            if now >= s.first_seen + self.timeout_s:
                del self._sets[payment_hash]
                timeout = simple(MPP_TIMEOUT)
                parts = tuple((k, a, timeout) for k, a in s.parts.items())
                out.append(Failed(payment_hash, parts, "mpp_timeout"))
        return out

    def next_deadline(self) -> float | None:
        """When `expire` next has work, or None with no set pending."""
        if not self._sets:
            return None
        return min(s.first_seen for s in self._sets.values()) + self.timeout_s
