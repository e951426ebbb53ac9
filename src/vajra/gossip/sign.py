"""Building signed BOLT 7 gossip from secrets: for tests, fuzz seeds and benchmarks.

Hosted nodes have private channels and never announce them; this is the origin side of
BOLT 7 so the receiver's checks (`gossip.verify`) are exercised with real signatures.
"""

from __future__ import annotations

from dataclasses import replace

from vajra.crypto.secp256k1 import PrivateKey
from vajra.gossip.verify import (
    channel_announcement_digest,
    channel_update_digest,
    node_announcement_digest,
)
from vajra.wire import ChannelAnnouncement, ChannelUpdate, NodeAnnouncement

_ZERO_SIG = bytes(64)


def sign_channel_announcement(
    chain_hash: bytes,
    short_channel_id: int,
    node_secret_a: bytes,
    node_secret_b: bytes,
    bitcoin_secret_a: bytes,
    bitcoin_secret_b: bytes,
    *,
    features: bytes = b"",
) -> ChannelAnnouncement:
    """A `channel_announcement` signed by both nodes and both funding keys; node `a`'s
    funding key is `bitcoin_secret_a`. Orders the nodes as BOLT 7 requires."""
    na, nb = PrivateKey(node_secret_a), PrivateKey(node_secret_b)
    ba, bb = PrivateKey(bitcoin_secret_a), PrivateKey(bitcoin_secret_b)
    if nb.pubkey < na.pubkey:
        na, nb, ba, bb = nb, na, bb, ba
    unsigned = ChannelAnnouncement(
        _ZERO_SIG,
        _ZERO_SIG,
        _ZERO_SIG,
        _ZERO_SIG,
        features,
        chain_hash,
        short_channel_id,
        na.pubkey,
        nb.pubkey,
        ba.pubkey,
        bb.pubkey,
    )
    h = channel_announcement_digest(unsigned)
    return replace(
        unsigned,
        node_signature_1=na.sign_digest(h),
        node_signature_2=nb.sign_digest(h),
        bitcoin_signature_1=ba.sign_digest(h),
        bitcoin_signature_2=bb.sign_digest(h),
    )


def sign_channel_update(
    chain_hash: bytes,
    short_channel_id: int,
    node_secret: bytes,
    timestamp: int,
    *,
    direction: int,
    disabled: bool = False,
    cltv_expiry_delta: int = 40,
    htlc_minimum_msat: int = 1000,
    fee_base_msat: int = 1000,
    fee_proportional_millionths: int = 100,
    htlc_maximum_msat: int = 100_000_000,
) -> ChannelUpdate:
    """A `channel_update` for `direction` (0 when `node_secret` is `node_id_1`'s)."""
    unsigned = ChannelUpdate(
        _ZERO_SIG,
        chain_hash,
        short_channel_id,
        timestamp,
        1,  # must_be_one
        direction | (2 if disabled else 0),
        cltv_expiry_delta,
        htlc_minimum_msat,
        fee_base_msat,
        fee_proportional_millionths,
        htlc_maximum_msat,
    )
    sig = PrivateKey(node_secret).sign_digest(channel_update_digest(unsigned))
    return replace(unsigned, signature=sig)


def sign_node_announcement(
    node_secret: bytes,
    timestamp: int,
    *,
    alias: bytes = b"",
    features: bytes = b"",
    addresses: bytes = b"",
) -> NodeAnnouncement:
    k = PrivateKey(node_secret)
    unsigned = NodeAnnouncement(
        _ZERO_SIG, features, timestamp, k.pubkey, b"\x00\x00\x00", alias.ljust(32, b"\0"), addresses
    )
    return replace(unsigned, signature=k.sign_digest(node_announcement_digest(unsigned)))
