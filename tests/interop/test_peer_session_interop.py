"""Our sans-IO BOLT 8 + BOLT 1 core over real sockets against independent peers.

pyln-proto (Core Lightning's Python wire) and LDK (the WASM bindings, via the Node
harness) each complete handshake + init + ping/pong against our responder, and our
initiator against theirs.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from vajra.noise import StaticKey
from vajra.peer import HandshakeCompleted, InitReceived, PongReceived
from vajra.testbed import paths as tb_paths
from vajra.testbed.ldk import LdkPeer
from vajra.testbed.procs import free_port

from .peer_loop import Responder, dial

pytestmark = pytest.mark.interop

OURS = StaticKey(bytes([0x51]) * 32)
PYLN_PEER = Path(__file__).parent / "peers" / "pyln_peer.py"


def _pyln_python() -> str:
    return str(tb_paths.installed("lnprototest").lnprototest_python)


def test_pyln_initiator_against_our_responder() -> None:
    async def main() -> tuple[dict[str, object], list[object]]:
        resp = await Responder(OURS).start()
        proc = await asyncio.create_subprocess_exec(
            _pyln_python(),
            str(PYLN_PEER),
            "dial",
            "127.0.0.1",
            str(resp.port),
            OURS.pubkey.hex(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 0, err.decode()
        conn = await resp.first_connection()
        await conn.wait_for(InitReceived)
        await resp.stop()
        return json.loads(out), conn.events

    result, events = asyncio.run(main())
    # pyln received our init (type 16) and a pong (19) of exactly num_pong_bytes=10.
    assert result == {"their_init_type": 16, "pong_type": 19, "pong_len": 10}
    hs = events[0]
    assert isinstance(hs, HandshakeCompleted)
    assert hs.remote_pubkey.hex() == StaticKey(bytes([0x21]) * 32).pubkey.hex()


def test_our_initiator_against_pyln_responder() -> None:
    async def main() -> dict[str, object]:
        port = free_port()
        proc = await asyncio.create_subprocess_exec(
            _pyln_python(),
            str(PYLN_PEER),
            "listen",
            str(port),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert proc.stdout is not None
        first = json.loads(await asyncio.wait_for(proc.stdout.readline(), 30))
        conn = await dial(OURS, bytes.fromhex(str(first["node_id"])), "127.0.0.1", port)
        await conn.wait_for(InitReceived)
        conn.ping(num_pong_bytes=17)
        pong = await conn.wait_for(PongReceived)
        assert isinstance(pong, PongReceived) and pong.byteslen == 17
        await conn.close()
        out, _ = await asyncio.wait_for(proc.communicate(), 30)
        return json.loads(out.decode().strip().splitlines()[-1])

    result = asyncio.run(main())
    assert result == {"their_init_type": 16, "pongs_sent": 1}


def test_ldk_initiator_against_our_responder(ldk_peer: LdkPeer) -> None:
    async def main() -> list[object]:
        resp = await Responder(OURS).start()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(
            None, ldk_peer.connect, "127.0.0.1", resp.port, OURS.pubkey.hex()
        )
        conn = await resp.first_connection()
        init = await conn.wait_for(InitReceived)
        assert isinstance(init, InitReceived)
        # LDK pings on its timer tick; the harness waits for the pong we send.
        rtt = await loop.run_in_executor(None, ldk_peer.ping, OURS.pubkey.hex(), 10.0)
        assert 0 <= rtt < 10_000, rtt  # LdkPeer.ping raises if no pong came in 10 s
        assert conn.conn.pongs_sent >= 1  # and the pong it saw is one our core sent
        peers = await loop.run_in_executor(None, ldk_peer.list_peers)
        assert OURS.pubkey.hex() in peers
        await resp.stop()
        return conn.events

    events = asyncio.run(main())
    hs = events[0]
    assert isinstance(hs, HandshakeCompleted) and hs.remote_pubkey.hex() == ldk_peer.node_id


def test_our_initiator_against_ldk_responder(ldk_peer: LdkPeer) -> None:
    async def main() -> None:
        port = ldk_peer.listen(0)
        conn = await dial(OURS, bytes.fromhex(ldk_peer.node_id), "127.0.0.1", port)
        init = await conn.wait_for(InitReceived)
        assert isinstance(init, InitReceived) and init.features
        conn.ping(num_pong_bytes=5)
        pong = await conn.wait_for(PongReceived)
        assert isinstance(pong, PongReceived) and pong.byteslen == 5
        await conn.close()

    asyncio.run(main())


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
