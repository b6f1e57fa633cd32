"""Runs one completion on the engine and turns its events into OpenAI deltas, for both response kinds.

Engine events arrive on the engine thread and are carried into the request's asyncio queue. If the
model only repeats a call the conversation already has the result of, the attempt is dropped unseen and
the conversation is answered again without the tool definitions (see `Plan.retry`); after tool results,
a choice of text over a further call hands over to the answer's own plan (`Plan.answer`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from fncall.api.choices import ChoiceBuilder, Delta
from fncall.api.errors import APIError, context_length_exceeded, request_timeout, server_busy
from fncall.api.translate import Plan
from fncall.engine.client import Submitted
from fncall.engine.engine import PromptTooLong
from fncall.engine.scheduler import QueueFull
from fncall.engine.sequence import Event, Finished, PromptScored, TextDelta
from fncall.runtime import Runtime


class EventBridge:
    """Carries engine events (emitted on the engine thread) into this request's asyncio queue."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[Event] = asyncio.Queue()

    def emit(self, event: Event) -> None:
        with contextlib.suppress(RuntimeError):  # loop already closed at shutdown: nobody is listening
            self._loop.call_soon_threadsafe(self._queue.put_nowait, event)

    async def events(self, deadline: float | None) -> AsyncIterator[Event]:
        """Events until Finished; asyncio.TimeoutError once `deadline` (monotonic) has passed."""
        while True:
            timeout = None if deadline is None else deadline - time.monotonic()
            event = await asyncio.wait_for(self._queue.get(), timeout)
            yield event
            if isinstance(event, Finished):
                return


@dataclass(slots=True, frozen=True)
class Done:
    finish_reason: str
    usage: dict[str, Any]
    error: str | None = None
    stop_sequence: str | None = None  # the request's stop string that ended the completion


