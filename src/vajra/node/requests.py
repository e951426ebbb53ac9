"""What an awake node asks of its signer, at node level (plain data, sans-IO).

The channel cores (`vajra.channel.establish`, `vajra.channel.machine`) emit
`vajra.channel.signer_io` requests and wait for their answers; the `Node` wraps each one
with the signer's `channel_index` so the runtime can route it (`ChannelSignerClient.
channel_request`), and asks for a new channel's keys before it can accept one
(`ChannelSignerClient.new_channel`). The runtime answers every request before it writes
the node's state or sends anything (`NodeHost.deliver`):

    while (req := node.next_request()) is not None:
        NewChannelKeys     -> node.channel_keys(req, channel_index, local_keys, now)
        ChannelSignerCall  -> node.signer_answer(req, result, now)   # result may be a refusal
        either, no answer  -> node.request_failed(req, reason, now)  # signer unreachable
        LookupInvoice      -> node.invoice_found(payment_hash, record or None, now)
                              (not the signer: the runtime's store, `vajra.node.invoices`)
        CloseScript        -> node.close_script(channel_id, script or None, now)
                              (the node wallet's change script at CLOSE_CHANGE_INDEX,
                              derived from the account xpub of the wallet record)
"""

from __future__ import annotations

from dataclasses import dataclass

from vajra.channel.signer_io import SignerRequest


@dataclass(frozen=True, slots=True)
class NewChannelKeys:
    """Allocate a channel key set for the `open_channel` of `peer` naming
    `temporary_channel_id` (BOLT 2: our `accept_channel` carries its basepoints)."""

    peer: bytes
    temporary_channel_id: bytes


@dataclass(frozen=True, slots=True)
class ChannelSignerCall:
    """One channel core request for the signer's copy of channel `channel_index`."""

    channel_index: int
    request: SignerRequest


@dataclass(frozen=True, slots=True)
class LookupInvoice:
    """The stored record of the node's invoice for `payment_hash` (an HTLC for it is
    irrevocably committed and the node must decide it: `vajra.node.receive`)."""

    payment_hash: bytes


@dataclass(frozen=True, slots=True)
class CloseScript:
    """The node wallet's script for our share of a cooperative close of `channel_id`
    (BOLT 2 `shutdown` scriptpubkey): BIP 84 P2WPKH, change chain, index
    `CLOSE_CHANGE_INDEX` — inside the signer's allow-list (decision 0017: receive and
    change, indices below 1,000), so `SignMutualClose` is not refused."""

    channel_id: bytes


CLOSE_CHANGE_INDEX = 0
"""One fixed change index for every close of a node: the wallet watches it from its
first registration (gap limit), and funds there are the node's like any change."""


NodeRequest = NewChannelKeys | ChannelSignerCall | LookupInvoice | CloseScript
