"""The signer's request handlers: node creation, fenced key release, channel key sets."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.signer.helpers import NODE, T0, World, key
from vajra.crypto.secp256k1 import PrivateKey
from vajra.errors import PolicyViolation
from vajra.signer import audit
from vajra.signer.core import SignerCore
from vajra.signer.devices import KeyType
from vajra.signer.keys import SignerKeys
from vajra.signer.state import SqliteState

SEED = bytes(range(64))
KEYS = SignerKeys(SEED)


def test_nodes_are_created_at_the_next_indices_and_survive_restart(tmp_path: Path) -> None:
    db = tmp_path / "signer.sqlite"
    core = SignerCore(KEYS, SqliteState(db))
    ids = core.create_nodes(3, now=T0)
    assert ids == [KEYS.node(i).node_id for i in range(3)]
    core = SignerCore(KEYS, SqliteState(db))  # restart
    assert core.create_nodes(1, now=T0) == [KEYS.node(3).node_id]
    assert [n.index for n in core.nodes()] == [0, 1, 2, 3]
    with pytest.raises(PolicyViolation):
        core.create_nodes(0, now=T0)


def test_key_release_is_fenced_and_audited(tmp_path: Path) -> None:
    core = SignerCore(KEYS, SqliteState(tmp_path / "s.db"))
    (node_id,) = core.create_nodes(1, now=T0)
    node = KEYS.node(0)
    assert core.identity_secret(node_id, epoch=5, now=T0) == node.identity.secret
    assert core.state_key(node_id, epoch=5, now=T0) == node.state_key()
    peer = PrivateKey(b"\x42" * 32)
    assert core.ecdh(node_id, peer.pubkey, epoch=6, now=T0) == peer.ecdh(node_id)
    with pytest.raises(PolicyViolation) as e:
        core.state_key(node_id, epoch=5, now=T0)  # a runtime whose lease was taken over
    assert e.value.reason == "stale_epoch"
    with pytest.raises(PolicyViolation) as e:
        core.state_key(KEYS.node(9).node_id, epoch=1, now=T0)
    assert e.value.reason == "unknown_node"
    entries = core.state.audit_entries()
    audit.verify(entries, KEYS.audit_key().pubkey)
    assert [(x.kind, x.outcome) for x in entries] == [
        ("create_node", "approve"),
        ("identity_secret", "approve"),
        ("state_key", "approve"),
        ("ecdh", "approve"),
        ("state_key", "deny"),
        ("state_key", "deny"),
    ]


def test_channel_key_sets_are_never_reused(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    core = SignerCore(KEYS, SqliteState(db))
    a, b = core.create_nodes(2, now=T0)
    got = [core.new_channel(a, epoch=1, now=T0) for _ in range(3)]
    core = SignerCore(KEYS, SqliteState(db))
    got.append(core.new_channel(a, epoch=1, now=T0))
    assert [i for i, _ in got] == [0, 1, 2, 3]
    assert [k.basepoints for _, k in got] == [
        KEYS.node(0).channel(i).basepoints() for i in range(4)
    ]
    index, keys = core.new_channel(b, epoch=1, now=T0)
    secrets = KEYS.node(1).channel(0)
    assert (index, keys.basepoints) == (0, secrets.basepoints())
    assert keys.second_per_commitment_point == secrets.per_commitment_point(1)


def test_state_file_holds_no_secret(tmp_path: Path) -> None:
    """Everything the signer writes besides the sealed seed: no seed, key or device secret."""
    db = tmp_path / "signer.sqlite"
    state = SqliteState(db)
    core = SignerCore(KEYS, state)
    node_ids = core.create_nodes(2, now=T0)
    for n in node_ids:
        core.identity_secret(n, epoch=1, now=T0)
        core.state_key(n, epoch=1, now=T0)
        core.new_channel(n, epoch=1, now=T0)
    w = World(state=state)
    w.policy = core.policy
    w.bootstrap()
    ring = key(KeyType.P256, 1)
    w.enroll(ring)
    state.close()
    blob = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    secrets = [SEED, KEYS.audit_key().secret, KEYS.link_key().secret]
    for i in range(2):
        node = KEYS.node(i)
        ch = node.channel(0)
        secrets += [node.identity.secret, node.state_key(), ch.funding, ch.revocation_base]
        secrets += [ch.payment_base, ch.delayed_payment_base, ch.htlc_base]
        secrets += [ch.per_commitment_seed, ch.per_commitment_secret(0)]
    for s in secrets:
        assert s not in blob
    assert node_ids[0] in blob  # the scan does read the file


class _FailingCommit(SqliteState):
    """A state whose group COMMIT fails (disk full) after every decision was made."""

    @contextlib.contextmanager
    def group(self) -> Iterator[None]:
        with super().group():
            yield
            raise OSError("disk full")


def test_pipelined_requests_are_one_group_commit_answered_in_order(tmp_path: Path) -> None:
    """The daemon's batch path (what `vajra bench signer`'s wall figure times): pipelined
    authorisations decided in one group commit, answered in order with consecutive audit
    entries, a replay among them refused; if the group's COMMIT fails, no answer reports
    a decision (each is an `internal` error) and nothing of the batch is in the state."""
    from vajra.signer import link_proto as lp
    from vajra.signer.daemon import SignerDaemon
    from vajra.signer.link_server import LinkHandler

    w = World(state=SqliteState(tmp_path / "s.db"))
    w.bootstrap()
    ring = key(KeyType.SECP256K1, 2)
    w.enroll(ring)
    daemon = SignerDaemon(LinkHandler(SignerCore(KEYS, w.state)), None, None, None)  # type: ignore[arg-type]
    auths = [w.auth(ring, 1000 + i, now=T0).encode() for i in range(4)]
    batch = [lp.AuthorisePayment(i + 1, NODE, 1, a).encode() for i, a in enumerate(auths)]
    batch.append(lp.AuthorisePayment(9, NODE, 1, auths[0]).encode())  # a replay
    answers = [lp.decode(a) for a in daemon._answer_all(batch, T0)]
    assert [a.id for a in answers] == [1, 2, 3, 4, 9]
    assert all(isinstance(a, lp.DecisionFrame) for a in answers)
    outcomes = [(a.outcome, a.reason) for a in answers if isinstance(a, lp.DecisionFrame)]
    assert [o for o, _ in outcomes] == ["approve"] * 4 + ["deny"]
    assert outcomes[-1][1] == "replay"
    seqs = [a.audit_seq for a in answers if isinstance(a, lp.DecisionFrame)]
    assert seqs == list(range(seqs[0], seqs[0] + 5))
    entries = len(w.state.audit_entries())

    failing = _FailingCommit(tmp_path / "s.db")
    daemon = SignerDaemon(LinkHandler(SignerCore(KEYS, failing)), None, None, None)  # type: ignore[arg-type]
    more = [w.auth(ring, 5000 + i, now=T0).encode() for i in range(3)]
    batch = [lp.AuthorisePayment(i + 1, NODE, 1, a).encode() for i, a in enumerate(more)]
    answers = [lp.decode(a) for a in daemon._answer_all(batch, T0)]
    assert [(type(a).__name__, getattr(a, "reason", None)) for a in answers] == [
        ("Error", "internal")
    ] * 3
    assert len(failing.audit_entries()) == entries
