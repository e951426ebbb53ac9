"""The typed errors every layer raises. Peer input never raises anything else.

Callers catch `VajraError` at an edge (a connection, a CLI command) and turn it into a
BOLT 1 `warning`/`error`, a closed connection or an exit code; nothing below the edge
lets another exception type escape on malformed input.
"""

from __future__ import annotations


class VajraError(Exception):
    """Base of every error Vajra raises on purpose."""


class DecodeError(VajraError):
    """Bytes that do not parse: truncated, oversize, non-canonical or out of range."""


class ProtocolError(VajraError):
    """A peer broke a protocol rule. `state` and `message` name where, when known."""

    def __init__(self, reason: str, *, state: str | None = None, message: str | None = None):
        self.reason = reason
        self.state = state
        self.message = message
        where = " ".join(
            p
            for p in (f"state={state}" if state else "", f"message={message}" if message else "")
            if p
        )
        super().__init__(f"{reason} ({where})" if where else reason)


class PolicyViolation(VajraError):
    """The signer's policy refused a request. `reason` is a stable machine-readable code
    (the `Reason` values of `vajra.signer.policy`), so callers and tests compare codes, not
    message text."""

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


class WrongPassword(VajraError):
    """A sealed secret did not open: wrong password, or the file was altered."""
