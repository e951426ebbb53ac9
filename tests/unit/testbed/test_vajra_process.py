"""VajraProcess, the one launcher: bounded ready wait, early exit, stop, stdin held open."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from vajra.testbed.errors import DaemonFailed, TestbedTimeout
from vajra.testbed.vajra_process import VajraProcess


def _child(tmp: Path, code: str, **kw: object) -> VajraProcess:
    p = VajraProcess((), argv=[sys.executable, "-c", code], log=tmp / "child.log", **kw)  # type: ignore[arg-type]
    p.launch()
    return p


def test_ready_line_is_found_after_other_output_and_stop_ends_the_group(tmp_path: Path) -> None:
    p = _child(
        tmp_path,
        "import json, time; print('not json'); print(json.dumps({'event': 'other'}));"
        "print(json.dumps({'event': 'ready', 'admin': '127.0.0.1:1'}), flush=True); time.sleep(600)",
    )
    assert p.wait_ready("ready", 30) == {"event": "ready", "admin": "127.0.0.1:1"}
    assert p.alive()
    assert p.stop(10) == -15  # SIGTERM, which the child does not handle
    assert not p.alive()


def test_no_ready_line_times_out_and_kills(tmp_path: Path) -> None:
    p = _child(tmp_path, "import time; time.sleep(600)")
    t = time.monotonic()
    with pytest.raises(TestbedTimeout):
        p.wait_ready("ready", 0.5)
    assert time.monotonic() - t < 10
    p.proc.wait(10)  # killed, not left running
    assert not p.alive()


def test_exit_before_ready_fails_at_once_with_the_log(tmp_path: Path) -> None:
    p = _child(tmp_path, "import sys; sys.stderr.write('boom: bad flag\\n'); sys.exit(3)")
    with pytest.raises(DaemonFailed) as e:
        p.wait_ready("ready", 60)
    assert "code 3" in str(e.value) and "boom: bad flag" in e.value.log_tail


def test_stdin_pipe_is_closed_first_on_stop(tmp_path: Path) -> None:
    # A child that runs until its stdin closes (the lnprototest core node) exits cleanly.
    p = _child(
        tmp_path,
        "import json, sys; print(json.dumps({'event': 'ready'}), flush=True); sys.stdin.read()",
        stdin_pipe=True,
    )
    p.wait_ready("ready", 30)
    assert p.stop(30) == 0
