"""Decides what each engine step decodes: admits waiting sequences into slots, mixes one new token of
every decoding sequence with chunks of prompts being prefilled (a token budget per step, so a long
prompt does not freeze running streams), and retires finished or cancelled sequences.

Prompt-prefix reuse: a slot keeps its KV cells after its sequence ends, and the scheduler remembers which
tokens they hold. A new sequence goes to the free slot holding the longest prefix of its prompt (least
recently used on ties, so unrelated traffic evicts the coldest prefix), or gets a longer prefix shared
from a running slot's cells; only the rest of the prompt is prefilled. A sequence whose prompt another is
prefilling right now (the choices of one request with `n` > 1) waits for that prefill and then shares
its cells (llama_memory_seq_cp) instead of computing them again. With a host-memory tier (`parking`,
engine/prefix_host.py), an admission copies the other idle slots' cells out and clears them (cells kept
in the unified cache slow everyone's attention), and a prompt that starts with a parked prefix gets it
copied back.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Sequence as Seq
from dataclasses import dataclass
from typing import Protocol

from fncall.engine.sequence import FinishReason, Sequence, Status

# Prompt tokens per step of a sequence whose prompt is scored: each returns a row of logits (n_vocab
# floats), so the rows one step copies stay small (32 x 152k x 4 B = 19 MB).
SCORED_CHUNK = 32


@dataclass(slots=True, frozen=True)
class Work:
    """One sequence's share of a batch."""

    seq: Sequence
    tokens: tuple[int, ...]
    start_pos: int
    samples: bool  # True when this step yields the sequence's next token
    scores: bool = False  # a prompt chunk whose every token's logits are wanted (params.prompt_logprobs)


class QueueFull(Exception):
    """The waiting queue is at its bound; the client should retry later."""


class SlotMemory(Protocol):
    """The KV-cache operations admission needs (implemented by engine.llama.LlamaContext)."""

    def truncate(self, slot: int, n: int) -> bool:
        """Keeps the first n positions of a slot; False if the cache cannot drop a suffix."""

    def share(self, src: int, dst: int, n: int) -> None:
        """Makes dst (empty) see the first n positions of src, sharing cells (no recompute)."""


class Parking(Protocol):
    """Prefixes copied out of idle slots into host memory (engine.prefix_host.HostPrefixes)."""

    def park(self, slot: int, tokens: Seq[int]) -> None:
        """Keeps a copy of the slot's cells (which hold `tokens`) and clears the slot."""

    def longest(self, prompt: Seq[int], more_than: int) -> tuple[int, tuple[int, ...]] | None:
        """(tokens shared, key) of the parked prefix sharing the most with prompt, if over more_than."""

    def load(self, key: tuple[int, ...], slot: int, n: int) -> bool:
        """Copies a parked prefix into slot, cut to n positions; False (slot emptied) if refused."""

    def compact(self, slot: int, n: int) -> bool:
        """With the slot's n cells the only ones in the cache: moves them to its start; False if they
        were lost (the slot is then empty)."""


class PrefixStore(Protocol):
    """Prefixes kept outside the slots (engine.prefix_disk.DiskPrefixCache: on disk, across restarts)."""

    def restore(self, slot: int, prompt: tuple[int, ...], have: int, limit: int) -> int | None:
        """Loads a kept prefix of prompt[:limit] longer than `have` into slot: its length, None when
        none was loaded (slot untouched), 0 when loading failed (slot emptied)."""

    def offer(self, slot: int, prefix: tuple[int, ...]) -> None:
        """slot holds `prefix`, reused from an earlier request: the store may keep a copy."""


