"""BOLT 4 against an independent implementation: Electrum's `lnonion` (Debian's
python3-electrum 4.3.4 in the test bed), on random routes.

- Electrum builds onions; they equal ours byte for byte and we peel every hop.
- We build onions; Electrum peels every hop and reads our payloads.
- Electrum's erring hop builds a failure, the hops back obfuscate it; we name the hop.
- Our erring hop builds a failure; Electrum's `decode_onion_error` names the hop.

The harness (tests/interop/peers/electrum_onion.py) runs under Electrum's interpreter.
"""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path
from typing import Any

import pytest

from vajra.crypto.secp256k1 import PrivateKey
from vajra.onion import (
    FailureMessage,
    HopPayload,
    PaymentData,
    build_failure_packet,
    create_onion,
    decode_failure_packet,
    obfuscate_failure,
    peel,
)
from vajra.onion.failures import (
    MPP_TIMEOUT,
    UNKNOWN_NEXT_PEER,
    incorrect_or_unknown_payment_details,
    simple,
    temporary_channel_failure,
)
from vajra.testbed import paths as tb_paths

pytestmark = [pytest.mark.interop]

HARNESS = Path(__file__).resolve().parent / "peers" / "electrum_onion.py"
ROUTES = 12


def _electrum(tp: tb_paths.TestbedPaths, cases: dict[str, Any]) -> dict[str, Any]:
    r = subprocess.run(
        [str(tp.electrum_python), str(HARNESS)],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    out: dict[str, Any] = json.loads(r.stdout)
    return out


def _route(rng: random.Random) -> tuple[bytes, list[PrivateKey], list[HopPayload], bytes]:
    n = rng.randint(1, 20)
    keys = [PrivateKey(rng.randbytes(31) + b"\x01") for _ in range(n)]
    payloads = [
        HopPayload(
            amt_to_forward=rng.randint(1, 1 << 40),
            outgoing_cltv_value=rng.randint(1, 1 << 31),
            short_channel_id=rng.getrandbits(64) if i < n - 1 else None,
            payment_data=PaymentData(rng.randbytes(32), rng.randint(1, 1 << 40))
            if i == n - 1
            else None,
        )
        for i in range(n)
    ]
    return rng.randbytes(31) + b"\x02", keys, payloads, rng.randbytes(32)


ROUTES_RNG = random.Random(4)
ONION_ROUTES = [_route(ROUTES_RNG) for _ in range(ROUTES)]
OUR_ONIONS = [
    create_onion(s, [(k.pubkey, p.encode()) for k, p in zip(keys, ps, strict=True)], ad)
    for s, keys, ps, ad in ONION_ROUTES
]


def _onion_cases() -> dict[str, Any]:
    routes, ours = ONION_ROUTES, OUR_ONIONS
    return {
        "build": [
            {
                "session_key": s.hex(),
                "hops": [[k.pubkey.hex(), p.encode().hex()] for k, p in zip(keys, ps, strict=True)],
                "ad": ad.hex(),
            }
            for s, keys, ps, ad in routes
        ],
        "peel": [
            {"packet": o.packet.hex(), "ad": ad.hex(), "keys": [k.secret.hex() for k in keys]}
            for o, (_, keys, _, ad) in zip(ours, routes, strict=True)
        ],
    }


@pytest.fixture(scope="module")
def electrum(testbed_paths: tb_paths.TestbedPaths) -> dict[str, Any]:
    """Electrum's answers to every case of this module, from one harness run (importing
    Electrum takes seconds)."""
    tp = testbed_paths.require("electrum")
    return _electrum(tp, {**_onion_cases(), **_failure_cases()})


def test_onions_both_ways(electrum: dict[str, Any]) -> None:
    got, routes, ours = electrum, ONION_ROUTES, OUR_ONIONS
    for theirs, o, (_, keys, ps, ad) in zip(got["build"], ours, routes, strict=True):
        assert bytes.fromhex(theirs) == o.packet
        packet = bytes.fromhex(theirs)
        for i, key in enumerate(keys):
            peeled = peel(packet, ad, key.ecdh)
            assert HopPayload.decode(peeled.payload) == ps[i]
            packet = peeled.next_packet or b""
    for hops, (_, keys, ps, _) in zip(got["peel"], routes, strict=True):
        assert len(hops) == len(keys)
        for i, (hop, p) in enumerate(zip(hops, ps, strict=True)):
            assert hop["final"] == (i == len(keys) - 1)
            assert (hop["amt_to_forward"], hop["outgoing_cltv_value"]) == (
                p.amt_to_forward,
                p.outgoing_cltv_value,
            )
            if p.short_channel_id is not None:
                assert int(hop["short_channel_id"], 16) == p.short_channel_id
            if p.payment_data is not None:
                assert bytes.fromhex(hop["payment_secret"]) == p.payment_data.payment_secret


FAILURES = [
    incorrect_or_unknown_payment_details(12_345, 800_000),
    simple(UNKNOWN_NEXT_PEER),
    simple(MPP_TIMEOUT),
    temporary_channel_failure(),
]


def _failure_routes() -> list[tuple[bytes, list[PrivateKey], bytes, int, FailureMessage]]:
    rng = random.Random(5)
    cases = []
    for j in range(ROUTES):
        session, keys, _, ad = _route(rng)
        erring = rng.randrange(len(keys))
        cases.append((session, keys, ad, erring, FAILURES[j % len(FAILURES)]))
    return cases


FAILURE_ROUTES = _failure_routes()


def _our_failures() -> list[tuple[tuple[bytes, ...], bytes]]:
    ours = []
    for session, keys, ad, erring, failure in FAILURE_ROUTES:
        onion = create_onion(session, [(k.pubkey, b"\x02\x01\x01\x04\x01\x01") for k in keys], ad)
        packet = build_failure_packet(onion.shared_secrets[erring], failure)
        for ss in reversed(onion.shared_secrets[:erring]):
            packet = obfuscate_failure(ss, packet)
        ours.append((onion.shared_secrets, packet))
    return ours


OUR_FAILURES = _our_failures()


def _failure_cases() -> dict[str, Any]:
    cases, ours = FAILURE_ROUTES, OUR_FAILURES
    return {
        "error": [
            {
                "session_key": s.hex(),
                "pubkeys": [k.pubkey.hex() for k in keys],
                "keys": [k.secret.hex() for k in keys],
                "ad": ad.hex(),
                "erring": erring,
                "failure": failure.encode().hex(),
            }
            for s, keys, ad, erring, failure in cases
        ],
        "decode": [
            {
                "session_key": s.hex(),
                "pubkeys": [k.pubkey.hex() for k in keys],
                "packet": packet.hex(),
            }
            for (s, keys, _, _, _), (_, packet) in zip(cases, ours, strict=True)
        ],
    }


def test_failures_both_ways(electrum: dict[str, Any]) -> None:
    got, cases, ours = electrum, FAILURE_ROUTES, OUR_FAILURES
    for theirs, (_, _, _, erring, failure), (secrets, _) in zip(
        got["error"], cases, ours, strict=True
    ):
        decoded = decode_failure_packet(secrets, bytes.fromhex(theirs))
        assert decoded.hop_index == erring
        assert decoded.message == failure
    for theirs, (_, _, _, erring, failure) in zip(got["decode"], cases, strict=True):
        assert theirs["index"] == erring
        assert FailureMessage.decode(bytes.fromhex(theirs["failure"])) == failure
