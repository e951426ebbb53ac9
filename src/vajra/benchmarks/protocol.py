"""`vajra bench protocol`: the BOLT 8 / BOLT 1 hot paths on one core.

- noise_responder_handshakes_per_cpu_s: BOLT 8 responder only (acts one and three replayed
  from pre-made initiator transcripts: no sockets, no init), per CPU second. (Was
  `handshakes_per_s_per_core`; that name stays with `vajra bench hosting`, where it counts
  whole handshakes + init over real TCP against the runtime.)
- frames_per_s_per_core: encrypt + frame + decrypt of a 32-byte message, CPU time.
- channel_update_decodes_per_s_per_core: `decode_message` of a channel_update.
Each is the median of `runs` runs; all runs are in the output too.
"""

from __future__ import annotations

import time
from typing import Any

from vajra.benchmarks.noise import frames_per_cpu_s, responder_handshakes_per_cpu_s
from vajra.benchmarks.results import median_of
from vajra.bitcoin.chains import CHAIN_HASHES
from vajra.wire import ChannelUpdate, decode_message, encode_message

TARGETS = {
    "noise_responder_handshakes_per_cpu_s": 3500,
    "frames_per_s_per_core": 150_000,
    "channel_update_decodes_per_s_per_core": 200_000,
}


def channel_update_decodes_per_s(seconds: float) -> float:
    data = encode_message(
        ChannelUpdate(
            signature=bytes(range(64)),
            chain_hash=CHAIN_HASHES["regtest"],
            short_channel_id=(700_000 << 40) | (1234 << 16) | 1,
            timestamp=1_700_000_000,
            message_flags=1,
            channel_flags=0,
            cltv_expiry_delta=144,
            htlc_minimum_msat=1000,
            fee_base_msat=1000,
            fee_proportional_millionths=100,
            htlc_maximum_msat=990_000_000,
        )
    )
    n = 0
    start = time.process_time()
    end = start + seconds
    now = start
    while now < end:
        for _ in range(1000):
            decode_message(data)
        n += 1000
        now = time.process_time()
    return n / (now - start)


def run(seconds: float = 1.0, runs: int = 5) -> dict[str, Any]:
    out: dict[str, Any] = {}
    all_runs: dict[str, list[float]] = {}
    for key, fn in (
        ("noise_responder_handshakes_per_cpu_s", responder_handshakes_per_cpu_s),
        ("frames_per_s_per_core", frames_per_cpu_s),
        ("channel_update_decodes_per_s_per_core", channel_update_decodes_per_s),
    ):
        med, xs = median_of(runs, lambda fn=fn: fn(seconds))  # type: ignore[misc]
        out[key] = round(med)
        all_runs[key] = [round(x) for x in xs]
    out["targets"] = TARGETS
    out["meets_targets"] = all(out[k] >= v for k, v in TARGETS.items())
    out["runs"] = all_runs
    out["seconds_per_run"] = seconds
    return out
