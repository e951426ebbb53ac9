"""Routes and what a route search takes: plain data shared by the pathfinder, the scorer
and (later) the sender that builds the onion (BOLT 4) from a `Route`."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from vajra.errors import VajraError


@dataclass(frozen=True, slots=True)
class RouteHop:
    """One channel of a route and the node it reaches.

    For hop i of a route from the payer: the HTLC on `short_channel_id` carries
    `amount_msat` to `node_id` and expires `cltv_expiry_delta` blocks after the current
    height. The onion payload for the node before hop i+1 is therefore
    `amt_to_forward = hops[i+1].amount_msat`, `outgoing_cltv_value = height +
    hops[i+1].cltv_expiry_delta`, `short_channel_id = hops[i+1].short_channel_id`; the last
    hop's payload carries `hops[-1].amount_msat` and `height + hops[-1].cltv_expiry_delta`.
    """

    node_id: bytes
    short_channel_id: int
    direction: int
    """BOLT 7 direction bit of the channel as used: 0 from the lesser node id."""
    amount_msat: int
    cltv_expiry_delta: int
    fee_msat: int
    """What `node_id` charges to forward (0 for the payee)."""
    capacity_msat: int | None
    """The channel's capacity when known (public channels), else None (hints, first hops)."""


@dataclass(frozen=True, slots=True)
class Route:
    hops: tuple[RouteHop, ...]

    @property
    def amount_msat(self) -> int:
        """What the payer sends: the delivered amount plus every fee."""
        return self.hops[0].amount_msat

    @property
    def fee_msat(self) -> int:
        return self.hops[0].amount_msat - self.hops[-1].amount_msat

    @property
    def total_cltv_expiry_delta(self) -> int:
        return self.hops[0].cltv_expiry_delta


@dataclass(frozen=True, slots=True)
class FirstHop:
    """A channel of the payer's own (private or public) with what it can send now. When
    given, the payer's channels in the graph are ignored (its own view is exact)."""

    short_channel_id: int
    node_id: bytes
    """The channel peer."""
    outbound_msat: int
    htlc_minimum_msat: int = 0


@dataclass(frozen=True, slots=True)
class RouteParams:
    max_total_cltv_expiry_delta: int = 2016
    """Blocks from now the payer's HTLC may expire at most (final delta included)."""
    max_fee_msat: int | None = None
    max_hops: int = 20
    """BOLT 4's 1,300-byte onion holds about 20 hops of tlv payloads."""


class NoRouteReason(StrEnum):
    SAME_NODE = "same_node"
    UNKNOWN_PAYEE = "unknown_payee"
    UNKNOWN_PAYER = "unknown_payer"
    NO_PATH = "no_path"
    BAD_AMOUNT = "bad_amount"
    UNAVAILABLE = "unavailable"
    """The runtime's route service did not answer (a worker's `RemoteRouter`)."""


class NoRoute(VajraError):
    """No route satisfies the constraints. `reason` is a stable code."""

    def __init__(self, reason: NoRouteReason, detail: str = "") -> None:
        self.reason = reason
        super().__init__(f"{reason.value}{': ' + detail if detail else ''}")
