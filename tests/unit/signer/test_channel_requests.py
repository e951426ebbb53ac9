"""Channel requests through `SignerCore` on a real sealed SQLite state: the signer's own
copy of each channel, fenced, audited, and each policy refusal (issue 9 "Show it")."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from tests.unit.signer.channel_world import KEYS, PEER, World, open_world, sealed_core
from tests.unit.signer.helpers import T0
from vajra.channel import signer_io as io
from vajra.channel.spec import HtlcEntry, Side
from vajra.crypto.hashes import sha256
from vajra.errors import PolicyViolation
from vajra.signer import audit
from vajra.signer import channel_store as cs
from vajra.signer.channels import ChannelSigner

PREIMAGE = b"\x05" * 32


def _peer_pays(w: World, amount_msat: int, preimage: bytes = PREIMAGE) -> None:
    """The peer offers one HTLC to the hosted node, which fulfils it: two full
    commitment dances, every signature of the hosted side through the core."""
    p = w.pair
    p.b.signer.authorise_payment(sha256(preimage))
    htlc_id = p.b.channel.ledger.next_htlc_id[Side.LOCAL]
    p.b.channel.command(io.AddHtlc(amount_msat, sha256(preimage), 700_000), 0.0)
    p.flush()
    p.settle_all()
    p.a.channel.command(io.FulfillHtlc(htlc_id, preimage), 0.0)
    p.flush()
    p.settle_all()


def _last(w: World) -> audit.AuditEntry:
    return w.core.state.audit_entries()[-1]


def test_a_channel_runs_on_the_stored_copy_across_restarts(tmp_path: Path) -> None:
    w = open_world(tmp_path / "state.db")
    start = w.pair.a.channel.ledger.local_commit.spec.balance_msat[Side.LOCAL]
    _peer_pays(w, 7_000_000)
    w.reopen()  # MAC and audit cross-check at open
    _peer_pays(w, 3_000_000, b"\x06" * 32)
    a, b = w.pair.a.channel.ledger, w.pair.b.channel.ledger
    assert a.local_commit.spec.balance_msat[Side.LOCAL] == start + 10_000_000
    assert a.local_commit.spec == b.remote_commit.spec.flipped()
    assert a.local_commit.number == b.remote_commit.number >= 4
    entries = w.core.state.audit_entries()
    audit.verify(entries, KEYS.audit_key().pubkey)
    channel = [e for e in entries if e.kind == "channel"]
    assert channel and all(e.outcome == "approve" for e in channel)
    # The newest approved entry names the stored record.
    record = w.record()
    assert record is not None and channel[-1].subject.endswith(cs.record_hash(record))
    # No secret of the channel is in the record.
    secrets = KEYS.node(0).channel(w.index)
    for s in (secrets.funding, secrets.htlc_base, secrets.per_commitment_seed):
        assert s not in record


def test_the_record_round_trips_and_keeps_what_the_policy_reads(tmp_path: Path) -> None:
    w = open_world(tmp_path / "state.db")
    _peer_pays(w, 7_000_000)
    record = w.record()
    assert record is not None
    secrets = KEYS.node(0).channel(w.index)
    rec = cs.decode(record, secrets)
    assert cs.encode(rec) == record
    s = rec
    assert min(s.holder) == s.holder_revoked and max(s.holder) == s.holder_revoked + 1
    assert min(s.counterparty) == s.counterparty_revoked
    assert sha256(PREIMAGE) in s.paid_hashes


def test_every_channel_signer_field_is_stored() -> None:
    from dataclasses import fields

    assert {f.name for f in fields(ChannelSigner)} == cs.KNOWN_FIELDS


def test_setup_rules(tmp_path: Path) -> None:
    w = open_world(tmp_path / "state.db", through_commitment_0=False)
    setup = io.SetupChannel(w.params, w.spec)
    assert w.request(setup) == io.ChannelSetUp()  # an identical retry is answered again
    other = replace(w.params, capacity_sat=w.params.capacity_sat + 1)
    assert w.request(io.SetupChannel(other, w.spec)).reason == "policy-setup-repeated"  # type: ignore[union-attr]
    # A second channel index: not this channel's basepoints, or money out of nothing.
    index, keys = w.core.new_channel(w.node_id, epoch=1, now=T0)
    foreign = replace(w.params, basepoints=(PEER.basepoints(), PEER.basepoints()))
    r = w.core.channel_request(w.node_id, index, io.SetupChannel(foreign, w.spec), epoch=1, now=T0)
    assert isinstance(r, io.SignerRefused) and r.reason == "policy-setup-basepoints"
    own = replace(w.params, basepoints=(keys.basepoints, PEER.basepoints()))
    rich = replace(w.spec, balance_msat=(w.spec.balance_msat[0] + 1, w.spec.balance_msat[1]))
    r = w.core.channel_request(w.node_id, index, io.SetupChannel(own, rich), epoch=1, now=T0)
    assert isinstance(r, io.SignerRefused) and r.reason == "policy-commitment-balance"
    with w.core.state.transaction() as txn:
        assert txn.channel(w.node_id, index) is None  # refused: no record
    # Commitment 0 must hold what was set up; an index never allocated is unknown.
    moved = replace(w.spec, balance_msat=(w.spec.balance_msat[0] - 1, w.spec.balance_msat[1] + 1))
    r = w.request(io.SignCounterpartyCommitment(0, moved, PEER.per_commitment_point(0), None))
    assert isinstance(r, io.SignerRefused) and r.reason == "policy-commitment-initial"
    r = w.core.channel_request(w.node_id, 7, io.RevokeHolderCommitment(0), epoch=1, now=T0)
    assert isinstance(r, io.SignerRefused) and r.reason == "policy-channel-unknown"


def test_refusals_are_audited_and_write_nothing(tmp_path: Path) -> None:
    w = open_world(tmp_path / "state.db")
    before = w.record()
    r = w.request(io.RevokeHolderCommitment(0))
    assert r == io.SignerRefused("policy-revoke-new-commitment-signed", "number 0")
    assert w.record() == before
    e = _last(w)
    assert (e.kind, e.outcome, e.reason) == (
        "channel",
        "deny",
        "policy-revoke-new-commitment-signed",
    )


def test_garbage_request_bytes_are_a_bad_request(tmp_path: Path) -> None:
    w = open_world(tmp_path / "state.db")
    with pytest.raises(PolicyViolation) as e:
        w.core.channel_request(w.node_id, w.index, b"\x02\x00", epoch=1, now=T0)
    assert e.value.reason == "bad_request"
    assert (_last(w).outcome, _last(w).reason) == ("deny", "bad_request")


# --- the refusals of issue 9 "Show it", each through the core on a real state ------------


def _next_counterparty(w: World, **change: object) -> io.SignCounterpartyCommitment:
    """The hosted node's next commitment for the peer, with `change` applied to its spec."""
    led = w.pair.a.channel.ledger
    spec = replace(led.remote_commit.spec, **change)  # type: ignore[arg-type]
    return io.SignCounterpartyCommitment(
        led.remote_commit.number + 1,
        spec,
        w.pair.a.channel.remote_next_point,
        w.pair.a.channel.last_revocation,
    )


