"""What a worker lends its awake nodes to send payments (decision 0023): a `Router` over
the runtime's ONE graph and scorer (decisions 0019, 0027: in a runtime worker, a
`route_client.RemoteRouter` to the supervisor's route service; alone, e.g. in unit
tests, a `LocalRouter` over an empty graph), the newest chain height seen, and the OS's
randomness for onion session keys. Also the clear payments summary the admin API lists.
"""

from __future__ import annotations

import json
import os

from vajra.node import Node
from vajra.node.payments import PaymentContext
from vajra.routing.router import LocalRouter, Router
from vajra.wire import ChannelUpdate, Message

PAYMENTS_KEY = "payments"
"""Unsealed, per node: the JSON list `Node.payments()` gives (the shape shared with
received payments: no key material; a succeeded payment's preimage is its proof of
payment, which the payer may show)."""


class PaymentRouting:
    __slots__ = ("height", "router")

    def __init__(self, router: Router | None = None) -> None:
        self.router: Router = router if router is not None else LocalRouter()
        self.height = 0
        """The newest chain height this worker saw (0: none yet, nothing is sent)."""

    def saw_height(self, height: int | None) -> None:
        if height is not None and height > self.height:
            self.height = height

    def lend(self, node: Node) -> None:
        """Give an awake node what it needs to route (before each input)."""
        if self.height > 0:
            node.payer.context = PaymentContext(self.router, self.height, os.urandom)

    def hand_off(self, node_id: bytes, peer: bytes | None, msg: Message) -> None:
        """Gossip a hosted node's session received (`hibernation.ToGraph`): a peer's
        `channel_update` goes to the graph's owner (decision 0027); the rest is dropped
        (the runtime's own gossip sessions bring the public graph)."""
        hand_off = getattr(self.router, "hand_off", None)
        if hand_off is not None and peer is not None and isinstance(msg, ChannelUpdate):
            hand_off(node_id, peer, msg)

    @staticmethod
    def summary(node: Node) -> bytes | None:
        """The clear payments list, or None when the node has no payment."""
        if not node.state.payments and not node.state.received:
            return None
        return json.dumps(node.payments(), sort_keys=True).encode()
