"""A hosted `Node` as fundee against a real funder core, each with its own real
validating signer: the inbound policy, the key request, the signer loop, the effects
(SendTo, Watch, WakeAt), funding depth from chain wakes, and peer input that must fail
channels rather than raise."""

from __future__ import annotations

from dataclasses import replace

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
    FundingSignedEvent,
    OpenArgs,
    State,
)
from vajra.channel.reestablish import Link
from vajra.crypto.hashes import sha256
from vajra.node import Node, NodeState
from vajra.node.aliases import scid_alias
from vajra.node.channels import funding_output_script
from vajra.node.config import InboundPolicy, NodeConfig
from vajra.node.effects import SendTo, Wake, WakeAt, Watch
from vajra.signer.channels import ChannelSigner
from vajra.wire import ChannelReady, ErrorMessage, Message, OpenChannel

CHAIN = CHAIN_HASHES["regtest"]
PEER = bytes([2]) + sha256(b"peer")
NODE_ID = bytes([3]) + sha256(b"node")
OUTPOINT = OutPoint(sha256(b"funding tx"), 1)
TMP = sha256(b"tmp")


class Funder:
    """The peer (LND's role): a funder `Establishment` with its own signer."""

    def __init__(
        self, funding_sat: int = 100_000, anchors: bool = True, push_msat: int = 0
    ) -> None:
        self.secret = secrets(b"funder")
        args = OpenArgs(TMP, funding_sat, push_msat, 2_500, anchors)
        cfg = EstablishConfig(CHAIN, side_params(354), anysegwit=True)
        self.est = Establishment.funder(cfg, local_keys(self.secret), args)
        self.signer: ChannelSigner | None = None
        self.events: list[object] = []

    def open_msg(self) -> OpenChannel:
        (m,) = self.est.messages_to_send()
        assert isinstance(m, OpenChannel)
        return m

    def step(self) -> list[Message]:
        while (req := self.est.next_signer_request()) is not None:
            if isinstance(req, io.SetupChannel):
                self.signer = ChannelSigner.setup(self.secret, req)
                self.est.signer_result(io.ChannelSetUp(), 0.0)
                continue
            assert self.signer is not None
            self.est.signer_result(self.signer.handle(req), 0.0)
        if self.est.state is State.AWAIT_FUNDING_OUTPOINT:
            self.est.command(FundingOutpoint(OUTPOINT), 0.0)
            return self.step()
        while (ev := self.est.next_event()) is not None:
            self.events.append(ev)
        return self.est.messages_to_send()


def reload(node: Node) -> Node:
    """The node as a runtime wakes it again: its state through bytes and back."""
    again = Node(node.node_id, NodeState.decode(node.state.encode()), node.config)
    assert again.state.encode() == node.state.encode()
    return again


class Host:
    """The runtime's part: the node, slept (state written and read back) after every
    input, as `NodeHost` writes it after every input."""

    def __init__(self, config: NodeConfig | None = None) -> None:
        self.node = Node(NODE_ID, NodeState(), config)
        self.signer = RefSigner()

    def input(self, m: Message) -> list[object]:
        self.node.handle(PEER, m, 1)
        self.signer.drive(self.node)
        effects: list[object] = list(self.node.take_effects())
        self.node = reload(self.node)
        return effects

    def wake(self, w: Wake) -> list[object]:
        self.node.on_wake(w, 2)
        self.signer.drive(self.node)
        effects: list[object] = list(self.node.take_effects())
        self.node = reload(self.node)
        return effects


def _exchange(host: Host, funder: Funder, first: list[Message]) -> list[object]:
    """Messages both ways until quiet; the node's non-SendTo effects."""
    other: list[object] = []
    inbox = first
    for _ in range(20):
        effects: list[object] = []
        for m in inbox:
            effects += host.input(m)
        to_funder: list[Message] = []
        for eff in effects:
            if isinstance(eff, SendTo):
                assert eff.peer == PEER
                to_funder.append(eff.message)
            else:
                other.append(eff)
        for m in to_funder:
            funder.est.receive_message(m, 0.0)
        inbox = funder.step()
        if not inbox and not to_funder:
            return other
    raise AssertionError("did not settle")


def _funding_event(node_index: int, height: int, script: bytes) -> ChainEvent:
    return ChainEvent(1, node_index, EventKind.RECEIVED, Purpose.FUNDING, OUTPOINT,
                      OUTPOINT.txid, 100_000, script, height, bytes(32), True)  # fmt: skip


