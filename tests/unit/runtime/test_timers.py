"""The timer table: deadlines by height and by time, replace/cancel, due once, done only
for the deadline that fired, durable across a reopen (real SQLite)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vajra.runtime.timers import Deadline, TimerHeap, TimerTable


def test_due_by_height_or_time_whichever_first_and_once() -> None:
    h = TimerHeap()
    h.put(Deadline(1, 100, None, 1))
    h.put(Deadline(2, None, 5_000, 2))
    h.put(Deadline(3, 200, 4_000, 3))
    assert h.due(99, 3_999) == []
    assert [d.index for d in h.due(100, 3_999)] == [1]
    assert [d.index for d in h.due(150, 4_000)] == [3]  # its time came before its height
    assert h.due(250, 4_500) == []  # node 3's height entry is not a second report
    assert [d.index for d in h.due(None, 5_000)] == [2]  # no chain: the clock alone
    assert len(h) == 3  # reported, not removed: rows live until the wake is done


def test_replace_cancel_and_done_for_the_fired_gen_only(tmp_path: Path) -> None:
    t = TimerTable(tmp_path / "s.db")
    first = t.set(7, 10, None)
    assert first is not None
    second = t.set(7, 20, None)  # replaces: only the newest deadline counts
    assert second is not None and second.gen > first.gen
    assert t.due(15, 0) == []
    assert t.due(20, 0) == [second]
    third = t.set(7, 30, None)  # the node asked again while its wake ran
    assert third is not None
    assert not t.done(7, second.gen)  # the fired deadline was replaced: keep the new one
    assert t.due(30, 0) == [third]
    assert t.done(7, third.gen) and len(t) == 0
    t.set(8, None, 1_000)
    assert t.set(8, None, None) is None and len(t) == 0  # cancelled
    assert t.due(10**6, 10**9) == []
    with pytest.raises(ValueError):
        t.set(-1, 5, None)
    t.close()


def test_rows_survive_a_reopen_and_an_unfinished_wake_fires_again(tmp_path: Path) -> None:
    t = TimerTable(tmp_path / "s.db")
    a = t.set(1, 50, None)
    t.set(2, None, 9_000)
    assert t.due(50, 0) == [a]  # fired, but the process dies before the wake is done
    t.close()
    t = TimerTable(tmp_path / "s.db")
    assert len(t) == 2
    assert [d.index for d in t.due(60, 0)] == [1]  # at-least-once
    assert [d.index for d in t.due(60, 9_000)] == [2]
    b = t.set(3, 5, None)
    assert b is not None and a is not None and b.gen > a.gen  # gens never reused
    t.close()


def test_heaps_stay_bounded_when_a_node_keeps_moving_its_deadline() -> None:
    h = TimerHeap()
    for gen in range(1, 20_000):
        h.put(Deadline(1, 10**6 + gen, 10**9 + gen, gen))
    assert len(h._by_height) + len(h._by_time) < 3_000
    assert [d.gen for d in h.due(10**7, 0)] == [19_999]


def test_a_mass_expiry_is_popped_in_batches() -> None:
    h = TimerHeap()
    for i in range(10):
        h.put(Deadline(i, 5, 100, i + 1))
    assert [d.index for d in h.due(5, 100, 4)] == [0, 1, 2, 3]
    assert [d.index for d in h.due(5, 100, 4)] == [4, 5, 6, 7]
    assert [d.index for d in h.due(5, 100, 4)] == [8, 9]
    assert h.due(5, 100, 4) == []  # each once, though each is in both heaps
