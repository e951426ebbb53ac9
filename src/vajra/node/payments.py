"""Outgoing payments of one hosted node, sans-IO (BOLT 4 origin, BOLT 11 payer;
decision 0023).

Theory of operation. A payment is one BOLT 11 invoice paid under one device
authorisation (`vajra.signer.messages.PaymentAuthorisation` bytes: payment hash, amount,
max fee, signed by the device). Its life, one table:

    state       input                                   next
    approving   PaymentApproved (signer)                sending an attempt -> in_flight
    approving   SignerRefused (device policy)           failed (the policy's reason)
    in_flight   SigningRefused that withdrew our add    failed (the channel policy's code)
    in_flight   update_fulfill_htlc, sha256 = hash      succeeded (preimage, fee)
    in_flight   update_fail_htlc / _malformed           retrying (failure decoded, the
                                                        scorer told, its channel excluded)
    retrying    our HTLC gone from both commitments     next attempt -> in_flight, or
                                                        failed after MAX_ATTEMPTS / no route
    (any)       a final-node or permanent failure       failed (its BOLT 4 name)

`ApprovePayment` goes to the signer first; only once it is bound to the channel does
the node add the HTLC (`AddHtlc` + `SignCommitment` on the channel core), and the
commitment carrying it is signed only within the authorisation's cap (amount + max fee,
every attempt's HTLCs in one commitment counted together). A retry waits until the
failed HTLC has left both commitments, so the cap never counts it twice. Routes come
from `vajra.routing.find_route` over the runtime's graph (maybe empty) plus the
invoice's hints, with the node's channel as its only first hop; the scorer is the one
the runtime passes in (`PaymentContext`), learning from every attempt.

Payments live in the node's sealed state (`NodeState.payments`, `to_json`/`from_json`)
and are shown by `view()` in the shape shared with received payments.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from vajra.channel import signer_io as io
from vajra.channel.machine import Channel
from vajra.channel.spec import Side
from vajra.crypto.hashes import sha256
from vajra.errors import VajraError
from vajra.invoice import bolt11
from vajra.invoice.model import Invoice, is_expired
from vajra.onion.errors import FailureDecodeError
from vajra.onion.failure_packet import decode_failure_packet, malformed_failure
from vajra.onion.failures import INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS
from vajra.onion.payload import HopPayload, PaymentData
from vajra.onion.sphinx import create_onion
from vajra.routing.router import Router
from vajra.routing.types import FirstHop, RouteHop, RouteParams

MAX_ATTEMPTS = 3
"""Routes tried per payment before it fails (each after the previous failed back)."""


class PaymentError(VajraError):
    """A payment that cannot start: `code` is stable (`invoice_invalid`,
    `invoice_expired`, `invoice_no_amount`, `authorisation_mismatch`, `no_channel`,
    `duplicate_payment`)."""

    def __init__(self, code: str, detail: str = "") -> None:
        self.code = code
        super().__init__(f"{code}: {detail}" if detail else code)


class PaymentState(StrEnum):
    APPROVING = "approving"
    IN_FLIGHT = "in_flight"
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(slots=True)
class PaymentContext:
    """What the runtime lends an awake node to send: a `Router` over the ONE graph and
    scorer of the runtime (decisions 0019, 0027), the chain height, and randomness for
    onion session keys."""

    router: Router
    height: int
    entropy: Callable[[int], bytes]


@dataclass(slots=True)
class Attempt:
    channel_id: bytes
    htlc_id: int
    hops: tuple[RouteHop, ...]
    shared_secrets: tuple[bytes, ...]


@dataclass(slots=True)
class Payment:
    payment_hash: bytes
    bolt11: str
    amount_msat: int
    max_fee_msat: int
    channel_id: bytes
    created_at: int
    state: PaymentState = PaymentState.APPROVING
    reason: str = ""
    preimage: bytes | None = None
    fee_msat: int = 0
    settled_at: int | None = None
    attempts: int = 0
    excluded: list[int] = field(default_factory=list)
    attempt: Attempt | None = None

    def view(self) -> dict[str, object]:
        """The shape shared with received payments (`vajra node ID payments --json`)."""
        out: dict[str, object] = {
            "direction": "outgoing",
            "payment_hash": self.payment_hash.hex(),
            "amount_msat": self.amount_msat,
            "fee_msat": self.fee_msat,
            "state": self.state.value,
            "reason": self.reason,
            "created_at": self.created_at,
            "settled_at": self.settled_at,
            "attempts": self.attempts,
        }
        if self.state is PaymentState.SUCCEEDED and self.preimage is not None:
            out["preimage"] = self.preimage.hex()
        return out

    def to_json(self) -> dict[str, object]:
        a = self.attempt
        return {
            "hash": self.payment_hash.hex(),
            "bolt11": self.bolt11,
            "amount_msat": self.amount_msat,
            "max_fee_msat": self.max_fee_msat,
            "channel_id": self.channel_id.hex(),
            "created_at": self.created_at,
            "state": self.state.value,
            "reason": self.reason,
            "preimage": None if self.preimage is None else self.preimage.hex(),
            "fee_msat": self.fee_msat,
            "settled_at": self.settled_at,
            "attempts": self.attempts,
            "excluded": self.excluded,
            "attempt": None
            if a is None
            else {
                "channel_id": a.channel_id.hex(),
                "htlc_id": a.htlc_id,
                "hops": [
                    [
                        h.node_id.hex(),
                        h.short_channel_id,
                        h.direction,
                        h.amount_msat,
                        h.cltv_expiry_delta,
                        h.fee_msat,
                        h.capacity_msat,
                    ]
                    for h in a.hops
                ],
                "secrets": [s.hex() for s in a.shared_secrets],
            },
        }

    @classmethod
    def from_json(cls, o: dict[str, object]) -> Payment:
        """Raises ValueError/KeyError/TypeError on a malformed object (the caller's
        `DecodeError`)."""
        a = o["attempt"]
        attempt = None
        if a is not None:
            assert isinstance(a, dict)
            hops = tuple(
                RouteHop(bytes.fromhex(h[0]), int(h[1]), int(h[2]), int(h[3]), int(h[4]),
                         int(h[5]), None if h[6] is None else int(h[6]))
                for h in a["hops"]
            )  # fmt: skip
            attempt = Attempt(
                bytes.fromhex(a["channel_id"]), int(a["htlc_id"]), hops,
                tuple(bytes.fromhex(s) for s in a["secrets"]),
            )  # fmt: skip
        pre = o["preimage"]
        settled = o["settled_at"]
        excluded = o["excluded"]
        assert isinstance(excluded, list)
        return cls(
            payment_hash=bytes.fromhex(str(o["hash"])),
            bolt11=str(o["bolt11"]),
            amount_msat=int(str(o["amount_msat"])),
            max_fee_msat=int(str(o["max_fee_msat"])),
            channel_id=bytes.fromhex(str(o["channel_id"])),
            created_at=int(str(o["created_at"])),
            state=PaymentState(str(o["state"])),
            reason=str(o["reason"]),
            preimage=None if pre is None else bytes.fromhex(str(pre)),
            fee_msat=int(str(o["fee_msat"])),
            settled_at=None if settled is None else int(str(settled)),
            attempts=int(str(o["attempts"])),
            excluded=[int(x) for x in excluded],
            attempt=attempt,
        )


def read_invoice(text: str, now: int) -> Invoice:
    """The invoice to pay; PaymentError for one that does not decode, has expired, or
    names no amount (amountless invoices are not paid yet)."""
    try:
        inv = bolt11.decode(text)
    except VajraError as e:
        raise PaymentError("invoice_invalid", str(e)) from None
    if is_expired(inv, now):
        raise PaymentError("invoice_expired", f"expired at {inv.expires_at}")
    if inv.amount_msat is None:
        raise PaymentError("invoice_no_amount")
    return inv


def first_hop(ch: Channel, funding_height: int) -> FirstHop:
    """Our channel as the route's first hop: what we can send now (our balance in the
    projected commitment less the peer's reserve for us and HTLCs in flight)."""
    led = ch.ledger
    spec = led.projected()
    reserve = led.channel.params[Side.REMOTE].channel_reserve_sat * 1000
    outbound = max(spec.balance_msat[Side.LOCAL] - reserve, 0)
    scid = (
        ch.remote_alias
        or ch.local_alias
        or (funding_height << 40 | led.channel.funding_outpoint.vout)
    )
    minimum = led.channel.params[Side.REMOTE].htlc_minimum_msat
    return FirstHop(scid, b"", outbound, minimum)


