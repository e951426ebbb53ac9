"""BOLT 2 v1 establishment checks as functions: the receiver rules of `open_channel` and
`accept_channel`, `channel_type` negotiation, and commitment 0 (`establish.py` applies
them in its transition table). Each broken rule is a `ProtocolError` whose reason is
the rule's name and whose `message` is the message judged.
"""

from __future__ import annotations

from vajra.bitcoin.tx import OutPoint
from vajra.channel.establish_io import (
    MIN_DUST_LIMIT_SAT,
    ChannelType,
    EstablishConfig,
    LocalKeys,
    OpenArgs,
)
from vajra.channel.keys import Basepoints
from vajra.channel.signer_io import ChannelBehind
from vajra.channel.spec import ChannelParams, CommitSpec, Side, SideParams
from vajra.errors import ProtocolError
from vajra.wire import (
    AcceptChannel,
    AcceptChannelTlvs,
    ChannelReestablish,
    OpenChannel,
    OpenChannelTlvs,
)

ANNOUNCE_CHANNEL = 1  # channel_flags bit 0


def rule(name: str, state: str, message: str | None) -> ProtocolError:
    return ProtocolError(name, state=state, message=message)


def open_type(
    config: EstablishConfig, m: OpenChannel, *, peer: bytes, alias: int | None, state: str
) -> ChannelType:
    """The fundee's judgement of `open_channel`'s own fields and channel type (the parts
    shared with accept_channel are `remote_side`)."""
    name = m.NAME
    if m.chain_hash != config.chain_hash:
        raise rule("open-unknown-chain", state, name)
    if not config.feerate_range[0] <= m.feerate_per_kw <= config.feerate_range[1]:
        raise rule("open-feerate-out-of-range", state, name)
    if m.funding_satoshis < config.min_funding_sat:
        raise rule("open-funding-too-small", state, name)
    if m.push_msat > m.funding_satoshis * 1000:
        raise rule("open-push-exceeds-funding", state, name)
    ctype = _parse(m.tlvs.channel_type, state, name)
    # "if announce_channel is true: MUST NOT send channel_type with option_scid_alias"
    if ctype.scid_alias and m.channel_flags & ANNOUNCE_CHANNEL:
        raise rule("channel-type-scid-alias-announced", state, name)
    if ctype.scid_alias and alias is None:
        raise rule("channel-type-scid-alias-unavailable", state, name)
    # "the channel_type includes option_zeroconf and it does not trust the sender"
    if ctype.zeroconf and peer not in config.trusted_lsps:
        raise rule("channel-type-zeroconf-untrusted", state, name)
    return ctype


def accept_type(proposed: ChannelType, m: AcceptChannel, *, state: str) -> ChannelType:
    """The funder's judgement: "channel_type does not match the channel_type from
    open_channel: MUST fail the channel"."""
    ctype = _parse(m.tlvs.channel_type, state, m.NAME)
    if ctype != proposed:
        raise rule("channel-type-mismatch", state, m.NAME)
    # "if channel_type includes option_zeroconf: MUST set minimum_depth to zero"
    if ctype.zeroconf and m.minimum_depth != 0:
        raise rule("zeroconf-minimum-depth", state, m.NAME)
    return ctype


def _parse(data: bytes | None, state: str, name: str) -> ChannelType:
    if data is None:
        raise rule("channel-type-required", state, name)
    ctype = ChannelType.parse(data)
    if ctype is None:
        raise rule("channel-type-unsupported", state, name)
    return ctype


def remote_side(
    config: EstablishConfig, m: OpenChannel | AcceptChannel, state: str
) -> tuple[SideParams, Basepoints]:
    """BOLT 2 "The receiving node MUST fail the channel if" (the parts both roles
    share): the peer's limits and basepoints."""
    name = m.NAME
    if m.to_self_delay > config.max_to_self_delay:
        raise rule("to-self-delay-too-large", state, name)
    if m.max_accepted_htlcs > 483:
        raise rule("max-accepted-htlcs-too-large", state, name)
    if m.dust_limit_satoshis < MIN_DUST_LIMIT_SAT:
        raise rule("dust-limit-too-small", state, name)
    if m.dust_limit_satoshis > m.channel_reserve_satoshis and m.channel_reserve_satoshis:
        raise rule("dust-limit-above-reserve", state, name)
    if m.channel_reserve_satoshis < config.local.dust_limit_sat:
        raise rule("reserve-below-our-dust-limit", state, name)
    side = SideParams(
        m.dust_limit_satoshis, m.channel_reserve_satoshis, m.htlc_minimum_msat,
        m.max_accepted_htlcs, m.max_htlc_value_in_flight_msat, m.to_self_delay,
    )  # fmt: skip
    points = Basepoints(
        m.funding_pubkey, m.revocation_basepoint, m.payment_basepoint,
        m.delayed_payment_basepoint, m.htlc_basepoint, m.first_per_commitment_point,
    )  # fmt: skip
    return side, points


