"""A hosted `Node` pays BOLT 11 invoices over its channel to a real funder core
(decision 0023): approval first, then the route (first hop = the channel, the invoice's
hints), the onion the peer peels, `update_add_htlc` + `commitment_signed`; outcomes
(fulfil, failure decoded -> scorer -> retry, refusals) recorded in the sealed state.

The node's signer is `RefSigner` (reference `ChannelSigner` per channel): it binds an
`ApprovePayment` with the authorisation's cap without a device policy; the policy's own
refusals through the real `SignerCore` are `tests/unit/signer/test_payment_binding.py`.
"""

from __future__ import annotations

import pytest

from tests.unit.channel.pair import side_params
from tests.unit.node.refsigner import RefSigner, local_keys, secrets
from vajra.bitcoin.chains import CHAIN_HASHES
from vajra.bitcoin.tx import OutPoint
from vajra.chain.types import BlockRef, ChainEvent, EventKind, Purpose
from vajra.channel import signer_io as io
from vajra.channel.establish import (
    EstablishConfig,
    Establishment,
    FundingConfirmed,
    FundingOutpoint,
    OpenArgs,
    State,
)
from vajra.channel.machine import Channel
from vajra.channel.spec import Side
from vajra.crypto.hashes import sha256
from vajra.crypto.secp256k1 import PrivateKey
from vajra.gossip.graph import Graph
from vajra.invoice import bolt11
from vajra.invoice.model import InvoiceFields, RouteHintHop
from vajra.node import Node, NodeState
from vajra.node.channels import funding_output_script
from vajra.node.effects import SendTo, Wake
from vajra.node.payments import PaymentContext, PaymentError
from vajra.onion.failure_packet import build_failure_packet
from vajra.onion.failures import TEMPORARY_CHANNEL_FAILURE, FailureMessage
from vajra.onion.payload import HopPayload
from vajra.onion.sphinx import peel
from vajra.routing.router import LocalRouter
from vajra.routing.scorer import Scorer
from vajra.signer.channels import ChannelSigner
from vajra.signer.devices import DeviceKey, KeyType
from vajra.signer.messages import PaymentAuthorisation
from vajra.wire import Message, UpdateAddHtlc

CHAIN = CHAIN_HASHES["regtest"]
PEER_KEY = PrivateKey(sha256(b"peer node key"))
PEER = PEER_KEY.pubkey
NODE_ID = PrivateKey(sha256(b"hosted node key")).pubkey
PAYEE_KEY = PrivateKey(sha256(b"payee behind the peer"))
RING = DeviceKey(KeyType.SECP256K1, sha256(b"ring"))
OUTPOINT = OutPoint(sha256(b"funding tx"), 1)
TMP = sha256(b"tmp")
T = 1_800_000_000
HEIGHT = 800


class PaySigner(RefSigner):
    """RefSigner that binds `ApprovePayment` (no device policy) or refuses it."""

    def __init__(self) -> None:
        super().__init__()
        self.refuse_approval: str | None = None

    def _answer(self, call):  # type: ignore[no-untyped-def]
        req = call.request
        if isinstance(req, io.ApprovePayment):
            if self.refuse_approval:
                return io.SignerRefused(self.refuse_approval)
            from vajra.signer.messages import decode_authorisation

            a = decode_authorisation(req.authorisation)
            self.signers[call.channel_index].authorise_payment(a.payment_hash, a.total_msat)
            return io.PaymentApproved(a.payment_hash, a.total_msat, "auto_approved")
        return super()._answer(call)


