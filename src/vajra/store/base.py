"""The store seams: a versioned key-value store with leases, and the node registry.

Theory of operation
-------------------
Every value lives under (node id, key) with a version: 1 on first write, +1 on every
write after. A write names the version it replaces (`expected_version`, 0 for "must not
exist") and fails with `StoreConflict` if the store holds another one, so of several
writers that read the same version exactly one wins and the others re-read (optimistic
concurrency; the anchor is LDK's VSS). The new version is always `expected_version + 1`,
so a caller that seals a value knows its version before writing it.

A delete is a write too: it leaves a tombstone with the next version. `get` and
`list_keys` do not show it, but the count goes on: re-creating the key names the
tombstone's version (returned by `delete`, reported in `StoreConflict.actual`), never 0.
So a (node, key, version) triple names one value forever, and an old blob can never
reappear as a version of a re-created key.

A lease says which runtime owns a node: (node id -> runtime id, epoch, expiry). The epoch
strictly increases with every new tenure (every successful `acquire_lease`), so it is a
fencing token: a write made with `lease_epoch=E` fails with `LeaseLost` unless E is the
node's current epoch and the lease is still held. A runtime that lost its node (expired
and taken over, or released) therefore cannot write it any more, even if it does not yet
know it lost it. Expiry only decides whether *another* runtime may take the lease; the
store never reads a clock: `now` is passed in, in seconds of one wall clock shared by
every runtime on the store. Runtime ids must be unique per process lifetime (a restarted
process takes a new id, or at least a new `acquire_lease`, which bumps the epoch).

The registry is a separate, compact table of hosted nodes (`NodeRow`), no secrets.

Implementations: `vajra.store.sqlite.SqliteStore` (embedded default) and, later, a
PostgreSQL one (see the module docstring of `sqlite.py` for what it must implement).
`vajra.store.sealed.SealedStore` wraps any `KVStore` with encryption and rollback
detection; callers depend on these protocols only.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from vajra.store.registry import NodeRow


@dataclass(frozen=True, slots=True)
class Lease:
    """A runtime's claim on a node, valid until `expiry` unless renewed."""

    node_id: bytes
    """The node the lease is on."""
    runtime_id: str
    """The runtime that holds it."""
    epoch: int
    """Fencing token: strictly increases with each new tenure of the node."""
    expiry: float
    """The `now` (seconds) from which another runtime may take the lease."""


class KVStore(Protocol):
    """Versioned key-value per (node id, key) with compare-and-swap, and leases."""

    def get(self, node_id: bytes, key: str) -> tuple[int, bytes] | None:
        """The current (version, blob), or None if the key does not exist."""
        ...

    def put(
        self,
        node_id: bytes,
        key: str,
        blob: bytes,
        expected_version: int,
        *,
        lease_epoch: int | None = None,
    ) -> int:
        """Replace version `expected_version` (0: never written, or a deleted key's
        tombstone version); return the new version, `expected_version + 1`.

        Raises `StoreConflict` if the stored version differs, `LeaseLost` if `lease_epoch`
        is given and is not the node's current held epoch.
        """
        ...

    def delete(
        self,
        node_id: bytes,
        key: str,
        expected_version: int,
        *,
        lease_epoch: int | None = None,
    ) -> int:
        """Delete version `expected_version`; return the tombstone's version (+1).

        Same failures as `put`; deleting a key that does not exist is a `StoreConflict`.
        """
        ...

    def list_keys(self, node_id: bytes) -> list[str]:
        """The node's existing keys, sorted."""
        ...

    def acquire_lease(self, node_id: bytes, runtime_id: str, now: float, ttl: float) -> Lease:
        """Start a new tenure (epoch + 1) unless another runtime holds an unexpired lease.

        Raises `LeaseHeld` naming the holder. Re-acquiring one's own lease also starts a
        new tenure (use `renew_lease` to extend one).
        """
        ...

    def renew_lease(self, lease: Lease, now: float, ttl: float) -> Lease:
        """Extend `lease` to `now + ttl`, same epoch; `LeaseLost` if it is not current."""
        ...

    def raise_lease_epoch(self, lease: Lease, epoch: int) -> Lease:
        """Move the current `lease` to the larger `epoch` (a new tenure for the same
        holder, fencing out anything older); `LeaseLost` if `lease` is not current or
        `epoch` is not above it. For a runtime whose signer has seen a newer epoch."""
        ...

    def release_lease(self, lease: Lease) -> None:
        """Give the node up (fenced writes with its epoch fail from now on).

        `LeaseLost` if `lease` is not current.
        """
        ...

    def get_lease(self, node_id: bytes) -> Lease | None:
        """The node's current lease (possibly expired), or None if released or never held."""
        ...


class NodeRegistry(Protocol):
    """The compact table of hosted nodes."""

    def register_nodes(self, rows: Iterable[NodeRow]) -> int:
        """Insert rows in one transaction; return how many. `NodeExists` (and nothing
        inserted) if any node id is already registered or repeated."""
        ...

    def set_node_flags(self, node_id: bytes, flags: int) -> None:
        """Replace a registered node's state flags (`KeyError` if not registered)."""
        ...

    def get_node(self, node_id: bytes) -> NodeRow | None:
        """The node's row, or None if not registered."""
        ...

    def iter_nodes(self, after: bytes | None = None) -> Iterator[NodeRow]:
        """Every row in node id order, strictly after `after` if given; read in pages, so
        no transaction stays open while the caller iterates."""
        ...

    def count(self) -> int:
        """How many nodes are registered."""
        ...


class Store(KVStore, NodeRegistry, Protocol):
    """What a runtime opens: the KV store, the leases and the registry on one backend."""

    def close(self) -> None:
        """Release the backend's connections."""
        ...
