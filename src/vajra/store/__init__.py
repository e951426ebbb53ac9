"""Versioned key-value store with compare-and-swap, leases, sealed values, node registry.

Callers depend on the protocols in `base` (`KVStore`, `NodeRegistry`, `Store`); the
runtime opens a backend (`sqlite.SqliteStore`) in one place and wraps it in
`sealed.SealedStore` for node state.
"""

from vajra.store.base import KVStore, Lease, NodeRegistry, Store
from vajra.store.errors import (
    IntegrityError,
    LeaseHeld,
    LeaseLost,
    NodeExists,
    NodeLocked,
    RollbackDetected,
    StoreConflict,
    StoreCorrupt,
    StoreError,
    StoreUnavailable,
)
from vajra.store.registry import NodeRow
from vajra.store.sealed import SealedStore, Seen
from vajra.store.sqlite import SqliteStore

__all__ = [
    "IntegrityError",
    "KVStore",
    "Lease",
    "LeaseHeld",
    "LeaseLost",
    "NodeExists",
    "NodeLocked",
    "NodeRegistry",
    "NodeRow",
    "RollbackDetected",
    "SealedStore",
    "Seen",
    "SqliteStore",
    "Store",
    "StoreConflict",
    "StoreCorrupt",
    "StoreError",
    "StoreUnavailable",
]
