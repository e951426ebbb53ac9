"""Outgoing HTLCs only under a device's authorisation, through the real signer (decision
0023): `ApprovePayment` decided by the device policy and bound to the channel record
with its cap, then the channel core's commitment that adds the HTLC signed or refused.

The hosted side A runs on a `SignerCore` over a sealed SQLite state (requests as bytes,
the link's path); B is the peer with the reference signer. A's signer requests are
answered before A's outbox is collected, as `NodeHost` does (decision 0020: the state is
settled before anything is sent), so a refused add never reaches B.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from tests.unit.signer.channel_world import World, open_world
from tests.unit.signer.helpers import T0, key
from tests.unit.signer.helpers import World as Devices
from vajra.channel import signer_io as io
from vajra.channel.spec import Side
from vajra.crypto.hashes import sha256
from vajra.signer.devices import KeyType
from vajra.signer.messages import CommandKind, PaymentAuthorisation

RING = key(KeyType.SECP256K1, 1)
CLTV = 700_000


def _devices(w: World) -> Devices:
    """The owner phone and the ring (tests.unit.signer.helpers.RING_RULES) on w's signer."""
    d = Devices(state=w.core.state)
    d.policy = w.core.policy
    d.bootstrap()
    d.enroll(RING)
    return d


def _auth(
    d: Devices, w: World, amount: int, fee: int = 0, *, preimage: bytes, present: bool = False
) -> PaymentAuthorisation:
    return PaymentAuthorisation(
        node_id=w.node_id,
        payment_hash=sha256(preimage),
        amount_msat=amount,
        max_fee_msat=fee,
        expiry=T0 + 60,
        counter=d.next_counter(RING),
        device_id=RING.device_id,
        flags=1 if present else 0,
    ).signed(RING)


def _approve(w: World, auth: PaymentAuthorisation, conf: bytes | None = None) -> io.SignerResult:
    return w.request(io.ApprovePayment(auth.encode(), conf))


def _add_and_sign(w: World, amount: int, preimage: bytes) -> io.SignerResult:
    """A offers one HTLC and signs: the signer answers before A's outbox is collected."""
    a = w.pair.a.channel
    a.command(io.AddHtlc(amount, sha256(preimage), CLTV), 0.0)
    a.command(io.SignCommitment(), 0.0)
    req = a.next_signer_request()
    assert isinstance(req, io.SignCounterpartyCommitment)
    result = w.signer.handle(req)
    a.signer_result(result, 0.0)
    w.pair.flush()
    return result


def _no_htlc_pending(w: World) -> None:
    p = w.pair
    for ep in (p.a, p.b):
        led = ep.channel.ledger
        assert led.projected().htlcs == ()
        assert not any(led.pending[s].all() for s in Side)
    assert not any(m.NAME == "update_add_htlc" for m in (*p.a_to_b, *p.b_to_a))
    # Both sides hold the same commitments (frames flipped) and nothing waits to be signed.
    a, b = p.a.channel.ledger, p.b.channel.ledger
    assert a.local_commit.spec == b.remote_commit.spec.flipped()
    assert a.remote_commit.spec == b.local_commit.spec.flipped()


def _refused_event(w: World) -> io.SigningRefused:
    refused = [e for e in w.pair.a.collect_events() if isinstance(e, io.SigningRefused)]
    assert refused
    return refused[-1]


def _fulfil(w: World, preimage: bytes) -> None:
    p = w.pair
    p.settle_all()
    (htlc,) = p.b.channel.ledger.local_commit.spec.offered_by(Side.REMOTE)
    p.b.channel.command(io.FulfillHtlc(htlc.id, preimage), 0.0)
    p.flush()
    p.settle_all()


