"""Process supervision for test-bed daemons: start, wait (bounded), stop, and never leak.

Each daemon runs in its own session/process group (so a stop reaches anything it forks)
with stdout+stderr appended to a log file in its work directory. On Linux the child also
gets PR_SET_PDEATHSIG=SIGKILL, so it dies with the Python thread that started it even if
that process is killed with SIGKILL; `atexit` stops whatever is still registered on a
normal exit. Every PID and process group ever started is recorded, so a test can check
that none is left alive (`leftover_pids`).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, TypeVar

from vajra.osutil import die_with_parent
from vajra.testbed.errors import DaemonFailed, TestbedTimeout

log = logging.getLogger("vajra.testbed")

T = TypeVar("T")

_lock = threading.Lock()
_live: dict[int, ManagedProcess] = {}
_started_pgids: set[int] = set()
_ports_handed_out: set[int] = set()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago and not handed out before here."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port: int = s.getsockname()[1]
        with _lock:
            if port not in _ports_handed_out:
                _ports_handed_out.add(port)
                return port
    raise TestbedTimeout("no free port on 127.0.0.1 after 100 tries")


def wait_until(
    check: Callable[[], T | None],
    *,
    timeout: float,
    what: str,
    interval: float = 0.2,
    proc: ManagedProcess | None = None,
) -> T:
    """Poll `check` until it returns a truthy value (returned) or `timeout` seconds pass.

    Exceptions from `check` count as "not yet" (daemons refuse requests while starting);
    the last one is named in the timeout error. If `proc` exits meanwhile, fail at once
    with its log tail instead of waiting out the timeout.
    """
    deadline = time.monotonic() + timeout
    last_err: BaseException | None = None
    while True:
        try:
            value = check()
        except Exception as e:
            last_err = e
            value = None
        if value:
            return value
        if proc is not None and not proc.alive():
            raise DaemonFailed(
                f"exited with code {proc.returncode} while waiting for {what}",
                name=proc.name,
                log_tail=proc.log_tail(),
            )
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_err})" if last_err else ""
            raise TestbedTimeout(f"timed out after {timeout:.0f}s waiting for {what}{detail}")
        time.sleep(interval)


class ManagedProcess:
    """One supervised child process (a daemon, or a long-running helper such as the LDK harness)."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        workdir: Path,
        env: Mapping[str, str] | None = None,
        pipe_stdio: bool = False,
    ) -> None:
        self.name = name
        self.argv = [str(a) for a in argv]
        self.workdir = workdir
        self.env = dict(env) if env is not None else None
        self.pipe_stdio = pipe_stdio
        self.log_path = workdir / f"{name}.log"
        self._popen: subprocess.Popen[str] | None = None
        self._log_file: IO[str] | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> ManagedProcess:
        if self._popen is not None and self.alive():
            raise DaemonFailed("already running", name=self.name)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._log_file = open(self.log_path, "a", encoding="utf-8", errors="replace")  # noqa: SIM115
        self._log_file.write(f"=== {time.strftime('%H:%M:%S')} start: {' '.join(self.argv)}\n")
        self._log_file.flush()
        full_env = {**os.environ, **self.env} if self.env is not None else None
        try:
            self._popen = subprocess.Popen(
                self.argv,
                cwd=self.workdir,
                env=full_env,
                stdin=subprocess.PIPE if self.pipe_stdio else subprocess.DEVNULL,
                stdout=subprocess.PIPE if self.pipe_stdio else self._log_file,
                stderr=self._log_file,
                text=True,
                start_new_session=True,
                preexec_fn=die_with_parent,  # runs in the child between fork and exec
            )
        except OSError as e:
            self._log_file.close()
            raise DaemonFailed(f"cannot start {self.argv[0]}: {e}", name=self.name) from e
        with _lock:
            _live[self._popen.pid] = self
            _started_pgids.add(self._popen.pid)
        log.info("testbed.start name=%s pid=%d log=%s", self.name, self._popen.pid, self.log_path)
        return self

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM the process group, SIGKILL it after `timeout`; return the exit code."""
        p = self._popen
        if p is None:
            return None
        if p.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("testbed.kill name=%s pid=%d after=%.0fs", self.name, p.pid, timeout)
                self._signal_group(signal.SIGKILL)
                p.wait(5)
        # Whatever the leader forked and left behind in its group goes too.
        self._signal_group(signal.SIGKILL)
        for stream in (p.stdin, p.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        with _lock:
            _live.pop(p.pid, None)
        log.info("testbed.stop name=%s pid=%d rc=%s", self.name, p.pid, p.returncode)
        return p.returncode

    def _signal_group(self, sig: signal.Signals) -> None:
        if self._popen is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._popen.pid, sig)

    # -- inspection ------------------------------------------------------------------------

    @property
    def pid(self) -> int:
        if self._popen is None:
            raise DaemonFailed("not started", name=self.name)
        return self._popen.pid

    @property
    def popen(self) -> subprocess.Popen[str]:
        if self._popen is None:
            raise DaemonFailed("not started", name=self.name)
        return self._popen

    @property
    def returncode(self) -> int | None:
        return None if self._popen is None else self._popen.poll()

    def alive(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    def __enter__(self) -> ManagedProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run(argv: Sequence[str | Path], *, timeout: float, name: str, cwd: Path | None = None) -> str:
    """Run a short command (e.g. lncli) to completion with a timeout; return its stdout."""
    try:
        cp = subprocess.run(
            [str(a) for a in argv],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired as e:
        raise TestbedTimeout(f"{name}: {' '.join(map(str, argv[1:3]))} took over {timeout}s") from e
    if cp.returncode != 0:
        raise DaemonFailed(
            f"{' '.join(map(str, argv[1:]))} exited {cp.returncode}: "
            f"{(cp.stderr.strip() + ' ' + cp.stdout.strip()).strip()[-2000:]}",
            name=name,
        )
    return cp.stdout


def live_processes() -> list[ManagedProcess]:
    """Processes started here and not yet stopped."""
    with _lock:
        return list(_live.values())


def started_pgids() -> set[int]:
    """Every process group (= leader PID) ever started here."""
    with _lock:
        return set(_started_pgids)


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, pgid) of a live PID from /proc, or None when gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return fields[0], int(fields[2])


def leftover_pids(pgids: set[int] | None = None) -> list[int]:
    """PIDs still running (not zombies) in the given (default: every started) process group."""
    groups = started_pgids() if pgids is None else pgids
    found: list[int] = []
    if not groups:
        return found
    proc = Path("/proc")
    if proc.is_dir():
        for entry in proc.iterdir():
            if not entry.name.isdigit():
                continue
            st = _proc_stat(int(entry.name))
            if st is not None and st[0] != "Z" and st[1] in groups:
                found.append(int(entry.name))
        return sorted(found)
    for pgid in groups:  # no /proc: check the leaders only
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pgid, 0)
            found.append(pgid)
    return found


def stop_all(timeout: float = 10.0) -> None:
    """Stop every live process started here (newest first)."""
    for p in reversed(live_processes()):
        try:
            p.stop(timeout)
        except Exception:
            log.exception("testbed.stop_failed name=%s", p.name)


atexit.register(stop_all)