class World:
    def __init__(self, push_msat: int = 40_000_000, anchors: bool = True) -> None:
        self.secret = secrets(b"funder")
        cfg = EstablishConfig(CHAIN, side_params(354))
        args = OpenArgs(TMP, 100_000, push_msat, 2_500, anchors)
        self.est = Establishment.funder(cfg, local_keys(self.secret), args)
        self.peer_signer: ChannelSigner | None = None
        self.node = Node(NODE_ID, NodeState())
        self.signer = PaySigner()
        self.scorer = Scorer()
        self.sent: list[Message] = []
        self.ch: Channel | None = None

    def context(self) -> PaymentContext:
        return PaymentContext(
            LocalRouter(Graph(), self.scorer), HEIGHT, lambda n: sha256(b"session")[:n]
        )

    def settle_node(self) -> list[Message]:
        """The runtime's settle: signer answered, state written and read back, effects."""
        self.signer.drive(self.node, T)
        out = [e.message for e in self.node.take_effects() if isinstance(e, SendTo)]
        again = Node(NODE_ID, NodeState.decode(self.node.state.encode()))
        assert again.state.encode() == self.node.state.encode()
        self.node = again
        self.node.payer.context = self.context()
        self.sent += out
        return out

    def to_node(self, msgs: list[Message]) -> list[Message]:
        out: list[Message] = []
        for m in msgs:
            self.node.handle(PEER, m, T)
            out += self.settle_node()
        return out

    def est_step(self) -> list[Message]:
        while (req := self.est.next_signer_request()) is not None:
            if isinstance(req, io.SetupChannel):
                self.peer_signer = ChannelSigner.setup(self.secret, req)
                self.est.signer_result(io.ChannelSetUp(), 0.0)
                continue
            assert self.peer_signer is not None
            self.est.signer_result(self.peer_signer.handle(req), 0.0)
        if self.est.state is State.AWAIT_FUNDING_OUTPOINT:
            self.est.command(FundingOutpoint(OUTPOINT), 0.0)
            return self.est_step()
        return self.est.messages_to_send()

    def open(self) -> None:
        inbox = self.est.messages_to_send()
        for _ in range(20):
            back = self.to_node(inbox)
            for m in back:
                self.est.receive_message(m, 0.0)
            inbox = self.est_step()
            if not inbox and not back:
                break
        (entry,) = self.node.state.channels.values()
        assert entry.params is not None
        script = funding_output_script(entry.params)
        ev = ChainEvent(1, 0, EventKind.RECEIVED, Purpose.FUNDING, OUTPOINT, OUTPOINT.txid,
                        100_000, script, HEIGHT - 10, bytes(32), True)  # fmt: skip
        self.node.on_wake(Wake("chain", BlockRef(HEIGHT, bytes(32)), (ev,)), T)
        ready = self.settle_node()
        for m in ready:
            self.est.receive_message(m, 0.0)
        self.est.command(FundingConfirmed(), 0.0)
        self.to_node(self.est_step())
        assert self.est.state is State.READY
        self.ch = self.est.channel()

    def peer_step(self) -> list[Message]:
        ch = self.ch
        assert ch is not None and self.peer_signer is not None
        while (req := ch.next_signer_request()) is not None:
            ch.signer_result(self.peer_signer.handle(req), 0.0)
        return ch.messages_to_send()

    def exchange(self, msgs: list[Message]) -> None:
        """Node -> peer messages until quiet (the peer signs whatever it owes)."""
        ch = self.ch
        assert ch is not None
        inbox = msgs
        for _ in range(30):
            for m in inbox:
                ch.receive_message(m, 0.0)
            if ch.state.value == "normal" and ch.ledger.can_send_commit():
                ch.command(io.SignCommitment(), 0.0)
            back = self.peer_step()
            inbox = self.to_node(back)
            if not inbox and not back:
                return
        raise AssertionError("did not settle")

    def peer_htlcs(self) -> list[UpdateAddHtlc]:
        return [m for m in self.sent if isinstance(m, UpdateAddHtlc)]


def invoice(amount: int, preimage: bytes, key: PrivateKey = PEER_KEY, hints=()) -> str:  # type: ignore[no-untyped-def]
    fields = InvoiceFields(
        currency="bcrt", timestamp=T - 10, payment_hash=sha256(preimage),
        payment_secret=sha256(b"secret" + preimage), amount_msat=amount, description="t",
        route_hints=hints, features=frozenset({14, 16}),
    )  # fmt: skip
    return bolt11.encode(fields, key.sign_recoverable)


def auth(amount: int, preimage: bytes, fee: int = 0, counter: int = 1) -> bytes:
    a = PaymentAuthorisation(
        node_id=NODE_ID, payment_hash=sha256(preimage), amount_msat=amount, max_fee_msat=fee,
        expiry=T + 60, counter=counter, device_id=RING.device_id,
    )  # fmt: skip
    return a.signed(RING).encode()


def _world(anchors: bool = True) -> World:
    w = World(anchors=anchors)
    w.open()
    w.node.payer.context = w.context()
    return w


def _balance(w: World) -> tuple[int, int]:
    (e,) = w.node.state.channels.values()
    assert e.chan is not None and w.ch is not None
    return e.chan.ledger.local_commit.spec.balance_msat[Side.LOCAL], (
        w.ch.ledger.local_commit.spec.balance_msat[Side.REMOTE]
    )


