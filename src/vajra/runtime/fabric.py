"""The address fabric: node index <-> (ip, port), by arithmetic, for a million nodes.

Every hosted node needs its own reachable address: the BOLT 8 responder must know which
static key the initiator targeted before act one can be checked, and the only thing
that tells it is the address dialled. Ports do not scale (65,535 per IP, one listening
socket each, and a process may hold only 20,000 descriptors here), so the fabric gives
every node its own *IP* on one shared port:

    node index i  <->  pool.first + i   on   pool.port

Each worker process holds one wildcard listening socket (`0.0.0.0:port` or `[::]:port`,
`SO_REUSEPORT` so the kernel spreads accepts over workers). The kernel accepts a
connection to any address routed to this host; the worker reads the dialled address with
`getsockname()` and turns it back into a node index with one subtraction. No per-node
socket, no per-node dict: the index addresses compact tables (see `keytable.py`).

Pools:
- loopback (tests, dev): `127.0.0.0/8` minus its first /16 (so 127.0.0.1 and friends
  stay free for ordinary services): 16,711,680 node addresses. Linux routes all of
  127/8 to `lo`.
- production: a routed IPv6 /64 (2^64 addresses) made local with an AnyIP route,
  `ip -6 route add local 2001:db8:1:2::/64 dev lo`, listening on `[::]:port`. The same
  works for an IPv4 block (`ip route add local 203.0.113.0/24 dev lo`).

Pure: no sockets here; `index_of` takes what `getsockname()` returned.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

DEFAULT_POOL = "127.0.0.0/8@65536"
"""All of 127/8 except 127.0.0.0/16: index 0 is 127.1.0.0."""


class PoolError(ValueError):
    """A pool specification that cannot work (bad CIDR, offset outside it)."""


@dataclass(frozen=True, slots=True)
class AddressPool:
    """Node addresses `first + i` for `0 <= i < size`, all on `port`."""

    family: int
    """`socket.AF_INET` or `socket.AF_INET6`."""
    first: int
    """The address of node index 0, as an integer."""
    size: int
    """How many node addresses the pool holds."""
    port: int
    """The one TCP port every node listens on."""

    @classmethod
    def parse(cls, spec: str, port: int) -> AddressPool:
        """`CIDR[@OFFSET]`: index 0 is the network address + OFFSET (default 1 for IPv6,
        where `::0` of a subnet is the subnet-router anycast address, else 0)."""
        cidr, _, off = spec.partition("@")
        try:
            net = ipaddress.ip_network(cidr.strip(), strict=True)
        except ValueError as e:
            raise PoolError(f"bad pool {spec!r}: {e}") from None
        family = socket.AF_INET if net.version == 4 else socket.AF_INET6
        try:
            offset = int(off) if off else (1 if net.version == 6 else 0)
        except ValueError:
            raise PoolError(f"bad pool offset in {spec!r}") from None
        if not 0 <= offset < net.num_addresses:
            raise PoolError(f"offset {offset} outside {cidr}")
        if not 0 < port <= 0xFFFF:
            raise PoolError(f"bad port {port}")
        return cls(family, int(net.network_address) + offset, net.num_addresses - offset, port)

    @property
    def wildcard(self) -> str:
        """The address a worker's listening socket binds."""
        return "0.0.0.0" if self.family == socket.AF_INET else "::"

    def host_of(self, index: int) -> str:
        """The textual IP of node `index` (IndexError outside the pool)."""
        if not 0 <= index < self.size:
            raise IndexError(f"node index {index} outside pool of {self.size}")
        n = 4 if self.family == socket.AF_INET else 16
        return socket.inet_ntop(self.family, (self.first + index).to_bytes(n, "big"))

    def index_of(self, host: str) -> int | None:
        """The node index of a dialled address, or None if it is not in the pool.

        Accepts an IPv4-mapped IPv6 address (`::ffff:127.1.0.5`) for an IPv4 pool, which
        is what a dual-stack socket reports.
        """
        try:
            if self.family == socket.AF_INET:
                if host.startswith("::ffff:"):
                    host = host[7:]
                packed = socket.inet_pton(socket.AF_INET, host)
            else:
                packed = socket.inet_pton(socket.AF_INET6, host.partition("%")[0])
        except OSError:
            return None
        i = int.from_bytes(packed, "big") - self.first
        return i if 0 <= i < self.size else None
