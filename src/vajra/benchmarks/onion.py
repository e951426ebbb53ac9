"""`vajra bench onion`: the BOLT 4 work per HTLC on one core (CPU time, medians).

- onion_builds_per_cpu_s: `create_onion` for a 5-hop route (the sender, per attempt);
- peels_per_cpu_s: `peel` of a 1366-byte packet at a hop (ECDH, HMAC, 2600-byte stream);
- receives_per_cpu_s: a hosted node's whole receive path (`receive_htlc`: peel, payload
  reader rules, final-node checks) for a good payment;
- failure_decodes_per_cpu_s: the origin decoding a failure from the 5th hop (27 rounds);
- failure_builds_per_cpu_s: the final node's `update_fail_htlc` reason.

Component figures for the payment benchmarks of issue 10; no target of their own. Here,
not in `vajra.onion`, because the protocol package never reads a clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from vajra.benchmarks.results import median_of
from vajra.crypto.hashes import sha256
from vajra.crypto.secp256k1 import PrivateKey
from vajra.onion import (
    HopPayload,
    IncomingHtlc,
    InvoiceTerms,
    PaymentData,
    build_failure_packet,
    create_onion,
    decode_failure_packet,
    obfuscate_failure,
    peel,
    receive_htlc,
)
from vajra.onion.failures import incorrect_or_unknown_payment_details

_KEYS = [PrivateKey(bytes([i + 1]) * 32) for i in range(5)]
_PREIMAGE = bytes([7]) * 32
_HASH = sha256(_PREIMAGE)
_SECRET = bytes([9]) * 32
_HEIGHT = 800_000
_AMOUNT = 10_000_000


def _route() -> list[tuple[bytes, bytes]]:
    hops = []
    for i, key in enumerate(_KEYS[:-1]):
        fwd = HopPayload(
            amt_to_forward=_AMOUNT + 1000 * (4 - i),
            outgoing_cltv_value=_HEIGHT + 100 - 10 * i,
            short_channel_id=i + 1,
        )
        hops.append((key.pubkey, fwd.encode()))
    final = HopPayload(
        amt_to_forward=_AMOUNT,
        outgoing_cltv_value=_HEIGHT + 60,
        payment_data=PaymentData(_SECRET, _AMOUNT),
    )
    hops.append((_KEYS[-1].pubkey, final.encode()))
    return hops


def _rate(seconds: float, op: Callable[[], object], batch: int = 20) -> float:
    n = 0
    start = time.process_time()
    end = start + seconds
    now = start
    while now < end or n == 0:
        for _ in range(batch):
            op()
        n += batch
        now = time.process_time()
    return n / (now - start)


def operations() -> dict[str, Callable[[], object]]:
    """The timed operations, each a closure over prepared inputs."""
    session = bytes([0x42]) * 32
    route = _route()
    onion = create_onion(session, route, _HASH)
    final_onion = create_onion(session, route[-1:], _HASH).packet
    invoice = InvoiceTerms(_HASH, _SECRET, _AMOUNT, created_at=0, expiry_s=3600)
    htlc = IncomingHtlc(_HASH, _AMOUNT, _HEIGHT + 60, final_onion)
    node = _KEYS[-1]
    secrets = onion.shared_secrets
    failure = incorrect_or_unknown_payment_details(_AMOUNT, _HEIGHT)
    packet = build_failure_packet(secrets[-1], failure)
    for ss in reversed(secrets[:-1]):
        packet = obfuscate_failure(ss, packet)

    def receive() -> object:
        return receive_htlc(htlc, node.ecdh, {_HASH: invoice}.get, height=_HEIGHT, now=60)

    return {
        "onion_builds_per_cpu_s": lambda: create_onion(session, route, _HASH),
        "peels_per_cpu_s": lambda: peel(onion.packet, _HASH, _KEYS[0].ecdh),
        "receives_per_cpu_s": receive,
        "failure_decodes_per_cpu_s": lambda: decode_failure_packet(secrets, packet),
        "failure_builds_per_cpu_s": lambda: build_failure_packet(secrets[-1], failure),
    }


def run(seconds: float = 1.0, runs: int = 5) -> dict[str, Any]:
    out: dict[str, Any] = {}
    all_runs: dict[str, list[float]] = {}
    for key, op in operations().items():
        med, xs = median_of(runs, lambda op=op: _rate(seconds, op))  # type: ignore[misc]
        out[key] = round(med)
        all_runs[key] = [round(x) for x in xs]
    out["route_hops"] = len(_KEYS)
    out["runs"] = all_runs
    out["seconds_per_run"] = seconds
    return out
