"""The chain layer's types and seams: what a chain source provides and what the watcher offers.

Two protocols live here, so callers code against them and never against a backend:

- `ChainSource`: one full node or index server (btcd JSON-RPC today; bitcoind and Esplora
  slot in behind the same calls, see docs/decisions/0010-chain-sources.md). Blocking calls
  with timeouts; failures are the typed errors below, never a bare exception.
- `WatcherApi`: the ONE shared chain watcher of a runtime, as the wallet and (later) the
  channels see it: register what a node cares about (scripts, outpoints) with a purpose,
  read the node's UTXOs and balance from the watcher's durable state, and take the node's
  chain events (durable, in order, acknowledged by sequence number).

Units: amounts are satoshis (`_sat`), fee rates sat per 1000 virtual bytes (`sat_per_kvb`;
BOLT 3's `feerate_per_kw` is `sat_per_kvb // 4`). Hashes (txid, block hash) are 32 bytes in
internal byte order (as serialized on the wire); `.hex()` of them is *reversed* against
what RPC and explorers print: use `display_hex`/`from_display_hex`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol

# The one outpoint type of the project, re-exported for callers of the chain layer.
from vajra.bitcoin.tx import OutPoint as OutPoint
from vajra.errors import VajraError

# -- errors -------------------------------------------------------------------------------


class ChainError(VajraError):
    """Base of every error the chain layer raises on purpose."""


class ChainUnavailable(ChainError):
    """The chain source cannot be reached, or went away mid-call (retry with backoff)."""


class ChainTimeout(ChainUnavailable):
    """The chain source did not answer within the call's timeout (retry with backoff)."""


class ChainRpcError(ChainError):
    """The source answered with an error. `code` is its own (JSON-RPC) code, `message` its text."""

    def __init__(self, method: str, code: int, message: str) -> None:
        self.method = method
        self.code = code
        self.message = message
        super().__init__(f"{method}: {message} (code {code})")


class ChainDataError(ChainError):
    """The source sent data that does not parse or does not fit (bad block, bad hex, wrong hash)."""


class TxRejected(ChainError):
    """The source refused a transaction; `reason` is the node's own words."""

    def __init__(self, txid: bytes, reason: str, code: int | None = None) -> None:
        self.txid = txid
        self.reason = reason
        self.code = code
        super().__init__(f"transaction {display_hex(txid)} rejected: {reason}")


# -- hashes -------------------------------------------------------------------------------


def display_hex(h: bytes) -> str:
    """A txid or block hash as RPC and explorers print it (byte-reversed hex)."""
    return h[::-1].hex()


def from_display_hex(s: str) -> bytes:
    """The internal (wire) bytes of a txid or block hash printed as `display_hex` does.

    Raises `ChainDataError` unless `s` is 64 hex digits.
    """
    try:
        b = bytes.fromhex(s)
    except (ValueError, TypeError) as e:
        raise ChainDataError(f"not a hash: {s!r}") from e
    if len(b) != 32:
        raise ChainDataError(f"not a 32-byte hash: {s!r}")
    return b[::-1]


# -- values -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BlockRef:
    """A block by height and hash (32 bytes, internal order)."""

    height: int
    block_hash: bytes


class Purpose(IntEnum):
    """Why a node watches a script or outpoint; decides whether a hit wakes it."""

    RECEIVE = 1
    """A wallet receive address (BIP 84 external chain): a payment is news, not work."""
    CHANGE = 2
    """A wallet change address (BIP 84 internal chain)."""
    FUNDING = 3
    """A channel funding outpoint: its spend is a close the channel must act on."""
    SWEEP = 4
    """An output the node must sweep (to_local, HTLC outputs): its spend needs action."""


class EventKind(IntEnum):
    """What a chain event says."""

    RECEIVED = 1
    """An output paying a watched script appeared (`height` 0: in the mempool)."""
    SPENT = 2
    """A watched outpoint, or an output the watcher credited to the node, was spent."""
    UNDONE = 3
    """A block was disconnected (reorg): the event `undoes_seq` no longer holds."""


WAKE_PURPOSES: frozenset[Purpose] = frozenset({Purpose.FUNDING, Purpose.SWEEP})
"""Purposes whose events need the node's action: they wake it. Wallet events (RECEIVE,
CHANGE) are delivered at the node's next wake: a sleeping node's balance is read from the
watcher's state, not from the node."""


@dataclass(frozen=True, slots=True)
class ChainEvent:
    """One durable, per-node chain event.

    `seq` orders all events of the runtime (strictly increasing, never reused); a node
    acknowledges up to a `seq`. For RECEIVED, `outpoint` is the new output and `txid` its
    transaction; for SPENT, `outpoint` is the spent output and `txid` the spender; for
    UNDONE, the fields repeat the undone event's and `undoes_seq` names it. `height` 0 is
    the mempool. `wake` says whether the event was (or will be) delivered by waking the node.
    """

    seq: int
    node_index: int
    kind: EventKind
    purpose: Purpose
    outpoint: OutPoint
    txid: bytes
    value_sat: int
    script_pubkey: bytes
    height: int
    block_hash: bytes | None
    wake: bool
    undoes_seq: int | None = None


