"""Per-connection configuration and limits of the BOLT 1 session."""

from __future__ import annotations

from dataclasses import dataclass, field

from vajra.bitcoin.chains import CHAIN_HASHES
from vajra.wire import features as feat


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """What one connection needs to know about us. Shared by every connection of a node."""

    chain_hash: bytes = CHAIN_HASHES["regtest"]
    """Our chain; sent in `init` `networks` and required among the peer's, if it sends any."""
    features: bytes = field(default_factory=feat.init_features)
    """Our `init` features (BOLT 9 context I); `globalfeatures` is always empty."""
    remote_addr: bytes | None = None
    """BOLT 1: the receiver "SHOULD set `remote_addr`" to the peer's address descriptor."""
    handshake_timeout: float = 10.0
    """Seconds from connect until both `init`s are exchanged (half-open handshakes die)."""
    pong_timeout: float = 30.0
    """Seconds we wait for a pong before closing (BOLT 1: "MAY close the connection")."""
    ping_burst: int = 64
    """Pings a peer may send back to back before the rate limit applies."""
    pings_per_second: float = 32.0
    """Sustained ping rate allowed per connection; above it the connection is closed."""


class PingLimiter:
    """Token bucket for incoming pings (BOLT 1 rationale: "Limited precautions are
    recommended against `ping` flooding, however some latitude is given")."""

    __slots__ = ("_burst", "_last", "_rate", "_tokens")

    def __init__(self, config: SessionConfig, now: float) -> None:
        self._burst = float(config.ping_burst)
        self._rate = config.pings_per_second
        self._tokens = self._burst
        self._last = now

    def allow(self, now: float) -> bool:
        # A clock that goes backwards refills nothing.
        if now > self._last:
            self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
            self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False
