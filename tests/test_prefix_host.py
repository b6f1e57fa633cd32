"""Prefixes parked in host memory (engine/prefix_host.py): the LRU, and the scheduler's use of it. The KV
operations are fakes here; tests/test_engine.py runs the same path on the real tiny model."""

from __future__ import annotations

import pytest

from fncall.engine.prefix_host import HostPrefixes
from fncall.engine.scheduler import Scheduler
from tests.test_prefix_disk import FakeState
from tests.test_scheduler import RecordingMemory, run_to_end, seq


def parked(state: FakeState, slot: int, tokens: tuple[int, ...], host: HostPrefixes) -> None:
    state.slots[slot] = f"kv{len(tokens)}".encode()
    host.park(slot, tokens)


def test_a_parked_prefix_is_copied_out_and_back() -> None:
    state = FakeState()
    host = HostPrefixes(state, max_bytes=1000)
    parked(state, 0, (1, 2, 3, 4, 5), host)
    assert 0 not in state.slots  # the slot is cleared
    assert host.longest((1, 2, 3, 9), 0) == (3, (1, 2, 3, 4, 5))
    assert host.longest((1, 2, 3, 9), 3) is None  # not more than the slot already holds
    assert host.longest((7, 8), 0) is None
    assert host.load((1, 2, 3, 4, 5), 2, 3)
    assert state.slots[2] == b"kv5 cut to 3"
    stats = host.stats()
    assert (stats.entries, stats.tokens, stats.parks, stats.hits) == (1, 5, 1, 1)


def test_a_prefix_is_not_kept_twice() -> None:
    state = FakeState()
    host = HostPrefixes(state, max_bytes=1000)
    parked(state, 0, (1, 2, 3, 4), host)
    parked(state, 1, (1, 2), host)  # covered by (1, 2, 3, 4): nothing copied
    assert host.prefixes() == [(1, 2, 3, 4)] and host.stats().parks == 1 and 1 not in state.slots
    parked(state, 1, (1, 2, 3, 4, 5, 6), host)  # covers (1, 2, 3, 4), which goes
    assert host.prefixes() == [(1, 2, 3, 4, 5, 6)] and host.stats().bytes == len(b"kv6")


def test_the_bound_drops_least_recently_used() -> None:
    state = FakeState()
    host = HostPrefixes(state, max_bytes=9)
    for first in (1, 2, 3):
        parked(state, 0, (first, 0, 0), host)  # 3 bytes each
    host.load((1, 0, 0), 1, 3)  # (2, 0, 0) is now the oldest
    parked(state, 0, (4, 0, 0), host)
    assert sorted(host.prefixes()) == [(1, 0, 0), (3, 0, 0), (4, 0, 0)]
    assert host.stats().evictions == 1 and host.stats().bytes == 9
    state.slots[0] = bytes(10)  # bigger than the bound: not kept, and the slot is still cleared
    host.park(0, (5, 0, 0))
    assert len(host.prefixes()) == 3 and 0 not in state.slots


def test_a_refused_prefix_leaves_the_slot_empty_and_is_dropped() -> None:
    state = FakeState()
    host = HostPrefixes(state, max_bytes=1000)
    parked(state, 0, (1, 2, 3), host)
    state.refuse = True
    assert not host.load((1, 2, 3), 1, 2)
    assert 1 not in state.slots and host.prefixes() == []


def test_admission_parks_the_other_idle_slots_and_copies_a_prefix_back() -> None:
    state = FakeState()
    host = HostPrefixes(state, max_bytes=1000)
    s = Scheduler(n_slots=3, token_budget=64, max_waiting=8, memory=RecordingMemory(), parking=host)
    a, b, c = seq(1, 2, 3, 4), seq(7, 8, 9), seq(5, 5, 5)
    s.add(a)
    run_to_end(s, a)
    state.slots[a.slot] = b"kv of (1, 2, 3, 4)"
    assert s.cached[a.slot] == [1, 2, 3, 4]  # an idle slot keeps its cells until the next admission
    s.add(b)
    s.add(c)
    s.schedule()
    assert a.slot not in (b.slot, c.slot) and b.n_reused == c.n_reused == 0
    assert s.cached[a.slot] == [] and s.retained_tokens == 0 and a.slot not in state.slots
    assert host.prefixes() == [(1, 2, 3, 4)]
    d = seq(1, 2, 6, 6)
    s.add(d)
    s.schedule()
    assert d.n_reused == d.n_cached == 2 and s.cached[d.slot] == [1, 2]
    assert state.slots[d.slot] == b"kv of (1, 2, 3, 4) cut to 2"


def test_a_slot_holding_the_prefix_is_used_before_a_parked_copy() -> None:
    state = FakeState()
    host = HostPrefixes(state, max_bytes=1000)
    s = Scheduler(n_slots=2, token_budget=64, max_waiting=8, memory=RecordingMemory(), parking=host)
    a = seq(1, 2, 3, 4)
    s.add(a)
    run_to_end(s, a)
    again = seq(1, 2, 3, 9)
    s.add(again)
    s.schedule()
    assert again.slot == a.slot and again.n_reused == 3 and host.stats().hits == 0


def test_an_admission_with_nothing_running_moves_the_reused_cells_to_the_start() -> None:
    """When parking has just left holes and nothing else runs, the cache is emptied and the reused cells
    put back (see HostPrefixes.compact); with nothing parked, or a sequence running, nothing moves."""
    state = FakeState()
    host = HostPrefixes(state, max_bytes=1000)
    s = Scheduler(n_slots=2, token_budget=64, max_waiting=8, memory=RecordingMemory(), parking=host)
    cleared: list[bool] = []
    clear_all = state.clear_all
    state.clear_all = lambda: (cleared.append(True), clear_all())  # type: ignore[method-assign]
    a, b = seq(1, 2, 3, 4), seq(5, 6, 7)
    s.add(a)
    s.add(b)
    run_to_end(s, a)
    run_to_end(s, b)  # placed while `a` ran: nothing moved
    assert cleared == [True]  # `a`'s admission: an empty cache is reset (n = 0)
    state.slots = {a.slot: b"kv of a", b.slot: b"kv of b"}
    again = seq(1, 2, 3, 9)
    s.add(again)
    s.schedule()  # parks `b`'s slot, then moves `a`'s reused cells
    assert again.slot == a.slot and cleared == [True, True] and state.slots == {a.slot: b"kv of a"}
    s.retire(again, "stop")
    once_more = seq(1, 2, 3, 8)
    s.add(once_more)
    s.schedule()  # nothing parked, the prefix reused in place: no copy
    assert once_more.n_reused == 3 and cleared == [True, True]


def test_cells_lost_in_the_move_are_prefilled_again() -> None:
    state = FakeState()
    host = HostPrefixes(state, max_bytes=1000)
    s = Scheduler(n_slots=2, token_budget=64, max_waiting=8, memory=RecordingMemory(), parking=host)
    a, b = seq(1, 2, 3, 4), seq(5, 6, 7)
    s.add(a)
    s.add(b)
    run_to_end(s, a)
    run_to_end(s, b)
    state.slots = {a.slot: b"kv of a", b.slot: b"kv of b"}
    state.refuse = True  # llama.cpp refuses the cells back
    again = seq(1, 2, 3, 9)
    s.add(again)
    (work,) = s.schedule()
    assert again.n_reused == again.n_cached == 0 and s.cached[again.slot] == []
    assert work.start_pos == 0 and work.tokens == (1, 2, 3, 9)


def test_the_bound_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        HostPrefixes(FakeState(), max_bytes=0)
