"""A cooperative close the peer (LND's role: the funder) starts with a hosted `Node`,
each side with its real validating signer: the node asks the runtime for its wallet
script (`CloseScript`), watches it, answers the `shutdown`, negotiates, and hands the
fully signed closing transaction to the runtime (`Broadcast`). The node is slept (state
written and read back) after every input."""

from __future__ import annotations

import pytest

from tests.unit.node.test_node_channels import OUTPOINT, PEER, Funder, Host, _exchange, reload
from tests.unit.node.test_node_channels import _funding_event as funding_event
from vajra.bitcoin.script import p2wpkh
from vajra.bitcoin.tx import Tx
from vajra.chain.types import BlockRef, ChainEvent, EventKind, Purpose
from vajra.channel import signer_io as io
from vajra.channel.establish import FundingConfirmed
from vajra.channel.machine import Channel
from vajra.channel.machine import State as ChannelState
from vajra.crypto.hashes import sha256
from vajra.crypto.secp256k1 import pubkey_from_secret
from vajra.node.channels import funding_output_script
from vajra.node.closing import CloseRefused
from vajra.node.effects import Broadcast, SendTo, Wake, Watch
from vajra.signer.channels import ChannelSigner
from vajra.wire import Message, Shutdown

OURS = p2wpkh(pubkey_from_secret(sha256(b"node wallet change 0")))
THEIRS = bytes([0x51, 32]) + sha256(b"funder wallet")
"""P2TR, as LND 0.21 closes to (`option_shutdown_anysegwit`: the node accepts it)."""
PUSH_MSAT = 30_000_000


def _ready() -> tuple[Host, Channel, ChannelSigner]:
    host, funder = Host(), Funder(push_msat=PUSH_MSAT)
    _exchange(host, funder, [funder.open_msg()])
    (entry,) = host.node.state.channels.values()
    assert entry.params is not None
    event = funding_event(0, 500, funding_output_script(entry.params))
    host.wake(Wake("chain", BlockRef(500, bytes(32)), (event,)))
    (ready,) = host.wake(Wake("timer", BlockRef(502, bytes(32))))
    assert isinstance(ready, SendTo)
    funder.est.receive_message(ready.message, 0.0)
    funder.est.command(FundingConfirmed(), 0.0)
    _exchange(host, funder, funder.step())
    assert funder.signer is not None
    return host, funder.est.channel(), funder.signer


def _talk(host: Host, ch: Channel, signer: ChannelSigner) -> list[object]:
    """Messages both ways until quiet; the node's non-SendTo effects."""
    other: list[object] = []
    for _ in range(30):
        while (r := ch.next_signer_request()) is not None:
            allow = {THEIRS} if isinstance(r, io.SignMutualClose) else None
            ch.signer_result(signer.handle(r, allowlisted=allow), 0.0)
        out = ch.messages_to_send()
        back: list[Message] = []
        for m in out:
            for e in host.input(m):
                if isinstance(e, SendTo):
                    assert e.peer == PEER
                    back.append(e.message)
                else:
                    other.append(e)
        for m in back:
            ch.receive_message(m, 0.0)
        if not out and not back and ch.next_signer_request() is None:
            return other
    raise AssertionError("did not settle")


def test_peer_started_close_pays_the_node_wallet_and_is_broadcast() -> None:
    host, ch, signer = _ready()
    host.signer.close_script = OURS
    host.signer.wallet_scripts = {OURS}
    ch.command(io.Close(THEIRS, 253, 1_000), 0.0)
    effects = _talk(host, ch, signer)
    assert Watch(Purpose.CHANGE, script_pubkey=OURS) in effects
    (bc,) = [e for e in effects if isinstance(e, Broadcast)]
    tx = Tx.parse(bc.raw_tx)
    assert tx.inputs[0].prevout == OUTPOINT
    outs = {o.script_pubkey: o.amount_sat for o in tx.outputs}
    # Our share exactly our balance: the funder pays the whole closing fee.
    assert outs[OURS] == PUSH_MSAT // 1000
    ev = []
    while (x := ch.next_event()) is not None:
        ev.append(x)
    (ready,) = [x for x in ev if isinstance(x, io.MutualCloseReady)]
    assert ready.tx.serialize() == bc.raw_tx  # both sides hold the same signed tx
    assert outs[THEIRS] == 100_000 - PUSH_MSAT // 1000 - ready.fee_sat
    assert ch.state is ChannelState.CLOSED
    (summary,) = host.node.channel_summaries()
    # Agreed and broadcast; "closed" waits for the watcher to see it confirmed.
    assert summary["state"] == "closing" and summary["local_balance_msat"] == PUSH_MSAT
    assert summary["closing_txid"] == tx.txid[::-1].hex()
    assert summary["closing_height"] == 0


def test_no_wallet_yet_the_shutdown_waits_and_is_answered_at_the_next_input() -> None:
    host, ch, signer = _ready()
    ch.command(io.Close(THEIRS, 253, 1_000), 0.0)
    assert _talk(host, ch, signer) == []
    (summary,) = host.node.channel_summaries()
    assert summary["state"] == "closing"
    # The wallet exists now; the peer reconnects and resends its shutdown (BOLT 2).
    host.signer.close_script = OURS
    host.signer.wallet_scripts = {OURS}
    ch.disconnected(0.0)
    ch.connected(0.0)
    effects = _talk(host, ch, signer)
    assert any(isinstance(e, Broadcast) for e in effects)
    assert host.node.channel_summaries()[0]["state"] == "closing"


