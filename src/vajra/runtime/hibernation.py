"""What the runtime answers for a sleeping node on its own, and what wakes the node.

Pure: one function from a message (that `PeerConnection` passed up, i.e. beyond BOLT 1
control) to a decision. The session layer already answers `ping`, checks `init`, logs
`warning`/`error` and ignores unknown odd messages, so a hibernating node's connection
needs only this table on top:

| message                         | decision                                          |
|---------------------------------|---------------------------------------------------|
| `query_channel_range`           | answer: one `reply_channel_range`, no scids, complete |
| `query_short_channel_ids`       | answer: `reply_short_channel_ids_end`             |
| `gossip_timestamp_filter`       | ignore (we relay no gossip)                       |
| `channel_announcement`, `node_announcement`, `channel_update` | ignore (no graph yet) |
| anything else (`open_channel`, channel messages, onion messages...) | wake the node |

Why the gossip answers are correct for a node without a graph (BOLT 7 "Query Messages"):
the receiver of `query_channel_range` "MUST respond with one or more
`reply_channel_range`" with the query's `chain_hash`, a `first_blocknum` not above the
query's and a range covering it, and the final one with `sync_complete` set -- one empty
reply with the query's own range satisfies all of it. For a chain we do not follow we
still answer (the spec asks for a reply) but with `sync_complete = 0`. The receiver of
`query_short_channel_ids` answers every scid it knows (none) and then
`reply_short_channel_ids_end`, with `full_information = 0` for a chain it does not
follow ("MUST set full_information to 0") and 1 otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

from vajra.wire import (
    ChannelAnnouncement,
    ChannelUpdate,
    GossipTimestampFilter,
    Message,
    NodeAnnouncement,
    QueryChannelRange,
    QueryShortChannelIds,
    ReplyChannelRange,
    ReplyShortChannelIdsEnd,
)

# encoded_short_ids: BOLT 7 "Encoding types": 0 = uncompressed array of u64; no entries.
_NO_SCIDS = b"\x00"
_IGNORED = (GossipTimestampFilter, ChannelAnnouncement, NodeAnnouncement, ChannelUpdate)


@dataclass(frozen=True, slots=True)
class Answer:
    """Send these replies; the node stays asleep."""

    replies: tuple[Message, ...]


@dataclass(frozen=True, slots=True)
class Ignore:
    """Nothing to do; the node stays asleep."""


@dataclass(frozen=True, slots=True)
class Wake:
    """Only the node itself can handle this message."""

    message: Message


Decision = Answer | Ignore | Wake

IGNORE = Ignore()


def decide(msg: Message, chain_hash: bytes) -> Decision:
    """The hibernating runtime's decision for one message from a peer."""
    if isinstance(msg, QueryChannelRange):
        return Answer(
            (
                ReplyChannelRange(
                    chain_hash=msg.chain_hash,
                    first_blocknum=msg.first_blocknum,
                    number_of_blocks=msg.number_of_blocks,
                    sync_complete=1 if msg.chain_hash == chain_hash else 0,
                    encoded_short_ids=_NO_SCIDS,
                ),
            )
        )
    if isinstance(msg, QueryShortChannelIds):
        full = 1 if msg.chain_hash == chain_hash else 0
        return Answer((ReplyShortChannelIdsEnd(chain_hash=msg.chain_hash, full_information=full),))
    if isinstance(msg, _IGNORED):
        return IGNORE
    return Wake(msg)
