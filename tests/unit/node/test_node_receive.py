"""A hosted `Node` receives payments from a real payer channel core (LND's role), each
side with its own validating signer, over real onions (`onion.route`): invoice, keysend
and multi-part payments fulfilled only once irrevocably committed; wrong amount, expired
invoice, unknown hash, a bad onion and an MPP timeout failed with the BOLT 4 error the
payer decodes. The node is written and read back (slept) after every input."""

from __future__ import annotations

import os

import coincurve
import pytest

from tests.unit.node.refsigner import RefSigner
from tests.unit.node.test_node_channels import PEER, Funder, _exchange, _funding_event
from vajra.chain.types import BlockRef
from vajra.channel import signer_io as io
from vajra.channel.establish import FundingConfirmed, State
from vajra.channel.machine import Channel
from vajra.channel.spec import Side
from vajra.crypto.hashes import sha256
from vajra.invoice import encode
from vajra.node import Node, NodeState
from vajra.node.channels import funding_output_script
from vajra.node.effects import SendTo, Wake, WakeAt
from vajra.node.invoices import ReceiveKeys, decode_record, encode_record, invoice_fields
from vajra.onion import FinalTerms, RouteHop, build_payment_onion, decode_failure_packet
from vajra.onion.failures import (
    INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS,
    INVALID_ONION_HMAC,
    MPP_TIMEOUT,
)
from vajra.wire import Message, UpdateFailHtlc, UpdateFailMalformedHtlc, UpdateFulfillHtlc

SECRET = sha256(b"hosted node identity")
NODE_ID = coincurve.PublicKey.from_secret(SECRET).format()
KEYS = ReceiveKeys(SECRET)
NOW = 1_700_000_000
HEIGHT = 600
SCID = 600 << 40 | 1 << 16


class Host:
    """The runtime's part: the node with its receive keys, the invoice store, and a
    sleep (state through bytes) after every input."""

    def __init__(self) -> None:
        self.node = Node(NODE_ID, NodeState(), None, KEYS)
        self.signer = RefSigner()
        self.now = NOW
        self.timers: list[WakeAt] = []
        """Every `WakeAt` the node asked for, in order."""

    def _after(self) -> list[object]:
        self.signer.drive(self.node, self.now)
        effects: list[object] = list(self.node.take_effects())
        self.timers += [e for e in effects if isinstance(e, WakeAt)]
        data = self.node.state.encode()
        self.node = Node(NODE_ID, NodeState.decode(data), self.node.config, KEYS)
        assert self.node.state.encode() == data
        return effects

    def input(self, m: Message) -> list[object]:
        self.node.handle(PEER, m, self.now)
        return self._after()

    def wake(self, w: Wake) -> list[object]:
        self.node.on_wake(w, self.now)
        return self._after()

    def invoice(self, amount_msat: int | None, *, expiry_s: int = 3600) -> tuple[bytes, bytes]:
        """Issue an invoice as `vajra node ID invoice` does; (payment_hash, secret)."""
        fields = invoice_fields(keys=KEYS, currency="bcrt", amount_msat=amount_msat,
                                description="coffee", now=self.now, expiry_s=expiry_s)  # fmt: skip

        def sign(digest: bytes) -> tuple[bytes, int]:
            sig = coincurve.PrivateKey(SECRET).sign_recoverable(digest, hasher=None)
            return sig[:64], sig[64]

        record = encode_record(encode(fields, sign), self.now)
        assert decode_record(record, NODE_ID).payment_hash == fields.payment_hash
        self.signer.invoices[fields.payment_hash] = record
        return fields.payment_hash, fields.payment_secret


