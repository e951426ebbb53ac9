"""Small operating-system helpers shared by every process Vajra starts."""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import signal
import sys
import tempfile
from pathlib import Path

from vajra.errors import VajraError

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent (the thread that forked it) dies.

    Used as `preexec_fn` for daemons we start and at the top of runtime workers, so no
    child outlives the process responsible for it. A no-op elsewhere.
    """
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def write_private(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically, mode 0600 from the first byte: a unique temp
    file in the same directory (two writers never share one), fsync, rename."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# --- one of each (issue 13 item 5) ----------------------------------------------------------


class AlreadyRunning(VajraError):
    """Another process holds the exclusive lock of a signer directory or a store."""


def exclusive_lock(path: Path, what: str) -> int:
    """Take the exclusive lock `path` (created 0600) for the life of this process, or
    raise AlreadyRunning naming `what` and the holder's pid. Returns the open fd, which
    must stay open (closing it releases the lock; so does the process exiting, even by
    SIGKILL, so a crash never leaves a stale lock)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise AlreadyRunning(f"{what} is already running (pid {holder}, lock {path})") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    os.set_inheritable(fd, False)
    return fd


# --- keeping secrets out of swap and core dumps (issue 13 item 6) ---------------------------

_PR_SET_DUMPABLE = 4
_MADV_DONTDUMP = 16
_MCL_CURRENT, _MCL_FUTURE = 1, 2


def no_core_dumps() -> bool:
    """PR_SET_DUMPABLE = 0: no core dump of this process, and no ptrace or
    /proc/<pid>/mem by other processes of the same user. True if it took effect."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    return int(libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)) == 0


def protect_region(address: int, length: int) -> tuple[bool, bool]:
    """mlock (never swapped) and MADV_DONTDUMP (left out of core dumps) for the pages
    holding [address, address + length). Returns (locked, dontdump): mlock can fail
    under RLIMIT_MEMLOCK, which is then logged by the caller, not fatal."""
    if not sys.platform.startswith("linux") or length <= 0:
        return False, False
    libc = ctypes.CDLL(None, use_errno=True)
    page = os.sysconf("SC_PAGE_SIZE")
    start = address - address % page
    size = (address + length - start + page - 1) // page * page
    libc.mlock.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    locked = int(libc.mlock(ctypes.c_void_p(start), ctypes.c_size_t(size))) == 0
    dontdump = int(libc.madvise(ctypes.c_void_p(start), ctypes.c_size_t(size), _MADV_DONTDUMP)) == 0
    return locked, dontdump


MIN_MEMLOCK = 512 * 1024 * 1024  # Argon2 (64 MiB) and Python's heap fit, with room


def lock_all_memory() -> bool:
    """mlockall(MCL_CURRENT | MCL_FUTURE): no page of this process is ever swapped. For
    the signer, whose whole heap may hold derived keys (Python copies bytes freely).

    Only when RLIMIT_MEMLOCK is unlimited or at least MIN_MEMLOCK: with MCL_FUTURE a
    small limit would make later allocations fail, so below it nothing is locked and
    False is returned (the caller warns; raise LimitMEMLOCK for the service)."""
    if not sys.platform.startswith("linux"):
        return False
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_MEMLOCK)
    if soft != resource.RLIM_INFINITY and soft < MIN_MEMLOCK and os.geteuid() != 0:
        return False  # root (CAP_IPC_LOCK) is not bound by the limit
    libc = ctypes.CDLL(None, use_errno=True)
    return int(libc.mlockall(_MCL_CURRENT | _MCL_FUTURE)) == 0


def scrub_env(name: str) -> str | None:
    """Read and remove environment variable `name`, overwriting its value in place
    first: `/proc/<pid>/environ` shows the environment block the process started with,
    which `unsetenv` alone leaves intact. The value, or None."""
    value = os.environ.get(name)
    if value is None:
        return None
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None)
        libc.getenv.restype = ctypes.c_void_p
        libc.getenv.argtypes = [ctypes.c_char_p]
        libc.strlen.restype = ctypes.c_size_t
        libc.strlen.argtypes = [ctypes.c_void_p]
        ptr = libc.getenv(name.encode())
        if ptr:
            ctypes.memset(ptr, 0, libc.strlen(ptr))
    os.environ.pop(name, None)
    return value
