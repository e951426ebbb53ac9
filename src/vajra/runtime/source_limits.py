"""Per-source admission for the signer port, sans-IO (issue 13 item 4).

The signer port faces the internet, and each connection costs the hub one ECDH before it
knows anything about the dialler. Three bounds, checked before a byte is read:

- handshakes in progress from one source address (`per_source`): a slow-loris from one
  host cannot hold the port;
- new connections per second from one source (a token bucket: `rate` per second, up to
  `burst` at once): a reconnect storm from one host is spread out;
- handshakes in progress overall (`total`).

A refused connection is closed at once. Established links (a paired signer's) do not
count: many signers behind one NAT share an address but each holds one link, and they
reconnect with backoff. `now` is passed in (seconds, monotonic).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class _Source:
    tokens: float
    stamp: float
    in_progress: int = 0


class SourceLimits:
    def __init__(
        self, per_source: int = 8, rate: float = 10.0, burst: int = 40, total: int = 512
    ) -> None:
        self.per_source = per_source
        self.rate = rate
        self.burst = burst
        self.total = total
        self.in_progress = 0
        self.refused = 0
        self._sources: dict[str, _Source] = {}

    def admit(self, source: str, now: float) -> bool:
        """Start a handshake from `source` if every bound allows it (then `done` must
        follow); False: close the connection."""
        s = self._sources.get(source)
        if s is None:
            if len(self._sources) >= 4 * self.total:
                self._prune(now)
            s = self._sources[source] = _Source(float(self.burst), now)
        s.tokens = min(float(self.burst), s.tokens + (now - s.stamp) * self.rate)
        s.stamp = now
        if s.tokens < 1 or s.in_progress >= self.per_source or self.in_progress >= self.total:
            self.refused += 1
            return False
        s.tokens -= 1
        s.in_progress += 1
        self.in_progress += 1
        return True

    def done(self, source: str) -> None:
        """The handshake admitted for `source` ended (became a link, or failed)."""
        s = self._sources.get(source)
        if s is not None and s.in_progress > 0:
            s.in_progress -= 1
            self.in_progress -= 1

    def _prune(self, now: float) -> None:
        """Forget idle sources whose bucket is full again (they would start afresh)."""
        full = self.burst / self.rate if self.rate > 0 else 0.0
        for k in [
            k for k, s in self._sources.items() if not s.in_progress and now - s.stamp >= full
        ]:
            del self._sources[k]
