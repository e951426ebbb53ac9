"""Issue 13 item 1, as an attacker with the signer's disk would try it (real processes).

A signer serves a runtime; an owner phone freezes a ring that has paid. With the signer
stopped, state.db is edited (unfreeze the ring, raise its limits, reset its counter,
delete its spend rows, delete the audit tail, insert an owner device of one's own,
raise the owner's node quota), truncated, and rolled back (an older copy put back): `vajra signer run` refuses every
attempt with exit code 2 and a message (at start, or on connecting to the runtime that
saw a newer head), and `vajra signer audit` never prints "verified" for an edited state.
Putting the genuine file back is the recovery: the signer serves again. A node quota
written into `signer.json` (where older signers kept it) is ignored: a request past the
sealed quota is still refused `node_quota` (issue 13 item 2).

Item 5: a fake `admin.sock` answering "approve/applied" does not make `vajra device
freeze` report success (the decision is not signed by the signer).
"""

from __future__ import annotations

import json
import shutil
import socket
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.test_signer_cli import PHASH, Env
from vajra.signer.devices import DeviceStatus, Role, Rules

pytestmark = pytest.mark.e2e

BIG = Rules(10**15, 10**15, 10**15, 10**16, 10**17).encode()


def _sql(db: Path, stmt: str, args: tuple[object, ...] = ()) -> None:
    c = sqlite3.connect(db)
    c.execute(stmt, args)
    c.commit()
    c.close()


def _files(d: Path) -> list[Path]:
    return [d / n for n in ("state.db", "state.db-wal", "state.db-shm")]


def _save(d: Path, to: Path) -> None:
    to.mkdir()
    for f in _files(d):
        if f.exists():
            shutil.copy(f, to / f.name)


def _put_back(saved: Path, d: Path) -> None:
    for f in _files(d):
        f.unlink(missing_ok=True)
    for f in saved.iterdir():
        shutil.copy(f, d / f.name)


