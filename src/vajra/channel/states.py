"""The channel's two state dimensions and the errors a refused command raises (shared by
`machine.py` and the handler modules `normal.py`, `reestablish.py`, `close.py`)."""

from __future__ import annotations

import enum

from vajra.errors import VajraError


class State(enum.Enum):
    """What the channel waits for (see `machine.py`)."""

    NORMAL = "normal"
    AWAIT_COUNTERPARTY_SIGS = "await_counterparty_sigs"
    AWAIT_HOLDER_VALIDATION = "await_holder_validation"
    AWAIT_REVOCATION = "await_revocation"
    NEGOTIATING = "negotiating"
    """Both `shutdown`s exchanged and the channel clean: `closing_signed` only."""
    AWAIT_CLOSING_SIG = "await_closing_sig"
    CLOSED = "closed"
    """The mutual close transaction is signed by both (event `MutualCloseReady`)."""
    FAILED = "failed"


SIGNER_WAITS = frozenset(
    {
        State.AWAIT_COUNTERPARTY_SIGS,
        State.AWAIT_HOLDER_VALIDATION,
        State.AWAIT_REVOCATION,
        State.AWAIT_CLOSING_SIG,
    }
)
"""States with a signer request outstanding (peer messages queue, commands wait)."""


class Link(enum.Enum):
    """The connection to the peer (see `reestablish.py`)."""

    UP = "up"
    DOWN = "down"
    REESTABLISHING = "reestablishing"


class ChannelBusy(VajraError):
    """A command arrived while a signer request is out; retry once it is answered."""


class ChannelOffline(VajraError):
    """A command arrived while the peer is not connected or not yet reestablished."""
