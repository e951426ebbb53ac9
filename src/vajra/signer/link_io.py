"""The link's asyncio edge, shared by the signer daemon and the runtime's hub: a BOLT 8
session over a stream, carrying `link_proto` frames. Only bytes are moved here; the
handshake (`vajra.noise`) and the frames (`link_proto`) are sans-IO."""

from __future__ import annotations

import asyncio
import contextlib

from vajra.errors import VajraError
from vajra.noise import ACT_TWO_SIZE, Initiator, StaticKey, Transport
from vajra.signer import link_proto as lp

HANDSHAKE_TIMEOUT = 10.0
_READ = 65536


class LinkClosed(VajraError):
    """The other side closed the link (or it broke)."""


class FramedLink:
    """An established session: `send` and `recv` whole frames."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        transport: Transport,
        remote_pubkey: bytes,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.transport = transport
        self.remote_pubkey = remote_pubkey

    def send(self, frame: lp.Frame) -> None:
        self.send_bytes(frame.encode())

    def send_bytes(self, data: bytes) -> None:
        if self.writer.is_closing():
            raise LinkClosed("link is closed")
        self.writer.write(self.transport.encrypt(data))

    async def recv_bytes(self) -> bytes:
        """The next decrypted message; LinkClosed at EOF. Transport errors (a forged
        frame) are DecodeErrors: the caller must close."""
        while True:
            msg = self.transport.next_message()
            if msg is not None:
                return msg
            try:
                data = await self.reader.read(_READ)
            except (ConnectionError, OSError) as e:
                raise LinkClosed(str(e)) from None
            if not data:
                raise LinkClosed("eof")
            self.transport.receive_data(data)

    def received(self) -> list[bytes]:
        """Every whole message already received (decrypted), without waiting. Stops at a
        forged frame: the transport stays dead, so the next `recv_bytes` raises."""
        out: list[bytes] = []
        with contextlib.suppress(VajraError):
            while (msg := self.transport.next_message()) is not None:
                out.append(msg)
        return out

    async def recv(self) -> lp.Frame:
        return lp.decode(await self.recv_bytes())

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()


async def dial(
    host: str,
    port: int,
    local: StaticKey,
    remote_pubkey: bytes,
    timeout: float = HANDSHAKE_TIMEOUT,
    prelude: bytes = b"",
) -> FramedLink:
    """Connect and run the BOLT 8 handshake as initiator towards `remote_pubkey`
    (`prelude`: bytes sent before act one, the pairing locator of `link_pairing`)."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    try:
        hs = Initiator(local, remote_pubkey)
        writer.write(prelude + hs.act_one())
        act_two = await asyncio.wait_for(reader.readexactly(ACT_TWO_SIZE), timeout)
        act_three, transport = hs.read_act_two(act_two)
        writer.write(act_three)
        await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, OSError) as e:
        writer.close()
        raise LinkClosed(f"handshake: {e}") from None
    except BaseException:
        writer.close()
        raise
    return FramedLink(reader, writer, transport, remote_pubkey)