def test_lnd_style_open_to_ready_through_chain_wakes() -> None:
    host, funder = Host(), Funder()
    effects = _exchange(host, funder, [funder.open_msg()])
    assert funder.events == [FundingSignedEvent(OUTPOINT)]  # LND may broadcast now
    (entry,) = host.node.state.channels.values()
    assert entry.phase == "awaiting_depth" and entry.params is not None
    cid = entry.params.channel_id
    assert list(host.node.state.channels) == [cid]  # renamed from the temporary id
    script = funding_output_script(entry.params)
    assert effects == [Watch(Purpose.FUNDING, script_pubkey=script)]
    # Confirmed at 500 with the tip at 500: depth 1 of 3 -> wake me at 502.
    event = _funding_event(0, 500, script)
    assert host.wake(Wake("chain", BlockRef(500, bytes(32)), (event,))) == [WakeAt(height=502)]
    # The same event again (its acknowledgement was lost): not news, nothing changes.
    assert host.wake(Wake("chain", BlockRef(500, bytes(32)), (event,))) == [WakeAt(height=502)]
    assert host.wake(Wake("timer", BlockRef(501, bytes(32)))) == [WakeAt(height=502)]
    (ready,) = host.wake(Wake("timer", BlockRef(502, bytes(32))))
    assert isinstance(ready, SendTo) and isinstance(ready.message, ChannelReady)
    # We offer option_scid_alias at init, so our channel_ready MUST carry an alias
    # (BOLT 2; LND ignores one without): the node's per-channel-index alias.
    assert ready.message.tlvs.short_channel_id == scid_alias(entry.channel_index)
    funder.est.receive_message(ready.message, 0.0)
    funder.est.command(FundingConfirmed(), 0.0)
    _exchange(host, funder, funder.step())
    assert funder.est.state is State.READY
    (summary,) = host.node.channel_summaries()
    assert summary["state"] == "ready" and summary["capacity_sat"] == 100_000
    assert summary["channel_id"] == cid.hex() and summary["funding_height"] == 500
    assert summary["remote_balance_msat"] == 100_000_000  # all the funder's
    assert summary["local_balance_msat"] == 0
    # The peer reconnects to the (sleeping, so never told) node: its channel_reestablish
    # makes the node close the old connection and answer with its own first.
    ch = funder.est.channel()
    ch.disconnected(0.0)
    ch.connected(0.0)
    (theirs,) = ch.messages_to_send()
    sent = [e.message for e in host.input(theirs) if isinstance(e, SendTo)]  # type: ignore[attr-defined]
    # BOLT 2: both next_commitment_number 1 -> channel_ready is retransmitted too.
    assert [m.NAME for m in sent] == ["channel_reestablish", "channel_ready"]
    for m in sent:
        ch.receive_message(m, 0.0)
    (ready_again,) = ch.messages_to_send()  # the funder retransmits its own
    assert ch.link is Link.UP and isinstance(ready_again, ChannelReady)
    assert host.input(ready_again) == []  # a retransmitted channel_ready is ignored
    node_chan = host.node.state.channels[cid].chan
    assert node_chan is not None and node_chan.link is Link.UP
    # Normal operation continues on the same channel (reloaded after every message): a
    # fee update and its commitment dance, every signature through the node's signer.
    ch.command(io.UpdateFeerate(3_000), 0.0)
    ch.command(io.SignCommitment(), 0.0)
    assert funder.signer is not None
    for _ in range(10):
        while (r := ch.next_signer_request()) is not None:
            ch.signer_result(funder.signer.handle(r), 0.0)
        out = ch.messages_to_send()
        back: list[Message] = []
        for m in out:
            back += [e.message for e in host.input(m) if isinstance(e, SendTo)]  # type: ignore[attr-defined]
        for m in back:
            ch.receive_message(m, 0.0)
        if not out and not back:
            break
    chan = host.node.state.channels[cid].chan
    assert chan is not None and chan.ledger.local_commit.spec.feerate_per_kw == 3_000
    assert chan.ledger.local_commit.number == 1 and ch.ledger.local_commit.number == 1


@pytest.mark.parametrize(
    ("policy", "funding", "why"),
    [
        (InboundPolicy(), 19_999, b"channel too small: minimum 20000 sat"),
        (InboundPolicy(allowed_peers=frozenset({NODE_ID})), 100_000, b"does not accept"),
    ],
)
def test_inbound_policy_refuses_without_asking_the_signer(
    policy: InboundPolicy, funding: int, why: bytes
) -> None:
    node, signer = Node(NODE_ID, NodeState(), NodeConfig(inbound=policy)), RefSigner()
    node.handle(PEER, Funder(funding).open_msg(), 1)
    signer.drive(node)
    (eff,) = node.take_effects()
    assert isinstance(eff, SendTo) and isinstance(eff.message, ErrorMessage)
    assert eff.message.channel_id == TMP and why in eff.message.data
    assert signer.asked == 0 and not node.state.channels


def test_allowed_peer_is_accepted() -> None:
    cfg = NodeConfig(inbound=InboundPolicy(allowed_peers=frozenset({PEER})))
    host, funder = Host(cfg), Funder()
    _exchange(host, funder, [funder.open_msg()])
    assert [e.phase for e in host.node.state.channels.values()] == ["awaiting_depth"]


