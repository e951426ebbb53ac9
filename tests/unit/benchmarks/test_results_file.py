"""bench/RESULTS.md stays readable: every run's JSON block parses and every run names its
command (a merge that interleaves two appended runs line by line breaks both)."""

from __future__ import annotations

import json
import re
from pathlib import Path

RESULTS = Path(__file__).resolve().parents[3] / "bench" / "RESULTS.md"


def test_every_recorded_run_is_whole() -> None:
    text = RESULTS.read_text()
    blocks = re.findall(r"```json\n(.*?)```", text, re.S)
    assert len(blocks) >= 20
    for i, block in enumerate(blocks):
        try:
            assert isinstance(json.loads(block), dict)
        except ValueError as e:
            raise AssertionError(f"JSON block {i} of bench/RESULTS.md: {e}") from None
    for run in re.split(r"^## ", text, flags=re.M)[1:]:
        if "```json" in run:  # a recorded run, not a note
            assert "- command: `" in run, run.splitlines()[0]
