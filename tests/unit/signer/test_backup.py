"""The state backup the runtime keeps and the restore from it (decision 0012): only this
seed opens it, a restore rebuilds nodes, devices, counters and the day's spends, the
restored state verifies (MAC, cross-check, audit chain) and passes the anchor."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tests.unit.signer.helpers import NODE, RING_RULES, T0, World, key
from vajra.signer import audit, backup
from vajra.signer.anchor import AnchorMismatch, check_runtime_head
from vajra.signer.core import SignerCore
from vajra.signer.devices import DeviceStatus, KeyType
from vajra.signer.keys import SignerKeys
from vajra.signer.messages import CommandKind
from vajra.signer.policy import Policy, Reason
from vajra.signer.state import SqliteState

KEYS = SignerKeys(bytes(range(64)))
RING = key(KeyType.P256, 1)


def _signer(db: Path) -> tuple[World, SignerCore]:
    st = SqliteState(db, key=KEYS.state_key())
    w = World(state=st)
    w.policy = Policy(st, KEYS.audit_key())
    core = SignerCore(KEYS, st)
    core.policy = w.policy
    return w, core


def test_backup_restores_nodes_devices_counters_and_spends(tmp_path: Path) -> None:
    w, core = _signer(tmp_path / "a.db")
    w.bootstrap()
    w.enroll(RING, rules=dataclasses.replace(RING_RULES, auto_approve_below_msat=10**9))
    nodes = core.create_nodes(3, now=T0 + 1)
    core.new_channel(nodes[1], epoch=1, now=T0 + 2)
    paid = w.auth(RING, 150_000_000, now=T0 + 5)
    assert w.policy.decide(paid.encode(), node_id=NODE, now=T0 + 5).approved
    assert w.policy.command(w.command(CommandKind.FREEZE, RING, now=T0 + 6), T0 + 6).approved
    length, head_hash = w.state.head()
    with w.state.transaction() as txn:
        snap = backup.snapshot(txn, length, head_hash)
    sealed = backup.seal(KEYS.backup_key(), backup.encode(snap))
    assert backup.decode(backup.encode(snap)) == snap
    with pytest.raises(backup.BackupError):
        backup.open_sealed(SignerKeys(bytes(64)).backup_key(), sealed)  # another seed
    with pytest.raises(backup.BackupError):
        backup.open_sealed(KEYS.backup_key(), sealed[:-1] + bytes([sealed[-1] ^ 1]))

    # Three wakes after the backup: the runtime saw a newer head than the backup.
    for e in range(3):
        core.state_key(nodes[0], epoch=2 + e, now=T0 + 7)
    runtime_head = w.state.head()

    st = SqliteState(tmp_path / "b.db", key=KEYS.state_key())
    lost = backup.restore_into(st, KEYS, backup.open_sealed(KEYS.backup_key(), sealed),
                               *runtime_head, T0 + 8)  # fmt: skip
    assert lost == 3
    st.close()
    st = SqliteState(tmp_path / "b.db", key=KEYS.state_key(), create=False)  # verifies
    restored = SignerCore(KEYS, st)
    assert [n.node_id for n in restored.nodes()] == nodes
    assert [n.channels for n in restored.nodes()] == [0, 1, 0]
    ring = {d.device_id: d for d in restored.policy.devices()}[RING.device_id]
    assert ring.status == DeviceStatus.FROZEN
    # The counter and the spend came back: replay refused, the window still full.
    assert restored.policy.decide(paid.encode(), node_id=NODE, now=T0 + 9).reason in (
        Reason.REPLAY,
        Reason.DEVICE_FROZEN,
    )
    assert restored.policy.usage(RING.device_id, T0 + 9).hourly_msat >= 150_000_000
    check_runtime_head(st, *runtime_head)  # the anchor the runtime holds is satisfied
    with pytest.raises(AnchorMismatch):
        check_runtime_head(st, runtime_head[0], bytes(32))
    w2 = World(state=st)
    w2.policy = restored.policy
    w2.counters[w2.owner.device_id] = 2
    d = w2.policy.command(w2.command(CommandKind.UNFREEZE, RING, now=T0 + 10), T0 + 10)
    assert d.approved and d.audit_seq == runtime_head[0] + 2  # restore entry, refusal, this
    audit.verify(st.audit_entries(), KEYS.audit_key().pubkey)
    st.close()
    SqliteState(tmp_path / "b.db", key=KEYS.state_key(), create=False).close()
