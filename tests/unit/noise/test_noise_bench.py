"""The benchmark functions run and report a positive rate (the numbers are in the report)."""

from __future__ import annotations

from vajra.noise.bench import frames_per_s, handshakes_per_s


def test_bench_functions_run() -> None:
    assert handshakes_per_s(0.02) > 0
    assert frames_per_s(0.02) > 0
