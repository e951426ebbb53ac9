"""The signer's request handlers: node creation, fenced key release, channel key sets."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.signer.helpers import T0, World, key
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
    assert [bp for _, bp in got] == [KEYS.node(0).channel(i).basepoints() for i in range(4)]
    assert core.new_channel(b, epoch=1, now=T0) == (0, KEYS.node(1).channel(0).basepoints())


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


def test_benchmark_figures_are_produced() -> None:
    """`vajra bench signer` core figures run end to end (values are for bench/RESULTS.md)."""
    from vajra.benchmarks import signer

    out = signer.run(seconds=0.01, runs=1)
    for k in ("authorisations_per_s_per_core", "authorisations_per_s_wall", "nodes_created_per_s"):
        assert out[k] > 0
