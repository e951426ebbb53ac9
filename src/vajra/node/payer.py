"""The node's sending side: drives `vajra.node.payments` over its channels (sans-IO;
decision 0023; the state table is in `payments`).

`Node` calls `pay` (a new payment: the `ApprovePayment` request is queued), `approval`
(the signer's answer to it), `peer_message` (our HTLC fulfilled or failed by the peer)
and `after_input` once every input has gone through the channels (refused commitments,
retries whose failed HTLC has left both commitments).
"""

from __future__ import annotations

from vajra.channel import signer_io as io
from vajra.channel.machine import Channel
from vajra.channel.states import State as ChannelState
from vajra.errors import DecodeError, VajraError
from vajra.node.channels import ChannelBook, ChannelEntry
from vajra.node.payments import (
    MAX_ATTEMPTS,
    Attempt,
    Payment,
    PaymentContext,
    PaymentError,
    PaymentState,
    check_preimage,
    failure_reason,
    htlc_gone,
    onion_for,
    read_invoice,
    route_for,
)
from vajra.node.requests import ChannelSignerCall
from vajra.routing.types import NoRoute
from vajra.signer.messages import decode_authorisation
from vajra.wire import Message, UpdateFailHtlc, UpdateFailMalformedHtlc, UpdateFulfillHtlc


