"""Benchmarks of the BOLT 8 hot paths: responder handshakes and message frames per second.

Here, not in `vajra.noise`: the protocol package is sans-IO and never reads a clock.
Both functions measure this process's CPU time (`time.process_time`), so another process
busy on the machine does not skew them.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from vajra.noise.handshake import Initiator, Responder, StaticKey
from vajra.noise.transport import Transport

_POOL = 64  # distinct handshake transcripts replayed round-robin
_BATCH = 32  # operations between clock reads


def _run(seconds: float, batch: Callable[[], None], per_batch: int) -> float:
    done = 0
    start = time.process_time()
    end = start + seconds
    now = start
    while now < end or done == 0:
        batch()
        done += per_batch
        now = time.process_time()
    return done / (now - start)


def responder_handshakes_per_cpu_s(seconds: float) -> float:
    """Responder handshakes per CPU second: `read_act_one` + `read_act_three`.

    The initiators' acts are made beforehand, outside the timed region. That needs each
    responder's ephemeral secret in advance, so it is injected; the responder still
    derives its public key (the key generation is timed), only `os.urandom` is skipped.
    """
    local = StaticKey(bytes(31) + b"\x01")
    transcripts: list[tuple[bytes, bytes, bytes]] = []
    for i in range(_POOL):
        e = (i + 2).to_bytes(32, "big")
        init = Initiator(StaticKey((i + 1000).to_bytes(32, "big")), local.pubkey)
        act1 = init.act_one()
        act3, _ = init.read_act_two(Responder(local, ephemeral=e).read_act_one(act1))
        transcripts.append((e, act1, act3))

    def batch() -> None:
        for e, act1, act3 in transcripts[:_BATCH]:
            resp = Responder(local, ephemeral=e)
            resp.read_act_one(act1)
            resp.read_act_three(act3)
        transcripts.append(transcripts.pop(0))

    return _run(seconds, batch, _BATCH)


def frames_per_cpu_s(seconds: float, size: int = 32) -> float:
    """Messages of `size` bytes per CPU second through encrypt, frame and decrypt."""
    sk, rk, ck = bytes([1]) * 32, bytes([2]) * 32, bytes([3]) * 32
    sender, receiver = Transport(sk, rk, ck), Transport(rk, sk, ck)
    msg = bytes(size)

    def batch() -> None:
        for _ in range(_BATCH * 16):
            receiver.receive_data(sender.encrypt(msg))
            if receiver.next_message() is None:
                raise AssertionError("frame not decoded")

    return _run(seconds, batch, _BATCH * 16)
