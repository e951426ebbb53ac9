"""On-chain enforcement in a hosted `Node` (decision 0025), each side with its real
validating signer, the node slept (state written and read back) after every input:

- the peer (LND's role, the funder) broadcasts its commitment while the node sleeps:
  the funding spend wakes it, it watches its claim, and once the commitment confirms it
  sweeps `to_remote` (CSV 1 under anchors) to its own wallet, to the satoshi;
- the node force-closes: its latest commitment, signed by its signer, is broadcast, the
  peer is told, and `to_local` is swept exactly when `to_self_delay` allows, its timer
  set for that height;
- re-delivered events change nothing; nothing is broadcast twice."""

from __future__ import annotations

from tests.unit.node.test_node_channels import OUTPOINT, Host
from tests.unit.node.test_node_close import OURS, PUSH_MSAT, THEIRS, _ready, _talk
from tests.unit.node.test_node_pay import NODE_ID, T, _world, auth, invoice
from vajra.bitcoin.script import p2wsh
from vajra.bitcoin.tx import OutPoint, Tx
from vajra.chain.types import BlockRef, ChainEvent, EventKind, Purpose
from vajra.channel import signer_io as io
from vajra.channel.spec import Side
from vajra.node import Node, NodeState
from vajra.node.effects import Broadcast, SendTo, Wake, WakeAt, Watch
from vajra.node.enforce import HTLC_GRACE
from vajra.onchain.claims import to_remote_script
from vajra.wire import ErrorMessage


def _event(
    seq: int, kind: EventKind, purpose: Purpose, outpoint: OutPoint, txid: bytes, height: int
) -> ChainEvent:
    return ChainEvent(
        seq, 0, kind, purpose, outpoint, txid, 0, b"", height, bytes(32) if height else None, True
    )


def _wake(host: Host, height: int, *events: ChainEvent) -> list[object]:
    return host.wake(Wake("chain" if events else "timer", BlockRef(height, bytes(32)), events))


def _broadcasts(effects: list[object]) -> list[Tx]:
    return [Tx.parse(e.raw_tx) for e in effects if isinstance(e, Broadcast)]


def _wallet(host: Host) -> None:
    host.signer.close_script = OURS
    host.signer.wallet_scripts = {OURS}


def test_peer_force_close_while_asleep_sweeps_to_remote_to_the_wallet() -> None:
    host, _, peer_signer = _ready()
    _wallet(host)
    commitment = peer_signer.sign_holder_commitment(0)
    (entry,) = host.node.state.channels.values()
    assert entry.params is not None
    vout = [o.script_pubkey for o in commitment.outputs].index(to_remote_script(entry.params))
    claim = OutPoint(commitment.txid, vout)
    # seen in the mempool: the claim is watched, nothing is spendable yet
    seen = _event(2, EventKind.SPENT, Purpose.FUNDING, OUTPOINT, commitment.txid, 0)
    effects = _wake(host, 600, seen)
    assert Watch(Purpose.SWEEP, outpoint=claim) in effects
    assert _broadcasts(effects) == []
    assert host.node.channel_summaries()[0]["state"] == "closing_onchain"
    # confirmed at 601: CSV 1 lets the sweep into block 602, i.e. now
    mined = _event(3, EventKind.SPENT, Purpose.FUNDING, OUTPOINT, commitment.txid, 601)
    effects = _wake(host, 601, mined)
    (sweep,) = _broadcasts(effects)
    assert Watch(Purpose.CHANGE, script_pubkey=OURS) in effects
    assert [i.prevout for i in sweep.inputs] == [claim] and sweep.inputs[0].sequence == 1
    (out,) = sweep.outputs
    assert out.script_pubkey == OURS
    to_remote_sat = commitment.outputs[vout].amount_sat
    assert to_remote_sat == PUSH_MSAT // 1000  # the funder pays the commitment fee
    fee = to_remote_sat - out.amount_sat
    feerate = 2_500  # the commitment's feerate (no estimator wired yet)
    # BOLT 3 rounding (down) over the expected weight: the real one or 2 bytes more
    assert feerate * sweep.weight // 1000 <= fee <= feerate * (sweep.weight + 2) // 1000
    # the same events again (acknowledgement lost), and a timer: nothing twice
    assert _broadcasts(_wake(host, 601, seen, mined)) == []
    assert _broadcasts(_wake(host, 605)) == []
    done = _event(4, EventKind.SPENT, Purpose.SWEEP, claim, sweep.txid, 603)
    _wake(host, 603, done)
    (summary,) = host.node.channel_summaries()
    assert summary["state"] == "closed"
    onchain = summary["onchain"]
    assert isinstance(onchain, dict) and onchain["close"] == "counterparty"


