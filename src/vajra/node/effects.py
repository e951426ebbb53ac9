"""What an awake node asks of its runtime besides answering the peer in front of it, and
why the runtime woke it when no peer message did (plain data, sans-IO).

A `Node` collects `Effect`s while it handles an input; the runtime's `NodeHost` drains
them after each input (`Node.take_effects()`) and carries them out:

- `SendTo`: a message to a peer by node id, over whatever session the runtime holds to
  it (dropped if none: BOLT 2 retransmission on `channel_reestablish` covers it);
- `Watch`: register a script or outpoint with the one chain watcher, keyed by the node's
  index (`Purpose.FUNDING` and `Purpose.SWEEP` hits wake the node), or with `drop` set
  take it away (a closed channel's funding output);
- `FundChannel` / `BroadcastFunding` (`vajra.node.funding`): as funder, the node asks
  its wallet for the funding transaction, then for its signature and broadcast;
- `Broadcast`: a fully signed transaction of the node's (a cooperative close) to the
  runtime's one broadcaster, which resends it until it confirms;
- `WakeAt`: keep (node, height / unix time) in the runtime's one timer table; the node is
  woken with `Wake(reason="timer")` when the tip reaches the height or the clock the time.
  Each `WakeAt` replaces the node's previous one (a node asks for its earliest deadline).

A wake that is not a peer message arrives as `Node.on_wake(Wake, now)`.
"""

from __future__ import annotations

from dataclasses import dataclass

from vajra.bitcoin.tx import OutPoint
from vajra.chain.types import BlockRef, ChainEvent, Purpose
from vajra.node.funding import BroadcastFunding, FundChannel
from vajra.wire import Message


@dataclass(frozen=True, slots=True)
class SendTo:
    peer: bytes
    """33-byte node id of the peer."""
    message: Message


@dataclass(frozen=True, slots=True)
class Watch:
    """Exactly one of `script_pubkey` / `outpoint` is set. `drop`: stop watching it (a
    closed channel's funding output, decision 0029)."""

    purpose: Purpose
    script_pubkey: bytes | None = None
    outpoint: OutPoint | None = None
    drop: bool = False


@dataclass(frozen=True, slots=True)
class WakeAt:
    """Wake the node at chain height `height` or unix time `unix_time` (whichever comes
    first; None = not by that clock). Both None cancels the node's timer."""

    height: int | None = None
    unix_time: int | None = None


@dataclass(frozen=True, slots=True)
class Broadcast:
    """Broadcast `raw_tx` (serialized with witnesses) through the runtime's broadcaster
    (BOLT 2 closing: once both `closing_signed` agree, "MUST broadcast")."""

    raw_tx: bytes


Effect = SendTo | Watch | WakeAt | FundChannel | BroadcastFunding | Broadcast


@dataclass(frozen=True, slots=True)
class Wake:
    """Why the runtime woke the node without a peer message."""

    reason: str
    """"chain" (events for the node) or "timer" (its `WakeAt` came due)."""
    tip: BlockRef | None
    """The chain tip when the wake was issued (None: the runtime has no chain)."""
    events: tuple[ChainEvent, ...] = ()
    """Undelivered chain events of the node, in `seq` order; acknowledged by the runtime
    once the node's state after handling them is written."""