def open_ready() -> tuple[Host, Funder, Channel, bytes]:
    """A 100,000 sat channel, all the funder's, ready on both sides; the node knows the
    tip (HEIGHT)."""
    host, funder = Host(), Funder()
    _exchange(host, funder, [funder.open_msg()])  # type: ignore[arg-type]
    (cid,) = host.node.state.channels
    params = host.node.state.channels[cid].params
    assert params is not None
    ev = _funding_event(0, HEIGHT - 2, funding_output_script(params))
    (ready,) = host.wake(Wake("chain", BlockRef(HEIGHT, bytes(32)), (ev,)))
    assert isinstance(ready, SendTo)
    funder.est.receive_message(ready.message, 0.0)
    funder.est.command(FundingConfirmed(), 0.0)
    _exchange(host, funder, funder.step())  # type: ignore[arg-type]
    assert funder.est.state is State.READY
    return host, funder, funder.est.channel(), cid


def dance(host: Host, funder: Funder, ch: Channel) -> list[Message]:
    """Messages both ways until quiet (the funder signs when it has updates); every
    message the node sent."""
    assert funder.signer is not None
    sent: list[Message] = []
    for _ in range(30):
        if ch.state.name == "NORMAL" and ch.ledger.can_send_commit():
            ch.command(io.SignCommitment(), 0.0)
        while (r := ch.next_signer_request()) is not None:
            ch.signer_result(funder.signer.handle(r), 0.0)
        out = ch.messages_to_send()
        back: list[Message] = []
        for m in out:
            back += [e.message for e in host.input(m) if isinstance(e, SendTo)]  # type: ignore[attr-defined]
        for m in back:
            ch.receive_message(m, 0.0)
        sent += back
        if not out and not back:
            return sent
    raise AssertionError("did not settle")


def pay(
    funder: Funder, ch: Channel, payment_hash: bytes, amount_msat: int, *, secret: bytes | None = None,
    total_msat: int | None = None, keysend: bytes | None = None, cltv_delta: int = 100,
) -> tuple[bytes, ...]:  # fmt: skip
    """Add one HTLC to the node carrying a real onion; its shared secrets."""
    final = FinalTerms(amount_msat, HEIGHT + cltv_delta, secret, total_msat,
                       keysend_preimage=keysend)  # fmt: skip
    onion, rp = build_payment_onion(os.urandom(32), [RouteHop(NODE_ID, SCID)], final, payment_hash)
    assert funder.signer is not None
    funder.signer.authorise_payment(
        payment_hash, total_msat or amount_msat
    )  # the payer's device said yes
    ch.command(io.AddHtlc(rp.amount_msat, payment_hash, rp.cltv_expiry, onion.packet), 0.0)
    return onion.shared_secrets


def failure_code(secrets: tuple[bytes, ...], m: Message) -> int:
    assert isinstance(m, UpdateFailHtlc)
    d = decode_failure_packet(secrets, m.reason)
    assert d.hop_index == 0 and d.message is not None
    return d.message.code


def test_invoice_paid_once_irrevocably_committed() -> None:
    host, funder, ch, cid = open_ready()
    payment_hash, secret = host.invoice(30_000_000)
    pay(funder, ch, payment_hash, 30_000_000, secret=secret)
    sent = dance(host, funder, ch)
    fulfils = [m for m in sent if isinstance(m, UpdateFulfillHtlc)]
    assert len(fulfils) == 1 and sha256(fulfils[0].payment_preimage) == payment_hash
    # BOLT 2: not fulfilled before the HTLC was in both commitments and both previous
    # ones were revoked: the fulfil follows our revoke_and_ack and commitment_signed.
    names = [m.NAME for m in sent]
    assert names.index("update_fulfill_htlc") > names.index("commitment_signed")
    assert names.index("update_fulfill_htlc") > names.index("revoke_and_ack")
    # Both sides agree: 30,000 sat moved to the node.
    node_ch = host.node.state.channels[cid].chan
    assert node_ch is not None
    for led in (node_ch.ledger, ch.ledger):
        assert not led.local_commit.spec.htlcs and not led.remote_commit.spec.htlcs
    assert node_ch.ledger.local_commit.spec.balance_msat[Side.LOCAL] == 30_000_000
    assert ch.ledger.local_commit.spec.balance_msat[Side.REMOTE] == 30_000_000
    (rec,) = host.node.received_payments()
    assert rec["state"] == "succeeded" and rec["amount_msat"] == 30_000_000
    assert rec["direction"] == "incoming" and rec["parts"] == 1
    assert sha256(bytes.fromhex(str(rec["preimage"]))) == payment_hash
    assert not host.node.state.receive.onions and not host.node.state.receive.resolutions
    # Paying the same invoice again is refused (already settled: PERM|15). The payer's
    # own signer would refuse to pay a hash it saw paid (decision 0023): this is another
    # payer, who does not know.
    assert funder.signer is not None
    funder.signer.paid_hashes.discard(payment_hash)
    ss = pay(funder, ch, payment_hash, 30_000_000, secret=secret)
    (fail,) = [m for m in dance(host, funder, ch) if m.NAME == "update_fail_htlc"]
    assert failure_code(ss, fail) == INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS


