"""What the API needs of an engine, as a protocol: submit a request and get its events back, cancel it,
read its counters.

`Engine` (one process, one llama.cpp context) is the implementation; `fncall.serve_ray` provides another
that streams the same events from engine replicas on a Ray cluster. `api/generation.py` talks to either.
"""

from __future__ import annotations

from typing import Protocol

from fncall.engine.engine import EngineConfig, EngineStats
from fncall.engine.sequence import Emit, GenerationRequest


class Submitted(Protocol):
    """A request the engine has accepted."""

    def cancel(self) -> None:
        """Thread-safe and idempotent: the request ends with Finished('cancelled') and frees its slot."""

    @property
    def n_output(self) -> int:
        """Tokens generated so far."""


class EngineClient(Protocol):
    @property
    def config(self) -> EngineConfig: ...

    def check_prompt(self, n_prompt: int) -> None:
        """Raises engine.PromptTooLong unless a prompt of `n_prompt` tokens leaves room to generate."""

    def submit(self, request: GenerationRequest, emit: Emit) -> Submitted:
        """Queues a request; `emit` gets its events (TextDelta…, then one Finished), on any thread.

        Raises engine.PromptTooLong or scheduler.QueueFull when the request is refused at once.
        """

    def stats(self) -> EngineStats: ...

    def stop(self) -> None: ...
