"""Decides what each engine step decodes: admits waiting sequences into slots, mixes one new token of
every decoding sequence with chunks of prompts being prefilled (a token budget per step, so a long
prompt does not freeze running streams), and retires finished or cancelled sequences."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from fncall.engine.sequence import FinishReason, Sequence, Status


@dataclass(slots=True, frozen=True)
class Work:
    """One sequence's share of a batch."""

    seq: Sequence
    tokens: tuple[int, ...]
    start_pos: int
    samples: bool  # True when this step yields the sequence's next token


class QueueFull(Exception):
    """The waiting queue is at its bound; the client should retry later."""


class Scheduler:
    def __init__(self, *, n_slots: int, token_budget: int, max_waiting: int) -> None:
        self.n_slots = n_slots
        self.token_budget = token_budget
        self.max_waiting = max_waiting
        self.waiting: deque[Sequence] = deque()
        self.running: list[Sequence] = []
        self.free_slots: list[int] = list(range(n_slots - 1, -1, -1))

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
        while self.waiting and self.free_slots:
            seq = self.waiting.popleft()
            seq.slot = self.free_slots.pop()
            seq.status = Status.PREFILL
            self.running.append(seq)
        budget = self.token_budget
        work: list[Work] = []
        for seq in self.running:
            if seq.status is Status.DECODING and budget > 0:
                work.append(Work(seq, (seq.output[-1],), seq.length - 1, True))
                budget -= 1
        for seq in self.running:
            if seq.status is Status.PREFILL and budget > 0:
                chunk = seq.prompt[seq.n_cached : seq.n_cached + budget]
                done = seq.n_cached + len(chunk) == len(seq.prompt)
                work.append(Work(seq, chunk, seq.n_cached, done))
                budget -= len(chunk)
        return work

    def advance(self, work: Work) -> None:
        """Records that the work's tokens are now in the KV cache."""
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
        seq.finish_reason = reason
        seq.status = Status.FINISHED
