"""The address fabric: index <-> address arithmetic and the pool rules."""

from __future__ import annotations

import socket

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vajra.runtime.fabric import DEFAULT_POOL, AddressPool, PoolError


def test_default_pool_is_127_8_minus_first_16() -> None:
    p = AddressPool.parse(DEFAULT_POOL, 9735)
    assert p.host_of(0) == "127.1.0.0"
    assert p.size == 2**24 - 2**16
    assert p.host_of(p.size - 1) == "127.255.255.255"
    assert p.index_of("127.0.0.1") is None  # the reserved /16 stays free
    assert p.index_of("127.0.255.255") is None
    assert p.index_of("128.0.0.0") is None
    assert p.wildcard == "0.0.0.0"


@given(st.integers(0, 2**24 - 2**16 - 1))
def test_ipv4_round_trip(i: int) -> None:
    p = AddressPool.parse(DEFAULT_POOL, 9735)
    assert p.index_of(p.host_of(i)) == i
    assert p.index_of("::ffff:" + p.host_of(i)) == i  # dual-stack socket form


@given(st.integers(0, 2**64 - 2))
def test_ipv6_64_round_trip(i: int) -> None:
    p = AddressPool.parse("2001:db8:1:2::/64", 9735)
    assert p.size == 2**64 - 1  # ::0 is the subnet-router anycast address, skipped
    assert p.index_of(p.host_of(i)) == i
    assert p.wildcard == "::"
    assert socket.inet_pton(socket.AF_INET6, p.host_of(i))


def test_out_of_range() -> None:
    p = AddressPool.parse("10.0.0.0/30", 1)
    assert [p.host_of(i) for i in range(4)] == ["10.0.0.0", "10.0.0.1", "10.0.0.2", "10.0.0.3"]
    with pytest.raises(IndexError):
        p.host_of(4)
    with pytest.raises(IndexError):
        p.host_of(-1)
    assert p.index_of("10.0.0.4") is None
    assert p.index_of("not an address") is None
    assert p.index_of("2001:db8::1") is None


@pytest.mark.parametrize(
    ("spec", "port"),
    [("10.0.0.1/24", 1), ("10.0.0.0/24@256", 1), ("10.0.0.0/24@x", 1), ("nope", 1),
     ("10.0.0.0/24", 0), ("10.0.0.0/24", 70000)],
)  # fmt: skip
def test_bad_pools(spec: str, port: int) -> None:
    with pytest.raises(PoolError):
        AddressPool.parse(spec, port)
