"""The resolution's decision table: each row reached from facts, facts idempotent and
reorg-safe, the state surviving its JSON form, and the timer it asks for."""

from __future__ import annotations

import json

from tests.unit.channel.bolt3_vectors import appendix_f_vectors
from tests.unit.onchain.vectors import counterparty_view, holder_view, i
from vajra.bitcoin.tx import OutPoint, Tx
from vajra.crypto.hashes import sha256
from vajra.onchain.claims import ClaimKind
from vajra.onchain.classify import classify
from vajra.onchain.resolution import ClaimState, Resolution, begin

V = next(v for v in appendix_f_vectors() if v.htlcs and len(v.htlc_txs) == 5)
PREIMAGES = {sha256(h.payment_preimage): h.payment_preimage for h in V.htlcs}


def _theirs() -> tuple[Resolution, Tx]:
    view = counterparty_view(V, anchors=True)
    tx = Tx.parse(V.tx)
    return begin(view, classify(view, tx)), tx


def _by_kind(r: Resolution, kind: ClaimKind) -> list[int]:
    return [n for n, t in enumerate(r.claims) if t.claim.kind is kind]


def test_lifecycle_to_remote_and_timer() -> None:
    r, tx = _theirs()
    (k,) = _by_kind(r, ClaimKind.TO_REMOTE)
    assert r.states(500, {})[k] is ClaimState.PENDING  # commitment in the mempool
    r.on_confirmed(tx.txid, 600)
    # CSV 1: the output confirmed at 600 may be spent in block 601, i.e. at tip 600
    assert r.states(599, {})[k] is ClaimState.MATURING
    assert r.states(600, {})[k] is ClaimState.READY
    assert r.claims[k].claim in r.ready(600, {})
    sweep = sha256(b"sweep")
    r.on_broadcast(sweep, [r.claims[k].claim.outpoint])
    assert r.states(600, {})[k] is ClaimState.BROADCAST
    assert r.claims[k].claim not in r.ready(600, {})  # never into a second sweep
    r.on_spent(r.claims[k].claim.outpoint, sweep, 0)  # mempool sighting: still ours
    assert r.states(600, {})[k] is ClaimState.BROADCAST
    r.on_spent(r.claims[k].claim.outpoint, sweep, 601)
    r.on_spent(r.claims[k].claim.outpoint, sweep, 601)  # re-delivered: no change
    assert r.states(601, {})[k] is ClaimState.DONE
    r.on_unspent(r.claims[k].claim.outpoint)  # the block is reorged out and evicted
    assert r.states(601, {})[k] is ClaimState.READY


def test_htlc_timeout_race_lost_and_preimage() -> None:
    r, tx = _theirs()
    r.on_confirmed(tx.txid, 100)
    timeouts = _by_kind(r, ClaimKind.HTLC_TIMEOUT)
    preimage_claims = _by_kind(r, ClaimKind.HTLC_PREIMAGE)
    assert timeouts and preimage_claims
    t = timeouts[0]
    cltv = r.claims[t].claim.cltv
    assert r.states(cltv - 1, {})[t] is ClaimState.MATURING
    assert r.next_height(cltv - 1, {}) is not None
    assert r.states(cltv, {})[t] is ClaimState.READY
    p = preimage_claims[0]
    assert r.states(cltv, {})[p] is ClaimState.NEEDS_PREIMAGE
    assert r.states(cltv, PREIMAGES)[p] is ClaimState.READY
    # the peer takes our timeout HTLC with its preimage: contested, then lost
    theirs = sha256(b"their preimage spend")
    r.on_spent(r.claims[t].claim.outpoint, theirs, 0)
    assert r.states(cltv, {})[t] is ClaimState.CONTESTED
    r.on_spent(r.claims[t].claim.outpoint, theirs, cltv + 1)
    assert r.states(cltv + 1, {})[t] is ClaimState.LOST
    # and if our own broadcast was beaten, the claim is still the peer's
    r2, _ = _theirs()
    r2.on_confirmed(tx.txid, 100)
    r2.on_broadcast(sha256(b"ours"), [r2.claims[t].claim.outpoint])
    r2.on_spent(r2.claims[t].claim.outpoint, theirs, cltv + 1)
    assert r2.states(cltv + 1, {})[t] is ClaimState.LOST


def test_settled_and_json_round_trip() -> None:
    r, tx = _theirs()
    r.on_confirmed(tx.txid, 100)
    r.on_broadcast(sha256(b"x"), [r.claims[0].claim.outpoint])
    back = Resolution.from_json(json.loads(json.dumps(r.to_json())))
    assert back == r
    assert back.states(700, PREIMAGES) == r.states(700, PREIMAGES)
    assert not r.settled(700, PREIMAGES)
    for n, t in enumerate(r.claims):
        r.on_spent(t.claim.outpoint, sha256(bytes([n])), 800)
    assert r.settled(800, {})


def test_second_stage_from_our_htlc_transaction() -> None:
    view = holder_view(V, anchors=True)
    tx = Tx.parse(V.tx)
    r = begin(view, classify(view, tx))
    r.on_confirmed(tx.txid, 1000)
    htx = Tx.parse(V.htlc_txs[0].tx)
    (n,) = [k for k, t in enumerate(r.claims) if t.claim.outpoint == htx.inputs[0].prevout]
    r.on_broadcast(htx.txid, [r.claims[n].claim.outpoint])
    r.on_spent(r.claims[n].claim.outpoint, htx.txid, 1001, view.params)
    r.on_spent(r.claims[n].claim.outpoint, htx.txid, 1001, view.params)  # once only
    seconds = [t for t in r.claims if t.claim.kind is ClaimKind.SECOND_STAGE]
    assert len(seconds) == 1 and seconds[0].claim.outpoint == OutPoint(htx.txid, 0)
    delay = i("local_delay")
    s = len(r.claims) - 1
    assert r.states(1001 + delay - 2, {})[s] is ClaimState.MATURING
    assert r.states(1001 + delay - 1, {})[s] is ClaimState.READY
    # the timer: the earliest maturity still ahead (to_local and the second stage,
    # both to_self_delay after their confirmation; the HTLC-timeouts are already due)
    assert r.next_height(1001, {}) == 1000 + delay - 1
    assert r.next_height(1000 + delay - 1, {}) == 1001 + delay - 1
