"""Our `short_channel_id` alias for a channel (BOLT 2 `channel_ready`, `option_scid_alias`).

We offer `option_scid_alias` at `init` (wire/features.py), and BOLT 2 says: "if
`option_scid_alias` was negotiated: MUST set `short_channel_id` `alias`" (LND ignores a
`channel_ready` without one once the bit is negotiated). So every channel of a hosted node
gets an alias, in both roles. The rules it meets: "MUST NOT send the same `alias` for
multiple peers" (one per channel index, which the signer hands out once per node), "SHOULD
initially set `alias` to a value not related to the real `short_channel_id`" (block
heights from `ALIAS_BLOCK_BASE` up are far beyond any real one, the range LND's own alias
manager uses too), and it is a valid `short_channel_id` encoding (block << 40 | tx << 16 |
output). The peer only uses it to name this channel to us; it is not a secret.
"""

from __future__ import annotations

ALIAS_BLOCK_BASE = 16_000_000
"""The alias's "block height" starts here (no real block for centuries)."""
_TX_BITS, _OUT_BITS = 24, 16


def scid_alias(channel_index: int) -> int:
    """The alias of the node's channel number `channel_index` (>= 0): a u64 as BOLT 7
    encodes a `short_channel_id`. ValueError for an index it cannot encode."""
    if not 0 <= channel_index < 1 << (_TX_BITS + _OUT_BITS):
        raise ValueError(f"channel index {channel_index} out of range")
    tx, out = divmod(channel_index, 1 << _OUT_BITS)
    return ALIAS_BLOCK_BASE << 40 | tx << 16 | out
