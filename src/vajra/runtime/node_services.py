"""What a worker's `NodeHost` asks of the runtime for an awake node, beyond its store and
its signer: the one chain watcher and the one timer table (both in the supervisor,
decision 0021), and the node's undelivered chain events.

`NodeHost` carries out a node's `Watch` and `WakeAt` effects through `NodeServices`
after the state the input produced is written, and hands the node its pending chain
events (wallet events wait for the node's next wake of any kind). In a worker the
implementation is `runtime/control.py`'s `ControlClient` (requests over the worker's
control channel to the supervisor; events read from the store file's `chain_events`).
"""

from __future__ import annotations

from typing import Protocol

from vajra.chain.types import BlockRef, ChainEvent
from vajra.errors import VajraError
from vajra.node.effects import WakeAt, Watch


class ServiceError(VajraError):
    """The runtime refused or could not carry out a node's request.

    `code` names it: `no_chain` (the runtime runs without a chain watcher), `bad_request`
    (malformed: e.g. a `Watch` with both or neither of script and outpoint), `unknown_node`
    (no node at that index), `unavailable` (the supervisor did not answer in time),
    `internal` (a bug in the supervisor; logged there)."""

    def __init__(self, code: str, detail: str = "") -> None:
        self.code = code
        self.detail = detail
        super().__init__(f"{code}: {detail}" if detail else code)


class NodeServices(Protocol):
    """The runtime's shared services as one awake node uses them (async; may raise
    `ServiceError`)."""

    async def watch(self, node_id: bytes, watch: Watch) -> None:
        """Register the script or outpoint with the one chain watcher under the node's
        fabric index (takes effect from the next block scanned)."""
        ...

    async def set_timer(self, node_id: bytes, at: WakeAt) -> None:
        """Replace the node's deadline in the timer table (both fields None: cancel it)."""
        ...

    async def broadcast(self, node_id: bytes, raw_tx: bytes) -> None:
        """Hand a fully signed transaction of the node's (a cooperative close) to the
        runtime's one broadcaster, which resends it until it confirms. `ServiceError`
        `rejected` if it is not a transaction (a refusal by the chain source is recorded
        and retried by the broadcaster, not an error here)."""
        ...

    async def store_justice(
        self, node_id: bytes, channel_index: int, hint: bytes, funding: bytes, blob: bytes
    ) -> None:
        """Keep a sealed penalty kit of the node's channel (funded by the outpoint
        `funding`, 36-byte wire form) in the watcher's justice store
        (`vajra.chain.justice`; decision 0026). `ServiceError` `bad_request` if it does
        not fit a control packet (a state with dozens of HTLCs)."""

    async def ensure_wallet(self, node_id: bytes) -> None:
        """Make sure the node's wallet record exists (the supervisor's wallet service
        creates it on first use: account xpub from the signer, addresses watched), e.g.
        before the node's `shutdown` names its close script. `ServiceError` `no_chain` /
        `unavailable` if it cannot."""
        ...

    async def pending_events(self, node_id: bytes) -> tuple[BlockRef | None, list[ChainEvent]]:
        """The watcher's tip and the node's unacknowledged chain events, in `seq` order."""
        ...

    async def ack_events(self, node_id: bytes, upto_seq: int) -> None:
        """The node's state after handling its events up to `upto_seq` is written: the
        watcher may drop them."""
        ...
