"""The hash-chained, signed audit log detects modification, deletion and reordering."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.signer.helpers import AUDIT_KEY
from vajra.crypto.secp256k1 import PrivateKey
from vajra.signer import audit
from vajra.signer.audit import AuditEntry, AuditError


def _log(n: int) -> list[AuditEntry]:
    entries: list[AuditEntry] = []
    for i in range(n):
        entries.append(
            audit.append(
                AUDIT_KEY,
                entries[-1] if entries else None,
                time=1000 + i // 2,
                kind="payment",
                subject=bytes([i]) * 10,
                outcome="approve",
                reason="auto_approved",
            )
        )
    return entries


LOG = _log(8)
HEAD = audit.verify(LOG, AUDIT_KEY.pubkey)


def test_valid_log_verifies_and_empty_log_is_genesis() -> None:
    assert LOG[-1].hash == HEAD
    assert audit.verify([], AUDIT_KEY.pubkey) == audit.GENESIS
    with pytest.raises(AuditError):
        audit.verify(LOG, PrivateKey(b"\x01" * 32).pubkey)  # someone else's key


FIELDS = {
    "time": lambda e: e.time + 1,
    "kind": lambda e: "command",
    "subject": lambda e: e.subject + b"\x00",
    "outcome": lambda e: "deny",
    "reason": lambda e: "replay",
    "seq": lambda e: e.seq + 1,
    "prev_hash": lambda e: bytes(b ^ 1 for b in e.prev_hash),
    "signature": lambda e: bytes(64),
}


@given(st.integers(0, len(LOG) - 1), st.sampled_from(sorted(FIELDS)))
def test_any_modification_is_detected(i: int, field: str) -> None:
    entries = list(LOG)
    entries[i] = dataclasses.replace(entries[i], **{field: FIELDS[field](entries[i])})
    with pytest.raises(AuditError):
        audit.verify(entries, AUDIT_KEY.pubkey)


def test_a_modified_entry_re_signed_by_another_key_is_detected() -> None:
    entries = list(LOG)
    forged = dataclasses.replace(entries[3], reason="owner_confirmed", signature=b"")
    entries[3] = dataclasses.replace(
        forged, signature=PrivateKey(b"\x05" * 32).sign_digest(forged.hash)
    )
    with pytest.raises(AuditError) as e:
        audit.verify(entries, AUDIT_KEY.pubkey)
    assert e.value.seq == 3


@given(st.integers(0, len(LOG) - 2))
def test_deletion_is_detected(i: int) -> None:
    with pytest.raises(AuditError):
        audit.verify(LOG[:i] + LOG[i + 1 :], AUDIT_KEY.pubkey)


@given(st.permutations(LOG))
def test_reordering_is_detected(order: list[AuditEntry]) -> None:
    if order == LOG:
        return
    with pytest.raises(AuditError):
        audit.verify(order, AUDIT_KEY.pubkey)


def test_truncation_is_detected_against_a_known_head() -> None:
    assert audit.verify(LOG[:-1], AUDIT_KEY.pubkey) != HEAD
