"""A channel at rest survives encode -> decode: same bytes again, and it carries on.

The Hypothesis test drives the two-endpoint pair of `test_channel_pair` and, whenever an
endpoint is at rest, replaces its channel by `decode(encode(channel))` (so everything
after runs on decoded channels) and checks `encode(decode(x)) == x`. The pair must still
agree byte for byte and conserve every msat. Garbage and mutated encodings raise
`DecodeError` only.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.channel.pair import Pair, make_pair
from tests.unit.channel.test_channel_pair import (
    ACTIONS,
    _authorise_all,
    _check_agreement,
    _check_conservation,
    _quiescent,
    _step,
)
from tests.unit.channel.test_establish import OUTPOINT, Side_, _open, _run
from vajra.channel import signer_io as io
from vajra.channel.establish import (
    WAITING,
    Establishment,
    FundingConfirmed,
    FundingOutpoint,
    State,
)
from vajra.channel.machine import State as ChannelState
from vajra.channel.persist import (
    NotAtRest,
    decode_channel,
    decode_establishment,
    encode_channel,
    encode_establishment,
)
from vajra.crypto.hashes import sha256
from vajra.errors import DecodeError


def _reload(p: Pair) -> int:
    reloaded = 0
    for ep in (p.a, p.b):
        if ep.channel.awaiting_signer or not ep.channel.idle_outputs():
            continue
        data = encode_channel(ep.channel)
        ep.channel = decode_channel(data)
        assert encode_channel(ep.channel) == data
        reloaded += 1
    return reloaded


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(actions=st.lists(ACTIONS, min_size=20, max_size=100), anchors=st.booleans())
def test_decoded_channels_carry_on_and_agree(
    actions: list[tuple[str, bool, int, bool]], anchors: bool
) -> None:
    p = make_pair(anchors=anchors)
    counter = [0, 0]
    for action in actions:
        _step(p, action, counter)
        _reload(p)
        _check_conservation(p)
        if _quiescent(p):
            _check_agreement(p)
    _authorise_all(p.a)
    _authorise_all(p.b)
    p.settle_all()
    assert _reload(p) == 2
    _check_conservation(p)
    _check_agreement(p)
    for ep in (p.a, p.b):
        assert ep.channel.state is ChannelState.NORMAL


def test_a_decoded_copy_answers_exactly_like_the_original() -> None:
    p = make_pair()
    preimage = b"\x07" * 32
    p.a.signer.authorise_payment(sha256(preimage), 10**12)
    p.a.channel.command(io.AddHtlc(9_000_000, sha256(preimage), 700_000), 0.0)
    p.flush()
    p.settle_all()
    copy = decode_channel(encode_channel(p.b.channel))
    for ch in (p.b.channel, copy):
        ch.command(io.FulfillHtlc(0, preimage), 0.0)
        ch.command(io.SignCommitment(), 0.0)
    assert p.b.channel.messages_to_send() == copy.messages_to_send()
    assert p.b.channel.next_signer_request() == copy.next_signer_request()
    assert p.b.channel.state is copy.state is ChannelState.AWAIT_COUNTERPARTY_SIGS


def test_not_at_rest_is_refused_with_the_state() -> None:
    p = make_pair()
    p.a.signer.authorise_payment(sha256(b"\x01" * 32), 10**12)
    p.a.channel.command(io.AddHtlc(9_000_000, sha256(b"\x01" * 32), 700_000), 0.0)
    with pytest.raises(NotAtRest):  # update_add_htlc not collected yet
        encode_channel(p.a.channel)
    p.flush()
    p.a.channel.command(io.SignCommitment(), 0.0)
    p.flush()
    with pytest.raises(NotAtRest) as e:
        encode_channel(p.a.channel)
    assert e.value.state == "await_counterparty_sigs"


def test_establishment_at_rest_round_trips_and_completes() -> None:
    a, b = _open()
    for m in a.est.messages_to_send():  # open_channel
        b.est.receive_message(m, 0.0)
    b.est.messages_to_send()  # accept_channel lost on purpose: b is only at rest now
    assert b.est.state is State.AWAIT_FUNDING_CREATED
    data = encode_establishment(b.est)
    copy = decode_establishment(data)
    assert encode_establishment(copy) == data
    # The whole open, with both sides reloaded at every point where they are at rest.
    a, b = _open()
    for _ in range(30):
        for side in (a, b):
            if side.est.state not in WAITING and side.est.idle_outputs():
                raw = encode_establishment(side.est)
                side.est = decode_establishment(raw)
                assert encode_establishment(side.est) == raw
        _run_once(a, b)
    assert a.est.state is State.READY and b.est.state is State.READY
    assert encode_channel(a.est.channel()) == encode_channel(
        decode_channel(encode_channel(a.est.channel()))
    )


def _run_once(a: Side_, b: Side_) -> None:
    for src, dst in ((a, b), (b, a)):
        for m in src.est.messages_to_send():
            dst.est.receive_message(m, 0.0)
        src.answer()
        while src.est.next_event() is not None:
            pass
        if src.est.state is State.AWAIT_FUNDING_OUTPOINT:
            src.est.command(FundingOutpoint(OUTPOINT), 0.0)
        if src.est.state is State.AWAIT_DEPTH and not src.est.sent_ready:
            src.est.command(FundingConfirmed(), 0.0)


def test_establishment_waiting_for_the_signer_is_not_at_rest() -> None:
    a, b = _open()
    _run(a, b)  # complete, then check a fresh one mid-request
    a, b = _open()
    for m in a.est.messages_to_send():
        b.est.receive_message(m, 0.0)
    for m in b.est.messages_to_send():
        a.est.receive_message(m, 0.0)
    a.est.command(FundingOutpoint(OUTPOINT), 0.0)
    assert a.est.state is State.SETUP_SIGNER
    with pytest.raises(NotAtRest) as e:
        encode_establishment(a.est)
    assert e.value.state == "setup_signer"
    assert isinstance(a.est.next_signer_request(), io.SetupChannel)


@given(st.binary(max_size=400))
def test_garbage_raises_decode_error_only(data: bytes) -> None:
    for decode in (decode_channel, decode_establishment):
        with pytest.raises(DecodeError):
            decode(data)


def _sample_channel_bytes() -> bytes:
    p = make_pair()
    preimage = b"\x09" * 32
    p.a.signer.authorise_payment(sha256(preimage), 10**12)
    p.a.channel.command(io.AddHtlc(9_000_000, sha256(preimage), 700_000), 0.0)
    p.flush()
    p.settle_all()
    p.b.channel.command(io.FulfillHtlc(0, preimage), 0.0)
    p.flush()
    return encode_channel(p.b.channel)


_SAMPLE = _sample_channel_bytes()


@settings(max_examples=300, deadline=None)
@given(st.integers(0, len(_SAMPLE) * 8 - 1), st.integers(0, len(_SAMPLE)))
def test_mutated_encodings_decode_or_raise_decode_error(bit: int, cut: int) -> None:
    flipped = bytearray(_SAMPLE)
    flipped[bit // 8] ^= 1 << (bit % 8)
    for data in (bytes(flipped), _SAMPLE[:cut]):
        try:
            ch = decode_channel(data)
        except DecodeError:
            continue
        encode_channel(ch)  # a channel that decodes is a whole one


def test_a_fresh_fundee_round_trips() -> None:
    fresh = _open()[1].est
    copy = decode_establishment(encode_establishment(fresh))
    assert isinstance(copy, Establishment) and copy.state is State.AWAIT_OPEN
    assert (copy.config, copy.keys) == (fresh.config, fresh.keys)
