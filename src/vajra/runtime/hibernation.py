"""What a sleeping node does with each message type: answer, ignore, hand to the graph, wake.

A wake costs a signer round trip and a state decryption, so waking is an explicit list of
reasons, never "whatever the runtime does not answer itself". `TABLE` names every message
type of the wire codec (a test checks it against `MESSAGE_CLASSES`); a type missing from
it is ignored, so a new message cannot wake nodes until someone lists it here.

Pure: one function from a message (that `PeerConnection` passed up, i.e. beyond BOLT 1
session control) to a `Decision`. Wakes are further rate-limited per peer and per node
(`wake_limits.py`); this table only says whether a message is worth one.

| message | sleeping node | why |
|---|---|---|
| `init` `ping` `pong` `warning` `error` | session | BOLT 1: `PeerConnection` checks `init`, answers `ping`, logs `warning`/`error` (a node without channels has none to fail: "if no existing channel is referred to by `channel_id`: MUST ignore") |
| `query_channel_range` | answer | BOLT 7 "MUST respond with one or more `reply_channel_range`": one empty reply covering the query |
| `query_short_channel_ids` | answer | BOLT 7: every scid we know (none), then `reply_short_channel_ids_end` |
| `channel_announcement` `node_announcement` `channel_update` | graph | BOLT 7 gossip belongs to the one shared graph, never to a node |
| `reply_channel_range` `reply_short_channel_ids_end` | ignore | replies to queries a sleeping node never sent |
| `gossip_timestamp_filter` | ignore | we relay no gossip (BOLT 7: a filter only limits what we send) |
| `peer_storage` `peer_storage_retrieval` | ignore | we do not offer `option_provide_storage` and never sent `peer_storage` (BOLT 1 "MAY store the message anyway": we do not) |
| `onion_message` | ignore | we do not offer `option_onion_messages` (BOLT 4/7) |
| `open_channel2` `accept_channel2`, `tx_*` (66-74) | ignore | `option_dual_fund` not offered: no interactive construction can be in progress |
| `stfu` `splice_init` `splice_ack` `splice_locked` `start_batch` | ignore | `option_quiesce` / `option_splice` not offered |
| `closing_complete` `closing_sig` | ignore | `option_simple_close` not offered |
| `open_channel` | **wake** | BOLT 2: only the node can accept or refuse a channel with its keys and policy |
| `accept_channel` `funding_created` `funding_signed` `channel_ready` | **wake** | BOLT 2 channel establishment: the opening lives in the node's state |
| `shutdown` `closing_signed` | **wake** | BOLT 2 close: the channel lives in the node's state |
| `update_add_htlc` `update_fulfill_htlc` `update_fail_htlc` `update_fail_malformed_htlc` `commitment_signed` `revoke_and_ack` `update_fee` | **wake** | BOLT 2 normal operation: commitment state, signatures |
| `channel_reestablish` | **wake** | BOLT 2: retransmission needs the channel's state |
| `announcement_signatures` | **wake** | BOLT 7: answered with the node's own signatures |

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

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from vajra.wire import (
    AcceptChannel,
    AcceptChannel2,
    AnnouncementSignatures,
    ChannelAnnouncement,
    ChannelReady,
    ChannelReestablish,
    ChannelUpdate,
    ClosingComplete,
    ClosingSig,
    ClosingSigned,
    CommitmentSigned,
    ErrorMessage,
    FundingCreated,
    FundingSigned,
    GossipTimestampFilter,
    Init,
    Message,
    NodeAnnouncement,
    OnionMessage,
    OpenChannel,
    OpenChannel2,
    PeerStorage,
    PeerStorageRetrieval,
    Ping,
    Pong,
    QueryChannelRange,
    QueryShortChannelIds,
    ReplyChannelRange,
    ReplyShortChannelIdsEnd,
    RevokeAndAck,
    Shutdown,
    SpliceAck,
    SpliceInit,
    SpliceLocked,
    StartBatch,
    Stfu,
    TxAbort,
    TxAckRbf,
    TxAddInput,
    TxAddOutput,
    TxComplete,
    TxInitRbf,
    TxRemoveInput,
    TxRemoveOutput,
    TxSignatures,
    UpdateAddHtlc,
    UpdateFailHtlc,
    UpdateFailMalformedHtlc,
    UpdateFee,
    UpdateFulfillHtlc,
    WarningMessage,
)


class Action(enum.Enum):
    SESSION = "session"
    """Handled by the BOLT 1 session layer; never reaches this table at run time."""
    ANSWER = "answer"
    IGNORE = "ignore"
    GRAPH = "graph"
    WAKE = "wake"


_A = Action
TABLE: Mapping[type[Message], Action] = {
    Init: _A.SESSION,
    Ping: _A.SESSION,
    Pong: _A.SESSION,
    WarningMessage: _A.SESSION,
    ErrorMessage: _A.SESSION,
    QueryChannelRange: _A.ANSWER,
    QueryShortChannelIds: _A.ANSWER,
    ChannelAnnouncement: _A.GRAPH,
    NodeAnnouncement: _A.GRAPH,
    ChannelUpdate: _A.GRAPH,
    ReplyChannelRange: _A.IGNORE,
    ReplyShortChannelIdsEnd: _A.IGNORE,
    GossipTimestampFilter: _A.IGNORE,
    PeerStorage: _A.IGNORE,
    PeerStorageRetrieval: _A.IGNORE,
    OnionMessage: _A.IGNORE,
    OpenChannel2: _A.IGNORE,
    AcceptChannel2: _A.IGNORE,
    TxAddInput: _A.IGNORE,
    TxAddOutput: _A.IGNORE,
    TxRemoveInput: _A.IGNORE,
    TxRemoveOutput: _A.IGNORE,
    TxComplete: _A.IGNORE,
    TxSignatures: _A.IGNORE,
    TxInitRbf: _A.IGNORE,
    TxAckRbf: _A.IGNORE,
    TxAbort: _A.IGNORE,
    Stfu: _A.IGNORE,
    SpliceInit: _A.IGNORE,
    SpliceAck: _A.IGNORE,
    SpliceLocked: _A.IGNORE,
    StartBatch: _A.IGNORE,
    ClosingComplete: _A.IGNORE,
    ClosingSig: _A.IGNORE,
    OpenChannel: _A.WAKE,
    AcceptChannel: _A.WAKE,
    FundingCreated: _A.WAKE,
    FundingSigned: _A.WAKE,
    ChannelReady: _A.WAKE,
    Shutdown: _A.WAKE,
    ClosingSigned: _A.WAKE,
    UpdateAddHtlc: _A.WAKE,
    UpdateFulfillHtlc: _A.WAKE,
    UpdateFailHtlc: _A.WAKE,
    UpdateFailMalformedHtlc: _A.WAKE,
    CommitmentSigned: _A.WAKE,
    RevokeAndAck: _A.WAKE,
    UpdateFee: _A.WAKE,
    ChannelReestablish: _A.WAKE,
    AnnouncementSignatures: _A.WAKE,
}
WAKE_REASONS: frozenset[type[Message]] = frozenset(t for t, a in TABLE.items() if a is _A.WAKE)

# encoded_short_ids: BOLT 7 "Encoding types": 0 = uncompressed array of u64; no entries.
_NO_SCIDS = b"\x00"


@dataclass(frozen=True, slots=True)
class Answer:
    """Send these replies; the node stays asleep."""

    replies: tuple[Message, ...]


@dataclass(frozen=True, slots=True)
class Ignore:
    """Nothing to do; the node stays asleep."""


@dataclass(frozen=True, slots=True)
class ToGraph:
    """Gossip for the shared graph; the node stays asleep."""

    message: Message


@dataclass(frozen=True, slots=True)
class Wake:
    """Only the node itself can handle this message (subject to the wake limits)."""

    message: Message


Decision = Answer | Ignore | ToGraph | Wake

IGNORE = Ignore()


def decide(msg: Message, chain_hash: bytes) -> Decision:
    """The hibernating runtime's decision for one message from a peer (see `TABLE`)."""
    action = TABLE.get(type(msg), _A.IGNORE)
    if action is _A.WAKE:
        return Wake(msg)
    if action is _A.GRAPH:
        return ToGraph(msg)
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
    return IGNORE  # IGNORE, and SESSION types should the session ever pass one up
