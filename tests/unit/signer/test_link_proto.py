"""The link frame codec: every frame round-trips, anything else is a LinkDecodeError."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.targets import link_frame
from vajra.signer import link_proto as lp

NODE = link_frame._NODE


@pytest.mark.parametrize("data", link_frame.seeds(), ids=lambda d: lp.Kind(d[1]).name)
def test_every_frame_kind_round_trips(data: bytes) -> None:
    frame = lp.decode(data)
    assert frame.encode() == data
    assert type(frame) is lp.FRAMES[data[1]]


def test_every_kind_has_a_frame_and_a_seed() -> None:
    assert set(lp.FRAMES) == {int(k) for k in lp.Kind}
    assert {d[1] for d in link_frame.seeds()} == {int(k) for k in lp.Kind}


def test_request_kinds_are_the_runtime_to_signer_ones() -> None:
    assert lp.Kind.PING in lp.REQUEST_KINDS and lp.Kind.AUTHORISE_PAYMENT in lp.REQUEST_KINDS
    assert lp.Kind.HELLO not in lp.REQUEST_KINDS and lp.Kind.ERROR not in lp.REQUEST_KINDS


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"", "shorter"),
        (bytes([1, 0x10]) + bytes(7), "shorter"),
        (bytes([1, 0x10]) + bytes(8), "version"),
        (bytes([lp.VERSION, 0x7E]) + bytes(8), "unknown"),
        (lp.Ping(1).encode() + b"\x00", "trailing"),
        (lp.StateKey(1, NODE, 5).encode()[:-1], "truncated"),
        (lp.Error(1, "x").encode()[:-1] + b"\x80", "truncated"),
    ],
    ids=["empty", "short-header", "version", "kind", "trailing", "truncated", "truncated-text"],
)
def test_malformed_frames_are_refused(data: bytes, why: str) -> None:
    with pytest.raises(lp.LinkDecodeError, match=why):
        lp.decode(data)


def test_points_are_checked_on_the_curve() -> None:
    bad = bytearray(lp.StateKey(1, NODE, 5).encode())
    bad[10] = 0x04  # not a compressed-point prefix
    with pytest.raises(lp.LinkDecodeError, match="point"):
        lp.decode(bytes(bad))


def test_list_lengths_are_bounded() -> None:
    data = lp.HEADER.pack(lp.VERSION, lp.Kind.CREATE_NODES, 1)  # fine: count is a plain u16
    assert isinstance(lp.decode(data + (1001).to_bytes(2, "big")), lp.CreateNodes)
    secrets = lp.HEADER.pack(lp.VERSION, lp.Kind.SECRETS, 1) + (1001).to_bytes(2, "big")
    with pytest.raises(lp.LinkDecodeError, match="exceeds"):
        lp.decode(secrets + bytes(32 * 1001))


def test_encoding_refuses_wrong_sizes() -> None:
    with pytest.raises(ValueError):
        lp.Secret(1, bytes(31)).encode()
    with pytest.raises(ValueError):
        lp.SignNodeAnnouncement(1, NODE, 1, bytes(70000)).encode()


def test_error_text_is_made_safe() -> None:
    f = lp.decode(lp.Error(1, "bad_request", "é" + "x" * 400).encode())
    assert isinstance(f, lp.Error) and f.detail.startswith("?x") and len(f.detail) == 255


ids = st.integers(0, 2**64 - 1)
u64 = st.integers(0, 2**64 - 1)
b32 = st.binary(min_size=32, max_size=32)
blob = st.binary(max_size=300)
text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40)

FRAMES = st.one_of(
    st.builds(lp.Ping, ids),
    st.builds(lp.CreateNodes, ids, st.integers(0, 65535)),
    st.builds(lp.StateKey, ids, st.just(NODE), u64),
    st.builds(lp.SignChannelUpdate, ids, st.just(NODE), u64, blob),
    st.builds(lp.SignInvoice, ids, st.just(NODE), u64, text, blob),
    st.builds(lp.AuthorisePayment, ids, st.just(NODE), u64, blob, blob),
    st.builds(lp.DeviceCommandReq, ids, blob),
    st.builds(lp.Secrets, ids, st.lists(b32, max_size=5).map(tuple)),
    st.builds(lp.DecisionFrame, ids, text, text, text, b32, st.sampled_from([b"", bytes(32)]), u64),
    st.builds(lp.Error, ids, text, text),
)


@given(FRAMES)
def test_generated_frames_round_trip(frame: lp.Frame) -> None:
    assert lp.decode(frame.encode()) == frame


@given(st.binary(max_size=200))
def test_decoder_is_total(data: bytes) -> None:
    link_frame.fuzz_one(data)
