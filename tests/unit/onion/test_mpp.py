"""The final node's HTLC-set collector (BOLT 4 "Basic Multi-Part Payments"), fed with
parts the node accepted from real onions."""

from __future__ import annotations

from vajra.onion import Accept, Complete, Fail, Failed, MppCollector, PaymentData, Pending
from vajra.onion.failures import INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS, MPP_TIMEOUT
from vajra.onion.payload import HopPayload

from .test_final_hop import (
    AMOUNT,
    CLTV,
    HEIGHT,
    SECRET,
    receive,
    send,
    sender_sees,
)


def part(amount: int, total: int = AMOUNT) -> tuple[Accept, tuple[bytes, ...]]:
    payload = HopPayload(
        amt_to_forward=amount, outgoing_cltv_value=CLTV, payment_data=PaymentData(SECRET, total)
    )
    htlc, secrets = send(payload, amount=amount)
    out = receive(htlc)
    assert isinstance(out, Accept), out
    return out, secrets


def test_parts_complete_at_total_msat() -> None:
    c = MppCollector(timeout_s=60)
    a, _ = part(AMOUNT // 2)
    b, _ = part(AMOUNT - AMOUNT // 2)
    first = c.add(("chan", 0), a, now=0, height=HEIGHT)
    assert isinstance(first, Pending) and first.received_msat == AMOUNT // 2
    assert c.add(("chan", 0), a, now=1, height=HEIGHT) == first  # a replay counts once
    done = c.add(("chan", 1), b, now=2, height=HEIGHT)
    assert isinstance(done, Complete) and done.received_msat == AMOUNT
    assert [k for k, _ in done.parts] == [("chan", 0), ("chan", 1)]
    assert len(c) == 0 and c.next_deadline() is None


def test_single_part_completes_at_once() -> None:
    c = MppCollector()
    whole, _ = part(AMOUNT)
    assert isinstance(c.add(1, whole, now=0, height=HEIGHT), Complete)


def test_incomplete_set_fails_with_mpp_timeout_after_the_timeout() -> None:
    c = MppCollector(timeout_s=60)
    a, secrets = part(AMOUNT // 3)
    c.add(1, a, now=100, height=HEIGHT)
    assert c.next_deadline() == 160
    assert c.expire(159.9) == []
    [failed] = c.expire(160)
    assert failed.reason == "mpp_timeout" and len(c) == 0
    [(key, accepted, failure)] = failed.parts
    assert key == 1 and failure.code == MPP_TIMEOUT
    # The sender decodes it as the node's mpp_timeout.
    msg = sender_sees(Fail(failure, accepted.shared_secret, "mpp_timeout"), secrets)
    assert msg.code == MPP_TIMEOUT


def test_a_different_total_fails_the_whole_set() -> None:
    c = MppCollector()
    a, _ = part(1000, total=AMOUNT)
    b, _ = part(1000, total=AMOUNT + 1)
    c.add(1, a, now=0, height=HEIGHT)
    failed = c.add(2, b, now=1, height=HEIGHT)
    assert isinstance(failed, Failed) and failed.reason == "total_msat_mismatch"
    assert [k for k, _, _ in failed.parts] == [1, 2]
    for _, accepted, failure in failed.parts:
        assert failure.code == INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS
        assert (failure.htlc_msat, failure.height) == (accepted.amount_msat, HEIGHT)
    assert len(c) == 0
