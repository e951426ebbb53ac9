"""BOLT 8 against an independent implementation: Core Lightning's pyln-proto (`wire.py`).

pyln-proto runs in the test bed's lnprototest virtualenv (it pins old libraries) as a
child process whose stdin/stdout are its "socket". It completes the handshake with our
`Initiator`/`Responder`, then echoes each message reversed; over 1,100 messages in each
direction cross two key rotations, and our decoder is fed the child's output in whatever
chunks the pipe delivers.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest

from vajra.noise import ACT_ONE_SIZE, ACT_THREE_SIZE, Initiator, Responder, StaticKey, Transport
from vajra.testbed import paths as tb_paths
from vajra.testbed.errors import TestbedNotInstalled

pytestmark = pytest.mark.interop

PYLN_PEER = r"""
import sys
from pyln.proto.wire import LightningConnection, PrivateKey, PublicKey

class Pipe:
    def recv(self, n):
        return sys.stdin.buffer.read(n)
    def send(self, data):
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()

role, key, remote, count = sys.argv[1], bytes.fromhex(sys.argv[2]), sys.argv[3], int(sys.argv[4])
conn = LightningConnection(
    Pipe(), PublicKey(bytes.fromhex(remote)) if remote else None, PrivateKey(key),
    is_initiator=role == "initiator",
)
conn.shake()
if role == "responder":  # tell the test which static key it learned
    conn.send_message(conn.remote_pubkey.serializeCompressed())
for _ in range(count):
    conn.send_message(conn.read_message()[::-1])
"""

OURS = StaticKey(bytes([0x41]) * 32)
THEIRS = StaticKey(bytes([0x42]) * 32)
COUNT = 1100


def _messages() -> Iterator[bytes]:
    for i in range(COUNT):
        size = 65535 if i == 700 else (i * 37) % 1500
        yield bytes((i + j) % 256 for j in range(size))


@pytest.fixture
def pyln_python() -> str:
    try:
        return str(tb_paths.installed("lnprototest").lnprototest_python)
    except TestbedNotInstalled as e:
        pytest.fail(str(e), pytrace=False)


def _spawn(python: str, role: str, remote: bytes) -> subprocess.Popen[bytes]:
    key = THEIRS.secret.hex()
    args = [python, "-c", PYLN_PEER, role, key, remote.hex(), str(COUNT)]
    return subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE)


def _read_exact(proc: subprocess.Popen[bytes], n: int) -> bytes:
    assert proc.stdout is not None
    data = proc.stdout.read(n)
    assert len(data) == n, f"peer closed after {len(data)} of {n} bytes (exit {proc.poll()})"
    return data


def _next(proc: subprocess.Popen[bytes], t: Transport) -> bytes:
    assert proc.stdout is not None
    while (msg := t.next_message()) is None:
        chunk = os.read(proc.stdout.fileno(), 4096)  # whatever the pipe has: any chunking
        assert chunk, f"peer closed (exit {proc.poll()})"
        t.receive_data(chunk)
    return msg


def _send(proc: subprocess.Popen[bytes], data: bytes) -> None:
    assert proc.stdin is not None
    proc.stdin.write(data)
    proc.stdin.flush()


def _echo_session(proc: subprocess.Popen[bytes], t: Transport) -> None:
    for msg in _messages():
        _send(proc, t.encrypt(msg))
        assert _next(proc, t) == msg[::-1]
    assert proc.wait(timeout=30) == 0


def test_pyln_initiator_our_responder(pyln_python: str) -> None:
    proc = _spawn(pyln_python, "initiator", OURS.pubkey)
    try:
        resp = Responder(OURS)
        _send(proc, resp.read_act_one(_read_exact(proc, ACT_ONE_SIZE)))
        remote, t = resp.read_act_three(_read_exact(proc, ACT_THREE_SIZE))
        assert remote == THEIRS.pubkey
        _echo_session(proc, t)
    finally:
        proc.kill()
        proc.wait()


def test_our_initiator_pyln_responder(pyln_python: str) -> None:
    proc = _spawn(pyln_python, "responder", b"")
    try:
        init = Initiator(OURS, THEIRS.pubkey)
        _send(proc, init.act_one())
        act3, t = init.read_act_two(_read_exact(proc, ACT_ONE_SIZE))
        _send(proc, act3)
        assert _next(proc, t) == OURS.pubkey  # pyln learned our static key
        _echo_session(proc, t)
    finally:
        proc.kill()
        proc.wait()
