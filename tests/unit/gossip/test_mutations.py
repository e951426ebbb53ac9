"""Property: any byte string through decode + apply raises only GossipError, and a signed
message with any byte changed inside what its signatures cover is never accepted."""

from __future__ import annotations

import contextlib

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.gossip.helpers import CHAIN, NOW, Lookup, announce, update
from vajra.gossip.core import GossipCore
from vajra.gossip.errors import GossipError, Outcome

_LOOKUP = Lookup()
_ANN = announce("alice", "bob", 100, lookup=_LOOKUP)
_UPD = update(_ANN, "alice", NOW)
_ANN_BYTES = _ANN.encode()
_UPD_BYTES = _UPD.encode()


def _fresh() -> GossipCore:
    return GossipCore(CHAIN)


@settings(max_examples=150)
@given(st.binary(max_size=600))
def test_arbitrary_bytes_raise_only_gossip_errors(data: bytes) -> None:
    core = _fresh()
    for prefix in (b"\x01\x00", b"\x01\x01", b"\x01\x02", b""):
        with contextlib.suppress(GossipError):
            core.apply_bytes(prefix + data, _LOOKUP, NOW)


@settings(max_examples=120)
@given(st.integers(min_value=2, max_value=len(_ANN_BYTES) - 1), st.integers(1, 255))
def test_a_changed_announcement_byte_is_never_accepted(pos: int, flip: int) -> None:
    data = bytearray(_ANN_BYTES)
    data[pos] ^= flip
    core = _fresh()
    try:
        out = core.apply_bytes(bytes(data), _LOOKUP, NOW)
    except GossipError:
        return
    raise AssertionError(f"accepted a changed announcement: {out}")


@settings(max_examples=120)
@given(st.integers(min_value=2, max_value=len(_UPD_BYTES) - 1), st.integers(1, 255))
def test_a_changed_update_byte_is_never_applied(pos: int, flip: int) -> None:
    core = _fresh()
    assert core.apply(_ANN, _LOOKUP, NOW) is Outcome.ADDED
    data = bytearray(_UPD_BYTES)
    data[pos] ^= flip
    try:
        out = core.apply_bytes(bytes(data), _LOOKUP, NOW)
    except GossipError:
        return
    # ignored without blame (another scid, or a timestamp out of window) is fine; applied is not
    assert out in (Outcome.UNKNOWN_CHANNEL,), out
