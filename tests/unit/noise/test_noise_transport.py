"""BOLT 8 message framing, key rotation and the streaming decoder: the Appendix A message
vectors read from the spec, chunking properties and failure behaviour."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.noise.bolt8_vectors import message_vectors
from vajra.errors import DecodeError
from vajra.noise import (
    MAX_MESSAGE_SIZE,
    CipherState,
    FrameAuthError,
    MessageTooLarge,
    ReceiveBufferFull,
    Transport,
)
from vajra.noise.transport import MAX_FRAME_SIZE

VEC = message_vectors()[0]
SK, RK, CK = VEC.params["sk"], VEC.params["rk"], VEC.params["ck"]


def _pair() -> tuple[Transport, Transport]:
    """The vector's initiator-side transport and its responder-side mirror."""
    return Transport(SK, RK, CK), Transport(RK, SK, CK)


def test_vector_outputs_were_found() -> None:
    assert sorted(VEC.outputs) == [0, 1, 500, 501, 1000, 1001]


def test_message_vectors_encrypt() -> None:
    # "the initiator sends length 5 messages containing "hello" 1001 times"
    t, _ = _pair()
    frames = [t.encrypt(b"hello") for _ in range(max(VEC.outputs) + 1)]
    for i, expected in VEC.outputs.items():
        assert frames[i] == expected, i


def test_message_vectors_decrypt_byte_by_byte() -> None:
    _, r = _pair()
    t, _ = _pair()
    for i in range(max(VEC.outputs) + 1):
        frame = t.encrypt(b"hello")
        if i in VEC.outputs:
            assert frame == VEC.outputs[i]
        for b in range(len(frame)):
            r.receive_data(frame[b : b + 1])
            got = r.next_message()
            assert got == (b"hello" if b == len(frame) - 1 else None)
    assert r.messages_received == 1002 and r.buffered == 0


def test_rotation_follows_bolt8_hkdf() -> None:
    # The vector's comment: ck', k' = HKDF(ck, sk) after nonce 1000 (500 messages).
    cs = CipherState(SK, CK)
    for _ in range(999):
        cs.encrypt(b"")
    assert cs.nonce == 999 and cs.key == SK
    cs.encrypt(b"")
    assert cs.nonce == 0
    assert cs.key.hex() == "3fbdc101abd1132ca3a0ae34a669d8d9ba69a587e0bb4ddd59524541cf4813d8"


@pytest.mark.parametrize("size", [0, 1, 1000, MAX_MESSAGE_SIZE])
def test_sizes_round_trip(size: int) -> None:
    t, r = _pair()
    msg = os.urandom(size)
    frame = t.encrypt(msg)
    assert len(frame) == 18 + size + 16
    r.receive_data(frame)
    assert r.next_message() == msg and r.next_message() is None


def test_oversize_message_is_refused_and_consumes_no_nonce() -> None:
    t, r = _pair()
    with pytest.raises(MessageTooLarge):
        t.encrypt(bytes(MAX_MESSAGE_SIZE + 1))
    r.receive_data(t.encrypt(b"after"))
    assert r.next_message() == b"after"


def test_length_mac_rejected_before_the_body_arrives() -> None:
    t, r = _pair()
    frame = bytearray(t.encrypt(bytes(1000)))
    frame[0] ^= 0x80  # a forged length prefix
    r.receive_data(bytes(frame[:17]))
    with pytest.raises(FrameAuthError) as ei:
        r.receive_data(bytes(frame[17:18]))  # the 18th byte completes lc: checked now
    assert ei.value.part == "length" and ei.value.index == 0
    assert isinstance(ei.value, DecodeError)


