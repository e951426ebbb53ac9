"""`ChannelBook`'s funder half (see `vajra.node.funding` for the steps): checks of an
open we start, the funder `Establishment` once the keys are in, the funding outpoint
from the runtime's wallet, and the effects a funder adds (`FundChannel`,
`BroadcastFunding`). Sans-IO; mixed into `vajra.node.channels.ChannelBook`."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from vajra.bitcoin.tx import OutPoint
from vajra.channel.establish import Establishment, FundingSignedEvent, LocalKeys
from vajra.channel.establish_io import EstablishConfig
from vajra.node.aliases import scid_alias
from vajra.node.config import MAX_CHANNELS, MAX_PENDING_PER_PEER, SHUTDOWN_ANYSEGWIT, NodeConfig
from vajra.node.effects import Effect, SendTo
from vajra.node.funding import (
    BroadcastFunding,
    FundChannel,
    OpenRefused,
    OpenRequest,
    abandon,
    check_open,
    funder_local_params,
    funding_output,
    give_outpoint,
    wants_funding,
)
from vajra.node.requests import NodeRequest

if TYPE_CHECKING:
    from vajra.channel.establish_io import OpenArgs
    from vajra.node.channels import ChannelEntry


class FunderBook:
    """The funder methods of `ChannelBook` (which holds these attributes)."""

    __slots__ = ()
    channels: dict[bytes, ChannelEntry]
    config: NodeConfig
    effects: list[Effect]
    requests: deque[NodeRequest]

    def pump(self, key: bytes, now: float = 0.0) -> None:
        raise NotImplementedError

    def check_open_out(self, peer: bytes, req: OpenRequest) -> OpenArgs:
        """Our own open: the same bounds as an inbound one. Raises `OpenRefused`."""
        if len(peer) != 33:
            raise OpenRefused("bad_request", "peer node id is 33 bytes")
        args = check_open(req, self.config.inbound.min_funding_sat)
        if req.temporary_channel_id in self.channels:
            raise OpenRefused("bad_request", "temporary_channel_id already in use")
        if len(self.channels) >= MAX_CHANNELS:
            raise OpenRefused("too_many_channels", f"at most {MAX_CHANNELS} per node")
        pending = sum(1 for e in self.channels.values() if e.peer == peer and e.chan is None)
        if pending >= MAX_PENDING_PER_PEER:
            raise OpenRefused("too_many_openings", "too many channels being opened with peer")
        return args

    def funder_keys(self, key: bytes, e: ChannelEntry, keys: LocalKeys, now: float) -> None:
        """Keys granted for our open: the funder core sends `open_channel`."""
        args, e.open_args = e.open_args, None
        assert args is not None
        c = self.config
        local = funder_local_params(args.funding_sat, c.to_self_delay, c.max_accepted_htlcs)
        cfg = EstablishConfig(
            chain_hash=c.chain_hash, local=local, minimum_depth=c.minimum_depth,
            min_funding_sat=c.inbound.min_funding_sat, feerate_range=c.feerate_range,
            anysegwit=SHUTDOWN_ANYSEGWIT,
        )  # fmt: skip
        alias = scid_alias(e.channel_index)
        e.est = Establishment.funder(cfg, keys, args, peer=e.peer, alias=alias)
        self.pump(key, now)

    def funding_built(self, temporary_channel_id: bytes, outpoint: OutPoint, now: float) -> bool:
        """The runtime's wallet built the funding transaction (unsigned): its outpoint.
        False if no opening waits for it (failed or abandoned meanwhile)."""
        e = self.channels.get(temporary_channel_id)
        if e is None or e.est is None or not wants_funding(e.est):
            return False
        give_outpoint(e.est, outpoint, now)
        self.pump(temporary_channel_id, now)
        return True

    def funding_failed(self, temporary_channel_id: bytes, reason: str) -> None:
        """The wallet could not build the funding (insufficient funds...): the opening
        is abandoned and the peer told with an `error`."""
        e = self.channels.pop(temporary_channel_id, None)
        if e is not None and e.est is not None and wants_funding(e.est):
            self.effects.append(SendTo(e.peer, abandon(e.est, reason)))

    def funder_outputs(self, key: bytes, e: ChannelEntry, ev: object) -> bool:
        """`pump`'s funder part for one core event: True if it was ours."""
        if isinstance(ev, FundingSignedEvent):
            # BOLT 2: funding_signed is valid: the funder may broadcast now; from here
            # on the channel exists on chain even if it fails.
            e.committed = True
            assert e.est is not None
            tcid = e.est.temporary_channel_id
            self.effects.append(BroadcastFunding(e.peer, tcid, key, ev.outpoint))
            return True
        return False

    def ask_funding(self, key: bytes, e: ChannelEntry) -> None:
        """After accept_channel: ask the runtime's wallet for the funding transaction."""
        est = e.est
        if est is not None and wants_funding(est) and not e.funding_asked:
            e.funding_asked = True
            assert est.open_args is not None
            amount = est.open_args.funding_sat
            self.effects.append(FundChannel(e.peer, key, funding_output(est), amount))
