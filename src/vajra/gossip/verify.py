"""BOLT 7 signature checks and the funding output an announcement must point at.

Every gossip signature is a compact ECDSA signature over the double-SHA256 of the
encoded message after its signature fields (extension bytes included, BOLT 7):
`channel_announcement` from byte 258 of the typed message (type + 4 signatures),
`node_announcement` and `channel_update` from byte 66 (type + 1 signature).
"""

from __future__ import annotations

from vajra.bitcoin.script import p2wsh
from vajra.channel.scripts import funding_script
from vajra.crypto.hashes import double_sha256
from vajra.crypto.secp256k1 import verify_digest
from vajra.gossip.errors import GossipError, Reason
from vajra.wire import ChannelAnnouncement, ChannelUpdate, NodeAnnouncement
from vajra.wire.features import BY_BIT

_ANN_SIGNED_FROM = 2 + 4 * 64
_ONE_SIG_SIGNED_FROM = 2 + 64


def channel_announcement_digest(msg: ChannelAnnouncement) -> bytes:
    """`h`: double-SHA256 of the message from offset 256 after the type (BOLT 7)."""
    return double_sha256(msg.encode()[_ANN_SIGNED_FROM:])


def node_announcement_digest(msg: NodeAnnouncement) -> bytes:
    return double_sha256(msg.encode()[_ONE_SIG_SIGNED_FROM:])


def channel_update_digest(msg: ChannelUpdate) -> bytes:
    return double_sha256(msg.encode()[_ONE_SIG_SIGNED_FROM:])


def check_channel_announcement_signatures(msg: ChannelAnnouncement) -> None:
    """The four signatures over `h`. Raises GossipError(BAD_SIGNATURE) naming the first
    that fails (BOLT 7: "MUST verify the integrity AND authenticity ... by verifying the
    signatures")."""
    h = channel_announcement_digest(msg)
    for name, key, sig in (
        ("node_signature_1", msg.node_id_1, msg.node_signature_1),
        ("node_signature_2", msg.node_id_2, msg.node_signature_2),
        ("bitcoin_signature_1", msg.bitcoin_key_1, msg.bitcoin_signature_1),
        ("bitcoin_signature_2", msg.bitcoin_key_2, msg.bitcoin_signature_2),
    ):
        if not verify_digest(key, sig, h):
            raise GossipError(Reason.BAD_SIGNATURE, msg.NAME, name)


def check_node_announcement_signature(msg: NodeAnnouncement) -> None:
    if not verify_digest(msg.node_id, msg.signature, node_announcement_digest(msg)):
        raise GossipError(Reason.BAD_SIGNATURE, msg.NAME, "signature")


def check_channel_update_signature(msg: ChannelUpdate, node_id: bytes) -> None:
    """`node_id`: `node_id_1` of the announcement when the direction bit is 0, else
    `node_id_2` (BOLT 7)."""
    if not verify_digest(node_id, msg.signature, channel_update_digest(msg)):
        raise GossipError(Reason.BAD_SIGNATURE, msg.NAME, "signature")


def expected_funding_script(msg: ChannelAnnouncement) -> bytes:
    """The P2WSH output script of the 2-of-2 of the announcement's bitcoin keys (BOLT 3
    funding output)."""
    return p2wsh(funding_script(msg.bitcoin_key_1, msg.bitcoin_key_2))


_KNOWN_MASK = sum(1 << b for b in BY_BIT)
_REPORTED = 8


def unknown_even_bits(features: bytes) -> frozenset[int]:
    """Even (required) bits of a BOLT 9 feature field that no feature of the BOLT 9 table
    (`vajra.wire.features.FEATURES`) names: BOLT 7 says not to route through such a
    channel or node. Up to 8 of them, lowest first; whole-integer masks, so a 64 KB
    field sent before any signature is checked costs microseconds, not a bit loop."""
    value = int.from_bytes(features, "big")
    even = int.from_bytes(b"\x55" * len(features), "big")
    unknown = value & even & ~_KNOWN_MASK
    out: list[int] = []
    while unknown and len(out) < _REPORTED:
        low = unknown & -unknown
        out.append(low.bit_length() - 1)
        unknown ^= low
    return frozenset(out)