@pytest.mark.parametrize(
    ("paid", "expiry_s", "later", "reason"),
    [
        (40_000_000, 3600, 0, "amount_too_low"),
        (50_000_000, 60, 61, "invoice_expired"),
    ],
)
def test_wrong_amount_or_expired_invoice_fails_with_perm15(
    paid: int, expiry_s: int, later: int, reason: str
) -> None:
    host, funder, ch, _ = open_ready()
    payment_hash, secret = host.invoice(50_000_000, expiry_s=expiry_s)
    host.now += later
    ss = pay(funder, ch, payment_hash, paid, secret=secret)
    sent = dance(host, funder, ch)
    (fail,) = [m for m in sent if m.NAME == "update_fail_htlc"]
    assert failure_code(ss, fail) == INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS
    (rec,) = host.node.received_payments()
    assert rec["state"] == "failed" and rec["reason"] == reason and "preimage" not in rec
    assert ch.ledger.local_commit.spec.balance_msat[Side.REMOTE] == 0  # nothing moved


def test_unknown_hash_fails_without_a_record_and_wrong_secret_fails() -> None:
    host, funder, ch, _ = open_ready()
    ss = pay(funder, ch, sha256(b"never issued"), 10_000_000, secret=bytes(32))
    (fail,) = [m for m in dance(host, funder, ch) if m.NAME == "update_fail_htlc"]
    assert failure_code(ss, fail) == INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS
    assert host.node.received_payments() == []
    payment_hash, _ = host.invoice(10_000_000)
    ss = pay(funder, ch, payment_hash, 10_000_000, secret=os.urandom(32))
    (fail,) = [m for m in dance(host, funder, ch) if m.NAME == "update_fail_htlc"]
    assert failure_code(ss, fail) == INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS
    assert [r["reason"] for r in host.node.received_payments()] == ["payment_secret"]


def test_keysend_is_received() -> None:
    host, funder, ch, _ = open_ready()
    preimage = os.urandom(32)
    pay(funder, ch, sha256(preimage), 7_000_000, keysend=preimage)
    (ful,) = [m for m in dance(host, funder, ch) if isinstance(m, UpdateFulfillHtlc)]
    assert ful.payment_preimage == preimage
    (rec,) = host.node.received_payments()
    assert rec["state"] == "succeeded" and rec["amount_msat"] == 7_000_000


def test_bad_onion_is_answered_malformed() -> None:
    host, funder, ch, _ = open_ready()
    payment_hash, secret = host.invoice(1_000_000)
    final = FinalTerms(1_000_000, HEIGHT + 100, secret)
    onion, rp = build_payment_onion(os.urandom(32), [RouteHop(NODE_ID, SCID)], final, payment_hash)
    bad = onion.packet[:-1] + bytes([onion.packet[-1] ^ 1])  # HMAC broken
    assert funder.signer is not None
    funder.signer.authorise_payment(payment_hash, 1_000_000)
    ch.command(io.AddHtlc(rp.amount_msat, payment_hash, rp.cltv_expiry, bad), 0.0)
    (m,) = [m for m in dance(host, funder, ch) if m.NAME == "update_fail_malformed_htlc"]
    assert isinstance(m, UpdateFailMalformedHtlc) and m.failure_code == INVALID_ONION_HMAC
    assert m.sha256_of_onion == sha256(bad)


