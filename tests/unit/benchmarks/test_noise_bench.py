"""The BOLT 8 benchmark functions run their real work (the figures are in bench/RESULTS.md)."""

from __future__ import annotations

from vajra.benchmarks.noise import frames_per_cpu_s, responder_handshakes_per_cpu_s


def test_bench_functions_run() -> None:
    # A rate needs at least one batch done in a positive CPU time; a batch that raised
    # (a handshake or frame that did not complete) would fail here.
    assert responder_handshakes_per_cpu_s(0.02) > 0
    assert frames_per_cpu_s(0.02) > 0
