"""Runs one completion on the engine and turns its events into OpenAI deltas, for both response kinds.

Engine events arrive on the engine thread and are carried into the request's asyncio queue. If the
model only repeats a call the conversation already has the result of, the attempt is dropped unseen and
the conversation is answered again without the tool definitions (see `Plan.retry`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from fncall.api.choices import ChoiceBuilder, Delta
from fncall.api.errors import APIError
from fncall.api.translate import Plan
from fncall.engine.engine import PromptTooLong
from fncall.engine.scheduler import QueueFull
from fncall.engine.sequence import Event, Finished, Sequence, TextDelta
from fncall.runtime import Runtime


class EventBridge:
    """Carries engine events (emitted on the engine thread) into this request's asyncio queue."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[Event] = asyncio.Queue()

    def emit(self, event: Event) -> None:
        with contextlib.suppress(RuntimeError):  # loop already closed at shutdown: nobody is listening
            self._loop.call_soon_threadsafe(self._queue.put_nowait, event)

    async def events(self) -> AsyncIterator[Event]:
        while True:
            event = await self._queue.get()
            yield event
            if isinstance(event, Finished):
                return


@dataclass(slots=True, frozen=True)
class Done:
    finish_reason: str
    usage: dict[str, Any]
    error: str | None = None


def usage(done: Finished, extra_completion: int = 0) -> dict[str, Any]:
    completion = done.completion_tokens + extra_completion
    return {
        "prompt_tokens": done.prompt_tokens,
        "completion_tokens": completion,
        "total_tokens": done.prompt_tokens + completion,
        "prompt_tokens_details": {"cached_tokens": done.cached_tokens},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


class Generation:
    """One completion. `start` raises client-facing errors before any response byte is sent."""

    def __init__(self, rt: Runtime, plan: Plan) -> None:
        self._rt = rt
        self._plan = plan
        self._seq: Sequence | None = None
        self._bridge: EventBridge | None = None
        self._discarded_tokens = 0

    def start(self) -> None:
        self._submit(self._plan)

    def cancel(self) -> None:
        """Thread-safe and idempotent; frees the engine slot."""
        if self._seq is not None:
            self._seq.cancel()

    async def deltas(self) -> AsyncIterator[Delta | Done]:
        plan = self._plan
        while True:
            if self._bridge is None or self._seq is None:
                raise RuntimeError("Generation.start() must run before deltas()")
            fmt = self._rt.tool_format
            builder = ChoiceBuilder(plan.tools, fmt.syntax, plan.answered, new_id=fmt.new_call_id)
            async for event in self._bridge.events():
                out = builder.feed(event.text) if isinstance(event, TextDelta) else builder.finish()
                if builder.repeated and plan.retry is not None:
                    self._seq.cancel()
                    self._discarded_tokens += len(self._seq.output)
                    plan = plan.retry
                    self._submit(plan)
                    break
                for delta in out:
                    yield delta
                if isinstance(event, Finished):
                    reason = builder.finish_reason(event.reason)
                    yield Done(reason, usage(event, self._discarded_tokens), event.error)
                    return

    def _submit(self, plan: Plan) -> None:
        self._bridge = EventBridge()
        try:
            self._seq = self._rt.engine.submit(plan.generation, self._bridge.emit)
        except PromptTooLong as exc:
            raise APIError(str(exc), param="messages", code="context_length_exceeded") from exc
        except QueueFull as exc:
            raise APIError(
                f"The server is busy ({exc}); retry shortly.",
                status=429,
                type="rate_limit_error",
                code="rate_limit_exceeded",
                headers={"Retry-After": "1"},
            ) from exc