def test_mpp_parts_fulfilled_together() -> None:
    host, funder, ch, _ = open_ready()
    payment_hash, secret = host.invoice(30_000_000)
    pay(funder, ch, payment_hash, 10_000_000, secret=secret, total_msat=30_000_000)
    sent = dance(host, funder, ch)
    assert not any(m.NAME == "update_fulfill_htlc" for m in sent)  # held: not complete
    assert host.timers == [WakeAt(unix_time=NOW + 90)]  # the MPP timeout
    (rec,) = host.node.received_payments()
    assert rec["state"] == "pending" and rec["parts"] == 1
    pay(funder, ch, payment_hash, 20_000_000, secret=secret, total_msat=30_000_000)
    fulfils = [m for m in dance(host, funder, ch) if isinstance(m, UpdateFulfillHtlc)]
    assert sorted(m.id for m in fulfils) == [0, 1]
    (rec,) = host.node.received_payments()
    assert rec["state"] == "succeeded" and rec["amount_msat"] == 30_000_000 and rec["parts"] == 2
    assert ch.ledger.local_commit.spec.balance_msat[Side.REMOTE] == 30_000_000
    assert host.node.state.receive.deadline == 0
    assert host.timers[-1] == WakeAt()  # completed: the timer is cancelled


def test_mpp_timeout_fails_the_held_part() -> None:
    host, funder, ch, _ = open_ready()
    payment_hash, secret = host.invoice(30_000_000)
    ss = pay(funder, ch, payment_hash, 10_000_000, secret=secret, total_msat=30_000_000)
    dance(host, funder, ch)
    assert host.node.state.receive.deadline == NOW + 90
    host.now = NOW + 90
    effects = host.wake(Wake("timer", BlockRef(HEIGHT, bytes(32))))
    assert WakeAt(height=None, unix_time=None) in effects  # the timer is cancelled
    (fail,) = [
        e.message for e in effects if isinstance(e, SendTo) and e.message.NAME == "update_fail_htlc"
    ]  # type: ignore[attr-defined]
    assert failure_code(ss, fail) == MPP_TIMEOUT
    ch.receive_message(fail, 0.0)
    for m in [e.message for e in effects if isinstance(e, SendTo)][1:]:  # type: ignore[attr-defined]
        ch.receive_message(m, 0.0)
    dance(host, funder, ch)
    (rec,) = host.node.received_payments()
    assert rec["state"] == "failed" and rec["reason"] == "mpp_timeout"
    assert not ch.ledger.local_commit.spec.htlcs


def test_htlc_waits_for_a_tip_and_an_onion_survives_sleep() -> None:
    host, funder, ch, _ = open_ready()
    host.node.state.tip_height = 0  # a runtime that has not told the node its tip yet
    payment_hash, secret = host.invoice(5_000_000)
    pay(funder, ch, payment_hash, 5_000_000, secret=secret)
    assert not any(m.NAME == "update_fulfill_htlc" for m in dance(host, funder, ch))
    assert len(host.node.state.receive.onions) == 1  # kept in the sealed state
    effects = host.wake(Wake("timer", BlockRef(HEIGHT, bytes(32))))
    msgs = [e.message for e in effects if isinstance(e, SendTo)]  # type: ignore[attr-defined]
    assert [m.NAME for m in msgs] == ["update_fulfill_htlc", "commitment_signed"]
    for m in msgs:
        ch.receive_message(m, 0.0)
    dance(host, funder, ch)
    assert ch.ledger.local_commit.spec.balance_msat[Side.REMOTE] == 5_000_000
