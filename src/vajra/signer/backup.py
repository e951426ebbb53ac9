"""The signer's state backup, held by the runtime, and `vajra signer restore` from it.

The 24 words give back every key but not the state: which nodes exist, the device
registry, counters, the day's spends. So the signer keeps an encrypted, versioned copy
of that state at the runtime (decision 0012): after every decision that changes it
(nodes, channels, payments, device commands) and on every connection, the signer sends
BACKUP; the runtime keeps the newest. A signer restored from its words pairs again; the
runtime hands back the newest backup and the newest audit head it saw (the anchor);
the signer decrypts the backup with a seed-derived key and rebuilds its state.

Plaintext, version 2 (integers big-endian; version 1 is the same without the channel
records and still opens):

    version (2) | clock u64 | audit length u64 | audit head 32 |
    nodes u32 | channel rows u32, each: node index u32, channels u32 |
    devices u16, each: device id 32 | key type u8 | pubkey 33 | role u8 | status u8 |
        rules 40 | last counter u64 | enrolled_at u64 | label u8 len + UTF-8 |
        enrolled_by u8 len + bytes |
    spend rows u32, each: device number u16 (its position above) | time u64 | msat u64 |
    channel records u32, each: node index u32 | channel index u32 | record u32 len + bytes

Channel records (decision 0017) are the signer's own copies, byte for byte
(`vajra.signer.channel_store`): a restored signer keeps signing for its channels, and the
cross-check replays the restore entry's records as the base the later channel entries
build on. A backup past one frame (`MAX_SEALED`, roughly 30 busy channels) is not sent
(`backup_too_large`); splitting it over several frames is still to do.

Spends are summed per 10-minute bucket stamped at the bucket's end (never later than
the clock): a restored window can only be fuller than the original, never emptier.
Node ids are not stored: they follow from the seed (key-tree index). Lease epochs are
not stored either (per node, they would make the backup grow with the nodes): a restored
signer accepts the next epoch it sees per node, as on first contact.

Sealed: b"VJSB" | version (1) | nonce u64 | ChaCha20-Poly1305(backup key, nonce, ad =
these 13 bytes, plaintext). The key is `SignerKeys.backup_key()`; the nonce is random
(64 bits) so two backups never share one. The runtime cannot read it or forge one; it
can only hand back an older one, which the restore checks against the anchor (the
runtime's head must not be ahead of a head the user's devices saw: `min_length`).
"""

from __future__ import annotations

import dataclasses
import os
import struct
from dataclasses import dataclass, field

from vajra.crypto.aead import AuthenticationError, decrypt, encrypt
from vajra.errors import DecodeError, VajraError
from vajra.signer import channel_store
from vajra.signer.audit import AuditEntry
from vajra.signer.devices import Device, DeviceStatus, KeyType, Role, Rules
from vajra.signer.keys import SignerKeys
from vajra.signer.state import HostedNode, Spend, SqliteState, StateTxn

VERSION = 2
SEALED_VERSION = 1
MAGIC = b"VJSB"
BUCKET = 600
MAX_SEALED = 60_000  # one link frame; a larger backup is not sent (logged)
_HDR = struct.Struct(">4sBQ")


class BackupError(VajraError):
    """A backup that does not open with this seed, or does not decode."""


@dataclass
class Snapshot:
    """The backed-up state (what a restore rebuilds)."""

    clock: int
    audit_length: int
    head_hash: bytes
    nodes: int
    channels: dict[int, int] = field(default_factory=dict)
    devices: list[Device] = field(default_factory=list)
    spends: list[tuple[bytes, int, int]] = field(default_factory=list)
    records: list[tuple[int, int, bytes]] = field(default_factory=list)
    """(node index, channel index, channel record), sorted."""


