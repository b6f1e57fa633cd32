"""Prefixes parked in host memory, so that idle slots hold no KV cells.

Why. The KV cache is unified (one pool of cells for every slot, so that running sequences can share a
prefix's cells), and llama.cpp's attention spans every cell up to the highest one in use, other
sequences' cells included (masked, but still read). Cells an idle slot keeps for prefix reuse therefore
slow every later step of every other sequence: on the default model, 2 threads, a 2,168-token tool prompt
prefilled at 99.6–101.9 tok/s in a fresh server and at 93.4–96.1 after the side-by-side benchmark's
decode workloads had left prompts in the other slots; one stream decoded at 67 ms a token with a 2k
prefix idle in another slot, 61 ms without (README, "Side by side with llama.cpp's server", prefill).
llama-server does the same with `--cache-idle-slots` (on by default with a unified cache).

The rule. When a sequence is admitted to a slot, every other idle slot's cells are copied out
(llama_state_seq_get_data, about 28 KiB a token for the default model) into an LRU bounded by
`max_bytes`, and the slot is cleared. A later prompt that starts with a parked prefix longer than any
slot holds gets it copied back into its slot (llama_state_seq_set_data) and cut to the shared part,
instead of prefilling it. A parked prefix that another covers (the same tokens, or a longer prompt
that starts with them) is not kept twice.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from fncall.engine.prefix_disk import StateIO


class CacheIO(StateIO, Protocol):
    """StateIO, and emptying the whole cache (implemented by engine.llama.LlamaContext)."""

    def clear_all(self) -> None: ...


log = logging.getLogger(__name__)


@dataclass(slots=True, frozen=True)
class HostCacheStats:
    entries: int
    tokens: int
    bytes: int
    parks: int  # idle slots copied out
    hits: int  # prefixes copied back into a slot
    evictions: int  # parked prefixes dropped by the size bound
    park_seconds: float  # engine-thread time spent copying out
    load_seconds: float  # engine-thread time spent copying back


@dataclass(slots=True)
class _Parked:
    tokens: npt.NDArray[np.int32]
    state: bytearray


class HostPrefixes:
    """The parked prefixes of one engine; used on the engine thread only (under the engine's lock)."""

    def __init__(self, state: CacheIO, max_bytes: int) -> None:
        if max_bytes < 1:
            raise ValueError("max_bytes must be at least 1")
        self.max_bytes = max_bytes
        self._state = state
        self._entries: OrderedDict[tuple[int, ...], _Parked] = OrderedDict()  # least recently used first
        self._bytes = 0
        self._parks = self._hits = self._evictions = 0
        self._park_s = self._load_s = 0.0

    def park(self, slot: int, tokens: Sequence[int]) -> None:
        """Copies the slot's cells (which hold `tokens`) out, unless a parked prefix covers them, and
        clears the slot."""
        key = tuple(tokens)
        start = time.perf_counter()
        covering = next((k for k in self._entries if k[: len(key)] == key), None) if key else None
        if covering is not None:
            self._entries.move_to_end(covering)
        elif key:
            state = self._state.seq_state(slot)
            if len(state) <= self.max_bytes:
                for shorter in [k for k in self._entries if key[: len(k)] == k]:  # now covered by key
                    self._drop(shorter)
                self._entries[key] = _Parked(np.asarray(key, np.int32), state)
                self._bytes += len(state)
                self._parks += 1
                while self._bytes > self.max_bytes:
                    self._drop(next(iter(self._entries)))
                    self._evictions += 1
        self._state.truncate(slot, 0)
        self._park_s += time.perf_counter() - start

    def longest(self, prompt: Sequence[int], more_than: int) -> tuple[int, tuple[int, ...]] | None:
        """The parked prefix sharing the most tokens with `prompt` (more than `more_than`), as (tokens
        shared, key); the shortest entry on ties (the least to copy)."""
        want = np.asarray(prompt, np.int32)
        best: tuple[int, int, tuple[int, ...]] | None = None
        for key, parked in self._entries.items():
            m = min(len(parked.tokens), len(want))
            differ = np.flatnonzero(parked.tokens[:m] != want[:m])
            shared = int(differ[0]) if differ.size else m
            if shared > more_than and (best is None or (shared, -len(key)) > best[:2]):
                best = (shared, -len(key), key)
        return (best[0], best[2]) if best else None

    def load(self, key: tuple[int, ...], slot: int, n: int) -> bool:
        """Copies a parked prefix into `slot` (whose cells it replaces) and keeps its first n positions.
        False when llama.cpp refuses (no contiguous room in the cache): the slot is then empty."""
        start = time.perf_counter()
        parked = self._entries[key]
        ok = self._state.load_seq_state(slot, memoryview(parked.state))
        ok = ok and (n == len(key) or self._state.truncate(slot, n))
        self._load_s += time.perf_counter() - start
        if not ok:
            log.warning("llama.cpp refused a parked %d-token prefix; dropped", len(key))
            self._state.truncate(slot, 0)
            self._drop(key)
            return False
        self._entries.move_to_end(key)
        self._hits += 1
        return True

    def compact(self, slot: int, n: int) -> bool:
        """With no other sequence in the cache: empties the whole cache (llama_memory_clear) and puts the
        slot's n cells back, so that they sit at cells 0..n-1 and everything decoded next follows them
        in position order. Without it, the holes parking leaves are filled by the next tokens (llama.cpp
        reuses free cells from the start once the cache is mostly empty), and the order in which
        attention sums a sequence's cells then depends on the requests before it: greedy output moved
        between two runs of one request (a tiny-model tool call lost `"unit": "celsius"` after a
        different history). Costs a copy of the n cells each way. False (the slot left empty) if
        llama.cpp refuses them back, which an empty cache should never do."""
        if n == 0:
            self._state.clear_all()
            return True
        start = time.perf_counter()
        state = self._state.seq_state(slot)
        self._state.clear_all()
        ok = self._state.load_seq_state(slot, memoryview(state))
        self._load_s += time.perf_counter() - start
        if not ok:
            log.warning("llama.cpp refused %d cells back into an empty cache; they are prefilled again", n)
        return ok

    def prefixes(self) -> list[tuple[int, ...]]:
        return list(self._entries)

    def stats(self) -> HostCacheStats:
        return HostCacheStats(
            entries=len(self._entries),
            tokens=sum(len(k) for k in self._entries),
            bytes=self._bytes,
            parks=self._parks,
            hits=self._hits,
            evictions=self._evictions,
            park_seconds=self._park_s,
            load_seconds=self._load_s,
        )

    def _drop(self, key: tuple[int, ...]) -> None:
        self._bytes -= len(self._entries.pop(key).state)
