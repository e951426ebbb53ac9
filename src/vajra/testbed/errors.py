"""Typed errors of the test bed (all are `VajraError`s)."""

from __future__ import annotations

from vajra.errors import VajraError


class TestbedError(VajraError):
    """A test-bed component could not be started, driven or stopped."""

    __test__ = False  # not a pytest test class despite the name


class TestbedNotInstalled(TestbedError):
    """A pinned component is missing from the cache: run `testbed/install.sh`."""


class TestbedTimeout(TestbedError):
    """A bounded wait ran out; the message says what was awaited."""


class DaemonFailed(TestbedError):
    """A daemon exited or refused a request; carries the tail of its log."""

    def __init__(self, reason: str, *, name: str, log_tail: str = "") -> None:
        self.name = name
        self.log_tail = log_tail
        msg = f"{name}: {reason}"
        if log_tail:
            msg += f"\n--- last lines of {name}'s log ---\n{log_tail}"
        super().__init__(msg)
