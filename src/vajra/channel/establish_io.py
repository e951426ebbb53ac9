"""Plain data of channel establishment: configuration, the owner's inputs and events,
and the `channel_type` encoding (`vajra.channel.establish` consumes and produces them)."""

from __future__ import annotations

from dataclasses import dataclass

from vajra.bitcoin.tx import OutPoint
from vajra.channel.keys import Basepoints
from vajra.channel.spec import SideParams

STATIC_REMOTEKEY_BIT = 12
ANCHORS_BIT = 22
MIN_DUST_LIMIT_SAT = 354  # BOLT 2: "dust_limit_satoshis is smaller than 354 satoshis"


def channel_type_bytes(*, anchors: bool) -> bytes:
    bits = 1 << STATIC_REMOTEKEY_BIT | (1 << ANCHORS_BIT if anchors else 0)
    return bits.to_bytes((bits.bit_length() + 7) // 8, "big")


@dataclass(frozen=True, slots=True)
class EstablishConfig:
    chain_hash: bytes
    local: SideParams
    minimum_depth: int = 3
    min_funding_sat: int = 20_000
    max_to_self_delay: int = 2016
    feerate_range: tuple[int, int] = (253, 100_000)


@dataclass(frozen=True, slots=True)
class LocalKeys:
    """Public, from the signer: this channel's basepoints and the second point."""

    basepoints: Basepoints
    second_per_commitment_point: bytes


@dataclass(frozen=True, slots=True)
class OpenArgs:
    temporary_channel_id: bytes
    funding_sat: int
    push_msat: int
    feerate_per_kw: int
    anchors: bool = True


@dataclass(frozen=True, slots=True)
class FundingOutpoint:
    """Funder command: the funding transaction is built (not broadcast) with this output."""

    outpoint: OutPoint


@dataclass(frozen=True, slots=True)
class FundingConfirmed:
    """The funding output has `minimum_depth` confirmations (from the chain watcher)."""


@dataclass(frozen=True, slots=True)
class FundingSignedEvent:
    """Funder: the peer's signature on our commitment 0 is valid: broadcast now."""

    outpoint: OutPoint
