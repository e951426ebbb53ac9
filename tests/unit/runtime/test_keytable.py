"""Shared key table and counters: what a worker maps is what the supervisor wrote."""

from __future__ import annotations

import os

import pytest

from vajra.crypto.secp256k1 import pubkey_create
from vajra.runtime.keytable import COUNTERS, Counters, KeyTable, NodeStates


def test_rows_visible_only_after_publish() -> None:
    t = KeyTable.create(1000)
    try:
        secret = bytes(31) + b"\x05"
        nid = pubkey_create(secret)
        t.put(7, nid, secret)
        reader = KeyTable.attach(os.dup(t.fd))
        assert reader.node_id(7) is None  # not published yet
        t.publish(8)
        assert reader.node_id(7) == nid and reader.secret(7) == secret
        assert reader.node_id(3) is None  # a hole: nothing there
        assert reader.node_id(8) is None and reader.node_id(-1) is None
        with pytest.raises(TypeError):
            reader._mm[0:1] = b"x"  # read-only mapping
        reader.close()
    finally:
        t.close()


def test_put_checks_sizes_and_bounds() -> None:
    t = KeyTable.create(4)
    with pytest.raises(IndexError):
        t.put(4, b"\x02" * 33, b"\x01" * 32)
    with pytest.raises(ValueError):
        t.put(0, b"\x02" * 32, b"\x01" * 32)
    t.close()


def test_memory_is_not_a_file() -> None:
    t = KeyTable.create(10)
    link = os.readlink(f"/proc/self/fd/{t.fd}")
    assert link.startswith("/memfd:")  # RAM only, nothing on any disk
    t.close()


def test_counters_sum_and_gauge_reset() -> None:
    c = Counters.create(2)
    vals = list(range(len(COUNTERS)))
    c.write(0, vals)
    c.write(1, vals)
    tot = c.totals()
    assert tot["handshakes"] == 2 * COUNTERS.index("handshakes")
    c.reset_gauges(1)
    after = c.totals()
    assert after["connections_open"] == COUNTERS.index("connections_open")
    assert after["handshakes"] == tot["handshakes"]  # cumulative counters survive
    c.close()


def test_node_states_clear_worker() -> None:
    s = NodeStates.create(100)
    s.set(5, 1)
    s.set(6, 2)
    s.set(70, 1)
    assert s.clear_worker(0) == 2
    assert (s.get(5), s.get(6), s.get(70)) == (0, 2, 0)
    s.close()