def test_refuses_a_counterparty_commitment_paying_the_peer_more(tmp_path: Path) -> None:
    w = open_world(tmp_path / "state.db")
    _peer_pays(w, 2_000_000)
    spec = w.pair.a.channel.ledger.remote_commit.spec
    ours, theirs = spec.balance_msat
    r = w.request(_next_counterparty(w, balance_msat=(ours - 1_000, theirs + 1_000)))
    assert isinstance(r, io.SignerRefused) and r.reason == "policy-commitment-payment-balance"
    assert _last(w).reason == "policy-commitment-payment-balance"
    fair = w.request(_next_counterparty(w))  # the same commitment without the gift signs
    assert isinstance(fair, io.CounterpartySigned)


def test_refuses_an_outgoing_htlc_no_device_authorised(tmp_path: Path) -> None:
    w = open_world(tmp_path / "state.db")
    spec = w.pair.a.channel.ledger.remote_commit.spec
    htlc = HtlcEntry(Side.LOCAL, 0, 5_000_000, sha256(b"unpaid"), 700_000)
    ours, theirs = spec.balance_msat
    r = w.request(_next_counterparty(w, balance_msat=(ours - 5_000_000, theirs), htlcs=(htlc,)))
    assert r == io.SignerRefused("policy-commitment-payment-approved", "HTLC 0 not authorised")


