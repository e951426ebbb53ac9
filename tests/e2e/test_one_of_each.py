"""Issue 13 items 5 and 6 through the commands a user runs (real processes):

- a second `vajra signer run` on one directory, and a second `vajra runtime` on one
  store, exit with "already running" and leave the first one serving (its local socket,
  its runtime.json);
- `vajra signer init` refuses an empty or weak password;
- the pairing code is read from stdin (`--code -`) and from a file; argv warns;
- `VAJRA_SIGNER_PASSWORD` is gone from a running signer's /proc/<pid>/environ.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.runtime_proc import start_runtime
from tests.e2e.test_signer_cli import PASSWORD, Env

pytestmark = pytest.mark.e2e


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    e = Env(tmp_path)
    yield e
    e.close()


def _vajra(env: Env, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vajra", *args], env=env.env, input=stdin,
                          capture_output=True, text=True, timeout=60)  # fmt: skip


def test_weak_passwords_are_refused(env: Env, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n")
    weak = tmp_path / "weak"
    weak.write_text("aaaaaaaaaaaa\n")
    for pw_file, why in ((empty, "an empty"), (weak, "a weak")):
        out = _vajra(env, "signer", "init", "--password-file", str(pw_file))
        assert out.returncode == 1 and f"refusing {why} password" in out.stderr, out.stderr
        assert not (env.signer / "seed.sealed").exists()


def test_one_signer_per_directory_codes_off_argv_and_no_password_in_environ(env: Env) -> None:
    env.json("signer", "init", "--json")
    hub, port = env.start_hub()
    code = env.hub_admin({"op": "pairing_code"})["code"]
    paired = _vajra(env, "signer", "pair", "--runtime", f"127.0.0.1:{port}", "--code", "-",
                    stdin=code + "\n")  # fmt: skip
    assert paired.returncode == 0, paired.stderr
    assert "warning" not in paired.stderr
    code_file = env.tmp / "code"
    code_file.write_text(env.hub_admin({"op": "pairing_code"})["code"] + "\n")
    again = _vajra(env, "signer", "pair", "--runtime", f"127.0.0.1:{port}", "--code-file",
                   str(code_file))  # fmt: skip
    assert again.returncode == 0, again.stderr
    argv = _vajra(env, "signer", "pair", "--runtime", f"127.0.0.1:{port}", "--code",
                  env.hub_admin({"op": "pairing_code"})["code"])  # fmt: skip
    assert argv.returncode == 0 and "visible to other local users" in argv.stderr

    signer, ready = env.start(
        "signer", "vajra", "signer", "run", "--max-backoff", "0.2", event="running"
    )
    assert ready["event"] == "running"
    assert env.hub_admin({"op": "wait_signer", "signer_id": 1, "timeout": 20})["connected"]
    second = _vajra(env, "signer", "run")
    assert second.returncode == 1 and "already running" in second.stderr, second.stderr
    assert f"pid {signer.pid}" in second.stderr
    # The first still serves: its local socket is there and the link stayed up.
    assert env.json("signer", "status", "--json")["running"] is True
    assert env.hub_admin({"op": "signers"})["signers"][0]["connected"] is True

    try:
        environ = Path(f"/proc/{signer.pid}/environ").read_bytes()
    except PermissionError:  # not root: PR_SET_DUMPABLE=0 hides it from other processes
        environ = b""
    assert PASSWORD.encode() not in environ
    env.stop(signer)
    env.stop(hub)


def test_one_runtime_per_store(tmp_path: Path) -> None:
    store = tmp_path / "store.db"
    first = start_runtime(store, workers=1)
    try:
        info = Path(str(store) + ".runtime.json")
        assert info.exists()
        cmd = [sys.executable, "-m", "vajra", "runtime", "--dev", "--store", str(store),
               "--listen-port", "0", "--workers", "1", "--metrics-port", "0"]  # fmt: skip
        env = dict(os.environ, VAJRA_DEV_SEED=bytes(range(32)).hex())
        second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
        assert second.returncode == 1, second.stderr
        assert "already running" in second.stderr and f"pid {first.proc.pid}" in second.stderr
        time.sleep(0.2)
        assert info.exists(), "the second runtime's exit must not remove the first's file"
        assert first.proc.poll() is None
    finally:
        first.stop()