def test_signer_refuses_a_script_outside_its_allow_list() -> None:
    host, ch, signer = _ready()
    host.signer.close_script = OURS
    host.signer.wallet_scripts = set()  # the allow-list does not hold it
    ch.command(io.Close(THEIRS, 253, 1_000), 0.0)
    effects = _talk(host, ch, signer)
    assert not any(isinstance(e, Broadcast) for e in effects)
    (summary,) = host.node.channel_summaries()
    # The core fails the channel on the refusal (it cannot close cooperatively to a
    # script its signer will not sign for); the entry stays listed.
    assert summary["state"] == "failed"
    assert "policy-mutual-destination-allowlisted" in str(summary["failed"])


# -- the node starts the close; the closing transaction followed on chain (decision 0029) --


def _spend(seq: int, kind: EventKind, txid: bytes, height: int) -> ChainEvent:
    """The watcher's event on the funding outpoint (spent by `txid`, or its undoing)."""
    return ChainEvent(seq, 0, kind, Purpose.FUNDING, OUTPOINT, txid, 100_000, b"", height,
                      bytes(32) if height else None, True)  # fmt: skip


def _close_out(host: Host, cid: bytes) -> list[object]:
    summary = host.node.close_channel(cid, OURS, 3)
    assert summary["state"] == "closing"
    host.signer.drive(host.node)
    effects: list[object] = list(host.node.take_effects())
    host.node = reload(host.node)
    return effects


def test_node_started_close_is_negotiated_broadcast_and_followed_to_closed() -> None:
    host, ch, signer = _ready()
    host.signer.wallet_scripts = {OURS}
    (cid,) = host.node.state.channels
    effects = _close_out(host, cid)
    assert Watch(Purpose.CHANGE, script_pubkey=OURS) in effects
    (sd,) = [e.message for e in effects if isinstance(e, SendTo)]
    assert isinstance(sd, Shutdown) and sd.scriptpubkey == OURS
    # The peer (the funder) answers with its shutdown and proposes the fee.
    ch.receive_message(sd, 0.0)
    assert isinstance(ch.next_event(), io.ShutdownReceived)
    ch.command(io.Close(THEIRS, 253, 1_000), 0.0)
    others = _talk(host, ch, signer)
    (bc,) = [e for e in others if isinstance(e, Broadcast)]
    tx = Tx.parse(bc.raw_tx)
    assert {o.script_pubkey: o.amount_sat for o in tx.outputs}[OURS] == PUSH_MSAT // 1000
    assert ch.state is ChannelState.CLOSED
    txid = tx.txid
    (summary,) = host.node.channel_summaries()
    assert summary["state"] == "closing" and summary["closing_txid"] == txid[::-1].hex()
    entry = host.node.state.channels[cid]
    assert entry.params is not None
    script = funding_output_script(entry.params)
    drops = [Watch(Purpose.FUNDING, script_pubkey=script, drop=True),
             Watch(Purpose.FUNDING, outpoint=OUTPOINT, drop=True)]  # fmt: skip
    # In the mempool: still closing. Confirmed at 510: closed, the watches dropped.
    assert host.wake(Wake("chain", BlockRef(509, bytes(32)), (_spend(5, EventKind.SPENT, txid, 0),))) == []  # fmt: skip
    assert host.node.channel_summaries()[0]["state"] == "closing"
    got = host.wake(Wake("chain", BlockRef(510, bytes(32)), (_spend(6, EventKind.SPENT, txid, 510),)))  # fmt: skip
    assert got == drops
    (summary,) = host.node.channel_summaries()
    assert summary["state"] == "closed" and summary["closing_height"] == 510
    # A reorg takes the block: closing again, watched again; mined again at 511: closed.
    undo = _spend(7, EventKind.UNDONE, txid, 510)
    got = host.wake(Wake("chain", BlockRef(509, bytes(32)), (undo,)))
    assert got == [Watch(w.purpose, w.script_pubkey, w.outpoint) for w in drops]
    assert host.node.channel_summaries()[0]["state"] == "closing"
    got = host.wake(Wake("chain", BlockRef(511, bytes(32)), (_spend(8, EventKind.SPENT, txid, 511),)))  # fmt: skip
    assert got == drops and host.node.channel_summaries()[0]["closing_height"] == 511


def test_operator_close_refusals_change_nothing() -> None:
    host, _, _ = _ready()
    host.signer.wallet_scripts = {OURS}
    (cid,) = host.node.state.channels
    with pytest.raises(CloseRefused) as e:
        host.node.close_channel(bytes(32), OURS, 3)
    assert e.value.code == "unknown_channel"
    before = host.node.state.encode()
    _close_out(host, cid)
    with pytest.raises(CloseRefused) as e:
        host.node.close_channel(cid, OURS, 3)
    assert e.value.code == "already_closing"
    assert host.node.state.encode() != before
    # An opening channel cannot be closed cooperatively yet.
    host2, funder = Host(), Funder()
    _exchange(host2, funder, [funder.open_msg()])
    (cid2,) = host2.node.state.channels
    with pytest.raises(CloseRefused) as e:
        host2.node.close_channel(cid2, OURS, 3)
    assert e.value.code == "channel_not_ready"
