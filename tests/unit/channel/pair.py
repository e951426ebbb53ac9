"""Two in-process channel endpoints (A opened to B), each with its own real signer.

Messages travel in order per direction through `a_to_b` / `b_to_a`; signer requests wait
in each endpoint's queue until the driver answers them, so a test chooses every
interleaving. Keys are derived from fixed seeds: deterministic, but real secp256k1 keys.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from vajra.bitcoin.tx import OutPoint
from vajra.channel import signer_io as io
from vajra.channel.keys import ChannelSecrets
from vajra.channel.machine import Channel
from vajra.channel.reestablish import Link
from vajra.channel.spec import ChannelParams, CommitSpec, Side, SideParams
from vajra.channel.updates import Ledger
from vajra.crypto.hashes import sha256
from vajra.signer.channels import ChannelSigner
from vajra.wire import Message

CAPACITY_SAT = 1_000_000
PUSH_MSAT = 300_000_000


def secrets(tag: bytes) -> ChannelSecrets:
    return ChannelSecrets(*(sha256(tag + bytes([i])) for i in range(6)))


def side_params(dust: int = 546) -> SideParams:
    return SideParams(
        dust_limit_sat=dust,
        channel_reserve_sat=10_000,
        htlc_minimum_msat=1_000,
        max_accepted_htlcs=30,
        max_htlc_value_in_flight_msat=500_000_000,
        to_self_delay=144,
    )


@dataclass
class Endpoint:
    channel: Channel
    signer: ChannelSigner
    requests: deque[io.SignerRequest] = field(default_factory=deque)
    events: list[io.ChannelEvent] = field(default_factory=list)
    allow: set[bytes] = field(default_factory=set)
    """Scripts this side's signer lets a mutual close pay to (its wallet's)."""

    def collect_events(self) -> list[io.ChannelEvent]:
        while (e := self.channel.next_event()) is not None:
            self.events.append(e)
        return self.events

    def collect(self) -> list[Message]:
        while (r := self.channel.next_signer_request()) is not None:
            self.requests.append(r)
        while (e := self.channel.next_event()) is not None:
            self.events.append(e)
        return self.channel.messages_to_send()


@dataclass
class Pair:
    a: Endpoint
    b: Endpoint
    a_to_b: deque[Message] = field(default_factory=deque)
    b_to_a: deque[Message] = field(default_factory=deque)

    def flush(self) -> None:
        self.a_to_b.extend(self.a.collect())
        self.b_to_a.extend(self.b.collect())

    def deliver(self, to_b: bool) -> bool:
        queue, dest = (self.a_to_b, self.b) if to_b else (self.b_to_a, self.a)
        if not queue:
            return False
        dest.channel.receive_message(queue.popleft(), 0.0)
        self.flush()
        return True

    def answer(self, ep: Endpoint, refuse: str | None = None) -> bool:
        if not ep.requests:
            return False
        req = ep.requests.popleft()
        result = io.SignerRefused(refuse) if refuse else ep.signer.handle(req, allowlisted=ep.allow)
        ep.channel.signer_result(result, 0.0)
        self.flush()
        return True

    def disconnect(self) -> None:
        """The connection drops: whatever was in flight is lost, both sides notice."""
        self.a_to_b.clear()
        self.b_to_a.clear()
        for ep in (self.a, self.b):
            ep.channel.disconnected(0.0)
        self.flush()

    def reconnect(self) -> None:
        """A new connection: each side sends its channel_reestablish (maybe once its
        signer answers)."""
        for ep in (self.a, self.b):
            if ep.channel.link is Link.DOWN:
                ep.channel.connected(0.0)
        self.flush()

    def settle_all(self, limit: int = 200) -> None:
        """Run until nothing moves: reconnect, deliver, answer, sign whatever is pending."""
        self.reconnect()
        for _ in range(limit):
            moved = self.deliver(True) or self.deliver(False)
            moved = self.answer(self.a) or self.answer(self.b) or moved
            if not moved:
                for ep in (self.a, self.b):
                    if ep.channel.state.value == "normal" and ep.channel.link is Link.UP:
                        ep.channel.command(io.SignCommitment(), 0.0)
                self.flush()
                if not (self.a_to_b or self.b_to_a or self.a.requests or self.b.requests):
                    return
        raise AssertionError("channel pair did not settle")


def make_pair(
    *, anchors: bool = True, feerate_per_kw: int = 2_500, outpoint: OutPoint | None = None
) -> Pair:
    """`outpoint`: a real funding output (default: a made-up one)."""
    sa, sb = secrets(b"alice"), secrets(b"bob")
    outpoint = outpoint or OutPoint(sha256(b"funding"), 0)
    channel_id = sha256(b"channel")
    params_a = ChannelParams(
        channel_id=channel_id,
        funding_outpoint=outpoint,
        capacity_sat=CAPACITY_SAT,
        funder=Side.LOCAL,
        anchors=anchors,
        params=(side_params(546), side_params(354)),
        basepoints=(sa.basepoints(), sb.basepoints()),
    )
    spec_a = CommitSpec(feerate_per_kw, (CAPACITY_SAT * 1000 - PUSH_MSAT, PUSH_MSAT), ())
    endpoints = []
    for secret, params, spec, peer in (
        (sa, params_a, spec_a, sb),
        (sb, params_a.flipped(), spec_a.flipped(), sa),
    ):
        channel = Channel(
            Ledger.open(params, spec), peer.per_commitment_point(1), secret.per_commitment_point(1)
        )
        endpoints.append(Endpoint(channel, ChannelSigner.open(secret, params, spec)))
    return Pair(endpoints[0], endpoints[1])