def test_node_force_close_sweeps_to_local_after_to_self_delay() -> None:
    host, _, _ = _ready()
    _wallet(host)
    (cid,) = host.node.state.channels
    assert host.node.force_close(cid, "test")
    host.signer.drive(host.node)
    effects = list(host.node.take_effects())
    (commitment,) = _broadcasts(effects)
    assert commitment.inputs[0].prevout == OUTPOINT
    (error,) = [e for e in effects if isinstance(e, SendTo)]
    assert isinstance(error.message, ErrorMessage) and error.message.channel_id == cid
    assert not host.node.force_close(cid)  # already closing on chain
    (entry,) = host.node.state.channels.values()
    assert entry.params is not None
    delay = entry.params.params[Side.REMOTE].to_self_delay
    (to_local,) = [
        OutPoint(commitment.txid, n)
        for n, o in enumerate(commitment.outputs)
        if o.amount_sat == PUSH_MSAT // 1000 and o.script_pubkey[:2] == p2wsh(b"")[:2]
    ]
    mined = _event(2, EventKind.SPENT, Purpose.FUNDING, OUTPOINT, commitment.txid, 700)
    effects = _wake(host, 700, mined)
    assert _broadcasts(effects) == []
    assert WakeAt(height=700 + delay - 1) in effects  # the block at 700 + delay may hold it
    assert _broadcasts(_wake(host, 700 + delay - 2)) == []
    (sweep,) = _broadcasts(_wake(host, 700 + delay - 1))
    assert [i.prevout for i in sweep.inputs] == [to_local]
    assert sweep.inputs[0].sequence == delay
    assert sweep.outputs[0].script_pubkey == OURS


def test_a_refused_sweep_is_recorded_and_asked_again() -> None:
    host, _, peer_signer = _ready()
    host.signer.close_script = OURS
    host.signer.wallet_scripts = set()  # the signer's allow-list lacks the script
    commitment = peer_signer.sign_holder_commitment(0)
    mined = _event(2, EventKind.SPENT, Purpose.FUNDING, OUTPOINT, commitment.txid, 601)
    assert _broadcasts(_wake(host, 601, mined)) == []
    (summary,) = host.node.channel_summaries()
    assert "policy-sweep-destination-allowlisted" in str(summary["onchain_refused"])
    host.signer.wallet_scripts = {OURS}
    assert len(_broadcasts(_wake(host, 602))) == 1


def test_an_unsettled_outgoing_htlc_goes_on_chain_and_is_timed_out() -> None:
    """The node pays; the peer never settles (a hold invoice, a silent peer). The node
    asks to be woken at the HTLC's `cltv_expiry + 2` (BOLT 2's deadline), force-closes
    then, broadcasts its HTLC-timeout transaction (no anchors: pre-signed fee) and sweeps
    its output after `to_self_delay` to the wallet."""
    w = _world(anchors=False)
    w.signer.close_script = OURS
    w.signer.wallet_scripts = {OURS}
    pre = b"\x52" * 32  # 5,000 sat: above the dust its HTLC-timeout fee would make it
    w.node.pay(invoice(5_000_000, pre), auth(5_000_000, pre), None, T)
    w.exchange(w.settle_node())  # the HTLC is on both commitments; the peer holds it
    (add,) = w.peer_htlcs()
    deadline = add.cltv_expiry + HTLC_GRACE
    assert w.node.state.enforce_at == deadline  # the node's timer is that height

    def wake(height: int, *events: ChainEvent) -> list[object]:
        reason = "chain" if events else "timer"
        w.node.on_wake(Wake(reason, BlockRef(height, bytes(32)), events), T)
        w.signer.drive(w.node, T)
        effects: list[object] = list(w.node.take_effects())
        w.node = Node(NODE_ID, NodeState.decode(w.node.state.encode()))
        w.node.payer.context = w.context()
        return effects

    assert _broadcasts(wake(deadline - 1)) == []  # not yet
    closing = wake(deadline)  # past the deadline: on chain
    (commitment,) = _broadcasts(closing)
    assert commitment.inputs[0].prevout == OUTPOINT
    mined = _event(50, EventKind.SPENT, Purpose.FUNDING, OUTPOINT, commitment.txid, deadline + 1)
    effects = wake(deadline + 1, mined)
    (htlc_tx,) = _broadcasts(effects)  # the HTLC-timeout transaction, valid now
    (op,) = [i.prevout for i in htlc_tx.inputs]
    assert op.txid == commitment.txid and htlc_tx.locktime == add.cltv_expiry
    assert Watch(Purpose.SWEEP, outpoint=op) in closing  # watched from the close on
    spent = _event(51, EventKind.SPENT, Purpose.SWEEP, op, htlc_tx.txid, deadline + 2)
    wake(deadline + 2, spent)
    (entry,) = w.node.state.channels.values()
    assert entry.params is not None and entry.resolution is not None
    delay = entry.params.params[Side.REMOTE].to_self_delay
    second = OutPoint(htlc_tx.txid, 0)
    assert any(t.claim.outpoint == second for t in entry.resolution.claims)
    sweeps = _broadcasts(wake(deadline + 2 + delay - 1))  # to_local and the second stage
    spent_ops = {i.prevout for s in sweeps for i in s.inputs}
    assert second in spent_ops
    assert all(s.outputs[0].script_pubkey == OURS for s in sweeps)
    (summary,) = w.node.channel_summaries()
    assert summary["state"] == "closing_onchain"


def test_the_negotiated_mutual_close_on_chain_claims_nothing() -> None:
    host, ch, peer_signer = _ready()
    _wallet(host)
    ch.command(io.Close(THEIRS, 253, 1_000), 0.0)
    (closing,) = _broadcasts(_talk(host, ch, peer_signer))  # type: ignore[arg-type]
    mined = _event(2, EventKind.SPENT, Purpose.FUNDING, OUTPOINT, closing.txid, 700)
    effects = _wake(host, 700, mined)
    assert not [e for e in effects if isinstance(e, Watch) and e.purpose is Purpose.SWEEP]
    (summary,) = host.node.channel_summaries()
    assert summary["state"] == "closed"
    onchain = summary["onchain"]
    assert isinstance(onchain, dict) and onchain["close"] == "mutual" and onchain["claims"] == []
