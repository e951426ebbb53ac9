"""The enforcement benchmark at a small size (the real figures are in bench/RESULTS.md):
its kits are real penalties, the breach block finds one and sends exactly one penalty."""

from __future__ import annotations

import random

from vajra.benchmarks.enforcement import real_kit, run
from vajra.bitcoin.tx import Tx
from vajra.chain.justice_kit import decode_kit, kit_txs


def test_real_kit_spends_the_revoked_commitment() -> None:
    commitment, kit = real_kit(random.Random(1), htlcs=2)
    txs = kit_txs(decode_kit(kit), commitment.txid)
    assert len(txs) == 2
    assert all(i.prevout.txid == commitment.txid for t in txs for i in t.inputs)
    assert len(txs[0].inputs) == 3  # to_local and two HTLCs
    assert Tx.parse(txs[1].serialize()) == txs[1]


def test_run_reports_every_figure() -> None:
    out = run(300, 4, 40, 2)
    assert out["justice_items"] == 300
    assert 300 < out["justice_bytes_per_revoked_state"] < 2000
    assert out["justice_sealed_bytes_by_htlcs"]["0"] < out["justice_sealed_bytes_by_htlcs"]["1"]
    assert out["breach_to_broadcast_ms_p50"] > 0
    assert set(out["meets_targets"]) == set(out["targets"])
