"""Typed errors of the store: each carries what a caller needs to decide what to do next."""

from __future__ import annotations

from vajra.errors import VajraError


class StoreError(VajraError):
    """Base of every error the store raises on purpose."""


class StoreConflict(StoreError):
    """A compare-and-swap lost: the caller named `expected`, the store holds `actual`.

    `actual` is 0 if the key was never written; if the key was deleted it is the
    tombstone's version and `deleted` is true (re-create it by naming that version). The
    caller re-reads, re-applies its change on top of `actual` and tries again, or gives up.
    """

    def __init__(
        self, node_id: bytes, key: str, expected: int, actual: int, *, deleted: bool = False
    ) -> None:
        self.node_id = node_id
        self.key = key
        self.expected = expected
        self.actual = actual
        self.deleted = deleted
        super().__init__(
            f"version conflict on node={node_id.hex()} key={key!r}: "
            f"expected={expected} actual={actual}{' (deleted)' if deleted else ''}"
        )


class LeaseHeld(StoreError):
    """Another runtime holds an unexpired lease on the node."""

    def __init__(self, node_id: bytes, holder: str, epoch: int, expiry: float) -> None:
        self.node_id = node_id
        self.holder = holder
        self.epoch = epoch
        self.expiry = expiry
        super().__init__(
            f"lease on node={node_id.hex()} held by runtime={holder!r} epoch={epoch} until={expiry}"
        )


class LeaseLost(StoreError):
    """The caller's lease `epoch` is no longer the node's current one (fenced out).

    Raised by a fenced write, a renewal or a release from a runtime whose lease was taken
    over or released. `current` is the node's current epoch, or None if no runtime holds
    the node now. A runtime that sees this must drop the node's awake state: another
    runtime may already be writing it.
    """

    def __init__(self, node_id: bytes, epoch: int, current: int | None) -> None:
        self.node_id = node_id
        self.epoch = epoch
        self.current = current
        super().__init__(f"lease lost on node={node_id.hex()}: epoch={epoch} current={current}")


class NodeExists(StoreError):
    """`register_nodes` was given a node id the registry already holds."""

    def __init__(self, node_id: bytes) -> None:
        self.node_id = node_id
        super().__init__(f"node already registered: {node_id.hex()}")


class StoreCorrupt(StoreError):
    """The backing database is damaged or has a schema this code does not know."""


class StoreUnavailable(StoreError):
    """The backend could not be reached or stayed locked past its busy timeout; retryable."""


class IntegrityError(StoreError):
    """A sealed value failed authentication: tampered, moved to another node/key/version,
    or encrypted under another key. Never retried: the blob is not what was written."""

    def __init__(self, node_id: bytes, key: str, version: int, reason: str) -> None:
        self.node_id = node_id
        self.key = key
        self.version = version
        self.reason = reason
        super().__init__(
            f"integrity failure on node={node_id.hex()} key={key!r} version={version}: {reason}"
        )


class RollbackDetected(IntegrityError):
    """The backend served an older version (`served`; 0 = missing) than one already seen."""

    def __init__(self, node_id: bytes, key: str, seen: int, served: int) -> None:
        self.seen = seen
        self.served = served
        super().__init__(node_id, key, served, f"rollback: seen version {seen}, served {served}")


class NodeLocked(StoreError):
    """A sealed read or write for a node whose state key has not been unlocked."""

    def __init__(self, node_id: bytes) -> None:
        self.node_id = node_id
        super().__init__(f"state key not unlocked for node={node_id.hex()}")
