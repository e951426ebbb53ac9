"""Admission rules (runtime/admission.py): per-source limits and the eviction policy."""

from __future__ import annotations

from dataclasses import dataclass

from vajra.runtime.admission import Admission, AdmissionLimits, source_of, victim


@dataclass(eq=False)
class S:
    source: str
    last_active: float
    has_channel: bool = False


def test_source_is_the_ipv4_address_or_the_ipv6_64() -> None:
    assert source_of("127.0.0.5") == "127.0.0.5"
    assert source_of("2001:db8:1:2:aaaa::1") == source_of("2001:db8:1:2:ffff::9")
    assert source_of("2001:db8:1:2::1") != source_of("2001:db8:1:3::1")
    assert source_of("::ffff:10.0.0.1") == "10.0.0.1"


def test_per_source_node_then_per_source_limits() -> None:
    a: Admission[S] = Admission(AdmissionLimits(max_per_source_node=2, max_per_source=3))
    for i in range(2):
        assert a.admit(7, "x", 0.0).ok
        a.add(S("x", i), 7)
    assert a.admit(7, "x", 0.0).reason == "per_source_node"
    assert a.admit(7, "y", 0.0).ok  # another source is not affected
    a.add(S("x", 5), 8)
    assert a.admit(9, "x", 0.0).reason == "per_source"


def test_full_node_evicts_from_the_biggest_source_longest_idle_first() -> None:
    a: Admission[S] = Admission(AdmissionLimits(max_per_node=4, max_per_source_node=3))
    honest = S("h", 0.0)  # the oldest and most idle of all, but alone from its source
    a.add(honest, 1)
    attackers = [S("x", 10.0 + i) for i in range(3)]
    for s in attackers:
        a.add(s, 1)
    v = a.admit(1, "h2", 0.0)
    assert v.ok and v.evict is attackers[0]
    a.remove(attackers[0], 1)
    assert a.count(1) == 3 and a.per_source["x"] == 2 and a.per_source_node[("x", 1)] == 2


def test_sessions_with_a_channel_are_never_evicted() -> None:
    kept = [S("x", 0.0, has_channel=True), S("x", 1.0, has_channel=True)]
    assert victim(kept, lambda s: 2.0) is None
    a: Admission[S] = Admission(AdmissionLimits(max_per_node=2))
    for s in kept:
        a.add(s, 1)
    assert a.admit(1, "y", 0.0).reason == "per_node"


def test_remove_forgets_everything() -> None:
    a: Admission[S] = Admission()
    s = S("x", 0.0)
    a.add(s, 3)
    a.remove(s, 3)
    a.remove(s, 3)  # twice is harmless
    assert not a.by_node and not a.per_source and not a.per_source_node


def test_a_source_that_keeps_reconnecting_carries_its_strikes() -> None:
    """Churn: attacker sources x1..x3 keep re-opening what is taken from them, so all
    their sessions are younger than an honest one mid-handshake, and each holds one slot
    as the honest source does. Their strikes (evictions suffered) make them the ones
    evicted, not the honest peer."""
    a: Admission[S] = Admission(AdmissionLimits(max_per_node=3, strike_half_life=60.0))
    now = 0.0

    def churn(src: str) -> S | None:
        nonlocal now
        now += 0.01
        v = a.admit(1, src, now)
        assert v.ok
        if isinstance(v.evict, S):
            a.remove(v.evict, 1)
        s = S(src, now)
        a.add(s, 1)
        return v.evict  # type: ignore[return-value]

    for i in range(30):
        churn(f"x{i % 3 + 1}")
    churn("h")
    (honest,) = [s for s in a.by_node[1] if s.source == "h"]
    for i in range(50):
        assert churn(f"x{i % 3 + 1}") is not honest, i
    assert honest in a.by_node[1]
    # strikes decay: an hour later they are forgotten
    assert a.strike_count("x1", now) >= 1 and a.strike_count("x1", now + 3600) < 0.01
