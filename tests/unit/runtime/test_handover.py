"""The handover message: a live session as bytes, and nothing else accepted."""

from __future__ import annotations

import pytest

from vajra.errors import DecodeError
from vajra.noise import TransportState
from vajra.peer import SessionState
from vajra.runtime import handover


def _state(
    pending: tuple[bytes, ...] = (b"\x01\x07abc",), buffered: bytes = b"xyz"
) -> SessionState:
    ts = TransportState((b"k" * 32, b"c" * 32, 998), (b"K" * 32, b"C" * 32, 3), buffered, 40, 17)
    return SessionState(b"\x02" + b"\x11" * 32, frozenset({1, 7, 99}), ts, pending)


@pytest.mark.parametrize("pending", [(), (b"\x00\x10" + b"z" * 5000, b"\x01\x07")])
def test_round_trip(pending: tuple[bytes, ...]) -> None:
    st = _state(pending)
    index, back = handover.unpack(handover.pack(123_456, st))
    assert index == 123_456 and back == st


def test_malformed_is_decode_error() -> None:
    data = handover.pack(5, _state())
    for bad in (b"", b"VJHO\x02" + data[5:], data[:-1], data + b"\x00", data[:40]):
        with pytest.raises(DecodeError):
            handover.unpack(bad)