def test_the_node_pays_its_peer_and_the_balances_agree() -> None:
    w = _world()
    pre = b"\x51" * 32
    before = _balance(w)
    w.node.pay(invoice(1_000_000, pre), auth(1_000_000, pre), None, T)
    out = w.settle_node()
    assert [m.NAME for m in out] == ["update_add_htlc", "commitment_signed"]
    add = out[0]
    assert isinstance(add, UpdateAddHtlc) and add.amount_msat == 1_000_000
    # The peer peels the onion: it is the final hop, with the invoice's terms.
    peeled = peel(add.onion_routing_packet, add.payment_hash, PEER_KEY.ecdh)
    payload = HopPayload.decode(peeled.payload)
    assert peeled.is_final and payload.amt_to_forward == 1_000_000
    assert payload.payment_data is not None
    assert payload.payment_data.payment_secret == sha256(b"secret" + pre)
    assert add.cltv_expiry == payload.outgoing_cltv_value == HEIGHT + 18
    w.exchange(out)
    assert w.ch is not None
    w.ch.command(io.FulfillHtlc(add.id, pre), 0.0)
    w.exchange(w.to_node(w.peer_step()))
    (p,) = w.node.payments()
    assert p["state"] == "succeeded" and p["preimage"] == pre.hex() and p["fee_msat"] == 0
    assert p["direction"] == "outgoing" and p["amount_msat"] == 1_000_000
    after = _balance(w)
    assert before[0] - after[0] == 1_000_000 and after[0] == after[1]
    with pytest.raises(PaymentError) as err:
        w.node.pay(invoice(1_000_000, pre), auth(1_000_000, pre, counter=2), None, T)
    assert err.value.code == "duplicate_payment"


def test_a_failed_attempt_is_decoded_and_retried_over_the_other_hint() -> None:
    w = _world()
    pre = b"\x52" * 32
    hints = (
        (RouteHintHop(PEER, 111, 1_000, 0, 40),),
        (RouteHintHop(PEER, 222, 2_000, 0, 40),),
    )
    inv = invoice(2_000_000, pre, PAYEE_KEY, hints)
    w.node.pay(inv, auth(2_000_000, pre, fee=5_000), None, T)
    out = w.settle_node()
    first = out[0]
    assert isinstance(first, UpdateAddHtlc) and first.amount_msat == 2_001_000  # cheaper hint
    peeled = peel(first.onion_routing_packet, first.payment_hash, PEER_KEY.ecdh)
    assert HopPayload.decode(peeled.payload).short_channel_id == 111
    w.exchange(out)
    # The peer cannot forward over 111: temporary_channel_failure, from hop 0.
    failure = FailureMessage(TEMPORARY_CHANNEL_FAILURE, channel_update=b"")
    reason = build_failure_packet(peeled.shared_secret, failure)
    assert w.ch is not None
    w.ch.command(io.FailHtlc(first.id, reason), 0.0)
    w.exchange(w.to_node(w.peer_step()))
    second = w.peer_htlcs()[-1]
    assert second.id != first.id and second.amount_msat == 2_002_000
    peeled2 = peel(second.onion_routing_packet, second.payment_hash, PEER_KEY.ecdh)
    assert HopPayload.decode(peeled2.payload).short_channel_id == 222
    assert w.scorer.bounds(111 << 1 | (PAYEE_KEY.pubkey < PEER), T) is not None
    w.ch.command(io.FulfillHtlc(second.id, pre), 0.0)
    w.exchange(w.to_node(w.peer_step()))
    (p,) = w.node.payments()
    assert p["state"] == "succeeded" and p["fee_msat"] == 2_000 and p["attempts"] == 2


def test_a_refused_approval_sends_nothing() -> None:
    w = _world()
    pre = b"\x53" * 32
    w.signer.refuse_approval = "device_frozen"
    w.node.pay(invoice(1_000_000, pre), auth(1_000_000, pre), None, T)
    assert w.settle_node() == []
    (p,) = w.node.payments()
    assert p["state"] == "failed" and p["reason"] == "device_frozen" and "preimage" not in p


def test_an_htlc_above_the_cap_is_withdrawn_before_the_peer_sees_it() -> None:
    """The route's fees exceed the authorisation's max fee by the signer's count: the
    node's own route limit is the device's max fee, so force it with a lying order."""
    w = _world()
    pre = b"\x54" * 32
    hints = ((RouteHintHop(PEER, 111, 1_000, 0, 40),),)
    inv = invoice(2_000_000, pre, PAYEE_KEY, hints)
    w.node.pay(inv, auth(2_000_000, pre, fee=0), None, T)
    w.node.state.payments[sha256(pre)].max_fee_msat = 10_000  # the runtime lies
    assert w.settle_node() == []
    (p,) = w.node.payments()
    assert p["state"] == "failed" and p["reason"] == "policy-commitment-payment-cap"
    (e,) = w.node.state.channels.values()
    assert e.chan is not None and e.chan.ledger.projected().htlcs == ()
    assert w.ch is not None and w.ch.ledger.projected().htlcs == ()


def test_no_channel_and_mismatched_authorisation_are_refused_up_front() -> None:
    w = World()
    pre = b"\x55" * 32
    with pytest.raises(PaymentError) as err:
        w.node.pay(invoice(1_000_000, pre), auth(1_000_000, pre), None, T)
    assert err.value.code == "no_channel"
    w = _world()
    with pytest.raises(PaymentError) as err:
        w.node.pay(invoice(1_000_000, pre), auth(2_000_000, pre), None, T)
    assert err.value.code == "authorisation_mismatch"
