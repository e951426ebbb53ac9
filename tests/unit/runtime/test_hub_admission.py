"""Issue 13 item 4: cheap connections cannot make the signer hub expensive.

A real hub on loopback. The cost of a connection is measured as this process's CPU time
(hub and client share it; the client's part is the same in both runs), with no code
outstanding and with 2,000: the code-authenticated handshake must do the same work
whatever the number of codes (before the locator, each connection tried an ECDH per
code: ~40x more CPU at 2,000 codes).
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from tests.unit.signer.test_link_session import LINK_KEY, hub_at, run
from vajra.crypto.secp256k1 import generate_secret
from vajra.noise import Initiator, StaticKey
from vajra.runtime.source_limits import SourceLimits
from vajra.signer import link_pairing as pairing
from vajra.signer.daemon import pair

CONNECTIONS = 60
OTHER = StaticKey(b"\x09" * 32).pubkey
OPEN = SourceLimits(per_source=10_000, rate=1e9, burst=10**9, total=10_000)


async def _junk_connection(port: int, with_prelude: bool) -> None:
    """What an attacker sends for next to nothing: a well-formed act one to a key the hub
    does not hold, with a random locator or none."""
    r, w = await asyncio.open_connection("127.0.0.1", port)
    act_one = Initiator(StaticKey(generate_secret()), OTHER).act_one()
    junk = (b"VP" + os.urandom(16) if with_prelude else b"") + act_one
    w.write(junk)
    await w.drain()
    await r.read()  # the hub closes without a word
    w.close()


async def _cpu_per_connection(port: int) -> float:
    t = time.process_time()
    for i in range(CONNECTIONS):
        await _junk_connection(port, with_prelude=bool(i % 2))
    return (time.process_time() - t) / CONNECTIONS


@run
async def test_a_connection_costs_the_same_with_2000_outstanding_codes(tmp_path: Path) -> None:
    async with hub_at(tmp_path / "hub", max_codes=2001, limits=OPEN) as hub:
        await _cpu_per_connection(hub.port)  # warm-up
        none = await _cpu_per_connection(hub.port)
        for _ in range(2000):
            hub.pairing_code()
        many = await _cpu_per_connection(hub.port)
        assert len(hub.codes) == 2000
        # Generous: scheduling noise on a loaded machine, but far below the ~40x of a scan.
        print(
            f"cpu per connection: {none * 1e3:.2f} ms with no code, {many * 1e3:.2f} ms with 2000"
        )
        assert many < 3 * none + 0.002, (none, many)
        # And the codes still work: the last one issued pairs at once.
        code = hub.pairing_code().code
        paired = await pair("127.0.0.1", hub.port, code, LINK_KEY)
        assert paired.runtime_pubkey == hub.pubkey


@run
async def test_the_hub_caps_outstanding_codes(tmp_path: Path) -> None:
    async with hub_at(tmp_path / "hub") as hub:
        for _ in range(pairing.MAX_OUTSTANDING):
            hub.pairing_code()
        try:
            hub.pairing_code()
        except pairing.PairingError as e:
            assert e.reason == "too_many_codes"
        else:
            raise AssertionError("a code past the cap was issued")
        out = await hub.admin({"op": "signers"})
        assert out == {"signers": []}


@run
async def test_one_source_cannot_hold_the_signer_port(tmp_path: Path) -> None:
    limits = SourceLimits(per_source=4, rate=1000, burst=1000, total=100)
    async with hub_at(tmp_path / "hub", limits=limits) as hub:
        held = [await asyncio.open_connection("127.0.0.1", hub.port) for _ in range(4)]
        await asyncio.sleep(0.05)
        r, w = await asyncio.open_connection("127.0.0.1", hub.port)
        assert await asyncio.wait_for(r.read(), 5) == b""  # closed at once, unread
        assert limits.refused == 1 and limits.in_progress == 4
        for _, hw in held:
            hw.close()
        w.close()
        await asyncio.sleep(0.05)
        assert limits.in_progress == 0
        # The slots are free again: a real pairing goes through.
        paired = await pair("127.0.0.1", hub.port, hub.pairing_code().code, LINK_KEY)
        assert paired.signer_id == 1


def test_source_limits_rate_and_bounds() -> None:
    lim = SourceLimits(per_source=2, rate=1.0, burst=3, total=3)
    assert lim.admit("a", 0) and lim.admit("a", 0)
    assert not lim.admit("a", 0)  # two in progress from a
    assert lim.admit("b", 0)
    assert not lim.admit("c", 0)  # three in progress overall
    for s in ("a", "a", "b"):
        lim.done(s)
    assert lim.admit("a", 0)  # third token of the burst
    lim.done("a")
    assert not lim.admit("a", 0.5)  # bucket empty: half a token
    assert lim.admit("a", 1.0)  # one per second
    assert lim.refused == 3
