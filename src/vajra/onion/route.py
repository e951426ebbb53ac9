"""The origin's hop payloads for a route: amounts and CLTVs backwards from the payee.

BOLT 4 "`payload` format" and BOLT 7 "HTLC Fees" / "Routing Example": the payload of hop
`i` tells it to forward `amt_to_forward` over `short_channel_id` (the channel to hop
`i+1`) with `outgoing_cltv_value`; hop `i` keeps the fee of that outgoing channel's
policy, `fee_base_msat + amount_to_forward * fee_proportional_millionths / 1000000`
(integer division, as the BOLT 7 example computes it), and needs `cltv_expiry_delta`
blocks between its incoming and outgoing HTLC. So, from the last hop back:

    amount(i) = amount(i+1) + fee(policy of hop i+1's channel, amount(i+1))
    cltv(i)   = cltv(i+1)   + cltv_expiry_delta(policy of hop i+1's channel)

The final payload carries the payee's terms ("Payload for the Last Node"): the amount,
the final CLTV (current height + `min_final_cltv_expiry_delta` + any shadow-route offset,
chosen by the caller), `payment_data` when the invoice has a `payment_secret`,
`payment_metadata` when it has one, or a keysend preimage.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from vajra.onion.payload import HopPayload, PaymentData
from vajra.onion.sphinx import Onion, create_onion
from vajra.wire.errors import EncodeError


@dataclass(frozen=True, slots=True)
class RouteHop:
    """One channel of a route and the node it reaches (`node_id`, 33 bytes).

    The fee and `cltv_expiry_delta` are the policy of that channel in the direction of
    `node_id` (the `channel_update` of the node forwarding into it). The first hop's
    policy is not used: the origin pays itself no fee."""

    node_id: bytes
    short_channel_id: int
    fee_base_msat: int = 0
    fee_proportional_millionths: int = 0
    cltv_expiry_delta: int = 0

    def fee_msat(self, amount_to_forward: int) -> int:
        """BOLT 7 "HTLC Fees" for forwarding `amount_to_forward` msat into this channel."""
        return (
            self.fee_base_msat + amount_to_forward * self.fee_proportional_millionths // 1_000_000
        )


@dataclass(frozen=True, slots=True)
class FinalTerms:
    """What the payee gets. `cltv_expiry`: the absolute block height of the final HTLC's
    expiry; `total_msat`: the whole payment for a part of an MPP set (default: amount)."""

    amount_msat: int
    cltv_expiry: int
    payment_secret: bytes | None = None
    total_msat: int | None = None
    payment_metadata: bytes | None = None
    keysend_preimage: bytes | None = None


@dataclass(frozen=True, slots=True)
class RoutePayloads:
    """The first `update_add_htlc`'s `amount_msat` and `cltv_expiry`, one payload per hop,
    and the fees paid to the route (`amount_msat - final amount`)."""

    amount_msat: int
    cltv_expiry: int
    payloads: tuple[HopPayload, ...]
    fee_msat: int


def route_payloads(hops: Sequence[RouteHop], final: FinalTerms) -> RoutePayloads:
    """Hop payloads for `hops` (first hop first, the payee last). Raises `EncodeError`
    for an empty route or a negative amount."""
    if not hops:
        raise EncodeError("a route needs at least one hop")
    if final.amount_msat < 0:
        raise EncodeError("negative amount")
    payment_data = None
    if final.payment_secret is not None:
        total = final.amount_msat if final.total_msat is None else final.total_msat
        payment_data = PaymentData(final.payment_secret, total)
    payloads = [
        HopPayload(
            amt_to_forward=final.amount_msat,
            outgoing_cltv_value=final.cltv_expiry,
            payment_data=payment_data,
            payment_metadata=final.payment_metadata,
            keysend_preimage=final.keysend_preimage,
        )
    ]
    amount, cltv = final.amount_msat, final.cltv_expiry
    for i in range(len(hops) - 2, -1, -1):
        out = hops[i + 1]  # hop i forwards into hop i+1's channel under its policy
        payloads.append(
            HopPayload(
                amt_to_forward=amount,
                outgoing_cltv_value=cltv,
                short_channel_id=out.short_channel_id,
            )
        )
        amount += out.fee_msat(amount)
        cltv += out.cltv_expiry_delta
    payloads.reverse()
    return RoutePayloads(amount, cltv, tuple(payloads), amount - final.amount_msat)


def build_payment_onion(
    session_key: bytes, hops: Sequence[RouteHop], final: FinalTerms, payment_hash: bytes
) -> tuple[Onion, RoutePayloads]:
    """`route_payloads` then `create_onion` with the `payment_hash` as associated data."""
    rp = route_payloads(hops, final)
    onion = create_onion(
        session_key,
        [(h.node_id, p.encode()) for h, p in zip(hops, rp.payloads, strict=True)],
        payment_hash,
    )
    return onion, rp
