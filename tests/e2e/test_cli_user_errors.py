"""Issue 13 item 7, the parts that need processes: concurrent device commands, a bad
store given to `vajra runtime`, and `vajra nodes list | head` against a real runtime."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.runtime_proc import start_runtime
from tests.unit.cli.test_user_errors import _authorise, _counter, devdir, hubdir

pytestmark = pytest.mark.e2e
__all__ = ["devdir", "hubdir"]  # fixtures


def test_concurrent_authorisations_on_one_device_get_distinct_counters(
    devdir: Path, hubdir: Path
) -> None:
    """Ten `vajra device authorise` at once: each uses up its own counter (10 in all),
    none trips over another's temp file. Before the fix, 4 of 10 reused a counter."""
    cmd = [sys.executable, "-m", "vajra", *_authorise(devdir, hubdir)]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(10)]  # fmt: skip
    errs = [p.communicate(timeout=120)[1] for p in procs]
    assert all(p.returncode == 1 for p in procs), errs
    assert all("Connection refused" in e and "Traceback" not in e for e in errs), errs
    assert _counter(devdir, "ring") == 10
    assert sorted(os.listdir(devdir)) == ["ring.json", "ring.json.lock"]


@pytest.mark.parametrize(
    ("store", "says"),
    [("/nonexistent-dir/s.db", "the directory /nonexistent-dir does not exist"),
     ("/proc/s.db", "cannot open or write it")],  # a read-only file system
)  # fmt: skip
def test_a_bad_store_is_one_line(store: str, says: str) -> None:
    r = subprocess.run([sys.executable, "-m", "vajra", "runtime", "--dev", "--store", store],
                       capture_output=True, text=True, timeout=60)  # fmt: skip
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.startswith(f"error: --store {store}: {says}"), r.stderr


def test_nodes_list_into_head_is_not_an_error(tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    rt = start_runtime(store, create=3000, workers=1)
    try:
        r = subprocess.run(
            f"set -o pipefail; {sys.executable} -m vajra nodes --store {store} list | head -1",
            shell=True, executable="/bin/bash", capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    finally:
        rt.stop()
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) == 1 and "Traceback" not in r.stderr, r.stderr