def _truncate(db: Path) -> None:
    _sql(db, "PRAGMA wal_checkpoint(TRUNCATE)")
    with open(db, "r+b") as f:
        f.truncate(db.stat().st_size // 2)


ACTIVE, OWNER = int(DeviceStatus.ACTIVE), int(Role.OWNER)
RING = "(SELECT device_id FROM devices WHERE label='ring')"
EDITS: dict[str, Callable[[Path], None]] = {
    "unfreeze the ring": lambda db: _sql(
        db, f"UPDATE devices SET status={ACTIVE} WHERE label='ring'"
    ),
    "raise its limits": lambda db: _sql(
        db, "UPDATE devices SET rules=? WHERE label='ring'", (BIG,)
    ),
    "reset its counter": lambda db: _sql(
        db, "UPDATE devices SET last_counter=0 WHERE label='ring'"
    ),
    "delete its spends": lambda db: _sql(db, f"DELETE FROM spends WHERE device_id={RING}"),
    "delete the audit tail": lambda db: _sql(
        db, "DELETE FROM audit WHERE seq >= (SELECT MAX(seq) - 2 FROM audit)"
    ),
    "insert an owner": lambda db: _sql(
        db,
        "INSERT INTO devices SELECT ?, key_type, ?, role, status, rules, 0, 'mine', enrolled_at, "
        "enrolled_by FROM devices WHERE label='phone'",
        (bytes(32), bytes([2]) + bytes(31) + b"\x01"),
    ),
    "raise the node quota": lambda db: _sql(
        db, "UPDATE meta SET value=1000000 WHERE key='node_quota'"
    ),
    "truncate it": _truncate,
}


QUOTA = 2


def test_edits_truncation_and_rollback_of_a_stopped_signer_are_refused(env: Env) -> None:
    env.json("signer", "init", "--json")
    assert env.json("signer", "quota", "--nodes", str(QUOTA)) == {"node_quota": QUOTA}
    hub, port = env.start_hub()
    code = env.hub_admin({"op": "pairing_code"})["code"]
    env.json("signer", "pair", "--runtime", f"127.0.0.1:{port}", "--code", code, "--json")
    signer = env.start_signer()
    node = env.hub_admin({"op": "create_nodes", "signer_id": 1, "count": 1})["node_ids"][0]
    env.enrol_phone_and_ring()
    pay = ["device", "authorise", "--name", "ring", "--node", node, "--payment-hash", PHASH,
           "--amount-msat", "5000000", "--max-fee-msat", "1000"]  # fmt: skip
    assert env.json(*pay)["verified"] is True
    env.stop(signer)
    _save(env.signer, env.tmp / "before_freeze")  # an older copy, ring active

    signer = env.start_signer()
    assert env.json("device", "freeze", "ring", "--by", "phone")["outcome"] == "approve"
    assert env.json(*pay, rc=1)["reason"] == "device_frozen"
    env.stop(signer)
    good = env.tmp / "good"
    _save(env.signer, good)
    assert env.json("signer", "audit", "--json")["verified"] is True

    db = env.signer / "state.db"
    for what, edit in EDITS.items():
        _put_back(good, env.signer)
        edit(db)
        run = env.run("signer", "run", ok=None)
        assert run.returncode == 2, (what, run.stdout, run.stderr)
        assert "signer state refused" in run.stderr and "docs/signer.md" in run.stderr, what
        assert '"event": "running"' not in run.stdout, what
        audit = env.run("signer", "audit", "--json", ok=None)
        assert audit.returncode == 1 and json.loads(audit.stdout)["verified"] is False, what
        if what in ("unfreeze the ring", "truncate it"):
            text = env.run("signer", "audit", ok=None)
            assert text.returncode == 1 and "verified:" not in text.stdout, what

    # Rollback: the genuine older file verifies alone, but the runtime saw a newer head.
    _put_back(env.tmp / "before_freeze", env.signer)
    run = env.run("signer", "run", "--max-backoff", "0.2", ok=None)
    assert run.returncode == 2, (run.stdout, run.stderr)
    assert "rolled back" in run.stderr, run.stderr
    assert env.hub_admin({"op": "signers"})["signers"][0]["connected"] is False

    # Recovery: the genuine newest file back, the signer serves and the ring stays frozen.
    # A quota written into signer.json (public data, not sealed) changes nothing.
    _put_back(good, env.signer)
    cfg = json.loads((env.signer / "signer.json").read_text())
    (env.signer / "signer.json").write_text(json.dumps({**cfg, "node_quota": 10**6}))
    signer = env.start_signer()
    assert env.json(*pay, rc=1)["reason"] == "device_frozen"
    assert env.json("signer", "quota") == {"node_quota": QUOTA}
    out = env.hub_admin({"op": "create_nodes", "signer_id": 1, "count": QUOTA})
    assert out.get("error") == "node_quota", out  # 1 hosted + 2 > the sealed 2
    assert env.hub_admin({"op": "create_nodes", "signer_id": 1, "count": 1})["node_ids"]
    env.stop(signer)
    assert "holds a node_quota, which is ignored" in (env.logs / "signer.stderr").read_text()
    env.stop(hub)


class FakeAdmin:
    """An admin.sock that answers every request "approve / applied"."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with c:
                c.recv(65536)
                answer = {"outcome": "approve", "reason": "applied", "kind": "command",
                          "subject_id": "00" * 32, "device_id": None, "audit_seq": 99,
                          "audit_time": 0, "prev_hash": "00" * 32, "signature": "00" * 64}  # fmt: skip
                c.sendall(json.dumps(answer).encode() + b"\n")


def test_a_fake_admin_socket_cannot_fake_a_freeze(env: Env) -> None:
    env.json("signer", "init", "--json")
    phone = env.json("device", "create", "--type", "p256", "--name", "phone", "--json")
    env.json("device", "create", "--type", "secp256k1", "--name", "ring", "--json")
    env.json("signer", "add-owner", "--key-type", "p256", "--pubkey", phone["pubkey"], "--json")
    fake = env.tmp / "fakehub"
    fake.mkdir()
    FakeAdmin(fake / "admin.sock")
    out = env.run("device", "freeze", "ring", "--by", "phone", "--runtime", str(fake), ok=None)
    assert out.returncode == 4, (out.stdout, out.stderr)
    assert "not signed by this signer" in out.stderr
    assert '"outcome": "approve"' not in out.stdout
