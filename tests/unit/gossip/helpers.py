"""Signed gossip for tests: real keys, real signatures, an in-memory funding lookup."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from vajra.bitcoin.chains import CHAIN_HASHES
from vajra.crypto.secp256k1 import pubkey_from_secret
from vajra.gossip.core import FundingOutput
from vajra.gossip.sign import sign_channel_announcement, sign_channel_update
from vajra.gossip.verify import expected_funding_script
from vajra.wire import ChannelAnnouncement, ChannelUpdate, scid_from_parts

CHAIN = CHAIN_HASHES["regtest"]
NOW = 1_800_000_000


def secret(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


def node_id(label: str) -> bytes:
    return pubkey_from_secret(secret(label))


@dataclass
class Lookup:
    """`ChainLookup` over a dict: what the chain would say per scid."""

    outputs: dict[int, FundingOutput] = field(default_factory=dict)
    calls: int = 0

    def funding_output(self, short_channel_id: int) -> FundingOutput | None:
        self.calls += 1
        return self.outputs.get(short_channel_id)


def announce(
    a: str, b: str, block: int, capacity_sat: int = 1_000_000, lookup: Lookup | None = None
) -> ChannelAnnouncement:
    """A channel between nodes `a` and `b` (funding keys derived from their labels),
    registered in `lookup` with a matching funding output."""
    scid = scid_from_parts(block, 1, 0)
    ann = sign_channel_announcement(
        CHAIN, scid, secret(a), secret(b), secret(a + "/funding"), secret(b + "/funding")
    )
    if lookup is not None:
        lookup.outputs[scid] = FundingOutput(expected_funding_script(ann), capacity_sat)
    return ann


def update(
    ann: ChannelAnnouncement, src: str, timestamp: int = NOW, **kw: int | bool
) -> ChannelUpdate:
    """`src`'s `channel_update` for the channel (direction from the node order)."""
    direction = 0 if node_id(src) == ann.node_id_1 else 1
    return sign_channel_update(
        CHAIN, ann.short_channel_id, secret(src), timestamp, direction=direction, **kw
    )
