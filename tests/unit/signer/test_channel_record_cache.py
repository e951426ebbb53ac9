"""The signer's decoded-record cache (`channel_requests._load_cached`): a record is reused
only while the stored row is byte for byte what the last approved request wrote, it then
equals a fresh decode of that row, and a refused request leaves nothing cached."""

from __future__ import annotations

from pathlib import Path

from vajra.benchmarks import channels
from vajra.channel import signer_io as io
from vajra.crypto.secp256k1 import pubkey_from_secret
from vajra.signer import channel_store as cs


def _key(world: channels.ChannelWorld) -> tuple[bytes, int]:
    return world.signer_a.node_id, world.signer_a.index


def _row(world: channels.ChannelWorld) -> bytes:
    node_id, index = _key(world)
    with world.state.transaction() as txn:
        row = txn.channel(node_id, index)
    assert row is not None
    return row


def test_the_cached_record_is_the_stored_row_decoded(tmp_path: Path) -> None:
    world = channels.open_world(tmp_path)
    core = world.signer_a.core
    secrets = core.keys.node(0).channel(world.signer_a.index)
    for _ in range(3):
        world.cycle()
        data, record = core.channel_records[_key(world)]
        assert data == _row(world)
        assert record == cs.decode(data, secrets)  # pruned like the encoding


def test_a_refused_request_leaves_nothing_cached(tmp_path: Path) -> None:
    world = channels.open_world(tmp_path)
    world.cycle()
    core = world.signer_a.core
    assert _key(world) in core.channel_records
    spec = world.a.ledger.local_commit.spec
    bad = io.SignCounterpartyCommitment(
        10_000, spec.flipped(), pubkey_from_secret(b"\x11" * 32), None
    )
    out = world.signer_a.handle(bad)
    assert isinstance(out, io.SignerRefused) and out.reason == "policy-commitment-sequence"
    assert _key(world) not in core.channel_records
    world.cycle()  # decoded afresh from the row: the channel goes on
    a, a_in_b = world.balances_msat()
    assert a == a_in_b


def test_a_cached_record_for_other_bytes_is_not_used(tmp_path: Path) -> None:
    world = channels.open_world(tmp_path)
    world.cycle()
    core = world.signer_a.core
    _, record = core.channel_records[_key(world)]
    record.counterparty_revoked = -1  # a stale object, as if the write had rolled back
    core.channel_records[_key(world)] = (b"not the row", record)
    world.cycle()
    data, fresh = core.channel_records[_key(world)]
    assert data == _row(world) and fresh is not record
