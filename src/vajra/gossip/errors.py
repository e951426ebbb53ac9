"""Typed errors and outcomes of applying BOLT 7 gossip.

A message that breaks a rule raises `GossipError` (a `vajra.errors.ProtocolError`) with
a stable `Reason`; `warn` says whether BOLT 7 asks the receiver to send the peer a
`warning` (bad signatures, malformed content) rather than silently ignore it. Messages
BOLT 7 says to ignore without blame (already known, older, about a channel we have not
seen) are not errors: `apply_*` returns an `Outcome`.
"""

from __future__ import annotations

from enum import StrEnum

from vajra.errors import ProtocolError


class Reason(StrEnum):
    BAD_SIGNATURE = "bad_signature"
    """A signature does not verify (BOLT 7: SHOULD send a `warning`, MUST ignore)."""
    WRONG_CHAIN = "wrong_chain"
    """`chain_hash` is not the chain this graph follows (MUST ignore)."""
    NODE_ORDER = "node_order"
    """`node_id_1` is not the lexicographically-lesser key, or both are the same."""
    UNKNOWN_EVEN_FEATURE = "unknown_even_feature"
    """`features` has an even bit we do not know (MUST NOT route through it)."""
    FUNDING_MISSING = "funding_missing"
    """The `short_channel_id` names no unspent output (MUST ignore)."""
    FUNDING_MISMATCH = "funding_mismatch"
    """The output is not the P2WSH 2-of-2 of `bitcoin_key_1` and `bitcoin_key_2`."""
    CONFLICT = "conflict"
    """A second, different `channel_announcement` for a known `short_channel_id`."""
    STALE = "stale"
    """A `channel_update` older than two weeks (BOLT 7 pruning: 1,209,600 s)."""
    FUTURE_TIMESTAMP = "future_timestamp"
    """A timestamp unreasonably far in the future (BOLT 7: MAY discard)."""
    SAME_TIMESTAMP_CHANGED = "same_timestamp_changed"
    """A `channel_update` with the last one's timestamp but different fields."""
    MALFORMED = "malformed"
    """Bytes that do not decode as the message."""


class Outcome(StrEnum):
    ADDED = "added"
    UPDATED = "updated"
    DUPLICATE = "duplicate"
    """Already known (same content): BOLT 7 SHOULD ignore."""
    OUTDATED = "outdated"
    """Older than what we have: BOLT 7 SHOULD ignore."""
    UNKNOWN_CHANNEL = "unknown_channel"
    """A `channel_update` for a channel never announced: BOLT 7 MUST ignore."""
    UNKNOWN_NODE = "unknown_node"
    """A `node_announcement` for a node without an announced channel: SHOULD ignore."""


_WARN = frozenset({Reason.BAD_SIGNATURE, Reason.NODE_ORDER, Reason.MALFORMED})


class GossipError(ProtocolError):
    """A gossip message was refused. `reason` is a stable code; `warn` is True when BOLT 7
    says the sender deserves a `warning`."""

    def __init__(self, reason: Reason, message: str, detail: str = "") -> None:
        self.code = reason
        self.warn = reason in _WARN
        super().__init__(f"{reason.value}{': ' + detail if detail else ''}", message=message)
