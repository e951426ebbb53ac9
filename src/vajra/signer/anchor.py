"""The audit head anchored outside the signer box (decision 0012).

The signer's state can be copied back whole from an older backup of its disk: every row
and the MAC of that copy are genuine, so the MAC alone cannot tell. What tells is the
audit head (number of entries, hash of the last): it only ever grows, and parties that
do not collude with whoever holds the disk keep the newest head they saw:

- the runtime: it sends its newest head for this signer right after each handshake and
  refuses a signer whose own head is older, or differs at the same length;
- every device: each decision it receives is signed by the signer's audit key over the
  decision's audit entry (`verify_decision`), and the device keeps the newest position
  it saw; a decision at or below it means the signer lost entries.

The signer checks the runtime's head against its own log before it serves anything
(`check_runtime_head`), so a rolled-back signer stops itself with a message that says
what happened. Sans-IO: states, entries and bytes in, an error or nothing out.
"""

from __future__ import annotations

from dataclasses import dataclass

from vajra.crypto.secp256k1 import verify_digest
from vajra.errors import VajraError
from vajra.signer.audit import GENESIS, AuditEntry
from vajra.signer.state import SignerState


class AnchorMismatch(VajraError):
    """The signer's audit log is older than, or forked from, a head seen outside the box."""


def check_runtime_head(state: SignerState, length: int, head_hash: bytes) -> None:
    """The runtime saw this signer's log at (`length`, `head_hash`); raise AnchorMismatch
    unless our log contains that head (same entry at the same position)."""
    if length == 0:
        return
    ours, _ = state.head()
    if ours < length:
        raise AnchorMismatch(
            f"the runtime has seen {length} audit entries from this signer but its state "
            f"holds {ours}: state.db was rolled back or replaced by an older copy"
        )
    entry = state.audit_entry(length - 1)
    first = state.first_audit_entry()
    # Restored (decision 0012): the restore entry links to the newest head known then,
    # the runtime's or, if the runtime lagged, our own backup's (authenticated by the
    # seed); an older runtime head lies in the part the restore replaced.
    restored = entry is None and first is not None and first.kind == "restore"
    if (
        restored
        and first is not None
        and (first.seq > length or (first.seq == length and first.prev_hash == head_hash))
    ):
        return
    if entry is None or entry.hash != head_hash:
        raise AnchorMismatch(
            f"audit entry {length - 1} differs from the one the runtime saw: this signer's "
            "log forked (state.db was replaced)"
        )


@dataclass(frozen=True, slots=True)
class SeenHead:
    """A device's record of the newest audit position it saw (persisted with its key)."""

    length: int = 0
    hash: bytes = GENESIS


def verify_decision(
    audit_pubkey: bytes,
    *,
    seq: int,
    time: int,
    kind: str,
    subject: bytes,
    outcome: str,
    reason: str,
    prev_hash: bytes,
    signature: bytes,
    seen: SeenHead,
) -> SeenHead:
    """Check a decision a device received for its own request (`subject`: the exact
    authorisation or command bytes it sent): the signer's audit key signed the entry
    that records exactly this outcome for exactly this request, and the entry lies
    beyond the newest position the device saw. The new position to keep.

    Raises AnchorMismatch (rollback) or VajraError (not signed by the signer)."""
    try:
        entry = AuditEntry(seq, time, kind, subject, outcome, reason, prev_hash)
        digest = entry.hash
    except (ValueError, UnicodeEncodeError, OverflowError):
        raise VajraError("the decision is malformed") from None
    if not verify_digest(audit_pubkey, signature, digest):
        raise VajraError(
            "the decision is not signed by this signer's audit key: whoever answered is "
            "not the signer (the runtime, or something posing as it, made it up)"
        )
    if seq + 1 <= seen.length:
        raise AnchorMismatch(
            f"the signer answered at audit entry {seq} but this device already saw "
            f"{seen.length} entries: the signer's state was rolled back"
        )
    return SeenHead(seq + 1, digest)
