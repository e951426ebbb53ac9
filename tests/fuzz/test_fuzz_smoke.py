"""Every fuzz target runs under atheris for a bounded time in `make test` without a crash.

FUZZ_SECONDS sets the time per target (default 10). A longer run's totals go in
bench/RESULTS.md via `make fuzz`.
"""

from __future__ import annotations

import os

import pytest

from tests.fuzz.run import run_target, target_names

SECONDS = int(os.environ.get("FUZZ_SECONDS", "10"))


def test_there_are_targets() -> None:
    assert len(target_names()) >= 4


@pytest.mark.parametrize("name", target_names())
def test_target_survives(name: str) -> None:
    r = run_target(name, SECONDS)
    assert r["crashes"] == 0 and r["exit_code"] == 0, r.get("tail")
    assert int(str(r["runs"])) > 100, r
