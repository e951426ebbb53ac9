"""The signer's local link: a Unix socket on the signer box for owner-signed device
commands (freeze, unfreeze, ...) that must work with the runtime unreachable. It stands
in for the Bluetooth path from a phone next to the signer.

Frames are `link_proto` frames, each preceded by a u16 big-endian length. The socket
file is 0600 in the signer's 0700 directory; no further channel security is needed for
what it accepts, because every command is signed by an owner device and decided by
`Policy.command` exactly as over the runtime link (signature, status, counter, expiry,
audit). Only DEVICE_COMMAND and PING are served; nothing here releases a secret.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable
from pathlib import Path

from vajra.errors import DecodeError, VajraError
from vajra.signer import link_proto as lp
from vajra.signer.link_server import LinkHandler

log = logging.getLogger("vajra.signer.local_link")

ALLOWED = (lp.DeviceCommandReq, lp.Ping)


class LocalLinkError(VajraError):
    """The local link could not be reached or answered nonsense."""


def handle_local(handler: LinkHandler, data: bytes, now: int) -> bytes:
    """Sans-IO: one local request's bytes -> the response's bytes."""
    try:
        frame = lp.decode(data)
    except DecodeError as e:
        return lp.Error(0, "bad_request", str(e)).encode()
    if not isinstance(frame, ALLOWED):
        return lp.Error(frame.id, "not_allowed_locally", type(frame).__name__).encode()
    return handler.handle(frame, now).encode()


async def serve(
    handler: LinkHandler, path: Path, clock: Callable[[], float]
) -> asyncio.AbstractServer:
    """Listen on `path` (replacing a stale socket file)."""

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                n = int.from_bytes(await reader.readexactly(2), "big")
                data = await reader.readexactly(n)
                out = handle_local(handler, data, int(clock()))
                log.info("event=local_request bytes=%d", n)
                writer.write(len(out).to_bytes(2, "big") + out)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    old = os.umask(0o177)
    try:
        return await asyncio.start_unix_server(on_client, str(path))
    finally:
        os.umask(old)


def call(path: Path, frame: lp.Frame, timeout: float = 10.0) -> lp.Frame:
    """Send one frame over the local link (blocking); the response frame."""
    data = frame.encode()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(str(path))
            s.sendall(len(data).to_bytes(2, "big") + data)
            n = int.from_bytes(_recv_exact(s, 2), "big")
            return lp.decode(_recv_exact(s, n))
    except OSError as e:
        raise LocalLinkError(f"local link {path}: {e}") from None


def _recv_exact(s: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise LocalLinkError("local link closed mid-answer")
        buf += chunk
    return buf