def test_refuses_a_revoke_before_the_next_commitment_is_validated(tmp_path: Path) -> None:
    w = open_world(tmp_path / "state.db")
    _peer_pays(w, 2_000_000)
    current = w.pair.a.channel.ledger.local_commit.number
    r = w.request(io.RevokeHolderCommitment(current))
    assert r == io.SignerRefused("policy-revoke-new-commitment-signed", f"number {current}")
    again = w.request(io.RevokeHolderCommitment(current - 1))  # a retransmission is fine
    assert isinstance(again, io.HolderRevoked)


def test_refuses_a_holder_commitment_after_its_revocation(tmp_path: Path) -> None:
    w = open_world(tmp_path / "state.db")
    _peer_pays(w, 2_000_000)
    current = w.pair.a.channel.ledger.local_commit.number
    tx = w.core.holder_commitment_tx(w.node_id, w.index, current, epoch=1, now=T0)
    assert tx.inputs[0].prevout == w.params.funding_outpoint
    with pytest.raises(PolicyViolation) as e:
        w.core.holder_commitment_tx(w.node_id, w.index, current - 1, epoch=1, now=T0)
    assert e.value.reason == "policy-commitment-holder-not-revoked"
    assert (_last(w).kind, _last(w).outcome) == ("holder_commitment", "deny")
    # Nor is a revoked commitment validated again.
    spec = w.pair.a.channel.ledger.local_commit.spec
    r = w.request(io.ValidateHolderCommitment(current - 1, spec, bytes(64), ()))
    assert isinstance(r, io.SignerRefused) and r.reason == "policy-commitment-holder-sequence"


def test_refuses_a_stale_lease_epoch(tmp_path: Path) -> None:
    w = open_world(tmp_path / "state.db")
    w.core.state_key(w.node_id, epoch=5, now=T0)  # another runtime took the lease
    before = w.record()
    with pytest.raises(PolicyViolation) as e:
        w.request(_next_counterparty(w), epoch=4)
    assert e.value.reason == "stale_epoch"
    assert w.record() == before
    assert (_last(w).kind, _last(w).reason) == ("channel", "stale_epoch")


def test_refuses_a_rolled_back_channel_record(tmp_path: Path) -> None:
    """An older genuine copy of the channel's row written back into the state file: the
    MAC refuses it at open (no seed), and with the seed (the MAC resealed) the audit
    log's last channel entry no longer names the record: refused, never trusted."""
    from vajra.signer.integrity import StateIntegrityError
    from vajra.signer.state import SqliteState

    db = tmp_path / "state.db"
    w = open_world(db)
    old = w.record()
    _peer_pays(w, 2_000_000)
    assert w.record() != old
    assert isinstance(w.core.state, SqliteState)
    w.core.state.close()
    raw = sqlite3.connect(db)
    raw.execute("UPDATE channels SET record=?", (old,))
    raw.commit()
    raw.close()
    with pytest.raises(StateIntegrityError, match="modified outside the signer"):
        sealed_core(db)
    # With the seed: reseal the edited file; the cross-check with the log refuses it.
    _reseal(db)
    with pytest.raises(StateIntegrityError, match="newest audit entry names"):
        sealed_core(db)


