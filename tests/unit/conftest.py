"""Unit-test settings shared by every package below.

Hypothesis's per-example deadline (200 ms by default) is a timing assertion: on a loaded
2-core machine an honest example can take longer, and the run fails as "flaky" for
reasons that say nothing about the code. Speed is measured by the benchmarks
(bench/RESULTS.md), not here, so the deadline is off for every property test.
"""

from __future__ import annotations

from hypothesis import settings

settings.register_profile("vajra", deadline=None)
settings.load_profile("vajra")
