"""A test-only asyncio edge that drives the sans-IO `PeerConnection` over real sockets.

It only moves bytes and time between a socket and the core (the shape the runtime's edge
will have): read -> `receive_data(now)` -> write `data_to_send()` -> collect events.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from vajra.noise import StaticKey
from vajra.peer import ConnectionClosed, Event, PeerConnection, SessionConfig


class Driven:
    """One connection: the core, its socket, the events it produced."""

    def __init__(
        self, conn: PeerConnection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.conn, self.reader, self.writer = conn, reader, writer
        self.events: list[Event] = []
        self._changed = asyncio.Event()
        self.task = asyncio.create_task(self._run())

    def _flush(self) -> None:
        out = self.conn.data_to_send()
        if out:
            self.writer.write(out)
        while (ev := self.conn.next_event()) is not None:
            self.events.append(ev)
            self._changed.set()

    async def _run(self) -> None:
        self._flush()  # act one, for an initiator
        try:
            while not self.conn.closed:
                timer = self.conn.get_timer()
                timeout = None if timer is None else max(0.0, timer - time.monotonic())
                try:
                    data = await asyncio.wait_for(self.reader.read(65536), timeout)
                except TimeoutError:
                    self.conn.handle_timer(time.monotonic())
                    self._flush()
                    continue
                if not data:
                    self.conn.close("eof")
                    break
                self.conn.receive_data(data, time.monotonic())
                self._flush()
                await self.writer.drain()
        finally:
            self._flush()
            with contextlib.suppress(Exception):
                await self.writer.drain()
            self.writer.close()

    async def wait_for(self, kind: type, timeout: float = 10.0) -> Event:
        deadline = time.monotonic() + timeout
        while True:
            for ev in self.events:
                if isinstance(ev, kind):
                    return ev
                if isinstance(ev, ConnectionClosed) and kind is not ConnectionClosed:
                    raise AssertionError(f"closed while waiting for {kind.__name__}: {ev}")
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {kind.__name__} in {timeout}s; events={self.events}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)

    def ping(self, num_pong_bytes: int = 0) -> None:
        self.conn.ping(time.monotonic(), num_pong_bytes)
        self._flush()

    async def close(self) -> None:
        self.conn.close()
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.task


class Responder:
    """A listening socket whose every connection is a `PeerConnection.responder`."""

    def __init__(self, key: StaticKey, config: SessionConfig | None = None) -> None:
        self.key, self.config = key, config or SessionConfig()
        self.connections: list[Driven] = []
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self, port: int = 0) -> Responder:
        def accept(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            conn = PeerConnection.responder(self.key, self.config, time.monotonic())
            self.connections.append(Driven(conn, r, w))

        self.server = await asyncio.start_server(accept, "127.0.0.1", port)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def first_connection(self, timeout: float = 15.0) -> Driven:
        deadline = time.monotonic() + timeout
        while not self.connections:
            if time.monotonic() > deadline:
                raise TimeoutError("nobody connected")
            await asyncio.sleep(0.02)
        return self.connections[0]

    async def stop(self) -> None:
        for c in self.connections:
            await c.close()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


async def dial(
    key: StaticKey, remote_pubkey: bytes, host: str, port: int, config: SessionConfig | None = None
) -> Driven:
    r, w = await asyncio.open_connection(host, port)
    conn = PeerConnection.initiator(key, remote_pubkey, config or SessionConfig(), time.monotonic())
    return Driven(conn, r, w)