def test_an_authorised_payment_is_sent_once_and_paid(tmp_path: Path) -> None:
    w = open_world(tmp_path / "state.db")
    d = _devices(w)
    pre = b"\x31" * 32
    auth = _auth(d, w, 5_000_000, 20_000, preimage=pre)
    ok = _approve(w, auth)
    assert ok == io.PaymentApproved(sha256(pre), 5_020_000, "auto_approved")
    reused = _approve(w, auth)  # used once: the same authorisation again is a replay
    assert isinstance(reused, io.SignerRefused) and reused.reason == "replay"
    before = w.pair.a.channel.ledger.local_commit.spec.balance_msat[Side.LOCAL]
    assert isinstance(_add_and_sign(w, 5_015_000, pre), io.CounterpartySigned)
    _fulfil(w, pre)
    after = w.pair.a.channel.ledger.local_commit.spec.balance_msat[Side.LOCAL]
    assert before - after == 5_015_000
    _no_htlc_pending(w)
    # Paid: the same authorisation again is refused before its counter is looked at;
    # the paid hash has no approval left, so a second HTLC for it is refused and never
    # reaches the peer.
    again = _approve(w, auth)
    assert isinstance(again, io.SignerRefused) and again.reason == "policy-payment-already-paid"
    refused = _add_and_sign(w, 1_000_000, pre)
    assert isinstance(refused, io.SignerRefused)
    assert refused.reason == "policy-commitment-payment-approved"
    assert _refused_event(w).withdrawn == (1,)
    _no_htlc_pending(w)
    # A fresh authorisation for a hash already paid is refused without using it up.
    fresh = _approve(w, _auth(d, w, 1_000_000, preimage=pre))
    assert isinstance(fresh, io.SignerRefused) and fresh.reason == "policy-payment-already-paid"
    w.reopen()  # the audit cross-check replays the payment and channel entries (their records)


def test_an_htlc_above_the_authorisation_is_refused_then_one_within_it_goes(
    tmp_path: Path,
) -> None:
    w = open_world(tmp_path / "state.db")
    d = _devices(w)
    pre = b"\x32" * 32
    assert isinstance(_approve(w, _auth(d, w, 5_000_000, 10_000, preimage=pre)), io.PaymentApproved)
    r = _add_and_sign(w, 5_010_001, pre)
    assert isinstance(r, io.SignerRefused) and r.reason == "policy-commitment-payment-cap"
    assert _refused_event(w).withdrawn == (0,)
    _no_htlc_pending(w)
    assert w.pair.a.channel.ledger.next_htlc_id[Side.LOCAL] == 0  # the id is free again
    assert isinstance(_add_and_sign(w, 5_010_000, pre), io.CounterpartySigned)
    w.pair.settle_all()
    assert len(w.pair.b.channel.ledger.local_commit.spec.htlcs) == 1


def test_parts_and_retries_count_against_one_cap(tmp_path: Path) -> None:
    w = open_world(tmp_path / "state.db")
    d = _devices(w)
    pre = b"\x33" * 32
    assert isinstance(_approve(w, _auth(d, w, 6_000_000, 0, preimage=pre)), io.PaymentApproved)
    assert isinstance(_add_and_sign(w, 4_000_000, pre), io.CounterpartySigned)
    w.pair.settle_all()
    # A second part would take the payment's HTLCs to 8,000,000 msat > 6,000,000.
    r = _add_and_sign(w, 4_000_000, pre)
    assert isinstance(r, io.SignerRefused) and r.reason == "policy-commitment-payment-cap"
    # The first attempt fails back; a retry of the whole amount fits the cap again.
    (htlc,) = w.pair.b.channel.ledger.local_commit.spec.offered_by(Side.REMOTE)
    w.pair.b.channel.command(io.FailHtlc(htlc.id, b"\x00" * 32), 0.0)
    w.pair.flush()
    w.pair.settle_all()
    assert w.pair.a.channel.ledger.local_commit.spec.htlcs == ()
    assert isinstance(_add_and_sign(w, 6_000_000, pre), io.CounterpartySigned)


def test_a_frozen_device_is_refused_and_nothing_is_sent(tmp_path: Path) -> None:
    w = open_world(tmp_path / "state.db")
    d = _devices(w)
    assert w.core.policy.command(d.command(CommandKind.FREEZE, RING), T0).approved
    pre = b"\x34" * 32
    r = _approve(w, _auth(d, w, 1_000_000, preimage=pre))
    assert isinstance(r, io.SignerRefused) and r.reason == "device_frozen"
    r = _add_and_sign(w, 1_000_000, pre)
    assert isinstance(r, io.SignerRefused) and r.reason == "policy-commitment-payment-approved"
    _no_htlc_pending(w)
    w.reopen()


