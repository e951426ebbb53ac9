"""A cooperative close the peer (LND's role: the funder) starts with a hosted `Node`,
each side with its real validating signer: the node asks the runtime for its wallet
script (`CloseScript`), watches it, answers the `shutdown`, negotiates, and hands the
fully signed closing transaction to the runtime (`Broadcast`). The node is slept (state
written and read back) after every input."""

from __future__ import annotations

from tests.unit.node.test_node_channels import OUTPOINT, PEER, Funder, Host, _exchange
from tests.unit.node.test_node_channels import _funding_event as funding_event
from vajra.bitcoin.script import p2wpkh
from vajra.bitcoin.tx import Tx
from vajra.chain.types import BlockRef, Purpose
from vajra.channel import signer_io as io
from vajra.channel.establish import FundingConfirmed
from vajra.channel.machine import Channel
from vajra.channel.machine import State as ChannelState
from vajra.crypto.hashes import sha256
from vajra.crypto.secp256k1 import pubkey_from_secret
from vajra.node.channels import funding_output_script
from vajra.node.effects import Broadcast, SendTo, Wake, Watch
from vajra.signer.channels import ChannelSigner
from vajra.wire import Message

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
    assert summary["state"] == "closed" and summary["local_balance_msat"] == PUSH_MSAT


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
    assert host.node.channel_summaries()[0]["state"] == "closed"


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
