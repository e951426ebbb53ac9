"""The node's side of a cooperative close the peer starts (sans-IO; BOLT 2 "Closing
Initiation: shutdown", decision 0016 for the negotiation the channel core runs).

A channel owes a `shutdown` when the peer sent its own and we have not
(`wants_close_script`). Ours pays the node wallet's BIP 84 change script at
`CLOSE_CHANGE_INDEX` (the runtime derives it from the account xpub of the wallet record
and answers `CloseScript`): inside the signer's allow-list (decision 0017), and watched
by the one chain watcher so the share is the wallet's once the closing tx confirms.

Feerate: our first offer is the channel's current commitment feerate (what both sides
last agreed on for this chain), at least the 253 sat/kw relay floor; the top of our
`fee_range` is twice that. Only the funder pays the closing fee: as fundee our range is
the core's (relay floor up to the funder's balance), so these numbers matter only when
we funded.
"""

from __future__ import annotations

from vajra.channel import signer_io as io
from vajra.channel.close import MIN_FEERATE_PER_KW
from vajra.channel.machine import Channel
from vajra.channel.machine import State as ChannelState


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
    """The `Close` answering the peer's shutdown, paying `script` (see the module
    docstring for the feerates)."""
    rate = max(ch.ledger.local_commit.spec.feerate_per_kw, MIN_FEERATE_PER_KW)
    return io.Close(script, rate, 2 * rate)
