"""A worker's `Router`: the supervisor's one graph and scorer over the route channel
(`route_proto`; decision 0027).

The node's send path is synchronous (sans-IO: `Payer` asks for a route while it handles
an input), so a query blocks the worker until the answer comes, at most `timeout`
seconds -- the same time the worker would have spent searching its own graph, now spent
by the supervisor's route thread. No answer: `NoRoute(unavailable)` (the payment fails
with that reason; nothing was offered to the peer). Reports are sent without waiting; a
full channel drops them (counted): the scorer learns from the next attempt.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Collection, Sequence

from vajra.errors import DecodeError
from vajra.invoice.model import RouteHintHop
from vajra.routing.types import FirstHop, NoRoute, NoRouteReason, Route, RouteHop, RouteParams
from vajra.runtime import route_proto as rp
from vajra.wire import ChannelUpdate


class RemoteRouter:
    """`vajra.routing.router.Router` over this worker's end of its route channel."""

    def __init__(self, fd: int, *, timeout: float = 10.0) -> None:
        self._sock = socket.socket(fileno=fd)
        self._timeout = timeout
        self._next = int.from_bytes(os.urandom(6), "big") << 16
        self.dropped_reports = 0

    def route(
        self,
        payer: bytes,
        payee: bytes,
        amount_msat: int,
        now: float,
        *,
        final_cltv_expiry_delta: int,
        route_hints: Sequence[Sequence[RouteHintHop]],
        first_hops: Sequence[FirstHop] | None,
        params: RouteParams,
        excluded: Collection[int],
    ) -> Route:
        self._next = (self._next + 1) & 0xFFFF_FFFF_FFFF_FFFF
        qid = self._next
        q = rp.Query(
            qid, payer, payee, amount_msat, now, final_cltv_expiry_delta,
            tuple(tuple(h) for h in route_hints),
            None if first_hops is None else tuple(first_hops), params, tuple(excluded),
        )  # fmt: skip
        deadline = time.monotonic() + self._timeout
        try:
            self._sock.settimeout(self._timeout)
            self._sock.send(q.encode())
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError
                self._sock.settimeout(left)
                data = self._sock.recv(rp.MAX_PACKET + 1)
                if not data:
                    raise NoRoute(NoRouteReason.UNAVAILABLE, "route channel closed")
                try:
                    a = rp.Answer.decode(data)
                except DecodeError:
                    continue
                if a.id == qid:
                    break  # older ids: answers to queries that timed out
        except (TimeoutError, OSError) as e:
            raise NoRoute(NoRouteReason.UNAVAILABLE, f"route service: {e!r}") from None
        if a.no_route:
            raise NoRoute(NoRouteReason(a.no_route), a.detail)
        return Route(a.hops)

    def _report(self, r: rp.Report | rp.PeerUpdate) -> None:
        try:
            self._sock.send(r.encode(), socket.MSG_DONTWAIT)
        except OSError:
            self.dropped_reports += 1

    def hand_off(self, node_id: bytes, peer: bytes, update: ChannelUpdate) -> None:
        """A `channel_update` a hosted node's peer sent: to the graph's owner (dropped,
        counted, when the channel is full)."""
        self._report(rp.PeerUpdate(node_id, peer, update.encode()))

    def path_succeeded(self, hops: Sequence[RouteHop], now: float) -> None:
        self._report(rp.Report(tuple(hops), None, now))

    def path_failed(self, hops: Sequence[RouteHop], failed_index: int, now: float) -> None:
        self._report(rp.Report(tuple(hops), failed_index, now))
