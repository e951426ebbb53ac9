"""Test helpers: run `vajra runtime` as a real process and talk to its nodes.

Everything goes through what a user runs (the CLI, real sockets): `start_runtime` is
the one runtime launcher the demo uses too (`vajra.testbed.runtime`): `python -m vajra
runtime --dev ...` (or, with `dev=False` / `signer_port`, the runtime with its embedded
signer hub) through `vajra.testbed.vajra_process.VajraProcess` (bounded ready wait,
admin calls, stop, kill -9). `wait_until` and `free_port` are the test bed's
(`vajra.testbed.procs`), re-exported for the e2e tests.
"""

from __future__ import annotations

import asyncio
import random

from vajra.bitcoin.chains import CHAIN_HASHES
from vajra.crypto.secp256k1 import generate_secret, pubkey_create
from vajra.noise import StaticKey
from vajra.testbed.procs import free_port, wait_until
from vajra.testbed.runtime import DEV_SEED, start_runtime
from vajra.testbed.vajra_process import VajraProcess
from vajra.wire import OpenChannel

__all__ = [
    "SEED", "VajraProcess", "client_key", "free_port", "open_channel_msg", "start_runtime",
    "wait_closed", "wait_until",
]  # fmt: skip

SEED = DEV_SEED


def client_key() -> StaticKey:
    return StaticKey(generate_secret())


def open_channel_msg(temp_id: bytes | None = None) -> OpenChannel:
    pt = pubkey_create(bytes(31) + b"\x07")
    return OpenChannel(
        chain_hash=CHAIN_HASHES["regtest"],
        temporary_channel_id=temp_id or random.randbytes(32),
        funding_satoshis=100_000,
        push_msat=0,
        dust_limit_satoshis=546,
        max_htlc_value_in_flight_msat=10**9,
        channel_reserve_satoshis=1000,
        htlc_minimum_msat=1,
        feerate_per_kw=253,
        to_self_delay=144,
        max_accepted_htlcs=30,
        funding_pubkey=pt,
        revocation_basepoint=pt,
        payment_basepoint=pt,
        delayed_payment_basepoint=pt,
        htlc_basepoint=pt,
        first_per_commitment_point=pt,
        channel_flags=0,
    )


async def wait_closed(host: str, port: int, timeout: float = 5.0) -> bool:
    """Connect and report whether the server closed on us without a byte (within timeout)."""
    r, w = await asyncio.open_connection(host, port)
    try:
        data = await asyncio.wait_for(r.read(100), timeout)
        return data == b""
    except (ConnectionResetError, BrokenPipeError):
        return True
    finally:
        w.close()