def onion_for(
    hops: tuple[RouteHop, ...], inv: Invoice, height: int, session_key: bytes
) -> tuple[bytes, tuple[bytes, ...], int]:
    """(onion packet, per-hop shared secrets, first HTLC's cltv_expiry) for a route
    (BOLT 4 "Payload for the Last Node"; `routing.types.RouteHop` says which hop's
    amount and delta each payload carries)."""
    payloads: list[bytes] = []
    for i, hop in enumerate(hops):
        if i + 1 < len(hops):
            nxt = hops[i + 1]
            p = HopPayload(nxt.amount_msat, height + nxt.cltv_expiry_delta, nxt.short_channel_id)
        else:
            p = HopPayload(
                hop.amount_msat,
                height + hop.cltv_expiry_delta,
                payment_data=PaymentData(inv.payment_secret, hop.amount_msat),
                payment_metadata=inv.metadata,
            )
        payloads.append(p.encode())
    onion = create_onion(
        session_key,
        [(h.node_id, p) for h, p in zip(hops, payloads, strict=True)],
        inv.payment_hash,
    )
    return onion.packet, onion.shared_secrets, height + hops[0].cltv_expiry_delta


def route_for(
    p: Payment, inv: Invoice, payer: bytes, ch: Channel, funding_height: int,
    peer: bytes, ctx: PaymentContext, now: int,
) -> tuple[RouteHop, ...]:  # fmt: skip
    """The next attempt's route; NoRoute when there is none within the max fee."""
    assert inv.amount_msat is not None
    fh = first_hop(ch, funding_height)
    fh = FirstHop(fh.short_channel_id, peer, fh.outbound_msat, fh.htlc_minimum_msat)
    route = ctx.router.route(
        payer, inv.payee, inv.amount_msat, now,
        final_cltv_expiry_delta=inv.min_final_cltv_expiry_delta,
        route_hints=inv.route_hints, first_hops=[fh],
        params=RouteParams(max_fee_msat=p.max_fee_msat), excluded=p.excluded,
    )  # fmt: skip
    return route.hops