def _reseal(db: Path) -> None:
    """Recompute the MAC over the file as it is (what only a holder of the seed can do)."""
    from vajra.signer.integrity import Integrity

    con = sqlite3.connect(db, isolation_level=None)
    con.execute("BEGIN IMMEDIATE")
    integ = Integrity(con, KEYS.state_key())
    row = con.execute("SELECT seq FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    from vajra.signer.state import _AUDIT_COLS, _audit

    last = con.execute(f"SELECT {_AUDIT_COLS} FROM audit WHERE seq=?", (row[0],)).fetchone()
    integ._acc = None
    integ.seal(row[0] + 1, _audit(last).hash)
    con.execute("COMMIT")
    con.close()


def test_local_signer_serves_channel_requests(tmp_path: Path) -> None:
    """`LocalSigner` (--dev, tests): new_channel and channel_request through the core,
    as bytes; a refusal returned, fencing raised."""
    import asyncio

    from vajra.runtime.local_signer import FixedIdentitySigner, LocalSigner

    async def run() -> None:
        signer = LocalSigner(sealed_core(tmp_path / "state.db"), clock=lambda: T0)
        (grant,) = await signer.create_nodes(1)
        index, keys = await signer.new_channel(grant.node_id, 3)
        assert (index, keys.basepoints) == (0, KEYS.node(0).channel(0).basepoints())
        from tests.unit.signer.channel_world import FEERATE, channel_params

        params = channel_params(keys.basepoints)
        from vajra.channel.spec import CommitSpec

        spec = CommitSpec(FEERATE, (params.capacity_sat * 1000, 0), ())
        setup = io.SetupChannel(params, spec)
        assert await signer.channel_request(grant.node_id, 3, index, setup) == io.ChannelSetUp()
        r = await signer.channel_request(grant.node_id, 3, index, io.RevokeHolderCommitment(0))
        assert isinstance(r, io.SignerRefused)
        with pytest.raises(PolicyViolation, match="stale_epoch"):
            await signer.channel_request(grant.node_id, 2, index, io.RevokeHolderCommitment(0))
        fixed = FixedIdentitySigner(b"\x01" * 32)
        with pytest.raises(PolicyViolation, match="unsupported"):
            await fixed.new_channel(fixed.node_id, 1)

    asyncio.run(run())


def test_refuses_a_mutual_close_paying_a_foreign_script(tmp_path: Path) -> None:
    """Our share of a cooperative close goes only to the node's own BIP 84 wallet."""
    from vajra.bitcoin.script import p2wpkh
    from vajra.crypto.secp256k1 import PrivateKey

    w = open_world(tmp_path / "state.db")
    before = w.record()
    theirs = p2wpkh(PrivateKey(b"\x44" * 32).pubkey)
    r = w.request(io.SignMutualClose(theirs, theirs, 500))
    assert r == io.SignerRefused("policy-mutual-destination-allowlisted", theirs.hex())
    assert w.record() == before
    assert _last(w).reason == "policy-mutual-destination-allowlisted"
    own = p2wpkh(KEYS.node(0).onchain(1, 17).pubkey)  # a change address of the node
    r = w.request(io.SignMutualClose(own, theirs, 500))
    assert isinstance(r, io.MutualCloseSigned), r
    other_node = p2wpkh(KEYS.node(1).onchain(0, 0).pubkey)  # same seed, another node
    r = w.request(io.SignMutualClose(other_node, theirs, 500))
    assert isinstance(r, io.SignerRefused) and r.reason == "policy-mutual-destination-allowlisted"


def test_a_device_authorisation_lets_one_outgoing_htlc_through(tmp_path: Path) -> None:
    """`authorise_htlc`: the device's payment decision and the channel's authorised hash
    in one group commit; the HTLC then signs, and the state reopens (cross-check)."""
    from tests.unit.signer.helpers import World as DeviceWorld
    from tests.unit.signer.helpers import key
    from vajra.signer.devices import KeyType, Rules

    w = open_world(tmp_path / "state.db")
    devices = DeviceWorld(state=w.core.state)
    devices.policy = w.core.policy
    devices.bootstrap()
    ring = key(KeyType.SECP256K1, 3)
    devices.enroll(ring, rules=Rules(10**10, 10**10, 10**10, 10**10, 10**11))
    auth = devices.auth(ring, 5_000_000, node=w.node_id)
    with pytest.raises(PolicyViolation, match="stale_epoch"):
        w.core.authorise_htlc(w.node_id, w.index, auth.encode(), epoch=0, now=T0)
    d = w.core.authorise_htlc(w.node_id, w.index, auth.encode(), epoch=1, now=T0)
    assert d.approved, d
    again = w.core.authorise_htlc(w.node_id, w.index, auth.encode(), epoch=1, now=T0)
    assert again.reason == "replay"
    spec = w.pair.a.channel.ledger.remote_commit.spec
    htlc = HtlcEntry(Side.LOCAL, 0, 5_000_000, auth.payment_hash, 700_000)
    ours, theirs = spec.balance_msat
    r = w.request(_next_counterparty(w, balance_msat=(ours - 5_000_000, theirs), htlcs=(htlc,)))
    assert isinstance(r, io.CounterpartySigned), r
    w.reopen()