def test_a_payment_over_the_hourly_limit_is_refused(tmp_path: Path) -> None:
    w = open_world(tmp_path / "state.db")
    d = _devices(w)
    # RING_RULES: 200,000,000 msat an hour; up to 50,000,000 with the ring squeezed.
    for i in range(4):
        auth = _auth(d, w, 50_000_000, preimage=bytes([0x40 + i]) * 32, present=True)
        assert _approve(w, auth) == io.PaymentApproved(
            auth.payment_hash, 50_000_000, "user_present"
        )
    pre = b"\x35" * 32
    r = _approve(w, _auth(d, w, 1_000_000, preimage=pre))
    assert isinstance(r, io.SignerRefused) and r.reason == "over_hourly_limit"
    r = _add_and_sign(w, 1_000_000, pre)
    assert isinstance(r, io.SignerRefused) and r.reason == "policy-commitment-payment-approved"
    _no_htlc_pending(w)
    w.reopen()


def test_a_larger_payment_needs_the_user_present(tmp_path: Path) -> None:
    w = open_world(tmp_path / "state.db")
    d = _devices(w)
    pre = b"\x36" * 32
    mid = _auth(d, w, 20_000_000, preimage=pre)  # above auto-approve, below confirm-above
    r = _approve(w, mid)
    assert isinstance(r, io.SignerRefused) and r.reason == "user_presence_required"
    r = _add_and_sign(w, 20_000_000, pre)  # not bound: the commitment is refused
    assert isinstance(r, io.SignerRefused) and r.reason == "policy-commitment-payment-approved"
    _no_htlc_pending(w)
    ok = _approve(w, _auth(d, w, 20_000_000, preimage=pre, present=True))  # ring squeezed
    assert isinstance(ok, io.PaymentApproved) and ok.reason == "user_present"
    assert isinstance(_add_and_sign(w, 20_000_000, pre), io.CounterpartySigned)


def test_above_confirm_the_phone_confirms_the_same_authorisation(tmp_path: Path) -> None:
    w = open_world(tmp_path / "state.db")
    d = _devices(w)
    pre = b"\x37" * 32
    big = _auth(d, w, 60_000_000, preimage=pre, present=True)
    r = _approve(w, big)
    assert isinstance(r, io.SignerRefused) and r.reason == "owner_confirmation_required"
    ok = _approve(w, big, d.confirm(big))  # NEEDS_CONFIRMATION consumed nothing
    assert isinstance(ok, io.PaymentApproved) and ok.reason == "owner_confirmed"
    assert isinstance(_add_and_sign(w, 60_000_000, pre), io.CounterpartySigned)
    w.reopen()


def test_a_refused_add_behind_a_collected_one_keeps_the_collected_one() -> None:
    """Only adds the owner never collected are withdrawn: one already sent stays (the
    peer has it; BOLT 2 reestablish drops it if the connection goes)."""
    from tests.unit.channel.pair import make_pair

    p = make_pair()
    ok, bad = b"\x01" * 32, b"\x02" * 32
    p.a.signer.authorise_payment(sha256(ok), 10**9)
    p.a.channel.command(io.AddHtlc(1_000_000, sha256(ok), CLTV), 0.0)
    p.flush()  # collected: on its way to B
    p.a.channel.command(io.AddHtlc(1_000_000, sha256(bad), CLTV), 0.0)
    p.a.channel.command(io.SignCommitment(), 0.0)
    req = p.a.channel.next_signer_request()
    assert req is not None
    p.a.channel.signer_result(p.a.signer.handle(req), 0.0)
    refused = [e for e in p.a.collect_events() if isinstance(e, io.SigningRefused)]
    assert refused[-1].withdrawn == (1,)
    assert [m.NAME for m in p.a.channel.messages_to_send()] == []
    assert len(p.a.channel.ledger.pending[Side.LOCAL].proposed) == 1
    p.settle_all()
    assert len(p.b.channel.ledger.local_commit.spec.htlcs) == 1
    assert hashlib.sha256(ok).digest() == p.b.channel.ledger.local_commit.spec.htlcs[0].payment_hash