def snapshot(txn: StateTxn, audit_length: int, head_hash: bytes) -> Snapshot:
    """The state as `txn` sees it, spends bucketed (see the module docstring)."""
    clock = txn.clock()
    nodes = txn.nodes()
    devices = txn.devices()
    buckets: dict[tuple[bytes, int], int] = {}
    for d in devices:
        for t, msat in txn.spend_rows(d.device_id):
            end = min(clock, -(-t // BUCKET) * BUCKET)
            buckets[(d.device_id, end)] = buckets.get((d.device_id, end), 0) + msat
    index = {n.node_id: n.index for n in nodes}
    records = sorted((index[n], i, rec) for n, i, rec in txn.channel_rows() if n in index)
    return Snapshot(
        records=records,
        clock=clock,
        audit_length=audit_length,
        head_hash=head_hash,
        nodes=len(nodes),
        channels={n.index: n.channels for n in nodes if n.channels},
        devices=devices,
        spends=sorted((d, t, m) for (d, t), m in buckets.items()),
    )


def _short(b: bytes) -> bytes:
    if len(b) > 255:
        raise ValueError("field longer than 255 bytes")
    return bytes([len(b)]) + b


def encode(s: Snapshot) -> bytes:
    out = [struct.pack(">BQQ", VERSION, s.clock, s.audit_length), s.head_hash]
    out.append(struct.pack(">II", s.nodes, len(s.channels)))
    out += [struct.pack(">II", i, c) for i, c in sorted(s.channels.items())]
    out.append(struct.pack(">H", len(s.devices)))
    pos = {}
    for i, d in enumerate(s.devices):
        pos[d.device_id] = i
        out += [
            d.device_id,
            bytes([d.key_type]),
            d.pubkey,
            bytes([d.role, d.status]),
            d.rules.encode(),
            struct.pack(">QQ", d.last_counter, d.enrolled_at),
            _short(d.label.encode()),
            _short(d.enrolled_by),
        ]
    out.append(struct.pack(">I", len(s.spends)))
    out += [struct.pack(">HQQ", pos[dev], t, m) for dev, t, m in s.spends]
    out.append(struct.pack(">I", len(s.records)))
    out += [struct.pack(">III", n, i, len(rec)) + rec for n, i, rec in s.records]
    return b"".join(out)


class _R:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise DecodeError("backup truncated")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str) -> tuple[int, ...]:
        st = struct.Struct(fmt)
        return tuple(st.unpack(self.take(st.size)))


def decode(data: bytes) -> Snapshot:
    """Parse a version-1 plaintext; DecodeError otherwise."""
    r = _R(data)
    try:
        version, clock, length = r.unpack(">BQQ")
        if version not in (1, VERSION):
            raise DecodeError(f"backup version {version} is not supported")
        s = Snapshot(clock, length, r.take(32), 0)
        s.nodes, n_ch = r.unpack(">II")
        s.channels = dict(r.unpack(">II") for _ in range(n_ch))  # type: ignore[misc]
        (n_dev,) = r.unpack(">H")
        for _ in range(n_dev):
            d_id, kt, pk = r.take(32), KeyType(r.take(1)[0]), r.take(33)
            role, status = r.take(1)[0], r.take(1)[0]
            rules = Rules.decode(r.take(40))
            counter, at = r.unpack(">QQ")
            label = r.take(r.take(1)[0]).decode()
            by = r.take(r.take(1)[0])
            s.devices.append(
                Device(
                    d_id, kt, pk, Role(role), DeviceStatus(status), rules, counter, label, at, by
                )
            )
        (n_sp,) = r.unpack(">I")
        for _ in range(n_sp):
            i, t, m = r.unpack(">HQQ")
            s.spends.append((s.devices[i].device_id, t, m))
        if version >= 2:
            (n_rec,) = r.unpack(">I")
            for _ in range(n_rec):
                node, index, size = r.unpack(">III")
                s.records.append((node, index, r.take(size)))
    except (ValueError, IndexError, UnicodeDecodeError) as e:
        raise DecodeError(f"backup does not decode: {e}") from None
    if r.pos != len(data):
        raise DecodeError("trailing bytes after the backup")
    return s


def seal(key: bytes, plaintext: bytes, nonce: int | None = None) -> bytes:
    n = int.from_bytes(os.urandom(8), "big") if nonce is None else nonce
    header = _HDR.pack(MAGIC, SEALED_VERSION, n)
    return header + encrypt(key, n, header, plaintext)


def open_sealed(key: bytes, blob: bytes) -> Snapshot:
    """Decrypt and decode a sealed backup; BackupError if it is not this seed's."""
    if len(blob) < _HDR.size + 16:
        raise BackupError("not a signer backup")
    magic, version, n = _HDR.unpack_from(blob)
    if magic != MAGIC or version != SEALED_VERSION:
        raise BackupError("not a version-1 signer backup")
    try:
        return decode(decrypt(key, n, blob[: _HDR.size], blob[_HDR.size :]))
    except AuthenticationError:
        raise BackupError("the backup was not made by this seed, or was altered") from None
    except DecodeError as e:
        raise BackupError(str(e)) from None


RESTORE_KIND = "restore"


def restore_subject(s: Snapshot, runtime_length: int, runtime_hash: bytes) -> bytes:
    """The restore entry's subject: the runtime's head at restore, then the plaintext."""
    return struct.pack(">Q", runtime_length) + runtime_hash + encode(s)


def parse_restore_subject(subject: bytes) -> Snapshot:
    return decode(subject[40:])


def restore_into(
    state: SqliteState,
    keys: SignerKeys,
    snap: Snapshot,
    runtime_length: int,
    runtime_hash: bytes,
    now: int,
) -> int:
    """Rebuild an empty state from `snap`; its audit log continues from the newest head
    known (the runtime's or the backup's) with one signed `restore` entry. Returns the
    number of entries the backup lacks (lost decisions: the runtime saw them after the
    backup; they were wakes and signatures unless a backup failed to reach it)."""
    if state.head()[0] != 0:
        raise BackupError("restore needs an empty signer state")
    if runtime_length >= snap.audit_length:
        base, base_hash = runtime_length, runtime_hash
    else:
        base, base_hash = snap.audit_length, snap.head_hash
    clock = max(snap.clock, now)
    with state.transaction() as txn:
        for i in range(snap.nodes):
            txn.put_node(HostedNode(i, keys.node(i).node_id, clock, snap.channels.get(i, 0)))
        for d in snap.devices:
            txn.put_device(d)
        for node_index, index, record in snap.records:
            if node_index >= snap.nodes:
                raise BackupError(f"channel record of node {node_index} past the node count")
            try:
                rec = channel_store.decode(record, keys.node(node_index).channel(index))
            except DecodeError as e:
                raise BackupError(f"channel record does not decode: {e}") from None
            spk = channel_store.funding_spk(rec.channel)
            txn.put_channel(keys.node(node_index).node_id, index, spk, record)
        for d_id, t, msat in sorted(snap.spends, key=lambda x: x[1]):
            txn.add_spend(d_id, Spend(t, msat))
        txn.set_clock(clock)
        entry = AuditEntry(
            base, clock, RESTORE_KIND, restore_subject(snap, runtime_length, runtime_hash),
            "approve", "restored", base_hash,
        )  # fmt: skip
        sig = keys.audit_key().sign_digest(entry.hash)
        txn.append_audit(dataclasses.replace(entry, signature=sig))
    return base - snap.audit_length