def failure_reason(
    p: Payment, reason: bytes | None, malformed: tuple[int, bytes] | None
) -> tuple[str, bool, int]:
    """(reason name, final?, failing hop index) of a failed attempt. Final: the payee
    refused (BOLT 4 `incorrect_or_unknown_payment_details` and every failure of the
    final node) or the failure cannot be attributed."""
    a = p.attempt
    assert a is not None
    try:
        if malformed is not None:
            d = malformed_failure(*malformed)
        else:
            assert reason is not None
            d = decode_failure_packet(a.shared_secrets, reason)
    except FailureDecodeError as e:
        return f"undecodable_failure: {e}", False, 0
    name = d.message.name if d.message is not None else "unknown_failure"
    last = len(a.hops) - 1
    final = d.hop_index == last or (
        d.message is not None and d.message.code == INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS
    )
    # The channel that failed is the one leaving the erring node (hop_index + 1).
    return name, final, min(d.hop_index + 1, last)


def htlc_gone(ch: Channel, htlc_id: int) -> bool:
    """Our HTLC has left both commitments and nothing pending still names it."""
    led = ch.ledger
    specs = [led.local_commit.spec, led.remote_commit.spec]
    if led.next_remote is not None:
        specs.append(led.next_remote.spec)
    return all(s.find(Side.LOCAL, htlc_id) is None for s in specs) and (
        led.projected().find(Side.LOCAL, htlc_id) is None
    )


def approve_request(authorisation: bytes, confirmation: bytes | None) -> io.ApprovePayment:
    return io.ApprovePayment(authorisation, confirmation)


def check_preimage(p: Payment, preimage: bytes) -> bool:
    return sha256(preimage) == p.payment_hash
