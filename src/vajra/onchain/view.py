"""What a node knows of one channel that its on-chain resolution needs (plain data).

`ChannelView` is read from the node's `machine.Channel` (`view_of`) and kept by the
node once the channel is closed: the fixed parameters, our latest commitment and the
counterparty's unrevoked ones (current, and the next one while its `revoke_and_ack` is
outstanding), each with its number, content and per-commitment point. The node holds no
secret: every spend the view describes is signed by the signer from its own copy.
"""

from __future__ import annotations

from dataclasses import dataclass

from vajra.channel.commitment import Commitment, CommitmentKeys
from vajra.channel.machine import Channel
from vajra.channel.spec import ChannelParams, CommitSpec, Side, build_commitment_for


@dataclass(frozen=True, slots=True)
class CommitmentRef:
    """Commitment `number` of `owner` holding `spec`, built at `point` (the owner's
    per-commitment point of that number)."""

    owner: Side
    number: int
    spec: CommitSpec
    point: bytes

    def build(self, params: ChannelParams) -> Commitment:
        """The BOLT 3 transaction (unsigned; its txid is the signed one's: segwit)."""
        return build_commitment_for(params, self.spec, self.owner, self.number, self.point)

    def keys(self, params: ChannelParams) -> CommitmentKeys:
        bp = params.basepoints
        return CommitmentKeys.derive(self.point, bp[self.owner], bp[self.owner.other])


@dataclass(frozen=True, slots=True)
class ChannelView:
    params: ChannelParams
    holder: CommitmentRef
    """Our latest commitment (the only one of ours we may broadcast)."""
    counterparty: tuple[CommitmentRef, ...]
    """The peer's current commitment, then its next one if signed and not yet revoked."""

    @property
    def revoked_below(self) -> int:
        """Counterparty commitment numbers below this one are revoked (we hold their
        secrets): a spend by one of them is a breach, for the penalty path."""
        return self.counterparty[0].number


def view_of(ch: Channel) -> ChannelView:
    """The view of a channel core (any state; it only reads)."""
    led = ch.ledger
    theirs = [
        CommitmentRef(
            Side.REMOTE, led.remote_commit.number, led.remote_commit.spec, ch.remote_point
        )
    ]
    if led.next_remote is not None:
        theirs.append(
            CommitmentRef(
                Side.REMOTE, led.next_remote.number, led.next_remote.spec, ch.remote_next_point
            )
        )
    ours = CommitmentRef(Side.LOCAL, led.local_commit.number, led.local_commit.spec, ch.local_point)
    return ChannelView(led.channel, ours, tuple(theirs))
