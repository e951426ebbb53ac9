"""The signer's audit log: every decision, hash-chained and signed.

Each entry records one decision (a payment authorisation, a registry command, a refused
signature request, ...) and is appended in the same state transaction as the decision
itself, so there is no decision without its entry. Entry n carries the hash of entry
n - 1 (entry 0 carries 32 zero bytes) and is signed by the signer's audit key
(`SignerKeys.audit_key`, secp256k1 ECDSA over the entry hash). `verify` then detects any
modification (a signature or the next link fails), deletion or reordering (a sequence gap
or a broken link). Cutting entries off the end leaves a valid shorter chain: compare the
result of `verify` with a head seen earlier (the signer reports its head to devices and
the runtime) to detect that.

Entry encoding, version 1 (the signed bytes are SHA256(TAG || body)):

    version (1) | seq (u64) | time (u64, unix s) | kind (u8 length + ASCII) |
    subject (u16 length + bytes) | outcome (u8 length + ASCII) |
    reason (u8 length + ASCII) | prev hash (32)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from vajra.crypto.hashes import sha256
from vajra.crypto.secp256k1 import PrivateKey, verify_digest
from vajra.errors import VajraError

VERSION = 1
TAG = b"vajra/audit-entry/v1"
GENESIS = bytes(32)


class AuditError(VajraError):
    """The log does not verify. `seq` is the first entry found wrong (or missing)."""

    def __init__(self, seq: int, problem: str) -> None:
        self.seq = seq
        self.problem = problem
        super().__init__(f"audit entry {seq}: {problem}")


def _short(s: str) -> bytes:
    b = s.encode("ascii")
    if len(b) > 255:
        raise ValueError("audit field too long")
    return bytes([len(b)]) + b


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One decision. `subject` is the canonical bytes of what was decided on (the full
    authorisation or command) or, for undecodable input, its SHA-256."""

    seq: int
    time: int
    kind: str
    subject: bytes
    outcome: str
    reason: str
    prev_hash: bytes
    signature: bytes = b""

    def body(self) -> bytes:
        if len(self.subject) > 0xFFFF:
            raise ValueError("audit subject too long")
        return (
            bytes([VERSION])
            + self.seq.to_bytes(8, "big")
            + self.time.to_bytes(8, "big")
            + _short(self.kind)
            + len(self.subject).to_bytes(2, "big")
            + self.subject
            + _short(self.outcome)
            + _short(self.reason)
            + self.prev_hash
        )

    @property
    def hash(self) -> bytes:
        return sha256(TAG + self.body())


def append(
    key: PrivateKey,
    prev: AuditEntry | None,
    *,
    time: int,
    kind: str,
    subject: bytes,
    outcome: str,
    reason: str,
) -> AuditEntry:
    """The entry that follows `prev` (None: the first entry), signed by `key`."""
    entry = AuditEntry(
        seq=0 if prev is None else prev.seq + 1,
        time=time,
        kind=kind,
        subject=subject,
        outcome=outcome,
        reason=reason,
        prev_hash=GENESIS if prev is None else prev.hash,
    )
    return AuditEntry(
        entry.seq,
        time,
        kind,
        subject,
        outcome,
        reason,
        entry.prev_hash,
        key.sign_digest(entry.hash),
    )


def _is_clock_reset(e: AuditEntry) -> bool:
    return e.kind == "command" and e.outcome == "approve" and e.subject[1:2] == b"\x06"


def verify(entries: Sequence[AuditEntry], pubkey: bytes) -> bytes:
    """Check the whole log from entry 0 (or from a restore entry); return the head hash
    (GENESIS if empty).

    Raises AuditError at the first entry that was modified, deleted, inserted or moved.
    """
    prev_hash, prev_time, start = GENESIS, 0, 0
    if entries and entries[0].seq != 0 and entries[0].kind == "restore":
        # A restored signer's log starts at its signed `restore` entry, which links to
        # the newest head known outside the box when it was restored (decision 0012).
        prev_hash, start = entries[0].prev_hash, entries[0].seq
    for expected_seq, e in enumerate(entries, start):
        if e.seq != expected_seq:
            raise AuditError(expected_seq, f"sequence gap or reorder (found seq {e.seq})")
        if e.prev_hash != prev_hash:
            raise AuditError(e.seq, "does not link to the previous entry")
        try:
            h = e.hash
        except (ValueError, UnicodeEncodeError, OverflowError):
            raise AuditError(e.seq, "malformed entry") from None
        if not verify_digest(pubkey, e.signature, h):
            raise AuditError(e.seq, "bad signature")
        # The signer stamps entries with its monotonic clock (`SignerState.clock`); only
        # an applied owner-signed RESET_CLOCK command (kind byte 6) may set it back.
        if e.time < prev_time and not _is_clock_reset(e):
            raise AuditError(e.seq, "time goes backwards")
        prev_hash, prev_time = h, e.time
    return prev_hash
