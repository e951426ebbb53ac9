"""The harness must actually detect a crash: a deliberately broken target fails."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.fuzz import run

BROKEN = """
def fuzz_one(data: bytes) -> None:
    if len(data) >= 2 and data[0] == 0x42:
        raise IndexError("planted bug")
"""


def test_planted_crash_is_reported() -> None:
    path = Path(run.__file__).parent / "targets" / "_planted_bug.py"
    path.write_text(BROKEN)
    try:
        r = run.run_target("_planted_bug", 20)
    finally:
        path.unlink()
        shutil.rmtree(run.fuzz_dir() / "_planted_bug", ignore_errors=True)
    assert r["crashes"] >= 1 and r["exit_code"] != 0, r
