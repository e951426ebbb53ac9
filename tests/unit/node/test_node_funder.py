"""A hosted `Node` as FUNDER against a hosted `Node` as fundee, each with its own real
validating signer, both reloaded from bytes after every input (as `NodeHost` writes
them): the key request, `FundChannel` after accept_channel, the funding outpoint, the
commitment-0 exchange, `BroadcastFunding` only once our commitment 0 is validated, and
channel_ready on both sides from chain wakes. Plus the funder's refusals and failures."""

from __future__ import annotations

import pytest

from tests.unit.node.refsigner import RefSigner
from vajra.bitcoin.tx import OutPoint
from vajra.chain.types import BlockRef, ChainEvent, EventKind, Purpose
from vajra.channel.spec import Side
from vajra.crypto.hashes import sha256
from vajra.node import Node, NodeState
from vajra.node.channels import funding_output_script
from vajra.node.effects import SendTo, Wake, Watch
from vajra.node.funding import BroadcastFunding, FundChannel, OpenRefused, OpenRequest
from vajra.wire import ErrorMessage, Message, OpenChannel

A = bytes([2]) + sha256(b"funder node")
B = bytes([3]) + sha256(b"fundee node")
TMP = sha256(b"tmp")
FUNDING_TX = sha256(b"funding tx")


class Side_:
    def __init__(self, node_id: bytes, tag: bytes) -> None:
        self.node = Node(node_id, NodeState())
        self.signer = RefSigner(tag)
        self.other: list[object] = []

    def settle(self) -> list[Message]:
        """The host's loop after an input: signer, write (reload), effects."""
        self.signer.drive(self.node)
        out: list[Message] = []
        for eff in self.node.take_effects():
            if isinstance(eff, SendTo):
                out.append(eff.message)
            else:
                self.other.append(eff)
        self.node = Node(self.node.node_id, NodeState.decode(self.node.state.encode()))
        return out


def _run(a: Side_, b: Side_, to_b: list[Message]) -> None:
    for _ in range(20):
        to_a: list[Message] = []
        for m in to_b:
            b.node.handle(A, m, 1)
            to_a += b.settle()
        to_b = []
        for m in to_a:
            a.node.handle(B, m, 1)
            to_b += a.settle()
        if not to_a and not to_b:
            return
    raise AssertionError("did not settle")


def _open(
    funding_sat: int = 200_000, push_msat: int = 10_000_000
) -> tuple[Side_, Side_, list[Message]]:
    a, b = Side_(A, b"a"), Side_(B, b"b")
    a.node.open_channel_out(B, OpenRequest(TMP, funding_sat, push_msat), 1)
    first = a.settle()
    assert [m.NAME for m in first] == ["open_channel"]
    assert isinstance(first[0], OpenChannel) and first[0].funding_satoshis == funding_sat
    return a, b, first


def _event(seq: int, script: bytes, height: int, amount: int) -> ChainEvent:
    op = OutPoint(FUNDING_TX, 0)
    return ChainEvent(seq, 0, EventKind.RECEIVED, Purpose.FUNDING, op, op.txid, amount,
                      script, height, bytes(32), True)  # fmt: skip


