"""What the operator decides for every hosted node: which inbound channels it accepts and
the parameters it announces in `accept_channel` (plain data, sans-IO).

The inbound policy is the runtime's configuration (`vajra runtime --min-channel-sat`,
`--channel-peer`), the same for all nodes of a runtime. Our side's limits are computed per
`open_channel` (`local_params`): the reserve we impose scales with the channel (BOLT 2
recommends 1% of the funding) and must be at least the opener's dust limit, our dust
limit must not exceed the opener's reserve, and our in-flight cap is the whole channel.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vajra.bitcoin.chains import CHAIN_HASHES
from vajra.channel.establish_io import MIN_DUST_LIMIT_SAT, EstablishConfig
from vajra.channel.spec import SideParams
from vajra.wire import OpenChannel

DEFAULT_MIN_FUNDING_SAT = 20_000
SHUTDOWN_ANYSEGWIT = True
"""Accept a peer's `shutdown` to any witness program v1-16 (BOLT 2
`option_shutdown_anysegwit`). The runtime always advertises it (`vajra.wire.features`),
and the node is not told the peer's `init`: so it is negotiated with every peer that
advertises it (LND 0.21 does, and closes to P2TR), and a peer that did not and sends
one anyway is accepted rather than warned (a SHOULD; the script only pays the peer).
Our own close script is always P2WPKH."""
MAX_CHANNELS = 64
"""Channels (open or being opened) per node: an `open_channel` beyond this is refused,
so a peer cannot grow a node's sealed state without bound."""
MAX_PENDING_PER_PEER = 4
"""Establishments in progress per peer (BOLT 2 lets a peer open several at once)."""


@dataclass(frozen=True, slots=True)
class InboundPolicy:
    """Which `open_channel` a hosted node accepts (the operator's choice)."""

    min_funding_sat: int = DEFAULT_MIN_FUNDING_SAT
    allowed_peers: frozenset[bytes] | None = None
    """33-byte node ids allowed to open channels; None: anyone."""

    def refusal(self, peer: bytes, funding_sat: int) -> str | None:
        """Why the policy refuses this open (a short phrase for the peer), or None."""
        if self.allowed_peers is not None and peer not in self.allowed_peers:
            return "this node does not accept channels from you"
        if funding_sat < self.min_funding_sat:
            return f"channel too small: minimum {self.min_funding_sat} sat"
        return None


@dataclass(frozen=True, slots=True)
class NodeConfig:
    """Everything a `Node` needs from its runtime besides its state."""

    chain_hash: bytes = CHAIN_HASHES["regtest"]
    inbound: InboundPolicy = field(default_factory=InboundPolicy)
    minimum_depth: int = 3
    """Confirmations of the funding transaction before `channel_ready` (BOLT 2)."""
    to_self_delay: int = 144
    """The CSV delay we impose on the peer's `to_local` outputs (blocks)."""
    max_accepted_htlcs: int = 30
    feerate_range: tuple[int, int] = (253, 100_000)

    def local_params(self, open_msg: OpenChannel) -> SideParams:
        """Our side's limits for a channel opened with `open_msg` (see module docstring)."""
        funding = open_msg.funding_satoshis
        reserve = max(funding // 100, open_msg.dust_limit_satoshis, MIN_DUST_LIMIT_SAT)
        dust = MIN_DUST_LIMIT_SAT
        return SideParams(
            dust_limit_sat=dust,
            channel_reserve_sat=reserve,
            htlc_minimum_msat=1,
            max_accepted_htlcs=self.max_accepted_htlcs,
            max_htlc_value_in_flight_msat=funding * 1000,
            to_self_delay=self.to_self_delay,
        )

    def establish_config(self, open_msg: OpenChannel) -> EstablishConfig:
        return EstablishConfig(
            chain_hash=self.chain_hash,
            local=self.local_params(open_msg),
            minimum_depth=self.minimum_depth,
            min_funding_sat=self.inbound.min_funding_sat,
            feerate_range=self.feerate_range,
            anysegwit=SHUTDOWN_ANYSEGWIT,
        )
