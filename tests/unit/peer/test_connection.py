"""BOLT 1 session rules, driven through two sans-IO connections wired back to back."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vajra.bitcoin.chains import CHAIN_HASHES
from vajra.noise import Initiator, StaticKey, Transport
from vajra.peer import (
    ConnectionClosed,
    ErrorReceived,
    Event,
    HandshakeCompleted,
    InitReceived,
    MessageReceived,
    PeerConnection,
    PongReceived,
    SessionConfig,
    State,
    WarningReceived,
)
from vajra.wire import (
    ErrorMessage,
    Init,
    InitTlvs,
    Ping,
    Pong,
    UnknownMessage,
    WarningMessage,
    encode_message,
)
from vajra.wire import features as feat
from vajra.wire._generated import QueryChannelRange

A = StaticKey(bytes([1]) * 32)
B = StaticKey(bytes([2]) * 32)
CFG = SessionConfig()


def drain(c: PeerConnection) -> list[Event]:
    out = []
    while (ev := c.next_event()) is not None:
        out.append(ev)
    return out


def pump(a: PeerConnection, b: PeerConnection, now: float = 0.0) -> None:
    for _ in range(10):
        x, y = a.data_to_send(), b.data_to_send()
        if not x and not y:
            return
        if x:
            b.receive_data(x, now)
        if y:
            a.receive_data(y, now)


def pair(cfg_a: SessionConfig = CFG, cfg_b: SessionConfig = CFG):
    a = PeerConnection.initiator(A, B.pubkey, cfg_a, 0.0)
    b = PeerConnection.responder(B, cfg_b, 0.0)
    pump(a, b)
    return a, b


def test_handshake_and_init_both_sides() -> None:
    a, b = pair()
    ea, eb = drain(a), drain(b)
    assert ea[0] == HandshakeCompleted(B.pubkey) and eb[0] == HandshakeCompleted(A.pubkey)
    assert isinstance(ea[1], InitReceived) and isinstance(eb[1], InitReceived)
    assert ea[1].networks == (CHAIN_HASHES["regtest"],)
    assert a.state is State.ACTIVE and b.state is State.ACTIVE
    assert b.get_timer() is None


def raw_frame(conn: PeerConnection, plain: bytes) -> bytes:
    """Encrypt bytes as `conn` would send them (to inject arbitrary messages)."""
    assert conn.transport is not None
    return conn.transport.encrypt(plain)


def test_ping_answered_with_exact_pong_length() -> None:
    a, b = pair()
    drain(a), drain(b)
    a.ping(1.0, num_pong_bytes=7)
    pump(a, b, 1.5)
    evs = drain(a)
    assert evs == [PongReceived(7, 0.5)]
    assert a.get_timer() is None


def test_no_pong_for_65532_or_more() -> None:
    a, b = pair()
    drain(a), drain(b)
    b.receive_data(raw_frame(a, encode_message(Ping(num_pong_bytes=65532, ignored=b""))), 1)
    assert b.data_to_send() == b""
    b.receive_data(raw_frame(a, encode_message(Ping(num_pong_bytes=65531, ignored=b""))), 1)
    out = b.data_to_send()
    a.receive_data(out, 1)  # unsolicited pong: a never sent that ping -> a closes
    assert b.state is State.ACTIVE


def test_unsolicited_pong_closes_with_warning() -> None:
    a, b = pair()
    drain(a), drain(b)
    b.receive_data(raw_frame(a, encode_message(Pong(ignored=b"\x00" * 3))), 2.0)
    evs = drain(b)
    assert isinstance(evs[-1], ConnectionClosed) and evs[-1].reason == "protocol"
    a.receive_data(b.data_to_send(), 2.0)
    assert any(isinstance(e, WarningReceived) for e in drain(a))


def test_warnings_and_errors_counted_apart() -> None:
    a, b = pair()
    drain(a), drain(b)
    assert (b.warnings_sent, b.errors_sent) == (0, 0)
    b.send(ErrorMessage(bytes(32), b"no channels"), 1.0)
    b.receive_data(raw_frame(a, encode_message(Pong(ignored=b"\x00" * 3))), 2.0)
    # the unsolicited pong drew a warning; the explicit error is counted on its own
    assert (b.warnings_sent, b.errors_sent) == (1, 1)


def test_pong_timeout_closes_without_error() -> None:
    a, b = pair()
    drain(a), drain(b)
    a.ping(10.0)
    a.data_to_send()
    assert a.get_timer() == 10.0 + CFG.pong_timeout
    a.handle_timer(10.0 + CFG.pong_timeout)
    (ev,) = drain(a)
    assert isinstance(ev, ConnectionClosed) and ev.reason == "timeout"
    assert a.data_to_send() == b""  # MUST NOT fail the channels: nothing sent


def test_unknown_odd_ignored_unknown_even_closes() -> None:
    a, b = pair()
    drain(a), drain(b)
    b.receive_data(raw_frame(a, encode_message(UnknownMessage(32769, b"xyz"))), 1)
    assert drain(b) == [] and b.state is State.ACTIVE
    b.receive_data(raw_frame(a, (32768).to_bytes(2, "big") + b"xyz"), 1)
    (ev,) = drain(b)
    assert isinstance(ev, ConnectionClosed) and "32768" in str(ev.error)
    assert b.data_to_send() != b""  # the warning


def test_other_messages_passed_up() -> None:
    a, b = pair()
    drain(a), drain(b)
    q = QueryChannelRange(chain_hash=CHAIN_HASHES["regtest"], first_blocknum=0, number_of_blocks=10)
    a.send(q, 1)
    pump(a, b)
    assert drain(b) == [MessageReceived(q)]


def manual_initiator(b: PeerConnection) -> Transport:
    """Run the handshake with the bare noise initiator, so the test chooses what follows."""
    hs = Initiator(A, B.pubkey)
    b.receive_data(hs.act_one(), 0)
    act3, t = hs.read_act_two(b.data_to_send()[:50])
    b.receive_data(act3, 0)
    return t


def test_first_message_must_be_init() -> None:
    b = PeerConnection.responder(B, CFG, 0.0)
    t = manual_initiator(b)
    b.receive_data(t.encrypt(encode_message(Ping(num_pong_bytes=1, ignored=b""))), 0)
    evs = drain(b)
    assert isinstance(evs[-1], ConnectionClosed)
    assert evs[-1].error is not None and "await_init" in str(evs[-1].error)


def test_second_init_is_illegal() -> None:
    a, b = pair()
    drain(a), drain(b)
    init = Init(globalfeatures=b"", features=feat.init_features())
    b.receive_data(raw_frame(a, encode_message(init)), 1)
    (ev,) = drain(b)
    assert isinstance(ev, ConnectionClosed) and "state=active" in str(ev.error)


def test_unknown_even_feature_closes() -> None:
    bad = SessionConfig(features=feat.bits_to_bytes(feat.our_bits(feat.INIT) | {200}))
    _a, b = pair(cfg_a=bad)
    evs = drain(b)
    assert isinstance(evs[-1], ConnectionClosed) and evs[-1].reason == "protocol"
    assert b.state is State.CLOSED


def test_known_but_unsupported_required_bit_named_unsupported() -> None:
    # bit 20: `option_anchor_outputs` (retired from BOLT 9 but known); bit 22:
    # `option_anchors`, in BOLT 9 today. Neither is "unknown"; we do not support them.
    for bit, name in ((20, "option_anchor_outputs"), (22, "option_anchors")):
        bad = SessionConfig(features=feat.bits_to_bytes(feat.our_bits(feat.INIT) | {bit}))
        a, b = pair(cfg_a=bad)
        evs = drain(b)
        assert isinstance(evs[-1], ConnectionClosed)
        text = str(evs[-1].error)
        assert "unsupported" in text and name in text and "unknown" not in text, text
        a.receive_data(b.data_to_send(), 1.0)
        (w,) = [e for e in drain(a) if isinstance(e, WarningReceived)]
        assert name.encode() in w.data and b"unknown" not in w.data
    bad = SessionConfig(features=feat.bits_to_bytes(feat.our_bits(feat.INIT) | {200}))
    _a, b = pair(cfg_a=bad)
    assert "unknown required feature bits [200]" in str(drain(b)[-1].error)  # type: ignore[union-attr]


def test_unknown_odd_feature_accepted() -> None:
    ok = SessionConfig(features=feat.bits_to_bytes(feat.our_bits(feat.INIT) | {201}))
    _a, b = pair(cfg_a=ok)
    assert b.state is State.ACTIVE and 201 in b.remote_features


def test_no_common_chain_closes() -> None:
    _a, b = pair(cfg_a=SessionConfig(chain_hash=CHAIN_HASHES["bitcoin"]))
    assert b.state is State.CLOSED
    evs = drain(b)
    assert isinstance(evs[-1], ConnectionClosed)


def test_init_without_networks_accepted() -> None:
    b = PeerConnection.responder(B, CFG, 0.0)
    t = manual_initiator(b)
    init = Init(globalfeatures=b"", features=feat.init_features(), tlvs=InitTlvs())
    b.receive_data(t.encrypt(encode_message(init)), 0)
    evs = drain(b)
    assert isinstance(evs[-1], InitReceived) and evs[-1].networks is None


def test_error_all_channels_closes_warning_does_not() -> None:
    a, b = pair()
    drain(a), drain(b)
    b.receive_data(raw_frame(a, encode_message(WarningMessage(bytes(32), b"hm"))), 1)
    assert drain(b) == [WarningReceived(bytes(32), b"hm")] and b.state is State.ACTIVE
    b.receive_data(raw_frame(a, encode_message(ErrorMessage(bytes(32), b"bye"))), 1)
    evs = drain(b)
    assert evs[0] == ErrorReceived(bytes(32), b"bye") and isinstance(evs[1], ConnectionClosed)


def test_ping_flood_is_cut_off() -> None:
    a, b = pair()
    drain(a), drain(b)
    ping = encode_message(Ping(num_pong_bytes=0, ignored=b""))
    frames = b"".join(raw_frame(a, ping) for _ in range(CFG.ping_burst + 5))
    b.receive_data(frames, 5.0)
    evs = drain(b)
    assert isinstance(evs[-1], ConnectionClosed) and "ping flood" in str(evs[-1].error)


def test_handshake_timeout() -> None:
    b = PeerConnection.responder(B, CFG, 0.0)
    b.receive_data(b"\x00" * 10, 1.0)  # half an act one, then silence
    assert b.get_timer() == CFG.handshake_timeout
    b.handle_timer(CFG.handshake_timeout)
    (ev,) = drain(b)
    assert isinstance(ev, ConnectionClosed) and ev.reason == "timeout"


def test_bad_act_one_closes_silently() -> None:
    b = PeerConnection.responder(B, CFG, 0.0)
    b.receive_data(b"\x01" + b"\x00" * 49, 0)
    (ev,) = drain(b)
    assert isinstance(ev, ConnectionClosed) and ev.reason == "handshake"
    assert b.data_to_send() == b""


def test_send_before_init_refused() -> None:
    from vajra.errors import ProtocolError

    a = PeerConnection.initiator(A, B.pubkey, CFG, 0.0)
    try:
        a.ping(0)
    except ProtocolError as e:
        assert "await_act_two" in str(e)
    else:
        raise AssertionError("send before init must fail")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=60))
def test_any_chunking_of_a_whole_conversation(cuts: list[int]) -> None:
    a = PeerConnection.initiator(A, B.pubkey, CFG, 0.0)
    b = PeerConnection.responder(B, CFG, 0.0)
    b.receive_data(a.data_to_send(), 0)
    a.receive_data(b.data_to_send(), 0)

    def feed_chunked(stream: bytes) -> None:
        i = 0
        for c in cuts * 50:
            if i >= len(stream):
                break
            b.receive_data(stream[i : i + c], 0)
            i += c
        b.receive_data(stream[i:], 0)

    feed_chunked(a.data_to_send())  # act three + init
    a.receive_data(b.data_to_send(), 0)  # b's init
    a.ping(0, 3)
    feed_chunked(a.data_to_send() * 1)
    evs = drain(b)
    assert [type(e) for e in evs] == [HandshakeCompleted, InitReceived]
    a.receive_data(b.data_to_send(), 0)
    assert drain(a)[-1] == PongReceived(3, 0)


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=0, max_size=600))
def test_garbage_after_handshake_never_raises(junk: bytes) -> None:
    _a, b = pair()
    drain(b)
    b.receive_data(junk, 1)
    evs = drain(b)
    assert all(isinstance(e, ConnectionClosed) for e in evs)


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=0, max_size=300))
def test_garbage_encrypted_messages_never_raise(plain: bytes) -> None:
    a, b = pair()
    drain(b)
    b.receive_data(raw_frame(a, plain), 1)
    for e in drain(b):
        assert not isinstance(e, InitReceived | HandshakeCompleted)


# --- moving a session to another process (the runtime's worker handover) ----------------


def test_export_and_resume_continue_the_session() -> None:
    from vajra.noise import StaticKey as _SK
    from vajra.peer import MessageReceived, PeerConnection, SessionConfig, SessionState
    from vajra.wire import Ping, QueryChannelRange

    srv, cli = _SK(bytes(31) + b"\x11"), _SK(bytes(31) + b"\x22")
    cfg = SessionConfig()
    r = PeerConnection.responder(srv, cfg, 0.0)
    c = PeerConnection.initiator(cli, srv.pubkey, cfg, 0.0)
    for _ in range(4):
        r.receive_data(c.data_to_send(), 0.0)
        c.receive_data(r.data_to_send(), 0.0)
    while r.next_event() is not None:
        pass
    while c.next_event() is not None:
        pass
    q1 = QueryChannelRange(cfg.chain_hash, 1, 2)
    q2 = QueryChannelRange(cfg.chain_hash, 3, 4)
    c.send(q1, 0.0)
    c.send(q2, 0.0)
    wire = c.data_to_send()
    r.receive_data(wire[:-5], 0.0)  # q2 arrives half: its tail stays in the buffer
    ev = r.next_event()
    assert isinstance(ev, MessageReceived) and ev.message == q1
    st = r.export_session(first=ev.message)
    assert isinstance(st, SessionState) and r.closed and "keys" not in repr(st)
    r2 = PeerConnection.resume(srv, cfg, st, 1.0)
    assert r2.remote_pubkey == cli.pubkey
    ev = r2.next_event()
    assert isinstance(ev, MessageReceived) and ev.message == q1
    r2.receive_data(wire[-5:], 1.0)
    ev = r2.next_event()
    assert isinstance(ev, MessageReceived) and ev.message == q2
    # Both directions keep working with the moved keys and nonces.
    c.send(Ping(num_pong_bytes=3, ignored=b""), 1.0)
    r2.receive_data(c.data_to_send(), 1.0)
    c.receive_data(r2.data_to_send(), 1.0)
    assert any(type(e).__name__ == "PongReceived" for e in iter(c.next_event, None))


def test_export_refuses_unfinished_sessions() -> None:
    from vajra.errors import ProtocolError
    from vajra.noise import StaticKey as _SK
    from vajra.peer import PeerConnection, SessionConfig

    r = PeerConnection.responder(_SK(bytes(31) + b"\x11"), SessionConfig(), 0.0)
    with pytest.raises(ProtocolError):
        r.export_session()