def test_node_funds_a_channel_with_a_node_to_ready() -> None:
    a, b, first = _open()
    _run(a, b, first)
    # accept_channel is in: the funder asks its wallet for the funding transaction.
    (fund,) = a.other
    assert isinstance(fund, FundChannel) and fund.temporary_channel_id == TMP
    assert fund.amount_sat == 200_000 and fund.peer == B
    assert list(a.node.state.channels) == [TMP] and not b.other  # nothing funded yet
    a.other.clear()
    assert a.node.funding_built(TMP, OutPoint(FUNDING_TX, 0), 1)
    _run(a, b, a.settle())
    (a_entry,) = a.node.state.channels.values()
    (b_entry,) = b.node.state.channels.values()
    p = a_entry.params
    assert p is not None and b_entry.params is not None
    assert p.channel_id == b_entry.params.channel_id and p.funder is Side.LOCAL
    script = funding_output_script(p)
    assert script == fund.script_pubkey  # the wallet paid the 2-of-2 both sides sign
    # Watch first (funding outpoint known), the broadcast only after funding_signed.
    assert a.other == [
        Watch(Purpose.FUNDING, script_pubkey=script),
        BroadcastFunding(B, TMP, p.channel_id, OutPoint(FUNDING_TX, 0)),
    ]
    assert b.other == [Watch(Purpose.FUNDING, script_pubkey=script)]
    assert a_entry.phase == b_entry.phase == "awaiting_depth" and a_entry.committed
    # Three confirmations: both send channel_ready; both are ready.
    ev = _event(1, script, 700, 200_000)
    to_b: list[Message] = []
    for side in (a, b):
        side.other.clear()
        side.node.on_wake(Wake("chain", BlockRef(702, bytes(32)), (ev,)), 2)
        sent = side.settle()
        assert [m.NAME for m in sent] == ["channel_ready"]
        if side is a:
            to_b = sent
        else:
            a.node.handle(B, sent[0], 2)
            a.settle()
    _run(a, b, to_b)
    (sa,) = a.node.channel_summaries()
    (sb,) = b.node.channel_summaries()
    assert sa["state"] == sb["state"] == "ready" and sa["funder"] == "local"
    assert sa["local_balance_msat"] == sb["remote_balance_msat"]
    assert sa["remote_balance_msat"] == sb["local_balance_msat"] == 10_000_000  # the push
    local, remote = sa["local_balance_msat"], sa["remote_balance_msat"]
    assert isinstance(local, int) and isinstance(remote, int)
    assert local + remote <= 200_000_000  # the commitment fee is the funder's


def test_signer_refusal_of_the_peer_commitment_forgets_the_opening_and_no_broadcast() -> None:
    a, b, first = _open()
    _run(a, b, first)
    a.other.clear()
    a.signer.refuse = "policy-test-refusal"
    assert a.node.funding_built(TMP, OutPoint(FUNDING_TX, 0), 1)
    sent = a.settle()
    assert len(sent) == 1 and isinstance(sent[0], ErrorMessage)
    assert b"policy-test-refusal" in sent[0].data
    assert a.node.state.channels == {}  # nothing broadcastable: forgotten
    assert not any(isinstance(e, BroadcastFunding) for e in a.other)


def test_wallet_failure_abandons_the_opening_with_an_error_to_the_peer() -> None:
    a, b, first = _open()
    _run(a, b, first)
    a.node.funding_failed(TMP, "insufficient_funds")
    (err,) = a.settle()
    assert isinstance(err, ErrorMessage) and err.channel_id == TMP
    assert b"insufficient_funds" in err.data and a.node.state.channels == {}
    assert not a.node.funding_built(TMP, OutPoint(FUNDING_TX, 0), 1)  # too late: ignored
    b.node.handle(A, err, 1)
    b.settle()
    assert b.node.state.channels == {}


def test_peer_refusing_the_open_fails_it_with_its_text() -> None:
    a, _, first = _open()
    (open_msg,) = first
    assert isinstance(open_msg, OpenChannel)
    a.node.handle(B, ErrorMessage(TMP, b"channel too small"), 1)
    a.settle()
    assert a.node.state.channels == {} and a.other == []


def test_disconnect_before_funding_signed_forgets_it() -> None:
    a, b, first = _open()
    _run(a, b, first)
    a.node.peer_disconnected(B, 1)
    a.settle()
    assert a.node.state.channels == {}


@pytest.mark.parametrize(
    ("req", "code"),
    [
        (OpenRequest(TMP, 19_999), "bad_amount"),
        (OpenRequest(TMP, 1 << 24), "bad_amount"),
        (OpenRequest(TMP, 100_000, 100_000_001), "bad_amount"),
        (OpenRequest(b"short", 100_000), "bad_request"),
    ],
)
def test_bad_open_is_refused_before_any_signer_request(req: OpenRequest, code: str) -> None:
    a = Side_(A, b"a")
    with pytest.raises(OpenRefused) as e:
        a.node.open_channel_out(B, req, 1)
    assert e.value.code == code
    a.settle()
    assert a.signer.asked == 0 and a.node.state.channels == {}


def test_keys_unavailable_drops_our_open_silently() -> None:
    a = Side_(A, b"a")
    a.signer.unavailable = True
    a.node.open_channel_out(B, OpenRequest(TMP, 100_000), 1)
    assert a.settle() == [] and a.node.state.channels == {}
