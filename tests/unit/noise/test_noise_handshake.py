"""BOLT 8 handshake: Appendix A initiator and responder vectors, read from the spec, plus
the failure cases and state rules the vectors do not reach."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.noise.bolt8_vectors import HandshakeVector, initiator_vectors, responder_vectors
from vajra.crypto.secp256k1 import InvalidKey, pubkey_create
from vajra.errors import DecodeError, ProtocolError
from vajra.noise import (
    ACT_ONE_SIZE,
    ACT_THREE_SIZE,
    HandshakeError,
    HandshakeKeyError,
    HandshakeMacError,
    HandshakeStateError,
    Initiator,
    Responder,
    StaticKey,
    Transport,
)

INITIATOR = initiator_vectors()
RESPONDER = responder_vectors()


def _keys(t: Transport) -> tuple[bytes, bytes]:
    return t._send.key, t._recv.key


def _check_params(v: HandshakeVector) -> StaticKey:
    ls = StaticKey(v.params["ls.priv"])
    assert ls.pubkey == v.params["ls.pub"]
    assert pubkey_create(v.params["e.priv"]) == v.params["e.pub"]
    return ls


def test_vectors_were_found() -> None:
    assert len(INITIATOR) == 5 and len(RESPONDER) == 10
    codes = {s.error for v in INITIATOR + RESPONDER for s in v.steps if s.error}
    assert codes == {
        "ACT1_READ_FAILED", "ACT1_BAD_VERSION", "ACT1_BAD_PUBKEY", "ACT1_BAD_TAG",
        "ACT2_READ_FAILED", "ACT2_BAD_VERSION", "ACT2_BAD_PUBKEY", "ACT2_BAD_TAG",
        "ACT3_READ_FAILED", "ACT3_BAD_VERSION", "ACT3_BAD_CIPHERTEXT", "ACT3_BAD_PUBKEY",
        "ACT3_BAD_TAG",
    }  # fmt: skip


@pytest.mark.parametrize("v", INITIATOR, ids=[v.name for v in INITIATOR])
def test_initiator_vector(v: HandshakeVector) -> None:
    ls = _check_params(v)
    init = Initiator(ls, v.params["rs.pub"], ephemeral=v.params["e.priv"])
    steps = iter(v.steps)
    act1 = next(steps)
    assert act1.kind == "output" and init.act_one() == act1.data
    act2 = next(steps)
    assert act2.kind == "input" and act2.act == "Act Two" and act2.data is not None
    expect = next(steps)
    if expect.error:
        with pytest.raises(HandshakeError) as ei:
            init.read_act_two(act2.data)
        assert ei.value.code == expect.error and ei.value.act == 2
        assert init.state == "failed"
    else:
        act3, transport = init.read_act_two(act2.data)
        assert act3 == expect.data
        keys = next(steps).keys
        assert keys is not None and _keys(transport) == (keys["sk"], keys["rk"])
        assert init.state == "done"
    assert next(steps, None) is None


@pytest.mark.parametrize("v", RESPONDER, ids=[v.name for v in RESPONDER])
def test_responder_vector(v: HandshakeVector) -> None:
    ls = _check_params(v)
    resp = Responder(ls, ephemeral=v.params["e.priv"])
    steps = iter(v.steps)
    for act, method in ((1, resp.read_act_one), (3, resp.read_act_three)):
        given_ = next(steps)
        assert given_.kind == "input" and given_.data is not None
        expect = next(steps)
        if expect.error:
            with pytest.raises(HandshakeError) as ei:
                method(given_.data)
            assert ei.value.code == expect.error and ei.value.act == act
            assert resp.state == "failed"
            break
        result = method(given_.data)
        if act == 1:
            assert result == expect.data
        else:
            assert isinstance(result, tuple)
            rs, transport = result
            assert rs == pubkey_create(bytes.fromhex("11" * 32))  # the initiator's ls
            keys = expect.keys
            assert keys is not None and _keys(transport) == (keys["sk"], keys["rk"])
            assert resp.state == "done"
    assert next(steps, None) is None


# --- beyond the vectors -------------------------------------------------------------------

A = StaticKey(bytes.fromhex("11" * 32))
B = StaticKey(bytes.fromhex("21" * 32))


def _pair() -> tuple[Initiator, Responder]:
    return Initiator(A, B.pubkey), Responder(B)


def test_round_trip_random_ephemerals() -> None:
    init, resp = _pair()
    act3, ti = init.read_act_two(resp.read_act_one(init.act_one()))
    rs, tr = resp.read_act_three(act3)
    assert rs == A.pubkey
    assert _keys(ti) == _keys(tr)[::-1]
    for i in range(1100):  # both directions, across two key rotations
        msg = i.to_bytes(2, "big") * (i % 7)
        tr.receive_data(ti.encrypt(msg))
        assert tr.next_message() == msg
        ti.receive_data(tr.encrypt(msg + b"r"))
        assert ti.next_message() == msg + b"r"


def test_two_handshakes_differ() -> None:
    i1, i2 = Initiator(A, B.pubkey), Initiator(A, B.pubkey)
    assert i1.act_one()[1:34] != i2.act_one()[1:34]


def test_errors_are_decode_and_protocol_errors() -> None:
    resp = Responder(B)
    with pytest.raises(HandshakeError) as ei:
        resp.read_act_one(bytes(ACT_ONE_SIZE))
    assert isinstance(ei.value, DecodeError) and isinstance(ei.value, ProtocolError)
    assert ei.value.code == "ACT1_BAD_PUBKEY" and ei.value.message == "act1"
    assert ei.value.state == "await_act_one"


def test_act_one_to_the_wrong_node_fails_its_mac() -> None:
    init = Initiator(A, A.pubkey)  # thinks it is dialling A
    with pytest.raises(HandshakeMacError, match="ACT1_BAD_TAG"):
        Responder(B).read_act_one(init.act_one())


@pytest.mark.parametrize("size", [0, 49, 51, 100])
def test_act_one_must_be_exactly_50_bytes(size: int) -> None:
    with pytest.raises(HandshakeError, match="ACT1_READ_FAILED"):
        Responder(B).read_act_one(bytes(size))


def test_act_one_key_not_on_curve() -> None:
    good = Initiator(A, B.pubkey).act_one()
    x_off_curve = bytes.fromhex("02" + "00" * 31 + "05")  # x=5: x^3+7 is not a square
    with pytest.raises(HandshakeKeyError, match="ACT1_BAD_PUBKEY"):
        Responder(B).read_act_one(good[:1] + x_off_curve + good[34:])


@pytest.mark.parametrize("version", [1, 2, 255])
def test_every_nonzero_version_is_refused(version: int) -> None:
    init, resp = _pair()
    act1 = init.act_one()
    with pytest.raises(HandshakeError, match="ACT1_BAD_VERSION"):
        Responder(B).read_act_one(bytes([version]) + act1[1:])
    act2 = resp.read_act_one(act1)
    with pytest.raises(HandshakeError, match="ACT2_BAD_VERSION"):
        init.read_act_two(bytes([version]) + act2[1:])


def _act_three_with(local: object) -> tuple[Responder, bytes]:
    """A responder after act one and an act three built by an initiator whose static key
    object is `local` (a stand-in whose pubkey and secret may not match)."""
    init, resp = _pair()
    init._local = local  # type: ignore[assignment]
    act3, _ = init.read_act_two(resp.read_act_one(init.act_one()))
    return resp, act3


def test_act_three_static_key_not_on_curve() -> None:
    bad = bytes.fromhex("03" + "00" * 31 + "05")
    resp, act3 = _act_three_with(SimpleNamespace(pubkey=bad, secret=A.secret))
    with pytest.raises(HandshakeKeyError, match="ACT3_BAD_PUBKEY"):
        resp.read_act_three(act3)


def test_act_three_static_key_without_its_secret_fails_the_tag() -> None:
    # Claims B's identity while holding A's secret: `se` differs, so the final tag fails.
    resp, act3 = _act_three_with(SimpleNamespace(pubkey=B.pubkey, secret=A.secret))
    with pytest.raises(HandshakeMacError, match="ACT3_BAD_TAG"):
        resp.read_act_three(act3)


@pytest.mark.parametrize("pos", [1, 20, 49, 50, 65])
def test_any_flipped_bit_in_act_three_is_refused(pos: int) -> None:
    resp, act3 = _act_three_with(A)
    bad = bytearray(act3)
    bad[pos] ^= 0x01
    with pytest.raises(HandshakeError, match=r"ACT3_BAD_(CIPHERTEXT|TAG)"):
        resp.read_act_three(bytes(bad))


def test_out_of_order_calls_are_typed_errors() -> None:
    init, resp = _pair()
    with pytest.raises(HandshakeStateError):
        init.read_act_two(bytes(50))
    with pytest.raises(HandshakeStateError):
        resp.read_act_three(bytes(ACT_THREE_SIZE))
    act1 = init.act_one()
    with pytest.raises(HandshakeStateError):
        init.act_one()
    resp.read_act_one(act1)
    with pytest.raises(HandshakeStateError):
        resp.read_act_one(act1)


def test_failed_and_finished_handshakes_refuse_more_calls() -> None:
    init, resp = _pair()
    act1 = init.act_one()
    with pytest.raises(HandshakeError):
        resp.read_act_one(act1[:-1] + bytes([act1[-1] ^ 1]))
    with pytest.raises(HandshakeStateError):
        resp.read_act_one(act1)  # a good act one is too late now
    resp = Responder(B)
    act3, _ = init.read_act_two(resp.read_act_one(act1))
    resp.read_act_three(act3)
    with pytest.raises(HandshakeStateError):
        resp.read_act_three(act3)
    with pytest.raises(HandshakeStateError):
        init.read_act_two(bytes(50))


def test_bad_caller_keys_raise_invalid_key() -> None:
    with pytest.raises(InvalidKey):
        StaticKey(bytes(32))
    with pytest.raises(InvalidKey):
        Initiator(A, b"\x04" + bytes(32))
    with pytest.raises(InvalidKey):
        Responder(B, ephemeral=b"\xff" * 32).read_act_one(Initiator(A, B.pubkey).act_one())


def test_reprs_hide_secrets() -> None:
    assert A.secret.hex() not in repr(A)
    init, resp = _pair()
    _, t = init.read_act_two(resp.read_act_one(init.act_one()))
    assert t._send.key.hex() not in repr(t)


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=0, max_size=120))
def test_arbitrary_act_one_only_raises_handshake_errors(data: bytes) -> None:
    with pytest.raises(HandshakeError):  # no MAC is forged by chance
        Responder(B).read_act_one(data)


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=0, max_size=120))
def test_arbitrary_act_three_only_raises_handshake_errors(data: bytes) -> None:
    init, resp = _pair()
    resp.read_act_one(init.act_one())
    with pytest.raises(HandshakeError):
        resp.read_act_three(data)
