"""The chain layer: chain sources (btcd JSON-RPC), fee estimation, the broadcaster and the
one shared chain watcher of a runtime. Callers depend on the protocols in `types`."""

from vajra.chain.types import (
    WAKE_PURPOSES,
    Balance,
    BlockRef,
    ChainDataError,
    ChainError,
    ChainEvent,
    ChainRpcError,
    ChainSource,
    ChainTimeout,
    ChainUnavailable,
    EventKind,
    OutPoint,
    Purpose,
    TxRejected,
    Utxo,
    WatcherApi,
    display_hex,
    from_display_hex,
)

__all__ = [
    "WAKE_PURPOSES",
    "Balance",
    "BlockRef",
    "ChainDataError",
    "ChainError",
    "ChainEvent",
    "ChainRpcError",
    "ChainSource",
    "ChainTimeout",
    "ChainUnavailable",
    "EventKind",
    "OutPoint",
    "Purpose",
    "TxRejected",
    "Utxo",
    "WatcherApi",
    "display_hex",
    "from_display_hex",
]
