"""Wire codec speed: decodes and encodes per second for a few message shapes; one JSON object.

    python bench/wire_codec.py --seconds 1

`channel_update` decoding is the gossip hot path (the target is >= 200,000/s on one
core). Each figure is the best of `--repeat` timed runs, so it measures the code rather
than whatever else the machine was doing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable

from vajra.crypto.secp256k1 import pubkey_from_secret
from vajra.wire import (
    ChannelUpdate,
    CommitmentSigned,
    Init,
    InitTlvs,
    Message,
    NodeAnnouncement,
    UpdateAddHtlc,
    decode_message,
    encode_message,
    scid_from_parts,
)
from vajra.wire.features import init_features, node_features

POINT = pubkey_from_secret(bytes(31) + b"\x01")


def samples() -> dict[str, Message]:
    r = os.urandom
    return {
        "channel_update": ChannelUpdate(
            r(64),
            r(32),
            scid_from_parts(800_000, 1234, 1),
            1_700_000_000,
            1,
            0,
            80,
            1000,
            1000,
            100,
            990_000_000,
        ),
        "node_announcement": NodeAnnouncement(
            r(64),
            node_features(),
            1_700_000_000,
            POINT,
            b"\x11\x22\x33",
            b"vajra".ljust(32, b"\x00"),
            b"\x01\x7f\x00\x00\x01\x26\x07",
        ),
        "update_add_htlc": UpdateAddHtlc(r(32), 7, 1_000_000, r(32), 800_144, r(1366)),
        "commitment_signed_10_htlcs": CommitmentSigned(
            r(32), r(64), tuple(r(64) for _ in range(10))
        ),
        "init": Init(b"", init_features(), InitTlvs(networks=(r(32),))),
    }


def rate(fn: Callable[[], object], seconds: float, repeat: int) -> float:
    best = 0.0
    for _ in range(repeat):
        n, t0 = 0, time.perf_counter()
        deadline = t0 + seconds / repeat
        while True:
            for _ in range(1000):
                fn()
            n += 1000
            now = time.perf_counter()
            if now >= deadline:
                break
        best = max(best, n / (now - t0))
    return best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=1.0, help="time per figure")
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args(argv)
    out: dict[str, object] = {"bench": "wire_codec", "python": sys.version.split()[0]}
    for name, msg in samples().items():
        data = encode_message(msg)
        assert decode_message(data) == msg
        out[name] = {
            "bytes": len(data),
            "decode_per_s": round(rate(lambda d=data: decode_message(d), a.seconds, a.repeat)),
            "encode_per_s": round(rate(lambda m=msg: encode_message(m), a.seconds, a.repeat)),
        }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
