"""A hosted node as FUNDER: the node opens a channel from its on-chain wallet (sans-IO).

Theory of operation
-------------------
The operator asks a node to open (`vajra node ID open`); the runtime connects to the
peer and calls `Node.open_channel_out(peer, OpenRequest, now)`. The node then goes
through these steps; every box on the right is something the runtime does for it:

    open_channel_out   -> NewChannelKeys request          signer: the channel's keys
    keys granted       -> Establishment.funder: open_channel to the peer
    accept_channel     -> FundChannel(tcid, script, amount) wallet: the funding PSBT
                                                           (output = P2WSH of the 2-of-2)
    funding_built(tcid, outpoint) -> SetupChannel, sign the peer's commitment 0,
                          funding_created                  signer: validates, signs
    funding_signed     -> validate our commitment 0        signer
    FundingSignedEvent -> BroadcastFunding(channel_id, outpoint)
                                                           signer: signs the funding PSBT
                                                           under the device's on-chain
                                                           authorisation; broadcaster
    funding output at depth (the same chain wakes as the fundee) -> channel_ready

The order is BOLT 2's: the funder "MUST NOT broadcast the funding transaction" before
it has a valid `funding_signed`; the signer enforces the same (decision 0017: a PSBT
funding a channel whose holder commitment 0 is not validated is refused). Until
`BroadcastFunding` the opening costs nothing on chain: a failure or a disconnection
forgets it (`ChannelBook.pump`) and the runtime drops its unsigned PSBT
(`funding_failed` tells the node when the wallet could not build one).
"""

from __future__ import annotations

from dataclasses import dataclass

from vajra.bitcoin.script import p2wsh
from vajra.bitcoin.tx import OutPoint
from vajra.channel.establish import Establishment, FundingOutpoint, State
from vajra.channel.establish_io import MIN_DUST_LIMIT_SAT, OpenArgs
from vajra.channel.scripts import funding_script
from vajra.channel.spec import SideParams
from vajra.errors import VajraError
from vajra.wire import ErrorMessage

MAX_FUNDING_SAT = 16_777_215
"""BOLT 2: without `option_support_large_channel` the funder "MUST set funding_satoshis
to less than 2^24 satoshi"."""


class OpenRefused(VajraError):
    """An open the node will not start (`code`: stable, for the admin API and CLI)."""

    def __init__(self, code: str, detail: str) -> None:
        self.code, self.detail = code, detail
        super().__init__(f"{code}: {detail}")


@dataclass(frozen=True, slots=True)
class OpenRequest:
    """What the operator asked for. `temporary_channel_id`: 32 random bytes chosen by
    the runtime (the node has no randomness of its own)."""

    temporary_channel_id: bytes
    funding_sat: int
    push_msat: int = 0
    feerate_per_kw: int = 2_500
    """The commitment feerate we propose (sat per 1000 weight)."""
    anchors: bool = True


@dataclass(frozen=True, slots=True)
class FundChannel:
    """Effect: build (do not sign, do not broadcast) a transaction from the node's wallet
    paying `amount_sat` to `script_pubkey`; answer `Node.funding_built` with its
    outpoint, or `Node.funding_failed` with a reason."""

    peer: bytes
    temporary_channel_id: bytes
    script_pubkey: bytes
    amount_sat: int


@dataclass(frozen=True, slots=True)
class BroadcastFunding:
    """Effect: our commitment 0 is validated; have the funding PSBT signed (device
    authorisation) and broadcast. The channel is now renamed `channel_id`."""

    peer: bytes
    temporary_channel_id: bytes
    channel_id: bytes
    outpoint: OutPoint


def check_open(req: OpenRequest, min_funding_sat: int) -> OpenArgs:
    """The request as BOLT 2 `open_channel` arguments. Raises `OpenRefused`."""
    if len(req.temporary_channel_id) != 32:
        raise OpenRefused("bad_request", "temporary_channel_id is 32 bytes")
    if not min_funding_sat <= req.funding_sat <= MAX_FUNDING_SAT:
        raise OpenRefused("bad_amount", f"funding must be {min_funding_sat}..{MAX_FUNDING_SAT} sat")
    # BOLT 2: "MUST set push_msat to equal or less than 1000 * funding_satoshis".
    if not 0 <= req.push_msat <= req.funding_sat * 1000:
        raise OpenRefused("bad_amount", "push_msat must be 0..1000 * funding_sat")
    return OpenArgs(req.temporary_channel_id, req.funding_sat, req.push_msat,
                    req.feerate_per_kw, req.anchors)  # fmt: skip


def funder_local_params(funding_sat: int, to_self_delay: int, max_htlcs: int) -> SideParams:
    """Our limits as funder (as `NodeConfig.local_params` for the fundee: reserve 1%,
    at least the dust floor; in-flight the whole channel)."""
    return SideParams(
        dust_limit_sat=MIN_DUST_LIMIT_SAT,
        channel_reserve_sat=max(funding_sat // 100, MIN_DUST_LIMIT_SAT),
        htlc_minimum_msat=1,
        max_accepted_htlcs=max_htlcs,
        max_htlc_value_in_flight_msat=funding_sat * 1000,
        to_self_delay=to_self_delay,
    )


def funding_output(est: Establishment) -> bytes:
    """BOLT 3: P2WSH of `2 <pubkey1> <pubkey2> 2 OP_CHECKMULTISIG` (after accept_channel:
    the peer's funding_pubkey is known)."""
    assert est.remote_basepoints is not None
    ours = est.keys.basepoints.funding_pubkey
    return p2wsh(funding_script(ours, est.remote_basepoints.funding_pubkey))


def wants_funding(est: Establishment) -> bool:
    return est.state is State.AWAIT_FUNDING_OUTPOINT


def give_outpoint(est: Establishment, outpoint: OutPoint, now: float) -> None:
    est.command(FundingOutpoint(outpoint), now)


def abandon(est: Establishment, reason: str) -> ErrorMessage:
    """Fail an opening whose funding could not be built; the `error` for the peer."""
    est.state = State.FAILED
    return ErrorMessage(
        est.temporary_channel_id, f"vajra: funding failed: {reason}".encode()[:1000]
    )