def test_open_without_channel_type_is_refused_before_any_signer_request() -> None:
    node, signer = Node(NODE_ID, NodeState()), RefSigner()
    m = Funder().open_msg()
    node.handle(PEER, replace(m, tlvs=replace(m.tlvs, channel_type=None)), 1)
    signer.drive(node)
    (eff,) = node.take_effects()
    assert isinstance(eff, SendTo) and isinstance(eff.message, ErrorMessage)
    assert signer.asked == 0


def test_signer_unavailable_for_keys_refuses_the_open() -> None:
    node, signer = Node(NODE_ID, NodeState()), RefSigner()
    signer.unavailable = True
    node.handle(PEER, Funder().open_msg(), 1)
    signer.drive(node)
    (eff,) = node.take_effects()
    assert isinstance(eff, SendTo) and isinstance(eff.message, ErrorMessage)
    assert b"signer unavailable" in eff.message.data and not node.state.channels


def test_signer_refusal_fails_the_establishment_and_forgets_it() -> None:
    node, signer, funder = Node(NODE_ID, NodeState()), RefSigner(), Funder()
    node.handle(PEER, funder.open_msg(), 1)
    signer.drive(node)
    (accept,) = (e.message for e in node.take_effects() if isinstance(e, SendTo))
    funder.est.receive_message(accept, 0.0)
    signer.refuse = "policy-commitment-signature"
    for m in funder.step():
        node.handle(PEER, m, 1)
    signer.drive(node)
    sent = [e.message for e in node.take_effects() if isinstance(e, SendTo)]
    assert [m.NAME for m in sent] == ["error"]
    assert not node.state.channels  # never funded from our side: nothing kept


def test_unknown_and_foreign_channels_get_an_error_never_an_exception() -> None:
    host, funder = Host(), Funder()
    _exchange(host, funder, [funder.open_msg()])
    node = host.node
    (cid,) = node.state.channels
    other_peer = bytes([2]) + sha256(b"mallory")
    node.handle(
        other_peer, ChannelReady(cid, local_keys(secrets(b"x")).second_per_commitment_point), 1
    )
    (eff,) = node.take_effects()
    assert isinstance(eff, SendTo) and eff.peer == other_peer
    assert isinstance(eff.message, ErrorMessage) and eff.message.channel_id == cid
    assert node.state.channels[cid].phase == "awaiting_depth"  # untouched
    node.handle(PEER, ErrorMessage(sha256(b"nope"), b"x"), 1)  # error about nothing: ignored
    assert node.take_effects() == []


def test_peer_error_fails_a_funded_channel_which_stays_listed() -> None:
    host, funder = Host(), Funder()
    _exchange(host, funder, [funder.open_msg()])
    host.input(ErrorMessage(bytes(32), b"bye"))  # all channels with PEER
    (s,) = host.node.channel_summaries()
    assert s["state"] == "failed"


def test_disconnect_before_funding_signed_forgets_the_opening() -> None:
    host, funder = Host(), Funder()
    host.input(funder.open_msg())
    host.node.peer_disconnected(PEER, 3)
    assert host.node.state.channels == {}  # BOLT 2: not remembered before funding_signed


def test_a_reconnecting_peer_gets_our_channel_reestablish_first() -> None:
    # BOLT 2 "upon reconnection: MUST transmit channel_reestablish for each channel": the
    # runtime tells the node of the peer's new connection (after `init`) and the node
    # sends its own without waiting for the peer's; the peer's then completes it.
    host, funder = Host(), Funder()
    _exchange(host, funder, [funder.open_msg()])
    (cid,) = host.node.state.channels
    ch = funder.est  # awaiting depth: remembered across connections (BOLT 2)
    ch.disconnected(0.0)
    host.node.peer_connected(PEER, 5)
    host.signer.drive(host.node)
    sent = [e.message for e in host.node.take_effects() if isinstance(e, SendTo)]  # type: ignore[attr-defined]
    assert [m.NAME for m in sent] == ["channel_reestablish"]
    assert sent[0].channel_id == cid and sent[0].next_commitment_number == 1  # type: ignore[attr-defined]
    assert sent[0].next_revocation_number == 0  # type: ignore[attr-defined]
    host.node = reload(host.node)
    ch.connected(0.0)
    (theirs,) = ch.messages_to_send()
    ch.receive_message(sent[0], 0.0)
    # Ours went out already: the peer's is the answer, not a reason to send ours again.
    again = [e.message.NAME for e in host.input(theirs) if isinstance(e, SendTo)]  # type: ignore[attr-defined]
    assert "channel_reestablish" not in again
    est = host.node.state.channels[cid].est
    assert est is not None and est.link is Link.UP
    # Another peer's connection changes nothing.
    host.node.peer_connected(NODE_ID, 6)
    assert [e for e in host.node.take_effects() if isinstance(e, SendTo)] == []


def test_a_reconnection_forgets_an_opening_before_funding_signed() -> None:
    host, funder = Host(), Funder()
    host.input(funder.open_msg())
    host.node.peer_connected(PEER, 3)  # the connection it began on is gone
    assert host.node.state.channels == {}
