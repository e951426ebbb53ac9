"""Small operating-system helpers shared by every process Vajra starts."""

from __future__ import annotations

import ctypes
import signal
import sys

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent (the thread that forked it) dies.

    Used as `preexec_fn` for daemons we start and at the top of runtime workers, so no
    child outlives the process responsible for it. A no-op elsewhere.
    """
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