class Payer:
    """One awake node's outgoing payments (`payments`: the node state's dict)."""

    __slots__ = ("book", "context", "node_id", "payments")

    def __init__(self, node_id: bytes, payments: dict[bytes, Payment], book: ChannelBook) -> None:
        self.node_id = node_id
        self.payments = payments
        self.book = book
        self.context: PaymentContext | None = None
        """The runtime's graph, scorer, height and entropy; None: nothing can be sent."""

    def pay(
        self, bolt11: str, authorisation: bytes, confirmation: bytes | None, now: int
    ) -> Payment:
        """Start paying `bolt11` under the device's `authorisation` (bytes as the device
        signed them). Raises PaymentError before anything is asked of the signer."""
        inv = read_invoice(bolt11, now)
        try:
            auth = decode_authorisation(authorisation)
        except DecodeError as e:
            raise PaymentError("authorisation_mismatch", f"does not decode: {e}") from None
        if (auth.payment_hash, auth.amount_msat, auth.node_id) != (
            inv.payment_hash, inv.amount_msat, self.node_id,
        ):  # fmt: skip
            raise PaymentError(
                "authorisation_mismatch", "payment hash, amount or node differ from the invoice"
            )
        old = self.payments.get(inv.payment_hash)
        if old is not None and old.state is not PaymentState.FAILED:
            raise PaymentError("duplicate_payment", f"already {old.state.value}")
        key, entry = self._channel_for(inv.payee)
        assert inv.amount_msat is not None
        p = Payment(inv.payment_hash, bolt11, inv.amount_msat, auth.max_fee_msat, key, now)
        self.payments[inv.payment_hash] = p
        request = io.ApprovePayment(authorisation, confirmation)
        self.book.requests.append(ChannelSignerCall(entry.channel_index, request))
        return p

    def approval(self, req: io.ApprovePayment, result: io.SignerResult, now: int) -> None:
        try:
            payment_hash = decode_authorisation(req.authorisation).payment_hash
        except DecodeError:
            return
        p = self.payments.get(payment_hash)
        if p is None or p.state is not PaymentState.APPROVING:
            return
        if isinstance(result, io.PaymentApproved):
            self._attempt(p, now)
        elif isinstance(result, io.SignerRefused):
            self._fail(p, result.reason, now)
        else:
            self._fail(p, f"unexpected signer answer {type(result).__name__}", now)

    def unavailable(self, req: io.ApprovePayment, reason: str, now: int) -> None:
        try:
            p = self.payments.get(decode_authorisation(req.authorisation).payment_hash)
        except DecodeError:
            return
        if p is not None and p.state is PaymentState.APPROVING:
            self._fail(p, f"signer_unavailable: {reason}", now)

    def peer_message(self, peer: bytes, msg: Message, now: int) -> None:
        """After the channel core took `msg`: our HTLC fulfilled or failed."""
        if not isinstance(msg, UpdateFulfillHtlc | UpdateFailHtlc | UpdateFailMalformedHtlc):
            return
        p = self._in_flight(msg.channel_id, msg.id)
        e = self.book.channels.get(msg.channel_id)
        if p is None or p.attempt is None or e is None or e.peer != peer:
            return
        hops = p.attempt.hops
        if isinstance(msg, UpdateFulfillHtlc):
            if not check_preimage(p, msg.payment_preimage):
                return  # the channel core fails the channel for a wrong preimage
            p.state, p.preimage, p.settled_at, p.reason = (
                PaymentState.SUCCEEDED, msg.payment_preimage, now, "",
            )  # fmt: skip
            if self.context is not None:
                self.context.router.path_succeeded(hops, now)
            return
        if isinstance(msg, UpdateFailHtlc):
            name, final, index = failure_reason(p, msg.reason, None)
        else:
            name, final, index = failure_reason(p, None, (msg.failure_code, msg.sha256_of_onion))
        p.reason = name
        if final:
            self._fail(p, name, now)
            return
        if self.context is not None:
            self.context.router.path_failed(hops, index, now)
        p.excluded.append(hops[index].short_channel_id)
        p.state = PaymentState.RETRYING

    def after_input(self, now: int) -> None:
        """Refused commitments fail their payments; retries start once the failed HTLC
        has left both commitments."""
        for key, ev in self.book.refusals:
            for p in self.payments.values():
                a = p.attempt
                if (
                    p.state is PaymentState.IN_FLIGHT and a is not None
                    and a.channel_id == key and a.htlc_id in ev.withdrawn
                ):  # fmt: skip
                    self._fail(p, ev.reason, now)
        self.book.refusals.clear()
        for p in list(self.payments.values()):
            if p.state is not PaymentState.RETRYING or p.attempt is None:
                continue
            ch = self._chan(p.channel_id)
            if ch is None:
                self._fail(p, f"channel gone after {p.reason}", now)
            elif ch.state is ChannelState.NORMAL and htlc_gone(ch, p.attempt.htlc_id):
                self._attempt(p, now)

    def views(self) -> list[dict[str, object]]:
        return [p.view() for p in self.payments.values()]

    # -- internals ------------------------------------------------------------------------

    def _attempt(self, p: Payment, now: int) -> None:
        ctx = self.context
        e = self.book.channels.get(p.channel_id)
        ch = e.chan if e is not None else None
        if ctx is None or e is None or ch is None:
            self._fail(p, "cannot_send: no routing context or channel", now)
            return
        if p.attempts >= MAX_ATTEMPTS:
            self._fail(p, f"{p.reason} (after {p.attempts} attempts)", now)
            return
        try:
            inv = read_invoice(p.bolt11, now)
            hops = route_for(p, inv, self.node_id, ch, e.funding_height, e.peer, ctx, now)
            packet, secrets, cltv = onion_for(hops, inv, ctx.height, ctx.entropy(32))
        except PaymentError as err:
            self._fail(p, err.code, now)
            return
        except NoRoute as err:
            self._fail(p, f"no_route: {err}" + (f" (last: {p.reason})" if p.reason else ""), now)
            return
        htlc_id = ch.ledger.next_htlc_id[0]
        try:
            ch.command(io.AddHtlc(hops[0].amount_msat, p.payment_hash, cltv, packet), now)
        except VajraError as err:
            self._fail(p, f"channel: {err}", now)
            return
        ch.command(io.SignCommitment(), now)
        p.attempt = Attempt(p.channel_id, htlc_id, hops, secrets)
        p.attempts += 1
        p.fee_msat = hops[0].amount_msat - hops[-1].amount_msat
        p.state = PaymentState.IN_FLIGHT
        self.book.pump(p.channel_id, now)

    def _fail(self, p: Payment, reason: str, now: int) -> None:
        p.state, p.reason, p.settled_at = PaymentState.FAILED, reason, now
        p.fee_msat = 0

    def _in_flight(self, channel_id: bytes, htlc_id: int) -> Payment | None:
        for p in self.payments.values():
            a = p.attempt
            if (
                p.state is PaymentState.IN_FLIGHT
                and a is not None
                and ((a.channel_id, a.htlc_id) == (channel_id, htlc_id))
            ):
                return p
        return None

    def _chan(self, key: bytes) -> Channel | None:
        e = self.book.channels.get(key)
        return e.chan if e is not None else None

    def _channel_for(self, payee: bytes) -> tuple[bytes, ChannelEntry]:
        """The channel to send over: one in normal operation, the payee's own first."""
        ready = [
            (k, e) for k, e in self.book.channels.items()
            if e.chan is not None and not e.failed and e.chan.state is ChannelState.NORMAL
        ]  # fmt: skip
        if not ready:
            raise PaymentError("no_channel", "no channel in normal operation")
        ready.sort(key=lambda ke: ke[1].peer != payee)
        return ready[0]
