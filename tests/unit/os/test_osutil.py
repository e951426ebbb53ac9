"""One of each and secrets out of reach (issue 13 items 5 and 6), against the real kernel:
the exclusive lock, the environment scrub (read back from /proc), PR_SET_DUMPABLE, and
the key table's MADV_DONTDUMP / mlock (read back from /proc/self/smaps)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from vajra.osutil import AlreadyRunning, exclusive_lock
from vajra.runtime.keytable import KeyTable

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux /proc and prctl")


def test_a_second_holder_is_refused_with_the_first_ones_pid(tmp_path: Path) -> None:
    fd = exclusive_lock(tmp_path / "run.lock", "a signer on X")
    with pytest.raises(
        AlreadyRunning, match=rf"a signer on X is already running \(pid {os.getpid()}"
    ):
        exclusive_lock(tmp_path / "run.lock", "a signer on X")
    assert (tmp_path / "run.lock").stat().st_mode & 0o777 == 0o600
    os.close(fd)
    os.close(exclusive_lock(tmp_path / "run.lock", "a signer on X"))  # released


def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    code = (
        "import sys, time; from pathlib import Path; from vajra.osutil import exclusive_lock;"
        f"exclusive_lock(Path({str(tmp_path / 'l')!r}), 'x'); print('held', flush=True); "
        "time.sleep(60)"
    )
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert p.stdout is not None and p.stdout.readline().strip() == "held"
    with pytest.raises(AlreadyRunning, match=f"pid {p.pid}"):
        exclusive_lock(tmp_path / "l", "x")
    p.kill()
    p.wait()
    os.close(exclusive_lock(tmp_path / "l", "x"))


@linux
def test_scrub_env_removes_the_value_from_proc_environ() -> None:
    code = (
        "import os; from vajra.osutil import scrub_env;"
        "v = scrub_env('VAJRA_SIGNER_PASSWORD'); assert v == 'hunter2-but-longer', v;"
        "assert 'VAJRA_SIGNER_PASSWORD' not in os.environ;"
        "blob = open('/proc/self/environ', 'rb').read();"
        "print(b'hunter2-but-longer' in blob)"
    )
    env = dict(os.environ, VAJRA_SIGNER_PASSWORD="hunter2-but-longer")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


@linux
def test_no_core_dumps_makes_the_process_undumpable() -> None:
    code = (
        "import ctypes; from vajra.osutil import no_core_dumps; assert no_core_dumps();"
        "print(ctypes.CDLL(None).prctl(3, 0, 0, 0, 0))"  # PR_GET_DUMPABLE
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "0"


def _vmflags(fd: int) -> list[str]:
    """VmFlags of this process's mappings of the memfd `fd`."""
    target = os.readlink(f"/proc/self/fd/{fd}")
    flags, current = [], False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        if line and not line[0].isupper() and "-" in line.split()[0]:
            current = line.rstrip().endswith(target) or target in line
        elif current and line.startswith("VmFlags:"):
            flags.append(line)
    return flags


@linux
def test_key_table_mapping_is_left_out_of_core_dumps_and_locked() -> None:
    t = KeyTable.create(1000)
    try:
        assert t.protection["dontdump"] is True
        flags = _vmflags(t.fd)
        assert flags and all(" dd" in f for f in flags), flags
        if t.protection["mlocked"]:
            assert any(" lo" in f for f in flags), flags
        reader = KeyTable.attach(t.fd)
        assert reader.protection["dontdump"] is True
        reader._mm.close()  # its fd is the writer's
    finally:
        t.close()
