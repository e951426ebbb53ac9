"""Fuzz the BOLT 8 streaming decoder (`vajra.noise.Transport`) after a fixed handshake.

The first input byte picks the mode:
  even: the rest is raw ciphertext, fed in chunks of (second byte or 1) bytes;
  odd:  the rest describes messages ([length byte][bytes]...) that a real sender frames;
        the stream is fed in fuzzer-sized chunks with one byte optionally flipped. The
        decoder must return exactly the messages before the flipped frame and then fail.
Only `VajraError` subclasses are expected; anything else (including a failed check of
the decoded messages) escapes as a crash.
"""

from __future__ import annotations

import contextlib

from vajra.errors import VajraError
from vajra.noise import FrameAuthError, Transport

# The BOLT 8 Appendix A session keys (any fixed keys would do).
_SK = bytes.fromhex("969ab31b4d288cedf6218839b27a3e2140827047f2c0f01bf5c04435d43511a9")
_RK = bytes.fromhex("bb9020b8965f4df047e07f955f3c4b88418984aadc5cdb35096b9ea8fa5c3442")
_CK = bytes.fromhex("919219dbb2920afa8db80f9a51787a840bcf111ed8d588caf9ab4be716e42b01")


def _feed(recv: Transport, stream: bytes, step: int, out: list[bytes]) -> None:
    for pos in range(0, len(stream), step):
        recv.receive_data(stream[pos : pos + step])
        while (msg := recv.next_message()) is not None:
            out.append(msg)


def _raw(data: bytes) -> None:
    step = (data[0] if data else 0) or 1
    with contextlib.suppress(VajraError):
        _feed(Transport(_RK, _SK, _CK), data[1:], step, [])


def _framed(data: bytes) -> None:
    if len(data) < 3:
        return
    step, flip, rest = data[0] or 1, int.from_bytes(data[1:3], "big"), data[3:]
    msgs: list[bytes] = []
    while rest:
        msgs.append(rest[1 : 1 + rest[0]])
        rest = rest[1 + rest[0] :]
    send = Transport(_SK, _RK, _CK)
    frames = [send.encrypt(m) for m in msgs]
    stream = bytearray(b"".join(frames))
    if flip < len(stream):
        stream[flip] ^= 0x01
        good, end = 0, len(frames[0])
        while end <= flip:
            good += 1
            end += len(frames[good])
    else:
        good = len(msgs)
    got: list[bytes] = []
    try:
        _feed(Transport(_RK, _SK, _CK), bytes(stream), step, got)
    except FrameAuthError:
        if good == len(msgs):
            raise
    if got != msgs[:good]:
        raise AssertionError(f"decoded {len(got)} messages, expected the first {good}")


def fuzz_one(data: bytes) -> None:
    if not data:
        return
    if data[0] & 1:
        _framed(data[1:])
    else:
        _raw(data[1:])
