"""The channel signer codec: every request, result and LocalKeys round-trips; garbage
raises DecodeError and nothing else."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vajra.bitcoin.tx import OutPoint, Tx, TxIn, TxOut
from vajra.channel import signer_codec as codec
from vajra.channel import signer_io as io
from vajra.channel.establish_io import LocalKeys
from vajra.channel.keys import Basepoints
from vajra.channel.spec import ChannelParams, CommitSpec, HtlcEntry, Side, SideParams
from vajra.crypto.secp256k1 import pubkey_create
from vajra.errors import DecodeError

POINTS = [pubkey_create(bytes([0] * 31 + [i])) for i in range(1, 9)]
u64 = st.integers(0, 2**64 - 1)
u32 = st.integers(0, 2**32 - 1)
u16 = st.integers(0, 2**16 - 1)
b32 = st.binary(min_size=32, max_size=32)
b64 = st.binary(min_size=64, max_size=64)
point = st.sampled_from(POINTS)
side = st.sampled_from(list(Side))


@st.composite
def specs(draw: st.DrawFn) -> CommitSpec:
    keys = draw(st.lists(st.tuples(side, u64), unique=True, max_size=6))
    htlcs = tuple(HtlcEntry(o, i, draw(u64), draw(b32), draw(u32)) for o, i in sorted(keys))
    return CommitSpec(draw(u32), (draw(u64), draw(u64)), htlcs)


basepoints = st.builds(Basepoints, point, point, point, point, point, point)
side_params = st.builds(SideParams, u64, u64, u64, u16, u64, u16)
params = st.builds(
    ChannelParams,
    b32,
    st.builds(OutPoint, b32, u32),
    u64,
    side,
    st.booleans(),
    st.tuples(side_params, side_params),
    st.tuples(basepoints, basepoints),
)
preimages = st.lists(b32, max_size=3).map(tuple)
sigs = st.lists(b64, max_size=3).map(tuple)

txs = st.builds(
    Tx,
    st.just(2),
    st.lists(
        st.builds(
            TxIn,
            st.builds(OutPoint, b32, u32),
            st.just(b""),
            u32,
            st.lists(st.binary(min_size=1, max_size=40), min_size=1, max_size=3).map(tuple),
        ),
        min_size=1,
        max_size=3,
    ).map(tuple),
    st.lists(st.builds(TxOut, st.integers(0, 2**50), st.binary(max_size=34)), max_size=3).map(
        tuple
    ),
    u32,
)
sweep_claims = st.builds(
    io.SweepClaim,
    side,
    u64,
    st.builds(OutPoint, b32, u32),
    u64,
    st.sampled_from(["to_local", "to_remote", "second_stage", "htlc_timeout", "htlc_preimage"]),
    st.none() | b32,
)

requests = st.one_of(
    st.builds(io.SignHolderCommitment, u64),
    st.builds(io.SignHtlcTransaction, u64, st.builds(OutPoint, b32, u32), st.none() | b32),
    st.builds(
        io.SignSweep,
        st.lists(sweep_claims, max_size=4).map(tuple),
        st.binary(max_size=40),
        u32,
    ),
    st.builds(
        io.SignCounterpartyCommitment,
        u64,
        specs(),
        point,
        st.none() | st.tuples(u64, b32),
        preimages,
    ),
    st.builds(io.ValidateHolderCommitment, u64, specs(), b64, sigs, preimages),
    st.builds(io.RevokeHolderCommitment, u64),
    st.builds(io.SetupChannel, params, specs()),
    st.builds(io.SignMutualClose, st.binary(max_size=80), st.binary(max_size=80), u64),
    st.builds(io.ApprovePayment, st.binary(max_size=300), st.none() | st.binary(max_size=200)),
)
ascii_text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=60)
results = st.one_of(
    st.builds(io.HolderCommitmentSigned, txs),
    st.builds(io.SweepSigned, txs, u64),
    st.builds(io.HtlcTransactionSigned, txs),
    st.builds(io.CounterpartySigned, b64, sigs),
    st.just(io.HolderValidated()),
    st.builds(io.HolderRevoked, b32, point),
    st.just(io.ChannelSetUp()),
    st.builds(io.MutualCloseSigned, b64),
    st.builds(io.PaymentApproved, b32, u64, ascii_text),
    st.builds(io.SignerRefused, ascii_text, st.text(max_size=100)),
)


@settings(max_examples=300, deadline=None)
@given(requests)
def test_requests_round_trip(r: io.SignerRequest) -> None:
    data = codec.encode_request(r)
    assert codec.decode_request(data) == r
    assert codec.encode_request(codec.decode_request(data)) == data


@settings(max_examples=200, deadline=None)
@given(results)
def test_results_round_trip(r: io.SignerResult) -> None:
    data = codec.encode_result(r)
    assert codec.decode_result(data) == r


@given(basepoints, point)
def test_local_keys_round_trip(bp: Basepoints, second: bytes) -> None:
    k = LocalKeys(bp, second)
    assert codec.decode_local_keys(codec.encode_local_keys(k)) == k


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=600))
def test_garbage_is_a_decode_error(data: bytes) -> None:
    for decode in (codec.decode_request, codec.decode_result, codec.decode_local_keys):
        with contextlib.suppress(DecodeError):
            decode(data)


@settings(max_examples=300, deadline=None)
@given(requests, st.data())
def test_mutated_requests_decode_or_raise_decode_error(
    r: io.SignerRequest, data: st.DataObject
) -> None:
    raw = bytearray(codec.encode_request(r))
    i = data.draw(st.integers(0, len(raw) - 1))
    raw[i] ^= data.draw(st.integers(1, 255))
    cut = data.draw(st.integers(0, len(raw)))
    for candidate in (bytes(raw), bytes(raw[:cut]), bytes(raw) + b"\x00"):
        try:
            again = codec.decode_request(candidate)
        except DecodeError:
            continue
        assert codec.encode_request(again) == candidate  # canonical: one value, one encoding


def test_non_canonical_inputs_are_refused() -> None:
    spec = CommitSpec(253, (1, 2), (HtlcEntry(Side.REMOTE, 1, 5, bytes(32), 9),
                                    HtlcEntry(Side.LOCAL, 0, 5, bytes(32), 9)))  # fmt: skip
    with pytest.raises(DecodeError, match="increasing"):
        codec.decode_spec(codec.encode_spec(spec))
    good = codec.encode_request(io.RevokeHolderCommitment(3))
    with pytest.raises(DecodeError, match="trailing"):
        codec.decode_request(good + b"\x00")
    bad_point = codec.encode_result(io.HolderRevoked(bytes(32), POINTS[0]))[:-33] + bytes(33)
    with pytest.raises(DecodeError):
        codec.decode_result(bad_point)


def test_encoding_what_does_not_fit_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        codec.encode_spec(CommitSpec(253, (-1, 0), ()))
    with pytest.raises(ValueError):
        codec.encode_request(io.RevokeHolderCommitment(-1))


def test_refusal_detail_is_cut_on_a_character_boundary() -> None:
    r = io.SignerRefused("policy-x", "é" * 900)
    back = codec.decode_result(codec.encode_result(r))
    assert isinstance(back, io.SignerRefused) and back.detail == "é" * 500
