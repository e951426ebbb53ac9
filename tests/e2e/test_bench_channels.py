"""`vajra bench channels` with its runtime part at a tiny size: channels opened for real
through a `vajra runtime --dev` by our initiator, then reestablished with sleeping nodes
(the figures themselves are in bench/RESULTS.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vajra.cli import main

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_bench_channels_runtime_part_reestablishes_real_channels(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = tmp_path / "RESULTS.md"
    argv = ["bench", "channels", "--json", "--cycles", "2", "--nodes", "3", "--wake-samples", "4"]
    assert main([*argv, "--results", str(results)]) == 0
    out = json.loads(capsys.readouterr().out)
    # 2 x 3 nodes got a channel each, every open went through a wake of its node, and
    # every sample was answered by the node's own channel_reestablish.
    assert out["channels"] == 6 and out["wake_samples"] == 4
    # Every open woke its node; the samples' wakes are counted too, but a counter the
    # workers publish every 0.1 s may miss the last one on a loaded machine.
    assert out["wake_failures"] == 0 and out["wakes_counted"] >= 6 + 3
    assert 0 < out["reestablish_only_ms_p50"] <= out["wake_reestablish_ms_p50"]
    assert out["wake_reestablish_ms_p50"] <= out["wake_reestablish_ms_p99"]
    rss = out["runtime_rss_bytes"]
    assert len(rss) == 4 and min(rss) > 10_000_000
    assert out["targets_runtime"]["wake_reestablish_ms_p99"]["max"] == 20.0
    assert "## channels" in results.read_text()
