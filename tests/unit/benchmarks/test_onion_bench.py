"""The BOLT 4 benchmark's operations do their real work (figures in bench/RESULTS.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vajra.benchmarks.onion import operations
from vajra.cli import main
from vajra.onion import Accept, DecodedFailure


def test_operations_do_the_work_they_time() -> None:
    ops = operations()
    assert isinstance(ops["receives_per_cpu_s"](), Accept)
    decoded = ops["failure_decodes_per_cpu_s"]()
    assert isinstance(decoded, DecodedFailure) and decoded.hop_index == 4
    assert len(ops["onion_builds_per_cpu_s"]().packet) == 1366  # type: ignore[attr-defined]
    assert not ops["peels_per_cpu_s"]().is_final  # type: ignore[attr-defined]


def test_bench_onion_prints_json_and_records(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = tmp_path / "RESULTS.md"
    argv = ["bench", "onion", "--json", "--seconds", "0.02", "--runs", "1"]
    assert main([*argv, "--results", str(results)]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in operations():
        assert isinstance(out[key], int) and out[key] > 0
    assert "## onion" in results.read_text()
