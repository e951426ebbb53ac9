"""What one commitment holds, in absolute sides, and how to build its transaction.

A `CommitSpec` is the content of a commitment transaction before BOLT 3 turns it into
bytes: the feerate, each side's balance and the HTLCs in flight. It is written in the
frame of the endpoint that keeps it (`Side.LOCAL` is this node, `Side.REMOTE` its peer),
not in the frame of the commitment's owner, so the same spec describes "my commitment"
and "your commitment" and one `reduce` applies updates to both (the pending-update
bookkeeping lives in `vajra.channel.updates`). `build_commitment_for(owner, ...)` turns a
spec into the owner's BOLT 3 commitment: the owner's balance is its `to_local`, the HTLCs
the owner offered are its offered HTLCs. `flipped()` is the peer's view of the same thing,
which is how tests compare the two endpoints byte for byte.

Amounts are msat throughout; the commitment rounds down to satoshis (BOLT 3).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, replace

from vajra.bitcoin.tx import OutPoint
from vajra.channel.commitment import (
    ANCHOR_OUTPUT_SAT,
    Commitment,
    CommitmentKeys,
    Htlc,
    build_commitment,
    commitment_fee_sat,
    is_trimmed,
    obscuring_factor,
)
from vajra.channel.keys import Basepoints


class Side(enum.IntEnum):
    LOCAL = 0
    REMOTE = 1

    @property
    def other(self) -> Side:
        return Side.REMOTE if self is Side.LOCAL else Side.LOCAL


@dataclass(frozen=True, slots=True)
class HtlcEntry:
    """An HTLC in flight: `offerer` sent the `update_add_htlc` with this `id`."""

    offerer: Side
    id: int
    amount_msat: int
    payment_hash: bytes
    cltv_expiry: int

    def flipped(self) -> HtlcEntry:
        return replace(self, offerer=self.offerer.other)


@dataclass(frozen=True, slots=True)
class CommitSpec:
    feerate_per_kw: int
    balance_msat: tuple[int, int]
    """Indexed by `Side`: what each side owns outside HTLCs, before fee and anchors."""
    htlcs: tuple[HtlcEntry, ...]
    """Sorted by (offerer, id)."""

    def flipped(self) -> CommitSpec:
        return CommitSpec(
            self.feerate_per_kw,
            (self.balance_msat[1], self.balance_msat[0]),
            tuple(sorted((h.flipped() for h in self.htlcs), key=lambda h: (h.offerer, h.id))),
        )

    def find(self, offerer: Side, htlc_id: int) -> HtlcEntry | None:
        for h in self.htlcs:
            if h.offerer == offerer and h.id == htlc_id:
                return h
        return None

    def total_msat(self) -> int:
        """Balances plus HTLCs: equals the channel capacity in every spec (no msat is
        created or lost by an update)."""
        return sum(self.balance_msat) + sum(h.amount_msat for h in self.htlcs)

    def offered_by(self, side: Side) -> list[HtlcEntry]:
        return [h for h in self.htlcs if h.offerer == side]


@dataclass(frozen=True, slots=True)
class AddChange:
    htlc: HtlcEntry


@dataclass(frozen=True, slots=True)
class SettleChange:
    """Removes the HTLC `htlc_id` the *other* side offered: fulfilled (the amount goes to
    the settling side) or failed (it returns to the offerer)."""

    htlc_id: int
    fulfilled: bool
    payment_preimage: bytes | None = None
    """Set when fulfilled: the signer learns it (it may then let the peer have the HTLC)."""


@dataclass(frozen=True, slots=True)
class FeeChange:
    feerate_per_kw: int


Change = AddChange | SettleChange | FeeChange


def reduce(spec: CommitSpec, local: Iterable[Change], remote: Iterable[Change]) -> CommitSpec:
    """`spec` with the changes each side proposed applied: adds first, then settlements,
    then the fee (an HTLC can only be settled once committed, so no batch adds and
    settles the same HTLC). KeyError-free: a settle of an absent HTLC is a bug upstream
    and raises `ValueError`."""
    by_side = ((Side.LOCAL, list(local)), (Side.REMOTE, list(remote)))
    balance = list(spec.balance_msat)
    htlcs = {(h.offerer, h.id): h for h in spec.htlcs}
    feerate = spec.feerate_per_kw
    for side, changes in by_side:
        for c in changes:
            if isinstance(c, AddChange):
                balance[side] -= c.htlc.amount_msat
                htlcs[(side, c.htlc.id)] = c.htlc
    for side, changes in by_side:
        for c in changes:
            if isinstance(c, SettleChange):
                h = htlcs.pop((side.other, c.htlc_id), None)
                if h is None:
                    raise ValueError(f"settle of absent HTLC {side.other.name}:{c.htlc_id}")
                balance[side if c.fulfilled else side.other] += h.amount_msat
    for _side, changes in by_side:
        for c in changes:
            if isinstance(c, FeeChange):
                feerate = c.feerate_per_kw
    ordered = tuple(htlcs[k] for k in sorted(htlcs))
    return CommitSpec(feerate, (balance[0], balance[1]), ordered)


@dataclass(frozen=True, slots=True)
class SideParams:
    """What one side announced in `open_channel`/`accept_channel`; each limit binds the
    *other* side (BOLT 2), except `dust_limit_sat`, which applies to its own commitment."""

    dust_limit_sat: int
    channel_reserve_sat: int
    """The reserve the other side must keep."""
    htlc_minimum_msat: int
    """The smallest HTLC this side accepts."""
    max_accepted_htlcs: int
    max_htlc_value_in_flight_msat: int
    to_self_delay: int
    """The delay on the *other* side's `to_local`."""


