"""Cross-check of the signer's state against its audit log, at start-up.

Every decision that changes the registry, a counter, a spend or the node list is an
audit entry whose subject holds the exact bytes decided on (decision 0003). Replaying
the approved entries gives what the state must contain; `cross_check` compares:

- devices: the same set; each one's key, role, status, rules, label and enroller as the
  last applied bootstrap / enrol / freeze / unfreeze / remove / set-rules left it; its
  counter at least the highest counter of an approved payment or command it signed;
- spends: for each device, the spend rows in the last day add up to at least the
  approved payments of that day (deleting spend rows would refill a limit);
- nodes: the same node ids at the same key-tree indices (create_node entries in order),
  and each node's channel count equals its approved new_channel entries;
- channel records (decision 0017): exactly the channels named by approved `channel`
  entries, each record hashing to what the newest such entry names (an older record
  written back, even under a resealed MAC, is a rollback);
- the node quota: the value of the last approved `quota` entry (the owner's `vajra
  signer quota --nodes N`), or no quota row if there is none since the log's start or
  its `restore` entry (a backup does not carry the quota);
- the clock is not behind the last entry.

The keyed MAC (`vajra.signer.integrity`) already refuses any edit made without the seed;
this check is the second, independent line: it catches a state that is internally
consistent but disagrees with the signed log (a bug, or an edit made with the seed).
Epochs are not in the log and are covered by the MAC alone. A restored signer's log
starts at a base (decision 0012): the replay then starts from the registry the backup
carried, which the same MAC covers.

Cost: one pass over the log; entries that change nothing (wakes) are skipped by kind.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from vajra.errors import DecodeError
from vajra.signer import channel_requests
from vajra.signer.audit import AuditEntry
from vajra.signer.channel_store import record_hash
from vajra.signer.devices import Device, DeviceStatus
from vajra.signer.integrity import StateIntegrityError
from vajra.signer.messages import (
    CommandKind,
    Enrolment,
    decode_authorisation,
    decode_command,
    decode_enrolment,
)
from vajra.signer.policy import decode_quota
from vajra.signer.state import StateTxn

DAY = 86400


def _bad(what: str) -> StateIntegrityError:
    return StateIntegrityError(f"the signer state disagrees with its audit log: {what}")


@dataclasses.dataclass
class _Expected:
    devices: dict[bytes, Device] = dataclasses.field(default_factory=dict)
    counters: dict[bytes, int] = dataclasses.field(default_factory=dict)
    spends: list[tuple[bytes, int, int]] = dataclasses.field(default_factory=list)
    nodes: list[bytes | None] = dataclasses.field(default_factory=list)
    channels: dict[bytes, int] = dataclasses.field(default_factory=dict)
    restored_channels: dict[int, int] = dataclasses.field(default_factory=dict)
    records: dict[tuple[bytes, int], bytes] = dataclasses.field(default_factory=dict)
    """(node id, channel index) -> SHA-256 of the record the newest approved entry left."""
    restored_records: dict[tuple[int, int], bytes] = dataclasses.field(default_factory=dict)
    """(node index, channel index) -> record hash, from a `restore` entry's backup."""
    quota: int | None = None


def _bump(counters: dict[bytes, int], device_id: bytes, counter: int) -> None:
    counters[device_id] = max(counter, counters.get(device_id, 0))


def _replay(entries: Sequence[AuditEntry], base: _Expected) -> _Expected:
    x = base
    for e in entries:
        if e.outcome != "approve":
            continue
        try:
            _apply(x, e)
        except (DecodeError, ValueError, KeyError) as err:
            raise _bad(f"approved entry {e.seq} ({e.kind}) does not replay: {err}") from None
    return x


def _apply(x: _Expected, e: AuditEntry) -> None:
    if e.kind == "restore":
        from vajra.signer.backup import parse_restore_subject

        s = parse_restore_subject(e.subject)
        x.devices = {d.device_id: d for d in s.devices}
        x.counters = {d.device_id: d.last_counter for d in s.devices}
        x.spends = list(s.spends)
        x.nodes = [None] * s.nodes  # ids follow from the seed, which this check lacks
        x.channels = {}
        x.restored_channels = dict(s.channels)
        x.records = {}
        x.restored_records = {(n, i): record_hash(rec) for n, i, rec in s.records}
        x.quota = None
    elif e.kind == "quota":
        x.quota = decode_quota(e.subject)
    elif e.kind == "create_node":
        x.nodes.append(e.subject[:33])
    elif e.kind == "new_channel":
        n = e.subject[:33]
        x.channels[n] = x.channels.get(n, 0) + 1
    elif e.kind == channel_requests.KIND:
        named = channel_requests.parse_subject(e.subject)
        if named is None:
            raise ValueError("approved channel entry without a record hash")
        node_id, index, digest = named
        x.records[(node_id, index)] = digest
    elif e.kind == "payment":
        auth = decode_authorisation(e.subject)
        _bump(x.counters, auth.device_id, auth.counter)
        x.spends.append((auth.device_id, e.time, auth.total_msat))
    elif e.kind == "bootstrap":
        # The subject is the enrolment alone; its device id follows from the key.
        d_id, en = decode_enrolment(e.subject)
        x.devices[d_id] = _device(en, d_id, e.time, b"")
    elif e.kind == "command":
        cmd = decode_command(e.subject)
        _bump(x.counters, cmd.issuer, cmd.counter)
        if cmd.kind == CommandKind.RESET_CLOCK:
            return
        if cmd.kind == CommandKind.ENROLL:
            assert cmd.enrolment is not None
            x.devices[cmd.target] = _device(cmd.enrolment, cmd.target, e.time, cmd.issuer)
            return
        t = x.devices[cmd.target]
        if cmd.kind == CommandKind.SET_RULES:
            assert cmd.rules is not None
            x.devices[cmd.target] = dataclasses.replace(t, rules=cmd.rules)
        else:
            status = {
                CommandKind.FREEZE: DeviceStatus.FROZEN,
                CommandKind.UNFREEZE: DeviceStatus.ACTIVE,
                CommandKind.REMOVE: DeviceStatus.REMOVED,
            }[cmd.kind]
            x.devices[cmd.target] = dataclasses.replace(t, status=status)


