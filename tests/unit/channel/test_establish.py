"""v1 establishment in both roles, with each side's real signer, into normal operation."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.unit.channel.pair import Endpoint, Pair, secrets, side_params
from tests.unit.channel.test_channel_pair import _check_agreement, _check_conservation
from vajra.bitcoin.tx import OutPoint
from vajra.channel import signer_io as io
from vajra.channel.establish import (
    ChannelType,
    EstablishConfig,
    Establishment,
    FundingConfirmed,
    FundingOutpoint,
    FundingSignedEvent,
    LocalKeys,
    OpenArgs,
    State,
)
from vajra.channel.keys import ChannelSecrets
from vajra.crypto.hashes import sha256
from vajra.errors import PolicyViolation, ProtocolError
from vajra.signer.channels import ChannelSigner
from vajra.wire import AcceptChannel, OpenChannel, OpenChannelTlvs

CHAIN = sha256(b"regtest")
OUTPOINT = OutPoint(sha256(b"funding tx"), 1)


class Side_:
    def __init__(self, est: Establishment, secret: ChannelSecrets) -> None:
        self.est, self.secret = est, secret
        self.signer: ChannelSigner | None = None
        self.refuse: str | None = None
        self.asked: list[io.SignerRequest] = []

    def answer(self) -> bool:
        req = self.est.next_signer_request()
        if req is None:
            return False
        self.asked.append(req)
        if self.refuse:
            result: io.SignerResult = io.SignerRefused(self.refuse)
        elif isinstance(req, io.SetupChannel):
            assert self.signer is None  # the first request, and only once
            try:
                self.signer = ChannelSigner.setup(self.secret, req)
                result = io.ChannelSetUp()
            except PolicyViolation as e:
                result = io.SignerRefused(e.reason, e.detail)
        else:
            assert self.signer is not None
            result = self.signer.handle(req)
        self.est.signer_result(result, 0.0)
        return True


def _keys(s: ChannelSecrets) -> LocalKeys:
    return LocalKeys(s.basepoints(), s.per_commitment_point(1))


def _open(anchors: bool = True) -> tuple[Side_, Side_]:
    sa, sb = secrets(b"alice"), secrets(b"bob")
    args = OpenArgs(sha256(b"tmp"), 1_000_000, 300_000_000, 2_500, anchors)
    a = Establishment.funder(EstablishConfig(CHAIN, side_params(546)), _keys(sa), args)
    b = Establishment.fundee(EstablishConfig(CHAIN, side_params(354)), _keys(sb))
    return Side_(a, sa), Side_(b, sb)


def _run(a: Side_, b: Side_) -> list[object]:
    events: list[object] = []
    for _ in range(50):
        moved = False
        for src, dst in ((a, b), (b, a)):
            for m in src.est.messages_to_send():
                dst.est.receive_message(m, 0.0)
                moved = True
            moved = src.answer() or moved
            while (e := src.est.next_event()) is not None:
                events.append(e)
            if src.est.state is State.AWAIT_FUNDING_OUTPOINT:
                src.est.command(FundingOutpoint(OUTPOINT), 0.0)
                moved = True
            if src.est.state is State.AWAIT_DEPTH and not src.est.sent_ready:
                src.est.command(FundingConfirmed(), 0.0)
                moved = True
        if not moved:
            return events
    raise AssertionError("establishment did not settle")


@pytest.mark.parametrize("anchors", [True, False])
def test_open_both_roles_then_pay(anchors: bool) -> None:
    a, b = _open(anchors)
    events = _run(a, b)
    assert a.est.state is State.READY and b.est.state is State.READY
    assert events == [FundingSignedEvent(OUTPOINT)]  # the funder may broadcast
    assert a.signer is not None and b.signer is not None
    p = Pair(Endpoint(a.est.channel(), a.signer), Endpoint(b.est.channel(), b.signer))
    _check_agreement(p)  # commitment 0, built on each side, byte for byte
    preimage = b"\x05" * 32
    a.signer.authorise_payment(sha256(preimage), 10**12)
    p.a.channel.command(io.AddHtlc(7_000_000, sha256(preimage), 700_000), 0.0)
    p.flush()
    p.settle_all()
    p.b.channel.command(io.FulfillHtlc(0, preimage), 0.0)
    p.flush()
    p.settle_all()
    _check_conservation(p)
    _check_agreement(p)
    assert p.b.channel.ledger.local_commit.spec.balance_msat[0] == 307_000_000


def _open_msg(a: Side_, **changes: object) -> OpenChannel:
    (msg,) = a.est.messages_to_send()
    assert isinstance(msg, OpenChannel)
    return replace(msg, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "rule"),
    [
        ({"chain_hash": sha256(b"mainnet?")}, "open-unknown-chain"),
        ({"push_msat": 1_000_000_001}, "open-push-exceeds-funding"),
        ({"funding_satoshis": 1_000}, "open-funding-too-small"),
        ({"tlvs": OpenChannelTlvs()}, "channel-type-required"),
        ({"tlvs": OpenChannelTlvs(channel_type=b"\x01")}, "channel-type-unsupported"),
        ({"to_self_delay": 5_000}, "to-self-delay-too-large"),
        ({"dust_limit_satoshis": 100}, "dust-limit-too-small"),
        ({"max_accepted_htlcs": 484}, "max-accepted-htlcs-too-large"),
        (
            {"funding_satoshis": 100_000, "push_msat": 0, "feerate_per_kw": 100_000},
            "funder-cannot-afford-fee",
        ),
        ({"funding_satoshis": 20_000, "push_msat": 10_000_000}, "both-balances-below-reserve"),
    ],
)
def test_fundee_refuses_a_bad_open_naming_the_rule(changes: dict[str, object], rule: str) -> None:
    a, b = _open()
    b.est.receive_message(_open_msg(a, **changes), 0.0)
    (event,) = [e for e in iter(b.est.next_event, None)]
    assert isinstance(event, io.ChannelFailed) and isinstance(event.error, ProtocolError)
    assert event.error.reason == rule and event.error.message == "open_channel"
    assert [m.NAME for m in b.est.messages_to_send()] == ["error"]


def test_signer_refusing_commitment_0_fails_the_open() -> None:
    a, b = _open()
    b.refuse = "policy-test"
    _run(a, b)
    assert b.est.state is State.FAILED and a.est.state is State.FAILED
    with pytest.raises(ProtocolError):
        b.est.channel()


def test_setup_channel_is_each_sides_first_signer_request() -> None:
    a, b = _open()
    _run(a, b)
    assert a.est.state is State.READY and b.est.state is State.READY
    assert [type(r).__name__ for r in a.asked] == [
        "SetupChannel", "SignCounterpartyCommitment", "ValidateHolderCommitment"
    ]  # fmt: skip
    assert [type(r).__name__ for r in b.asked] == [
        "SetupChannel", "ValidateHolderCommitment", "SignCounterpartyCommitment"
    ]  # fmt: skip
    for side in (a, b):
        req = side.asked[0]
        assert isinstance(req, io.SetupChannel) and side.est.params is not None
        assert req.params == side.est.params and req.initial_spec == side.est.spec
        assert req.params.funding_outpoint == OUTPOINT


def test_signer_refusing_setup_fails_the_open() -> None:
    a, b = _open()
    b.secret = secrets(b"mallory")  # not the keys b announced: the signer refuses setup
    _run(a, b)
    assert b.est.state is State.FAILED and a.est.state is State.FAILED
    assert b.signer is None


LSP = b"\x02" + b"\x11" * 32


def _open_with(
    *, anchors: bool = True, scid_alias: bool = False, alias_a: int | None = None,
    alias_b: int | None = None, trusted: frozenset[bytes] = frozenset(),
) -> tuple[Side_, Side_]:  # fmt: skip
    sa, sb = secrets(b"alice"), secrets(b"bob")
    args = OpenArgs(sha256(b"tmp"), 1_000_000, 300_000_000, 2_500, anchors, scid_alias)
    a = Establishment.funder(
        EstablishConfig(CHAIN, side_params(546)), _keys(sa), args, alias=alias_a
    )
    config_b = EstablishConfig(CHAIN, side_params(354), trusted_lsps=trusted)
    b = Establishment.fundee(config_b, _keys(sb), peer=LSP, alias=alias_b)
    return Side_(a, sa), Side_(b, sb)


def test_scid_alias_both_aliases_travel_in_channel_ready() -> None:
    a, b = _open_with(scid_alias=True, alias_a=0xA11A5, alias_b=0xB0B)
    _run(a, b)
    assert a.est.state is State.READY and b.est.state is State.READY
    assert b.est.channel_type == ChannelType(True, scid_alias=True)
    ca, cb = a.est.channel(), b.est.channel()
    assert (ca.local_alias, ca.remote_alias) == (0xA11A5, 0xB0B)
    assert (cb.local_alias, cb.remote_alias) == (0xB0B, 0xA11A5)


def test_zeroconf_from_a_trusted_lsp_is_ready_before_any_confirmation() -> None:
    a, b = _open_with(trusted=frozenset({LSP}), scid_alias=True, alias_a=1, alias_b=2)
    zeroconf = ChannelType(True, scid_alias=True, zeroconf=True)
    a.est.channel_type = zeroconf  # the LSP's open (our funder role never proposes it)
    b.est.receive_message(_open_msg(a, tlvs=OpenChannelTlvs(b"", zeroconf.to_bytes())), 0.0)
    (accept,) = b.est.messages_to_send()
    assert isinstance(accept, AcceptChannel) and accept.minimum_depth == 0
    a.est.receive_message(accept, 0.0)
    a.est.command(FundingOutpoint(OUTPOINT), 0.0)
    for _ in range(10):
        for src, dst in ((a, b), (b, a)):
            for m in src.est.messages_to_send():
                dst.est.receive_message(m, 0.0)
            src.answer()
    # B sent channel_ready with no FundingConfirmed; A (the LSP) does the same.
    assert b.est.sent_ready and b.est.state is State.AWAIT_CHANNEL_READY
    a.est.command(FundingConfirmed(), 0.0)
    for m in a.est.messages_to_send():
        b.est.receive_message(m, 0.0)
    assert b.est.state is State.READY and b.est.channel().remote_alias == 1


@pytest.mark.parametrize(
    ("ctype", "flags", "trusted", "alias", "rule"),
    [
        (ChannelType(True, zeroconf=True), 0, False, None, "channel-type-zeroconf-untrusted"),
        (ChannelType(True, scid_alias=True), 1, True, 7, "channel-type-scid-alias-announced"),
        (ChannelType(True, scid_alias=True), 0, True, None, "channel-type-scid-alias-unavailable"),
        (b"\x40\x00\x00", 0, True, 7, "channel-type-unsupported"),  # anchors, no remotekey
        (b"\x01\x00\x00\x00\x10\x00", 0, True, 7, "channel-type-unsupported"),  # bit 40
        (b"\x00\x10\x00", 0, True, 7, "channel-type-unsupported"),  # not minimal
    ],
)
def test_channel_type_combinations_we_refuse(
    ctype: ChannelType | bytes, flags: int, trusted: bool, alias: int | None, rule: str
) -> None:
    a, b = _open_with(trusted=frozenset({LSP}) if trusted else frozenset(), alias_b=alias)
    raw = ctype.to_bytes() if isinstance(ctype, ChannelType) else ctype
    msg = _open_msg(a, channel_flags=flags, tlvs=OpenChannelTlvs(b"", raw))
    b.est.receive_message(msg, 0.0)
    (event,) = list(iter(b.est.next_event, None))
    assert isinstance(event, io.ChannelFailed) and isinstance(event.error, ProtocolError)
    assert event.error.reason == rule


def test_channel_type_bitmaps_round_trip() -> None:
    for anchors in (False, True):
        for alias in (False, True):
            for zc in (False, True):
                t = ChannelType(anchors, alias, zc)
                assert ChannelType.parse(t.to_bytes()) == t