@dataclass(frozen=True, slots=True)
class Utxo:
    """An unspent output the watcher credits to a node. `height` 0: unconfirmed."""

    outpoint: OutPoint
    value_sat: int
    script_pubkey: bytes
    purpose: Purpose
    height: int

    def confirmations(self, tip_height: int) -> int:
        """0 if unconfirmed, else `tip_height - height + 1`."""
        return 0 if self.height == 0 else max(0, tip_height - self.height + 1)


@dataclass(frozen=True, slots=True)
class Balance:
    """A node's on-chain balance in satoshis.

    `confirmed_sat`: unspent outputs confirmed in a block; `unconfirmed_sat`: unspent outputs
    still in the mempool. An output spent by any transaction the watcher has seen (block or
    mempool) counts in neither.
    """

    confirmed_sat: int
    unconfirmed_sat: int


# -- protocols ----------------------------------------------------------------------------


class ChainSource(Protocol):
    """A full node or index server the watcher follows. Blocking; each call has a timeout.

    Every method raises `ChainUnavailable` (or `ChainTimeout`) when the source is away and
    `ChainDataError` when its answer does not parse; the caller retries with backoff.
    """

    name: str
    """Short label for logs and metrics, e.g. `btcd`."""

    def tip(self) -> BlockRef:
        """The source's best block."""
        ...

    def block_hash(self, height: int) -> bytes | None:
        """The hash of the best chain's block at `height`, or None above the tip."""
        ...

    def block(self, block_hash: bytes) -> bytes:
        """The serialized block (with witnesses). `ChainDataError` if unknown."""
        ...

    def block_hashes(self, heights: list[int]) -> list[bytes | None]:
        """`block_hash` of each height, in one round trip where the source can batch."""
        ...

    def blocks(self, block_hashes: list[bytes]) -> list[bytes]:
        """`block` of each hash, in one round trip where the source can batch."""
        ...

    def mempool_txids(self) -> list[bytes]:
        """The txids (internal order) in the source's mempool."""
        ...

    def raw_transaction(self, txid: bytes) -> bytes | None:
        """A mempool transaction's serialization, or None if the source does not have it."""
        ...

    def raw_transactions(self, txids: list[bytes]) -> list[bytes | None]:
        """`raw_transaction` of each txid, in one round trip where the source can batch."""
        ...

    def broadcast(self, raw_tx: bytes) -> None:
        """Submit a transaction. `TxRejected` with the node's reason if refused; a
        transaction the source already has (mempool or chain) is not a rejection."""
        ...

    def estimate_fee(self, target_blocks: int) -> int | None:
        """sat/kvB to confirm within `target_blocks`, or None when the source has no estimate."""
        ...


class WatcherApi(Protocol):
    """The shared chain watcher as a hosted node's wallet and channels use it.

    Registration takes effect from the next block the watcher scans (there is no rescan:
    register addresses before handing them out). Reads come from the watcher's durable
    state, so they answer for a sleeping node without waking it.

    Threads: reads (`utxos`, `balance`, `events`, `tip`) use their own store connection and
    never wait for the follower. Registration and `ack_events` take the watcher's write
    lock, which the follower holds for a run of blocks (bounded by the source's timeout):
    from asyncio code call them through `asyncio.to_thread`.
    """

    def watch_scripts(self, node_index: int, scripts: Iterable[bytes], purpose: Purpose) -> int:
        """Watch output scripts (scriptPubKey bytes) for `node_index`; return how many
        were new (re-registering is a no-op). Outputs paying them are credited to the node
        as UTXOs and their spends are watched automatically."""
        ...

    def watch_outpoints(
        self, node_index: int, outpoints: Iterable[OutPoint], purpose: Purpose
    ) -> int:
        """Watch outpoints for their spend (e.g. a funding output); return how many were new."""
        ...

    def utxos(self, node_index: int) -> list[Utxo]:
        """The node's unspent outputs (confirmed and mempool), by (height, txid, vout)."""
        ...

    def balance(self, node_index: int) -> Balance:
        """The node's balance, from its UTXOs."""
        ...

    def tip(self) -> BlockRef | None:
        """The last block the watcher scanned (its persisted cursor), None before the first."""
        ...

    def events(self, node_index: int, after_seq: int = 0, limit: int = 1000) -> list[ChainEvent]:
        """The node's events with `seq > after_seq`, oldest first (durable until acknowledged)."""
        ...

    def ack_events(self, node_index: int, upto_seq: int) -> int:
        """The node has processed its events up to `upto_seq`: drop them; return how many."""
        ...

    def on_wake(self, callback: Callable[[int, ChainEvent], None]) -> None:
        """Call `callback(node_index, event)` for each new event with `wake` set, after it
        is stored (at-least-once: a wake lost to a crash is found again via `events`)."""
        ...
