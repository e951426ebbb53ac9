"""The node registry: packed rows, batched inserts, lookups, ordered iteration."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vajra.errors import DecodeError
from vajra.store import NodeExists, NodeRow, SqliteStore
from vajra.store.registry import pack_address, unpack_address


def _row(i: int, host: str = "127.0.0.1", port: int = 9735) -> NodeRow:
    return NodeRow(bytes((2,)) + i.to_bytes(32, "big"), host, port, signer_id=i % 3, flags=0)


@given(st.ip_addresses(), st.integers(0, 0xFFFF))
def test_address_packs_to_6_or_18_bytes_and_back(
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address, port: int
) -> None:
    packed = pack_address(str(ip), port)
    assert len(packed) == (6 if ip.version == 4 else 18)
    back_host, back_port = unpack_address(packed)
    assert (back_port, ipaddress.ip_address(back_host)) == (port, ip)


def test_bad_addresses_are_refused() -> None:
    with pytest.raises(ValueError):
        pack_address("localhost", 1)
    with pytest.raises(DecodeError):
        unpack_address(b"\x7f\x00\x00\x01\x00")


def test_row_fields_are_checked() -> None:
    with pytest.raises(ValueError):
        NodeRow(b"\x02" * 32, "127.0.0.1", 1, 0)
    with pytest.raises(ValueError):
        NodeRow(b"\x02" * 33, "127.0.0.1", 70000, 0)
    with pytest.raises(ValueError):
        NodeRow(b"\x02" * 33, "127.0.0.1", 1, -1)


def test_register_get_count(store: SqliteStore) -> None:
    rows = [_row(i, f"127.0.{i}.1", 9735 + i) for i in range(10)]
    rows.append(NodeRow(bytes((3,)) + os.urandom(32), "2001:db8::7", 9735, 2, flags=5))
    assert store.register_nodes(rows) == 11
    assert store.count() == 11
    for r in rows:
        assert store.get_node(r.node_id) == r
    assert store.get_node(b"\x02" * 33) is None


def test_duplicate_in_a_batch_inserts_nothing_and_names_the_node(store: SqliteStore) -> None:
    store.register_nodes([_row(1)])
    batch = [_row(2), _row(3), _row(1), _row(4)]
    with pytest.raises(NodeExists) as e:
        store.register_nodes(batch)
    assert e.value.node_id == _row(1).node_id
    assert store.count() == 1
    assert store.get_node(_row(2).node_id) is None


def test_set_flags(store: SqliteStore) -> None:
    store.register_nodes([_row(1)])
    store.set_node_flags(_row(1).node_id, 3)
    node = store.get_node(_row(1).node_id)
    assert node is not None and node.flags == 3
    with pytest.raises(KeyError):
        store.set_node_flags(_row(2).node_id, 1)


def test_iter_nodes_in_id_order_across_pages(store: SqliteStore) -> None:
    rows = [NodeRow(bytes((2,)) + os.urandom(32), "10.0.0.1", 1, 0) for _ in range(9000)]
    store.register_nodes(rows)
    got = list(store.iter_nodes())
    assert got == sorted(rows, key=lambda r: r.node_id)
    middle = got[4500].node_id
    assert list(store.iter_nodes(after=middle)) == got[4501:]


def test_iteration_survives_writes_between_pages(store: SqliteStore) -> None:
    store.register_nodes([_row(i) for i in range(5000)])
    seen = 0
    for r in store.iter_nodes():
        seen += 1
        if seen == 10:
            store.set_node_flags(r.node_id, 1)  # no read transaction held open: no deadlock
    assert seen == 5000


def test_registry_rows_stay_under_100_bytes_each(tmp_path: Path) -> None:
    path = tmp_path / "small.db"
    s = SqliteStore(path)
    s.register_nodes(
        NodeRow(bytes((2,)) + os.urandom(32), f"127.0.{i >> 8}.{i & 255}", 9735, i, 0)
        for i in range(20_000)
    )
    s.close()
    assert os.path.getsize(path) / 20_000 < 100
