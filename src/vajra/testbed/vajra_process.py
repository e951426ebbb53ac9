"""`VajraProcess`: the one way tests, benchmarks, the demo and the lnprototest runner start
a `vajra` command that runs until stopped (`vajra runtime`, `vajra signer run`).

What every launcher needs, done once: the child runs `python -m vajra ...` in its own
process group (a stop reaches the runtime's workers too) and dies with its parent
(`osutil.die_with_parent`); stderr goes to a log file; stdout is read by a thread, so the
ready line is awaited with a deadline (a child that hangs before printing it fails with
`TestbedTimeout`, one that exits fails at once with `DaemonFailed` and its log tail) and
a child that keeps printing never blocks on a full pipe. Admin calls go to the address in
the runtime's ready line; `stop` sends SIGTERM to the group (SIGKILL after a bound);
`kill9` is the crash tests' SIGKILL of the whole group.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from vajra.osutil import die_with_parent
from vajra.testbed.errors import DaemonFailed, TestbedTimeout
from vajra.testbed.procs import free_port

_EOF = b""


class VajraProcess:
    """A running `python -m vajra ARGS...` child; see the module docstring."""

    def __init__(
        self,
        args: Sequence[str],
        *,
        log: Path,
        env: Mapping[str, str] | None = None,
        name: str = "vajra",
        module: str = "vajra",
        argv: Sequence[str] | None = None,
        stdin_pipe: bool = False,
    ) -> None:
        """`module`: run `python -m MODULE ARGS` (e.g. `vajra.runtime.signer_hub`);
        `argv`: run exactly this command instead (`args`, `module` unused), e.g. a node
        command handed to the lnprototest runner; `stdin_pipe`: give the child a stdin
        pipe that `stop` closes first (a child that runs until its stdin closes)."""
        self.argv = list(argv) if argv is not None else [sys.executable, "-m", module, *args]
        self.argv = [str(a) for a in self.argv]
        self.stdin_pipe = stdin_pipe
        self.log_path = log
        self.env = dict(env) if env is not None else dict(os.environ)
        self.name = name
        self.ready: dict[str, Any] = {}
        self.port = 0
        """The runtime's peer port (`runtime`), else 0."""
        self.store: Path | None = None
        """The runtime's store (`runtime`), else None."""
        self._lines: queue.Queue[bytes] = queue.Queue()
        self._proc: subprocess.Popen[bytes] | None = None

    # -- start -------------------------------------------------------------------------------

    @classmethod
    def start(
        cls, args: Sequence[str], *, ready_event: str = "ready", timeout: float = 120.0, **kw: Any
    ) -> VajraProcess:
        """Start `vajra ARGS` (`kw`: the constructor's options, `log` required) and wait up
        to `timeout` s for its JSON line with `"event": ready_event` (kept in `ready`).
        DaemonFailed / TestbedTimeout otherwise."""
        p = cls(args, **kw)
        p.launch()
        p.wait_ready(ready_event, timeout)
        return p

    @classmethod
    def runtime(
        cls,
        store: Path,
        *,
        port: int | None = None,
        workers: int | None = None,
        metrics_port: int | None = None,
        create: int = 0,
        dev_seed: bytes | None = None,
        extra: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        log: Path | None = None,
        timeout: float = 120.0,
    ) -> VajraProcess:
        """`vajra runtime` on `store`: with `dev_seed`, `--dev` (the seed in
        VAJRA_DEV_SEED, never on the command line) and `--create N`; without, the runtime
        embeds the signer hub (pass `--signer-port` etc. in `extra`). The log defaults to
        STORE.stderr.log next to the store; `workers` and `metrics_port` None: the
        runtime's defaults (a worker per core; no metrics listener)."""
        port = port or free_port()
        args = [
            "runtime", *(["--dev"] if dev_seed is not None else []), "--store", str(store),
            "--listen-port", str(port),
            *(["--workers", str(workers)] if workers is not None else []),
            *(["--metrics-port", str(metrics_port)] if metrics_port is not None else []),
            *(["--create", str(create)] if create else []), *extra,
        ]  # fmt: skip
        env = dict(env if env is not None else os.environ)
        if dev_seed is not None:
            env["VAJRA_DEV_SEED"] = dev_seed.hex()
        p = cls(args, log=log or store.with_suffix(".stderr.log"), env=env, name="runtime")
        p.port, p.store = port, store
        p.launch()
        p.wait_ready("ready", timeout)
        return p

    def launch(self) -> None:
        """Start the child (no wait); `wait_ready` next."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as err:
            self._proc = subprocess.Popen(
                self.argv, stdin=subprocess.PIPE if self.stdin_pipe else subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=err,
                env=self.env, start_new_session=True, preexec_fn=die_with_parent,
            )  # fmt: skip
        out = self._proc.stdout
        assert out is not None
        threading.Thread(target=self._read, args=(out,), daemon=True).start()

    def _read(self, out: IO[bytes]) -> None:
        for line in iter(out.readline, b""):
            self._lines.put(line)
        self._lines.put(_EOF)

    def wait_ready(self, event: str = "ready", timeout: float = 120.0) -> dict[str, Any]:
        """The first stdout JSON line whose `event` is `event`, within `timeout` s."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                line = self._lines.get(timeout=max(left, 0.0))
            except queue.Empty:
                self.kill9()
                raise TestbedTimeout(
                    f"{self.name}: no {event!r} line within {timeout:.0f}s; log: {self._tail()}"
                ) from None
            if line == _EOF:
                self.proc.wait(10)
                raise DaemonFailed(
                    f"exited with code {self.proc.returncode} before {event!r}",
                    name=self.name,
                    log_tail=self._tail(),
                )
            with contextlib.suppress(ValueError):
                msg = json.loads(line)
                if isinstance(msg, dict) and msg.get("event") == event:
                    self.ready = msg
                    return msg

    # -- while it runs -------------------------------------------------------------------------

    @property
    def proc(self) -> subprocess.Popen[bytes]:
        assert self._proc is not None, "not launched"
        return self._proc

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def admin(self, path: str, body: object | None = None, timeout: float = 300.0) -> Any:
        """One admin API call over the runtime's admin socket (POST when `body` is given):
        the parsed JSON. `/metrics` goes to the metrics port, the only place it is served
        (the text)."""
        from vajra.runtime.admin_client import AdminClient, metrics

        if path == "/metrics":
            return metrics(int(self.ready["metrics_port"]), timeout=timeout)
        client = AdminClient(self.ready["admin"], timeout=timeout)
        return client.get(path) if body is None else client.post(path, body)

    def counters(self) -> dict[str, int]:
        return dict(self.admin("/v1/status")["counters"])

    def nodes(self, limit: int = 100_000) -> list[dict[str, Any]]:
        """The admin listing: `node_id`, `host`, `port`, `state` (as in the ready line)."""
        return list(self.admin(f"/v1/nodes?limit={limit}")["nodes"])

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def _tail(self, n: int = 3000) -> str:
        return self.log_text()[-n:]

    # -- stop ------------------------------------------------------------------------------------

    def stop(self, timeout: float = 20.0) -> int | None:
        """Close stdin (`stdin_pipe`; up to 2 s for the child to end on it), SIGTERM to the
        process group, SIGKILL after `timeout` s; then SIGKILL whatever of the group is
        left (a worker must not outlive a test). The exit code."""
        if self._proc is None:
            return None
        if self._proc.stdin is not None and not self._proc.stdin.closed:
            with contextlib.suppress(OSError):
                self._proc.stdin.close()
            # A child that ends at stdin EOF gets a moment to do so before any signal.
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(min(timeout, 2.0))
        if self._proc.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self._proc.wait(10)
        self._signal_group(signal.SIGKILL)
        return self._proc.returncode

    def kill9(self) -> None:
        """SIGKILL the whole process group at once (a crash, for the crash tests)."""
        if self._proc is None:
            return
        self._signal_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(10)

    def _signal_group(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)