def test_body_mac_rejected_and_stream_stays_dead() -> None:
    t, r = _pair()
    r.receive_data(t.encrypt(b"one"))
    frame = bytearray(t.encrypt(b"two"))
    frame[-1] ^= 1
    r.receive_data(bytes(frame))
    assert r.next_message() == b"one"
    with pytest.raises(FrameAuthError) as ei:
        r.next_message()
    assert ei.value.part == "body" and ei.value.index == 1
    with pytest.raises(FrameAuthError):
        r.next_message()
    with pytest.raises(FrameAuthError):
        r.receive_data(t.encrypt(b"three"))


def test_valid_messages_before_a_bad_header_are_delivered() -> None:
    t, r = _pair()
    good = t.encrypt(b"one") + t.encrypt(b"two")
    r.receive_data(good + bytes(18))
    assert r.next_message() == b"one"
    assert r.next_message() == b"two"
    with pytest.raises(FrameAuthError):
        r.next_message()


def test_undrained_input_is_bounded() -> None:
    t, r = Transport(SK, RK, CK), Transport(RK, SK, CK, max_buffer=0)  # floor: one frame
    frame = t.encrypt(bytes(MAX_MESSAGE_SIZE))
    r.receive_data(frame)  # its length prefix is checked and dropped: 65551 bytes held
    assert r.buffered == MAX_MESSAGE_SIZE + 16
    with pytest.raises(ReceiveBufferFull):
        r.receive_data(bytes(19))  # refused whole, nothing appended
    assert r.next_message() == bytes(MAX_MESSAGE_SIZE)
    r.receive_data(t.encrypt(b"next"))
    assert r.next_message() == b"next"


@st.composite
def _stream_and_cuts(draw: st.DrawFn) -> tuple[list[bytes], bytes, list[int]]:
    msgs = draw(
        st.lists(
            st.one_of(st.binary(max_size=40), st.binary(min_size=200, max_size=3000)),
            max_size=25,
        )
    )
    t, _ = _pair()
    stream = b"".join(t.encrypt(m) for m in msgs)
    cuts = sorted(draw(st.lists(st.integers(0, len(stream)), max_size=40)))
    return msgs, stream, cuts


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_stream_and_cuts())
def test_any_chunking_yields_exactly_the_messages(
    case: tuple[list[bytes], bytes, list[int]],
) -> None:
    msgs, stream, cuts = case
    _, r = _pair()
    got: list[bytes] = []
    prev = 0
    for cut in [*cuts, len(stream)]:
        r.receive_data(stream[prev:cut])
        prev = cut
        while (m := r.next_message()) is not None:
            got.append(m)
        assert r.buffered < MAX_FRAME_SIZE  # drained: at most one partial frame is held
    assert got == msgs
    assert r.buffered == 0


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 3), st.binary(max_size=400), st.lists(st.integers(1, 64), max_size=20))
def test_random_bytes_after_the_handshake_raise_only_decode_errors(
    good: int, junk: bytes, sizes: list[int]
) -> None:
    t, r = _pair()
    data = b"".join(t.encrypt(bytes([i]) * i) for i in range(good)) + junk
    try:
        pos = 0
        for size in [*sizes, len(data)]:
            r.receive_data(data[pos : pos + size])
            pos += size
            while r.next_message() is not None:
                pass
    except DecodeError:
        pass


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=1, max_size=200), st.data())
def test_any_corruption_is_detected(msg: bytes, data: st.DataObject) -> None:
    t, r = _pair()
    frame = bytearray(t.encrypt(msg))
    pos = data.draw(st.integers(0, len(frame) - 1))
    frame[pos] ^= data.draw(st.integers(1, 255))
    with pytest.raises(FrameAuthError):
        r.receive_data(bytes(frame))
        r.next_message()


def test_compact_keeps_the_session_working() -> None:
    t, r = _pair()
    frames = [t.encrypt(b"hello") for _ in range(1002)]
    for i, frame in enumerate(frames):
        if i % 97 == 0:
            t.compact()
            r.compact()
        r.receive_data(frame[:10])
        r.receive_data(frame[10:])
        assert r.next_message() == b"hello"
    assert frames[1001] == VEC.outputs[1001]
