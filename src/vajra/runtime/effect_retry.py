"""Chain effects that the supervisor could not take, kept and retried.

A node's `Watch`, `WakeAt` and `Broadcast` effects are carried out after its state is
written (`NodeHost`). If the supervisor does not answer in time or fails internally
(`ServiceError` `unavailable` / `internal`), the effect is not lost: a sleeping node
would otherwise never learn of a spend of its funding outpoint (no watch), miss an HTLC
deadline (no timer: BOLT 2 "fail the channel ... before the HTLC's cltv_expiry") or
never get its closing transaction out (no broadcast). Each such effect waits here and is
retried with exponential backoff (1 s doubling to 60 s) for as long as the worker runs;
every service it calls is idempotent (a watch or a broadcast twice is the same as once).

Timers are one per node at the supervisor (a later `WakeAt` replaces the earlier), so a
retried timer must never overwrite a newer one: only the newest failed `WakeAt` of a node
is kept, and a later successful one drops it. A refusal for cause (`bad_request`,
`unknown_node`, `no_chain`) is not retried: it would fail the same way.

Pure bookkeeping (time passed in); `NodeHost.retry_effects` does the I/O. Bounded: at
most `limit` effects wait (the oldest is dropped and counted beyond that).
"""

from __future__ import annotations

from dataclasses import dataclass

from vajra.node.effects import Broadcast, WakeAt, Watch

TRANSIENT = frozenset({"unavailable", "internal"})
"""`ServiceError` codes worth retrying."""

RetriableEffect = Watch | WakeAt | Broadcast


@dataclass(slots=True)
class _Pending:
    effect: RetriableEffect
    attempts: int
    due: float


def _key(node_id: bytes, effect: RetriableEffect) -> tuple[bytes, object]:
    if isinstance(effect, WakeAt):
        return node_id, "timer"  # one per node: the newest wins
    if isinstance(effect, Broadcast):
        return node_id, effect.raw_tx
    return node_id, (effect.purpose, effect.script_pubkey, effect.outpoint)


class EffectRetries:
    """Failed effects by (node, effect), each with its next attempt time (seconds)."""

    def __init__(self, limit: int = 100_000, base: float = 1.0, cap: float = 60.0) -> None:
        self.limit = limit
        self.base = base
        self.cap = cap
        self._pending: dict[tuple[bytes, object], _Pending] = {}
        self.dropped = 0
        """Effects dropped because `limit` were already waiting."""

    def __len__(self) -> int:
        return len(self._pending)

    def failed(
        self, node_id: bytes, effect: RetriableEffect, code: str, now: float, attempts: int = 0
    ) -> bool:
        """Record that `effect` failed with `code` at `now` after `attempts` earlier
        failures (what `take_due` handed out); True if it will be retried."""
        if code not in TRANSIENT:
            return False
        key = _key(node_id, effect)
        old = self._pending.pop(key, None)
        if old is not None and old.effect == effect:
            attempts = max(attempts, old.attempts)
        attempts += 1
        if len(self._pending) >= self.limit:
            self._pending.pop(next(iter(self._pending)))
            self.dropped += 1
        delay = min(self.cap, self.base * 2 ** (attempts - 1))
        self._pending[key] = _Pending(effect, attempts, now + delay)
        return True

    def succeeded(self, node_id: bytes, effect: RetriableEffect) -> None:
        """`effect` reached the supervisor: a waiting copy of it (or, for a timer, any
        older timer of the node) is no longer needed."""
        self._pending.pop(_key(node_id, effect), None)

    def take_due(self, now: float) -> list[tuple[bytes, RetriableEffect, int]]:
        """(node, effect, failures so far) of every effect whose next attempt is due,
        removed (`failed` with those failures puts one back)."""
        due = [(k, p) for k, p in self._pending.items() if p.due <= now]
        for k, _ in due:
            del self._pending[k]
        return [(k[0], p.effect, p.attempts) for k, p in due]

    def attempts(self, node_id: bytes, effect: RetriableEffect) -> int:
        p = self._pending.get(_key(node_id, effect))
        return p.attempts if p is not None else 0