def common_prefix(a: list[int], b: tuple[int, ...]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


class Scheduler:
    def __init__(
        self,
        *,
        n_slots: int,
        token_budget: int,
        max_waiting: int,
        memory: SlotMemory,
        store: PrefixStore | None = None,
        parking: Parking | None = None,
    ) -> None:
        self.n_slots = n_slots
        self.store = store
        self.parking = parking
        self.token_budget = token_budget
        self.max_waiting = max_waiting
        self.memory = memory
        self.waiting: deque[Sequence] = deque()
        self.running: list[Sequence] = []
        self.free_slots: list[int] = list(range(n_slots - 1, -1, -1))
        self.cached: list[list[int]] = [[] for _ in range(n_slots)]  # tokens whose KV each slot holds
        self._last_used = [0] * n_slots
        self._clock = itertools.count(1)

    def add(self, seq: Sequence) -> None:
        if len(self.waiting) >= self.max_waiting:
            raise QueueFull(f"{len(self.waiting)} requests are already waiting")
        self.waiting.append(seq)

    def has_work(self) -> bool:
        return bool(self.waiting or self.running)

    def cancelled(self) -> list[Sequence]:
        """Sequences (waiting or running) whose client has gone; the engine finishes them."""
        return [s for s in (*self.waiting, *self.running) if s.cancelled]

    def schedule(self) -> list[Work]:
        """Admits what fits, then fills the token budget: decode tokens first, then prompt chunks."""
        for seq in list(self.waiting):
            if not self.free_slots:
                break
            if self._prefilling(seq):
                continue  # the same prompt is being prefilled: wait, then share its cells (several choices)
            self.waiting.remove(seq)
            self._place(seq)
            seq.status = Status.PREFILL
            self.running.append(seq)
        budget = self.token_budget
        work: list[Work] = []
        for seq in self.running:
            if seq.status is Status.DECODING and budget > 0:
                # normally the last sampled token; after a rewrite, the whole new output (see rewind)
                start = len(self.cached[seq.slot])
                chunk = tuple(seq.output[start - len(seq.prompt) :][:budget])
                work.append(Work(seq, chunk, start, start + len(chunk) == seq.length))
                budget -= len(chunk)
        for seq in self.running:
            if seq.status is Status.PREFILL and budget > 0:
                scores = seq.request.params.prompt_logprobs
                size = min(budget, SCORED_CHUNK) if scores else budget
                chunk = seq.prompt[seq.n_cached : seq.n_cached + size]
                done = seq.n_cached + len(chunk) == len(seq.prompt)
                work.append(Work(seq, chunk, seq.n_cached, done and not seq.output, scores))
                budget -= len(chunk)
        return work

    def _prefilling(self, seq: Sequence) -> bool:
        """Whether a running sequence is prefilling this very prompt (a request's other choices: `n`)."""
        if seq.request.params.prompt_logprobs:  # it recomputes its prompt anyway
            return False
        return any(s.status is Status.PREFILL and s.prompt == seq.prompt for s in self.running)

    def rewind(self, seq: Sequence) -> None:
        """The sequence's output was replaced: its slot keeps only the prompt's cells (or, for a cache
        that cannot drop a suffix, nothing: the prompt is prefilled again), and the steps that follow
        decode the new output."""
        n = len(seq.prompt)
        if not self.memory.truncate(seq.slot, n):
            self.memory.truncate(seq.slot, 0)
            n = seq.n_cached = 0
            seq.status = Status.PREFILL
        del self.cached[seq.slot][n:]

    def _place(self, seq: Sequence) -> None:
        """Gives seq a free slot and as much of its prompt's KV as some slot already holds."""
        prompt = seq.prompt
        limit = len(prompt) - 1  # the last prompt token is always decoded: its logits give the first sample
        if seq.request.params.prompt_logprobs:
            limit = 0  # every prompt token's logits are wanted: nothing cached can be used

        def reusable(slot: int) -> int:
            return min(common_prefix(self.cached[slot], prompt), limit)

        slot = max(self.free_slots, key=lambda s: (reusable(s), -self._last_used[s]))
        n = reusable(slot)
        donor = max((s.slot for s in self.running), key=reusable, default=-1)
        if donor >= 0 and reusable(donor) > n:  # a running sequence holds more: share its cells
            slot = min(self.free_slots, key=lambda s: (reusable(s), self._last_used[s]))
            n = reusable(donor)
            self.memory.truncate(slot, 0)
            self.memory.share(donor, slot, n)
            self.cached[slot] = self.cached[donor][:n]
        elif not self.memory.truncate(slot, n):  # e.g. a recurrent model: start from scratch
            self.memory.truncate(slot, 0)
            n = 0
        del self.cached[slot][n:]
        if self.parking is not None:
            n = self._unpark(self.parking, slot, prompt[:limit], n)
        if self.store is not None:
            n = self._from_store(self.store, slot, prompt, n, limit)
        self.free_slots.remove(slot)
        self._last_used[slot] = next(self._clock)
        seq.slot = slot
        seq.n_cached = seq.n_reused = n
        if self.parking is not None:
            holes = False
            for idle in self.free_slots:
                if self.cached[idle]:
                    self.parking.park(idle, self.cached[idle])
                    self.cached[idle].clear()
                    holes = True
            # The slot's reused cells are all the cache holds: if parking just left holes among them, or
            # nothing is reused (free), move them to the start. Not otherwise: one sequence alone stays
            # in position order, and the copy would cost a reused 1k-token prefix 0.1 s of first token.
            if not self.running and (holes or n == 0) and not self.parking.compact(slot, n):
                self.cached[slot].clear()
                seq.n_cached = seq.n_reused = 0

    def _unpark(self, parking: Parking, slot: int, prompt: tuple[int, ...], n: int) -> int:
        """Copies back a parked prefix of prompt longer than the n tokens the slot holds."""
        found = parking.longest(prompt, n)
        if found is None:
            return n
        m, key = found
        self.cached[slot] = list(prompt[:m]) if parking.load(key, slot, m) else []
        return len(self.cached[slot])

    def _from_store(self, store: PrefixStore, slot: int, prompt: tuple[int, ...], n: int, limit: int) -> int:
        """A longer prefix from the store, or else offer the store what the slot reuses."""
        loaded = store.restore(slot, prompt, n, limit)
        if loaded is None:
            store.offer(slot, prompt[:n])
            return n
        self.cached[slot] = list(prompt[:loaded])
        return loaded

    def forget(self, slot: int) -> None:
        """The slot's KV cells were cleared (e.g. after a failed decode): nothing there is reusable."""
        self.cached[slot].clear()

    @property
    def retained_tokens(self) -> int:
        """Tokens kept in free slots' KV cells for later requests to reuse."""
        return sum(len(self.cached[s]) for s in self.free_slots)

    def advance(self, work: Work) -> None:
        """Records that the work's tokens are now in the KV cache."""
        cached = self.cached[work.seq.slot]
        assert work.start_pos == len(cached), "KV bookkeeping out of step with the batch"
        cached.extend(work.tokens)
        if work.seq.status is Status.PREFILL:
            work.seq.n_cached += len(work.tokens)
            if work.seq.n_cached == len(work.seq.prompt):
                work.seq.status = Status.DECODING

    def retire(self, seq: Sequence, reason: FinishReason) -> None:
        if seq.status is Status.FINISHED:
            return
        if seq in self.waiting:
            self.waiting.remove(seq)
        if seq in self.running:
            self.running.remove(seq)
            self.free_slots.append(seq.slot)
            self._last_used[seq.slot] = next(self._clock)
        seq.finish_reason = reason
        seq.status = Status.FINISHED
