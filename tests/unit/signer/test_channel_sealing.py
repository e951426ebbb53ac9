"""Channel records under the signer state's protections (decision 0017): the backup
carries them and a restored signer keeps signing; a whole-file rollback past a channel
request is caught by the anchor; an edit while the daemon runs is found at its next
decision; a record deleted or added behind the log is refused."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.unit.signer.channel_world import KEYS, World, open_world, sealed_core
from tests.unit.signer.helpers import T0
from tests.unit.signer.test_channel_requests import _peer_pays, _reseal
from vajra.channel import signer_io as io
from vajra.signer import audit, backup
from vajra.signer.anchor import AnchorMismatch, check_runtime_head
from vajra.signer.core import SignerCore
from vajra.signer.integrity import StateIntegrityError
from vajra.signer.state import SqliteState


def _backup(w: World) -> bytes:
    length, head_hash = w.core.state.head()
    with w.core.state.transaction() as txn:
        snap = backup.snapshot(txn, length, head_hash)
    assert len(snap.records) == 1
    assert backup.decode(backup.encode(snap)) == snap
    return backup.seal(KEYS.backup_key(), backup.encode(snap))


def test_a_restored_signer_keeps_its_channel_records(tmp_path: Path) -> None:
    w = open_world(tmp_path / "a.db")
    _peer_pays(w, 4_000_000)
    sealed = _backup(w)
    record = w.record()
    head = w.core.state.head()

    st = SqliteState(tmp_path / "b.db", key=KEYS.state_key())
    snap = backup.open_sealed(KEYS.backup_key(), sealed)
    assert backup.restore_into(st, KEYS, snap, *head, T0 + 5) == 0
    st.close()
    restored = SignerCore(KEYS, SqliteState(tmp_path / "b.db", key=KEYS.state_key(), create=False))
    with restored.state.transaction() as txn:
        assert txn.channel(w.node_id, w.index) == record
    # The restored copy signs on: the channel continues against it, and reopens clean.
    w.core = restored
    w.signer.core = restored
    w.path = tmp_path / "b.db"
    _peer_pays(w, 1_000_000, b"\x09" * 32)
    w.reopen()
    audit.verify(w.core.state.audit_entries(), KEYS.audit_key().pubkey)


def test_a_version_1_backup_still_opens(tmp_path: Path) -> None:
    w = open_world(tmp_path / "a.db")
    length, head_hash = w.core.state.head()
    with w.core.state.transaction() as txn:
        snap = backup.snapshot(txn, length, head_hash)
    v2 = backup.encode(snap)
    cut = len(v2) - sum(12 + len(r) for _, _, r in snap.records) - 4
    v1 = b"\x01" + v2[1:cut]
    old = backup.decode(v1)
    assert old.records == [] and old.devices == snap.devices and old.nodes == snap.nodes


def test_a_whole_file_rollback_past_a_channel_request_is_caught_by_the_anchor(
    tmp_path: Path,
) -> None:
    db = tmp_path / "state.db"
    w = open_world(db)
    assert isinstance(w.core.state, SqliteState)
    w.core.state.close()
    copy = tmp_path / "copy.db"
    shutil.copy(db, copy)  # a genuine older file (taken while stopped)
    w.reopen()
    _peer_pays(w, 2_000_000)
    runtime_head = w.core.state.head()  # what the runtime was told
    assert isinstance(w.core.state, SqliteState)
    w.core.state.close()
    shutil.copy(copy, db)
    older = SqliteState(db, key=KEYS.state_key(), create=False)  # MAC and log agree...
    with pytest.raises(AnchorMismatch, match="rolled back"):
        check_runtime_head(older, *runtime_head)  # ...but the runtime saw more


def test_an_edit_while_the_signer_runs_is_found_at_its_next_decision(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    w = open_world(db)
    old = w.record()
    _peer_pays(w, 2_000_000)
    raw = sqlite3.connect(db)
    raw.execute("UPDATE channels SET record=?", (old,))
    raw.commit()
    raw.close()
    with pytest.raises(StateIntegrityError, match="modified outside the signer"):
        w.request(io.RevokeHolderCommitment(0))


@pytest.mark.parametrize("edit", ["delete", "duplicate"])
def test_a_record_removed_or_added_behind_the_log_is_refused(tmp_path: Path, edit: str) -> None:
    db = tmp_path / "state.db"
    w = open_world(db)
    assert isinstance(w.core.state, SqliteState)
    w.core.state.close()
    raw = sqlite3.connect(db)
    if edit == "delete":
        raw.execute("DELETE FROM channels")
    else:
        raw.execute("INSERT INTO channels SELECT node_id, 5, funding_spk, record FROM channels")
    raw.commit()
    raw.close()
    with pytest.raises(StateIntegrityError, match="modified outside the signer"):
        sealed_core(db)
    _reseal(db)
    with pytest.raises(StateIntegrityError, match="channel"):
        sealed_core(db)
