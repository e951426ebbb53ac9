"""The signer's message codecs: canonical round trips and total decoders."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.targets.authorisation import fuzz_one
from tests.unit.signer.helpers import NODE, RING_RULES, T0, World, key
from vajra.errors import DecodeError
from vajra.signer.devices import KeyType, Role
from vajra.signer.messages import (
    AUTHORISATION_LEN,
    CommandKind,
    Enrolment,
    decode_authorisation,
    decode_command,
    decode_confirmation,
)

W = World()
RING = key(KeyType.P256, 1)
AUTH = W.auth(RING, 12_345, fee=10, user_present=True)
CONF = W.confirm(AUTH)
ENROL = W.command(
    CommandKind.ENROLL,
    RING,
    enrolment=Enrolment(KeyType.P256, RING.pubkey, Role.SPENDER, RING_RULES, "ring ☺"),
)
FREEZE = W.command(CommandKind.FREEZE, RING)
RULES = W.command(CommandKind.SET_RULES, RING, rules=RING_RULES)
VALID = [AUTH.encode(), CONF, ENROL, FREEZE, RULES]


def test_roundtrips() -> None:
    assert len(AUTH.encode()) == AUTHORISATION_LEN
    assert decode_authorisation(AUTH.encode()) == AUTH
    assert decode_confirmation(CONF).encode() == CONF
    for c in (ENROL, FREEZE, RULES):
        assert decode_command(c).encode() == c
    assert decode_command(ENROL).enrolment == Enrolment(
        KeyType.P256, RING.pubkey, Role.SPENDER, RING_RULES, "ring ☺"
    )
    assert AUTH.node_id == NODE and AUTH.expiry == T0 + 60


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (AUTH.encode()[:-1], "short"),
        (b"\x02" + AUTH.encode()[1:], "version"),
        (AUTH.encode()[:1] + b"\x80" + AUTH.encode()[2:], "flags"),
        (AUTH.encode()[:2] + b"\x04" + AUTH.encode()[3:], "node id"),
        (AUTH.encode()[:67] + bytes(8) + AUTH.encode()[75:], "zero amount"),
        (AUTH.encode()[:91] + bytes(8) + AUTH.encode()[99:], "zero counter"),
        (AUTH.encode()[:91] + b"\xff" * 8 + AUTH.encode()[99:], "counter >= 2^63"),
    ],
)
def test_authorisation_rejects(data: bytes, why: str) -> None:
    with pytest.raises(DecodeError):
        decode_authorisation(data)


def test_command_rejects_payload_mismatch() -> None:
    with pytest.raises(DecodeError):
        decode_command(FREEZE[:-64] + b"\x00" + FREEZE[-64:])  # FREEZE carries nothing
    with pytest.raises(DecodeError):
        decode_command(ENROL[:50] + bytes(32) + ENROL[82:])  # target is not the key's id


@given(st.binary(max_size=400))
def test_fuzz_target_on_random_bytes(data: bytes) -> None:
    fuzz_one(data)


@given(st.sampled_from(range(len(VALID))), st.integers(0, 10**6), st.integers(0, 255))
def test_fuzz_target_on_mutated_valid_messages(which: int, pos: int, value: int) -> None:
    msg = bytearray(VALID[which])
    msg[pos % len(msg)] = value
    selector = (0, 1, 2, 2, 2)[which]
    fuzz_one(bytes([selector]) + bytes(msg))
