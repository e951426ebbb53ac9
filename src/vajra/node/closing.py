"""The node's side of a cooperative close, either side starting it, and following the
closing transaction on chain (sans-IO; BOLT 2 "Closing Initiation: shutdown", decision
0016 for the negotiation the channel core runs, decision 0029 for the node's part).

Theory of operation
-------------------
    peer's shutdown, none of ours   the channel owes ours (`wants_close_script`): the node
                                    asks the runtime `CloseScript` (the wallet's change
                                    script at `CLOSE_CHANGE_INDEX`) and answers with `Close`
    operator's close (`vajra node   `check_close_out` (typed `CloseRefused`, nothing
      ID close`)                    changed); the runtime gives the script up front (no
                                    wallet: refused `no_wallet`), `Close` at once: our
                                    `shutdown` goes out when BOLT 2 allows
    either way                      Watch(CHANGE, script): the watcher credits our share
                                    to the wallet once the closing tx confirms
    MutualCloseReady                Broadcast(tx); `closing_txid` = its txid; phase closing
    funding outpoint SPENT (block)  `closing_txid`/`closing_height` = the spender's; phase
                                    closed; the funding script and outpoint unwatched
                                    (`Watch(drop=True)`)
    funding outpoint SPENT (mempool) `closing_txid` = the spender's (still closing)
    UNDONE of the confirmed spend   a reorg took it: closing again, watched again (the
                                    broadcaster resends the closing tx until it confirms)

Both scripts the node closes to pay the node wallet (inside the signer's allow-list,
decision 0017), so `SignMutualClose` is not refused for them.

Feerate: our first offer is the channel's current commitment feerate (what both sides
last agreed on for this chain), at least the 253 sat/kw relay floor; the top of our
`fee_range` is twice that. Only the funder pays the closing fee: as fundee our range is
the core's (relay floor up to the funder's balance), so these numbers matter only when
we funded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vajra.chain.types import ChainEvent, EventKind, Purpose
from vajra.channel import signer_io as io
from vajra.channel.close import MIN_FEERATE_PER_KW
from vajra.channel.machine import Channel
from vajra.channel.machine import State as ChannelState
from vajra.errors import VajraError
from vajra.node.effects import Effect, Watch

if TYPE_CHECKING:
    from vajra.node.channels import ChannelEntry

CLOSE_REFUSALS = (
    "unknown_channel",
    "channel_not_ready",
    "channel_failed",
    "already_closing",
)


class CloseRefused(VajraError):
    """The operator's close cannot start; `code` is one of `CLOSE_REFUSALS` (or, from the
    runtime, `no_wallet` / `peer_offline`). Nothing changed."""

    def __init__(self, code: str, detail: str = "") -> None:
        self.code = code
        self.detail = detail
        super().__init__(f"{code}: {detail}" if detail else code)


def wants_close_script(ch: Channel) -> bool:
    """The peer's `shutdown` arrived and ours was not decided (BOLT 2: "MUST reply to a
    shutdown message with a shutdown")."""
    sd = ch.shutdown
    return (
        ch.state is ChannelState.NORMAL
        and sd.remote_script is not None
        and (sd.local_script is None)
    )


def close_command(ch: Channel, script: bytes) -> io.Close:
    """The `Close` paying `script` (see the module docstring for the feerates)."""
    rate = max(ch.ledger.local_commit.spec.feerate_per_kw, MIN_FEERATE_PER_KW)
    return io.Close(script, rate, 2 * rate)


def check_close_out(entry: ChannelEntry | None, channel_id: bytes) -> Channel:
    """The channel the operator asks to close, if a close can start now. Raises
    `CloseRefused` (`unknown_channel`, `channel_not_ready`: still opening,
    `channel_failed`, `already_closing`: a shutdown was sent or is being negotiated)."""
    if entry is None:
        raise CloseRefused("unknown_channel", channel_id.hex())
    if entry.failed or (entry.chan is not None and entry.chan.state is ChannelState.FAILED):
        raise CloseRefused("channel_failed", entry.failed)
    ch = entry.chan
    if ch is None:
        raise CloseRefused("channel_not_ready", entry.phase)
    if ch.shutdown.local_script is not None or ch.state is not ChannelState.NORMAL:
        raise CloseRefused("already_closing", entry.phase)
    return ch


def funding_spent(entry: ChannelEntry, ev: ChainEvent, funding_script: bytes) -> list[Effect]:
    """A chain event on the channel's funding outpoint (`Purpose.FUNDING`, kind SPENT or
    the UNDONE of a spend): record the closing transaction; the watches to drop or take
    again (see the module docstring)."""
    p = entry.params
    if p is None:
        return []
    op = p.funding_outpoint
    watches = (Watch(Purpose.FUNDING, script_pubkey=funding_script),
               Watch(Purpose.FUNDING, outpoint=op))  # fmt: skip
    if ev.kind is EventKind.SPENT:
        entry.closing_txid = ev.txid
        if ev.height > 0 and not entry.closing_height:
            entry.closing_height = ev.height
            return [Watch(w.purpose, w.script_pubkey, w.outpoint, drop=True) for w in watches]
        return []
    spend = ev.txid != op.txid  # an UNDONE of the funding output's own RECEIVED: not ours
    if ev.kind is EventKind.UNDONE and spend and ev.height and ev.height == entry.closing_height:
        entry.closing_height = 0  # a reorg took the closing block away
        return list(watches)
    return []
