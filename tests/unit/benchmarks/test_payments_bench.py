"""The payments benchmark's argument checks and percentile helper (the figures themselves
need the test bed: `vajra bench payments`, recorded in bench/RESULTS.md)."""

from __future__ import annotations

import json

import pytest

from vajra.benchmarks.payments import _pct
from vajra.cli import main


@pytest.mark.parametrize("flag", ["--payments", "--amount-msat", "--route-pairs"])
def test_bad_arguments_are_usage_errors(flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "payments", "--json", "--no-record", flag, "0"]) == 2
    err = json.loads(capsys.readouterr().err)
    assert flag in json.dumps(err)


def test_percentiles() -> None:
    xs = [float(i) for i in range(1, 101)]
    assert _pct(xs, 0.5) == 51.0 and _pct(xs, 0.99) == 100.0 and _pct([3.0], 0.99) == 3.0