def _device(en: Enrolment, d_id: bytes, t: int, by: bytes) -> Device:
    return Device(
        device_id=d_id,
        key_type=en.key_type,
        pubkey=en.pubkey,
        role=en.role,
        status=DeviceStatus.ACTIVE,
        rules=en.rules,
        label=en.label,
        enrolled_at=t,
        enrolled_by=by,
    )


def cross_check(txn: StateTxn, entries: Sequence[AuditEntry]) -> None:
    """Raise StateIntegrityError (naming the first disagreement) unless the state in
    `txn` is what replaying `entries` gives (from a `restore` entry's backup, if the log
    starts with one)."""
    x = _replay(entries, _Expected())
    if entries and txn.clock() < max(e.time for e in entries[-1:]):
        raise _bad("the signer clock is behind its last audit entry")
    _check_devices(txn, x)
    _check_spends(txn, x)
    _check_nodes(txn, x)
    _check_channels(txn, x)
    if txn.node_quota() != x.quota:
        raise _bad("the node quota differs from the last quota entry")


def _check_devices(txn: StateTxn, x: _Expected) -> None:
    have = {d.device_id: d for d in txn.devices()}
    for d_id in have.keys() - x.devices.keys():
        raise _bad(f"device {d_id.hex()[:16]} is in the registry but was never enrolled")
    for d_id, want in x.devices.items():
        got = have.get(d_id)
        if got is None:
            raise _bad(f"enrolled device {d_id.hex()[:16]} is missing from the registry")
        for f in ("key_type", "pubkey", "role", "status", "rules", "label", "enrolled_by"):
            if getattr(got, f) != getattr(want, f):
                raise _bad(f"device {d_id.hex()[:16]}: {f} differs from the log")
        if got.last_counter < x.counters.get(d_id, 0):
            raise _bad(f"device {d_id.hex()[:16]}: counter is behind the log")


def _check_spends(txn: StateTxn, x: _Expected) -> None:
    now = txn.clock()
    logged: dict[bytes, int] = {}
    for d_id, t, msat in x.spends:
        if t > now - DAY:
            logged[d_id] = logged.get(d_id, 0) + msat
    for d_id, msat in logged.items():
        if txn.spent_since(d_id, now - DAY) < msat:
            raise _bad(f"device {d_id.hex()[:16]}: spend rows missing for the last day")


def _check_nodes(txn: StateTxn, x: _Expected) -> None:
    nodes = txn.nodes()
    if len(nodes) != len(x.nodes) or [n.index for n in nodes] != list(range(len(nodes))):
        raise _bad("the node list differs from the create_node entries")
    for n, want in zip(nodes, x.nodes, strict=True):
        if want is not None and n.node_id != want:
            raise _bad(f"node {n.index} differs from its create_node entry")
        expected = x.channels.get(n.node_id, 0) + x.restored_channels.get(n.index, 0)
        if n.channels != expected:
            raise _bad(f"node {n.node_id.hex()[:16]}: channel count differs from the log")


def _check_channels(txn: StateTxn, x: _Expected) -> None:
    ids = {n.index: n.node_id for n in txn.nodes()}
    want = {(ids[n], i): h for (n, i), h in x.restored_records.items() if n in ids}
    want.update(x.records)
    for node_id, index, record in txn.channel_rows():
        name = f"channel {node_id.hex()[:16]}/{index}"
        digest = want.pop((node_id, index), None)
        if digest is None:
            raise _bad(f"{name} is in the state but no approved channel entry made it")
        if record_hash(record) != digest:
            raise _bad(f"{name}: the record is not the one its newest audit entry names "
                       "(an older copy written back, or edited)")  # fmt: skip
    for node_id, index in want:
        raise _bad(f"channel {node_id.hex()[:16]}/{index} named by the log is missing")
