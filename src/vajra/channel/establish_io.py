"""Plain data of channel establishment: configuration, the owner's inputs and events,
and the `channel_type` encoding (`vajra.channel.establish` consumes and produces them)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from vajra.bitcoin.tx import OutPoint
from vajra.channel.keys import Basepoints
from vajra.channel.spec import SideParams


class EstState(enum.Enum):
    """Where an establishment is (see `establish.py`)."""

    AWAIT_OPEN = "await_open"
    AWAIT_ACCEPT = "await_accept"
    AWAIT_FUNDING_OUTPOINT = "await_funding_outpoint"
    AWAIT_FUNDING_CREATED = "await_funding_created"
    AWAIT_FUNDING_SIGNED = "await_funding_signed"
    SETUP_SIGNER = "setup_signer"
    SIGN_REMOTE_0 = "sign_remote_0"
    VALIDATE_LOCAL_0 = "validate_local_0"
    AWAIT_DEPTH = "await_depth"
    AWAIT_CHANNEL_READY = "await_channel_ready"
    READY = "ready"
    FAILED = "failed"


WAITING = frozenset({EstState.SETUP_SIGNER, EstState.SIGN_REMOTE_0, EstState.VALIDATE_LOCAL_0})
"""States with a signer request outstanding: peer messages wait, nothing is persisted."""
REMEMBERED = frozenset({EstState.AWAIT_DEPTH, EstState.AWAIT_CHANNEL_READY, EstState.READY})
"""States a disconnection does not forget (BOLT 2 "MUST remember the channel")."""


STATIC_REMOTEKEY_BIT = 12
ANCHORS_BIT = 22
SCID_ALIAS_BIT = 46
ZEROCONF_BIT = 50
MIN_DUST_LIMIT_SAT = 354  # BOLT 2: "dust_limit_satoshis is smaller than 354 satoshis"


@dataclass(frozen=True, slots=True)
class ChannelType:
    """BOLT 2 "Defined Channel Types" we support: `option_static_remotekey`, with or
    without `option_anchors`, each with the variations `option_scid_alias` and/or
    `option_zeroconf` (BOLT 9 bits 12, 22, 46, 50)."""

    anchors: bool
    scid_alias: bool = False
    zeroconf: bool = False

    def to_bytes(self) -> bytes:
        """The smallest bitmap ("MUST use the smallest bitmap possible")."""
        bits = 1 << STATIC_REMOTEKEY_BIT
        for on, bit in (
            (self.anchors, ANCHORS_BIT),
            (self.scid_alias, SCID_ALIAS_BIT),
            (self.zeroconf, ZEROCONF_BIT),
        ):
            bits |= (1 << bit) if on else 0
        return bits.to_bytes((bits.bit_length() + 7) // 8, "big")

    @classmethod
    def parse(cls, data: bytes) -> ChannelType | None:
        """The type `data` encodes, or None for any other bitmap (not minimal, unknown
        bits, no static_remotekey)."""
        bits = int.from_bytes(data, "big")
        known = 1 << STATIC_REMOTEKEY_BIT | 1 << ANCHORS_BIT | 1 << SCID_ALIAS_BIT
        known |= 1 << ZEROCONF_BIT
        if not bits >> STATIC_REMOTEKEY_BIT & 1 or bits & ~known:
            return None
        t = cls(*(bool(bits >> b & 1) for b in (ANCHORS_BIT, SCID_ALIAS_BIT, ZEROCONF_BIT)))
        return t if t.to_bytes() == data else None


def channel_type_bytes(*, anchors: bool) -> bytes:
    return ChannelType(anchors).to_bytes()


@dataclass(frozen=True, slots=True)
class EstablishConfig:
    chain_hash: bytes
    local: SideParams
    minimum_depth: int = 3
    min_funding_sat: int = 20_000
    max_to_self_delay: int = 2016
    feerate_range: tuple[int, int] = (253, 100_000)
    trusted_lsps: frozenset[bytes] = frozenset()
    """Node ids we accept `option_zeroconf` channels from (BOLT 2: only a sender we
    "trust to open an unconfirmed channel")."""
    anysegwit: bool = False
    """`option_shutdown_anysegwit` negotiated with this peer (from `init`)."""


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
    scid_alias: bool = False
    """Propose `option_scid_alias` (our opens are unannounced, so it is allowed)."""


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
