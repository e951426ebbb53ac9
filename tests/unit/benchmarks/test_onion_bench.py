"""The BOLT 4 benchmark's operations do their real work (figures in bench/RESULTS.md)."""

from __future__ import annotations

from vajra.benchmarks.onion import operations
from vajra.onion import Accept, DecodedFailure


def test_operations_do_the_work_they_time() -> None:
    ops = operations()
    assert isinstance(ops["receives_per_cpu_s"](), Accept)
    decoded = ops["failure_decodes_per_cpu_s"]()
    assert isinstance(decoded, DecodedFailure) and decoded.hop_index == 4
    assert len(ops["onion_builds_per_cpu_s"]().packet) == 1366  # type: ignore[attr-defined]
    assert not ops["peels_per_cpu_s"]().is_final  # type: ignore[attr-defined]
