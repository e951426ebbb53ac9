"""The node registry's row and its packed address: what the runtime knows of a hosted node.

A row holds no secret: the node id (public key), the address it is reachable at, the
signer that serves it and a few state flags. The node's state itself lives in the KV
store under (node id, key) and is found from the node id, so the row needs no pointer.

Rows are small on purpose (a million of them per runtime): the address is packed to
6 bytes (IPv4) or 18 bytes (IPv6) and the signer is a small integer naming a signer the
runtime knows, not the signer's 33-byte key.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

from vajra.errors import DecodeError

NODE_ID_LEN = 33
_PORT = struct.Struct(">H")


@dataclass(frozen=True, slots=True)
class NodeRow:
    """One hosted node as the registry stores it."""

    node_id: bytes
    """The node's 33-byte compressed public key."""
    host: str
    """The IPv4 or IPv6 address the node is reachable at (textual form)."""
    port: int
    """The TCP port the node is reachable at."""
    signer_id: int
    """Which signer serves this node: a small integer the runtime maps to a signer link."""
    flags: int = 0
    """State bit field owned by the runtime (e.g. disabled); 0 for a fresh node."""

    def __post_init__(self) -> None:
        if len(self.node_id) != NODE_ID_LEN:
            raise ValueError(f"node id must be {NODE_ID_LEN} bytes, got {len(self.node_id)}")
        if not 0 <= self.port <= 0xFFFF:
            raise ValueError(f"port out of range: {self.port}")
        if not 0 <= self.signer_id < 1 << 63 or not 0 <= self.flags < 1 << 63:
            raise ValueError("signer_id and flags must be non-negative 63-bit integers")


def pack_address(host: str, port: int) -> bytes:
    """ip:port as 4+2 (IPv4) or 16+2 (IPv6) bytes, big-endian port."""
    try:
        ip = socket.inet_pton(socket.AF_INET, host)
    except OSError:
        try:
            ip = socket.inet_pton(socket.AF_INET6, host)
        except OSError:
            raise ValueError(f"not an IP address: {host!r}") from None
    return ip + _PORT.pack(port)


def unpack_address(packed: bytes) -> tuple[str, int]:
    """Inverse of `pack_address`; the length tells the family."""
    if len(packed) == 6:
        family = socket.AF_INET
    elif len(packed) == 18:
        family = socket.AF_INET6
    else:
        raise DecodeError(f"packed address must be 6 or 18 bytes, got {len(packed)}")
    (port,) = _PORT.unpack_from(packed, len(packed) - 2)
    return socket.inet_ntop(family, packed[:-2]), port
