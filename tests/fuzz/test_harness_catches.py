"""The harness must actually detect a crash: a deliberately broken target fails."""

from __future__ import annotations

from pathlib import Path

from tests.fuzz import run

BROKEN = """
def fuzz_one(data: bytes) -> None:
    if len(data) >= 2 and data[0] == 0x42:
        raise IndexError("planted bug")
"""


def test_planted_crash_is_reported(tmp_path: Path) -> None:
    # The planted target and its corpus live in the test's own directory, never in the
    # work tree's targets (where a crash mid-test would leave a broken target behind).
    source = tmp_path / "planted_bug.py"
    source.write_text(BROKEN)
    r = run.run_target("planted_bug", 20, source=source, work=tmp_path)
    assert r["crashes"] >= 1 and r["exit_code"] != 0, r
    assert "planted bug" in str(r.get("tail")), r