def commitment_zero(
    config: EstablishConfig,
    keys: LocalKeys,
    args: OpenArgs,
    remote: tuple[SideParams, Basepoints],
    outpoint: OutPoint,
    funder: Side,
    *,
    state: str,
    message: str | None,
) -> tuple[ChannelParams, CommitSpec]:
    """The channel's parameters and commitment 0, with BOLT 2's checks on them ("the
    funder's amount ... is not sufficient for full fee payment"; "both to_local and
    to_remote amounts ... are less than or equal to channel_reserve_satoshis")."""
    # BOLT 2: channel_id is funding_txid XOR funding_output_index (last 2 bytes).
    cid = bytearray(outpoint.txid)
    cid[30] ^= outpoint.vout >> 8 & 0xFF
    cid[31] ^= outpoint.vout & 0xFF
    params = ChannelParams(
        bytes(cid), outpoint, args.funding_sat, funder, args.anchors,
        (config.local, remote[0]), (keys.basepoints, remote[1]),
    )  # fmt: skip
    funder_msat = args.funding_sat * 1000 - args.push_msat
    balances = [0, 0]
    balances[funder], balances[funder.other] = funder_msat, args.push_msat
    spec = CommitSpec(args.feerate_per_kw, (balances[0], balances[1]), ())
    need = max(params.fee_msat(spec, Side.LOCAL), params.fee_msat(spec, Side.REMOTE))
    if funder_msat < need:
        raise rule("funder-cannot-afford-fee", state, message)
    if all(b <= params.reserve_msat(s) for s, b in zip(Side, balances, strict=True)):
        raise rule("both-balances-below-reserve", state, message)
    return params, spec


def open_message(
    config: EstablishConfig, keys: LocalKeys, args: OpenArgs, ctype: ChannelType
) -> OpenChannel:
    """Our `open_channel`: unannounced (`channel_flags` 0), with `channel_type` and an
    empty `upfront_shutdown_script` ("if it includes open_channel_tlvs: MUST include
    upfront_shutdown_script")."""
    lp, bp = config.local, keys.basepoints
    tlvs = OpenChannelTlvs(upfront_shutdown_script=b"", channel_type=ctype.to_bytes())
    return OpenChannel(
        config.chain_hash, args.temporary_channel_id, args.funding_sat, args.push_msat,
        lp.dust_limit_sat, lp.max_htlc_value_in_flight_msat, lp.channel_reserve_sat,
        lp.htlc_minimum_msat, args.feerate_per_kw, lp.to_self_delay, lp.max_accepted_htlcs,
        bp.funding_pubkey, bp.revocation_basepoint, bp.payment_basepoint,
        bp.delayed_payment_basepoint, bp.htlc_basepoint, bp.first_per_commitment_point, 0,
        tlvs,
    )  # fmt: skip


def accept_message(
    config: EstablishConfig,
    keys: LocalKeys,
    temporary_channel_id: bytes,
    minimum_depth: int,
    ctype: ChannelType,
) -> AcceptChannel:
    """Our `accept_channel` ("MUST set channel_type to the channel_type from
    open_channel")."""
    lp, bp = config.local, keys.basepoints
    tlvs = AcceptChannelTlvs(upfront_shutdown_script=b"", channel_type=ctype.to_bytes())
    return AcceptChannel(
        temporary_channel_id, lp.dust_limit_sat, lp.max_htlc_value_in_flight_msat,
        lp.channel_reserve_sat, lp.htlc_minimum_msat, minimum_depth, lp.to_self_delay,
        lp.max_accepted_htlcs, bp.funding_pubkey, bp.revocation_basepoint,
        bp.payment_basepoint, bp.delayed_payment_basepoint, bp.htlc_basepoint,
        bp.first_per_commitment_point, tlvs,
    )  # fmt: skip


def check_reestablish_0(m: ChannelReestablish, *, state: str) -> ChannelBehind | None:
    """The peer's `channel_reestablish` while no commitment past 0 exists: numbers 1 and
    0 and an all-zero secret. Returns `ChannelBehind` when the peer claims more (we then
    fail without broadcasting); raises ProtocolError for the other broken rules."""
    if m.next_commitment_number == 0:
        raise rule("reestablish-next-commitment-zero", state, m.NAME)
    if m.next_commitment_number > 1 or m.next_revocation_number > 0:
        return ChannelBehind(False, max(m.next_commitment_number, m.next_revocation_number), 0)
    if m.your_last_per_commitment_secret != bytes(32):
        raise rule("reestablish-wrong-secret", state, m.NAME)
    return None