@dataclass(slots=True, frozen=True)
class CompletionStats:
    """How one completion went, reported once when it ends (for metrics and the access log)."""

    # An OpenAI finish_reason, "cancelled" (client gone), "error", or the code of the APIError that ended it.
    outcome: str
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    tool_calls: int
    time_to_first_token: float | None  # seconds from submission to the first text
    time_per_token: float | None  # mean seconds between later tokens
    forced_tokens: int = 0  # of completion_tokens, appended without sampling (jump-forward)


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
    """One completion. `start` raises client-facing errors before any response byte is sent.

    `deltas` raises an APIError when the completion is cut short: past `timeout` seconds (504), or
    aborted by the server (`abort`, at shutdown). `on_end` gets its CompletionStats once, however it ends.
    """

    def __init__(
        self,
        rt: Runtime,
        plan: Plan,
        *,
        timeout: float | None = None,
        on_end: Callable[[CompletionStats], None] | None = None,
    ) -> None:
        self._rt = rt
        self._plan = plan
        self._timeout = timeout
        self._on_end = on_end
        self._seq: Submitted | None = None
        self._bridge: EventBridge | None = None
        self._discarded_tokens = 0
        self._aborted: APIError | None = None
        self._started = self._first_text = self._last_text = 0.0
        self._finished: Finished | None = None
        self._calls = 0

    def start(self) -> None:
        self._started = time.monotonic()
        self._submit(self._plan)

    def cancel(self) -> None:
        """Thread-safe and idempotent; frees the engine slot."""
        if self._seq is not None:
            self._seq.cancel()

    def abort(self, error: APIError) -> None:
        """Ends the completion early; its consumer gets `error` raised from `deltas`."""
        self._aborted = error
        self.cancel()

    async def deltas(self) -> AsyncIterator[Delta | Done]:
        outcome = "cancelled"  # what a consumer that stops listening leaves behind
        try:
            async for item in self._attempts():
                if isinstance(item, Done):
                    outcome = "error" if item.error else item.finish_reason
                yield item
        except APIError as exc:
            outcome = exc.code or exc.type
            raise
        finally:
            self._report(outcome)

    async def _attempts(self) -> AsyncIterator[Delta | Done]:
        plan = self._plan
        deadline = self._started + self._timeout if self._timeout else None
        while True:
            if self._bridge is None or self._seq is None:
                raise RuntimeError("Generation.start() must run before deltas()")
            builder = self._builder(plan)
            try:
                async for event in self._bridge.events(deadline):
                    if self._aborted is not None:
                        raise self._aborted
                    if isinstance(event, PromptScored):  # before any text: the prompt's own scores
                        yield {"prompt_logprobs": event.logprobs}
                        continue
                    if isinstance(event, TextDelta) and event.restart:
                        # The output was rewritten while the parser still held all of it back (a
                        # fenced call's head, see grammar.PrefixTrigger): nothing was sent, start over.
                        builder = self._builder(plan)
                    if isinstance(event, Finished) and event.refused:
                        raise server_busy(event.error or "no room")
                    if isinstance(event, TextDelta):
                        out = builder.feed(event.text, event.logprobs)
                    else:
                        out = builder.finish()
                    self._timestamp(event)
                    if builder.cut:  # a made-up later call: the turn ends with the calls before it
                        self._seq.cancel()
                    switch = _next_plan(plan, builder, event)
                    if switch is not None:
                        self._seq.cancel()
                        self._discarded_tokens += self._seq.n_output
                        plan = switch
                        self._submit(plan)
                        break
                    for delta in out:
                        yield delta
                    if isinstance(event, Finished):
                        self._calls = builder.n_calls
                        reason = builder.finish_reason("stop" if builder.cut else event.reason)
                        used = usage(event, self._discarded_tokens)
                        yield Done(reason, used, event.error, event.stop_sequence)
                        return
            except asyncio.TimeoutError:
                self.cancel()
                raise request_timeout(self._timeout or 0) from None

    def _builder(self, plan: Plan) -> ChoiceBuilder:
        fmt = self._rt.tool_format
        return ChoiceBuilder(
            plan.tools, fmt.syntax, plan.answered, grounds=plan.grounds, new_id=fmt.new_call_id
        )

    def _timestamp(self, event: TextDelta | Finished) -> None:
        if isinstance(event, Finished):
            self._finished = event
        elif event.text:
            self._last_text = time.monotonic()
            self._first_text = self._first_text or self._last_text

    def _report(self, outcome: str) -> None:
        if self._on_end is None:
            return
        done, on_end, self._on_end = self._finished, self._on_end, None
        completion = (done.completion_tokens if done else 0) + self._discarded_tokens
        per_token = None
        if self._first_text and completion > 1:
            per_token = (self._last_text - self._first_text) / (completion - 1)
        on_end(
            CompletionStats(
                outcome=outcome,
                prompt_tokens=done.prompt_tokens if done else 0,
                completion_tokens=completion,
                cached_tokens=done.cached_tokens if done else 0,
                tool_calls=self._calls,
                time_to_first_token=self._first_text - self._started if self._first_text else None,
                time_per_token=per_token,
                forced_tokens=done.forced_tokens if done else 0,
            )
        )

    def _submit(self, plan: Plan) -> None:
        self._bridge = EventBridge()
        try:
            self._seq = self._rt.engine.submit(plan.generation, self._bridge.emit)
        except PromptTooLong as exc:
            raise context_length_exceeded(exc) from exc
        except QueueFull as exc:
            raise server_busy(str(exc)) from exc


def _next_plan(plan: Plan, builder: ChoiceBuilder, event: Event) -> Plan | None:
    """The plan to run instead of this attempt, which nothing of was sent: after tool results, a text
    choice (which ends the attempt with nothing written) or a call that only repeats an answered one
    hands over to the answer's plan (`answer`, see translate.Plan); a repeat without one (or in the
    answer's own plan) to the conversation without tools (`retry`).

    A repeat goes to the answer first because it mostly comes from the decision: a call share just
    over its threshold forces a call, and with nothing new to call the model writes the answered one
    again. Without tools in the prompt Qwen2.5-Coder-1.5B then often refused ("I apologize, but I can't
    assist with that.": 4 of 36 agent tasks, after both calls of a two-city question among them); with
    the tools and the closing sentence it answers from the results (README, "Call decisions")."""
    if builder.repeated:
        return plan.answer or plan.retry
    if builder.ungrounded:  # a first call whose values are all made up (tools/grounding.py)
        return plan.text
    if isinstance(event, Finished) and event.completion_tokens == 0 and not builder.n_calls:
        return plan.answer
    return None