@dataclass(frozen=True, slots=True)
class ChannelParams:
    """A channel's fixed parameters, in the frame of the endpoint that holds them."""

    channel_id: bytes
    funding_outpoint: OutPoint
    capacity_sat: int
    funder: Side
    anchors: bool
    params: tuple[SideParams, SideParams]
    basepoints: tuple[Basepoints, Basepoints]

    def flipped(self) -> ChannelParams:
        return replace(
            self,
            funder=self.funder.other,
            params=(self.params[1], self.params[0]),
            basepoints=(self.basepoints[1], self.basepoints[0]),
        )

    @property
    def obscuring_factor(self) -> int:
        opener = self.basepoints[self.funder].payment_basepoint
        accepter = self.basepoints[self.funder.other].payment_basepoint
        return obscuring_factor(opener, accepter)

    def reserve_msat(self, side: Side) -> int:
        """The reserve `side` must keep: what the other side asked for."""
        return self.params[side.other].channel_reserve_sat * 1000

    def fee_msat(self, spec: CommitSpec, owner: Side) -> int:
        """What the funder pays on `owner`'s commitment: the base fee for the untrimmed
        HTLCs at the spec's feerate, plus the two anchors."""
        dust = self.params[owner].dust_limit_sat
        untrimmed = sum(
            1
            for h in spec.htlcs
            if not is_trimmed(
                _as_seen_by(h, owner), dust, spec.feerate_per_kw, anchors=self.anchors
            )
        )
        fee = commitment_fee_sat(spec.feerate_per_kw, untrimmed, anchors=self.anchors)
        return (fee + (2 * ANCHOR_OUTPUT_SAT if self.anchors else 0)) * 1000


def _as_seen_by(h: HtlcEntry, owner: Side) -> Htlc:
    return Htlc(h.offerer == owner, h.amount_msat, h.payment_hash, h.cltv_expiry)


def build_commitment_for(
    channel: ChannelParams,
    spec: CommitSpec,
    owner: Side,
    commitment_number: int,
    per_commitment_point: bytes,
    keys: CommitmentKeys | None = None,
) -> Commitment:
    """`owner`'s BOLT 3 commitment transaction for `spec` (unsigned). ValueError if the
    funder cannot pay the anchors (BOLT 2's checks keep a channel out of that state).
    `keys`: the owner's `CommitmentKeys` at `per_commitment_point` when the caller has
    derived them already (five point operations saved); derived here otherwise."""
    if keys is None:
        keys = CommitmentKeys.derive(
            per_commitment_point, channel.basepoints[owner], channel.basepoints[owner.other]
        )
    elif keys.per_commitment_point != per_commitment_point:
        raise ValueError("keys derived at another per_commitment_point")
    return build_commitment(
        funding_outpoint=channel.funding_outpoint,
        keys=keys,
        to_self_delay=channel.params[owner.other].to_self_delay,
        dust_limit_sat=channel.params[owner].dust_limit_sat,
        feerate_per_kw=spec.feerate_per_kw,
        to_local_msat=spec.balance_msat[owner],
        to_remote_msat=spec.balance_msat[owner.other],
        owner_is_opener=channel.funder == owner,
        htlcs=[_as_seen_by(h, owner) for h in spec.htlcs],
        commitment_number=commitment_number,
        obscuring_factor=channel.obscuring_factor,
        anchors=channel.anchors,
    )
