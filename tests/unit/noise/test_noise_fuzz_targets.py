"""The BOLT 8 fuzz targets run cleanly on seeds reaching each of their modes (the atheris
runs themselves are in tests/fuzz)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fuzz.targets import noise_framing, noise_handshake
from tests.unit.noise.bolt8_vectors import responder_vectors

_ACT3 = [s.data for s in responder_vectors()[0].steps if s.kind == "input"][1]
assert _ACT3 is not None


def test_handshake_target_modes() -> None:
    noise_handshake.fuzz_one(b"")
    noise_handshake.fuzz_one(b"\x00" + noise_handshake._ACT1)
    noise_handshake.fuzz_one(b"\x01" + _ACT3)  # completes the vector handshake
    noise_handshake.fuzz_one(b"\x02" + bytes.fromhex("02" + "79be667e" * 8) + bytes(16))
    noise_handshake.fuzz_one(b"\x03" + bytes([7]) * 32 + bytes(40))


def test_framing_target_modes() -> None:
    noise_framing.fuzz_one(b"\x00\x05" + bytes(100))
    msgs = b"".join(bytes([n]) + bytes([n]) * n for n in (0, 5, 200, 3))
    noise_framing.fuzz_one(b"\x01\x07\xff\xff" + msgs)  # no flip: all decoded
    for flip in (0, 17, 18, 40, 300):
        noise_framing.fuzz_one(b"\x01\x03" + flip.to_bytes(2, "big") + msgs)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300))
def test_targets_on_random_input(data: bytes) -> None:
    noise_handshake.fuzz_one(data)
    noise_framing.fuzz_one(data)
