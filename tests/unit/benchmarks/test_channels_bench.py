"""`vajra bench channels` at a tiny size: the cycles it times really move money through
the sealed signer (figures in bench/RESULTS.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vajra.benchmarks import channels
from vajra.cli import main
from vajra.signer import audit
from vajra.signer.keys import SignerKeys


def test_each_cycle_pays_the_hosted_node_through_its_sealed_signer(tmp_path: Path) -> None:
    world = channels.open_world(tmp_path)
    a0, _ = world.balances_msat()
    before = world.state.audit_entries()
    for _ in range(3):
        world.cycle()
    a, a_in_b = world.balances_msat()
    # Both commitments agree that A received three HTLCs, nothing in flight.
    assert a - a0 == a_in_b - a0 == 3 * channels.HTLC_MSAT
    assert not world.a.ledger.local_commit.spec.htlcs
    # Two dances per cycle: A's commitment advanced twice per cycle.
    assert world.a.ledger.local_commit.number == 2 * 3
    # Every request of A was an approved, signed, audited channel decision: per cycle two
    # counterparty signatures, two holder validations, two revocations.
    new = world.state.audit_entries()[len(before) :]
    assert [e.kind for e in new] == ["channel"] * 18
    assert all(e.outcome == "approve" for e in new)
    audit.verify(world.state.audit_entries(), SignerKeys(bytes(range(64))).audit_key().pubkey)


def test_bench_channels_prints_json_and_records(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = tmp_path / "RESULTS.md"
    argv = ["bench", "channels", "--json", "--cycles", "3", "--no-runtime"]
    assert main([*argv, "--results", str(results)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["cycles"] == 3
    assert out["a_received_msat"] == out["a_received_msat_in_b"] == 3 * channels.HTLC_MSAT
    assert out["signer_a_requests_per_cycle"] == 6.0
    assert out["commitment_number_a"] == 6
    split = out["cpu_split"]
    assert abs(sum(split.values()) - 1.0) < 0.01 and split["signer_a"] > split["channel_cores"]
    assert out["htlc_cycles_per_s_per_core"] >= out["htlc_cycles_per_s_wall"]
    assert "## channels" in results.read_text()


def test_bench_channels_refuses_zero_cycles(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "channels", "--json", "--cycles", "0", "--no-record"]) == 2
    assert "--cycles" in capsys.readouterr().err
