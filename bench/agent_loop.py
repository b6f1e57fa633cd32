"""The loop every agent framework runs, shared by the agent benchmarks: ask, run the calls, send results.

One user turn = steps until the model answers without calls (or `max_steps`). Each step is one request
through the official `openai` SDK; each call is executed by `execute(name, arguments) -> str` and its
result sent back as a `tool` message with the call's id, exactly as OpenAI's docs show.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from openai import OpenAI

from fncall.launch import running_server

Execute = Callable[[str, dict[str, Any]], str]


@dataclass(slots=True)
class Step:
    calls: list[dict[str, str]]  # {"name", "arguments"} as returned (arguments a JSON string)
    content: str | None
    finish_reason: str | None
    results: list[str] = field(default_factory=list)
    latency_s: float = 0.0
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0


def run_turn(
    client: OpenAI,
    model: str,
    messages: list[dict[str, Any]],
    tools: Sequence[dict[str, Any]],
    execute: Execute,
    *,
    max_steps: int,
    **params: Any,
) -> list[Step]:
    """Runs one user turn to its answer; `messages` is extended in place (the conversation goes on)."""
    steps: list[Step] = []
    for _ in range(max_steps):
        started = time.perf_counter()
        reply = client.chat.completions.create(model=model, messages=messages, tools=list(tools), **params)
        message = reply.choices[0].message
        calls = [
            {"name": c.function.name, "arguments": c.function.arguments} for c in message.tool_calls or []
        ]
        usage = reply.usage
        details = usage.prompt_tokens_details if usage else None
        step = Step(
            calls=calls,
            content=message.content,
            finish_reason=reply.choices[0].finish_reason,
            latency_s=time.perf_counter() - started,
            prompt_tokens=usage.prompt_tokens if usage else 0,
            cached_tokens=(details.cached_tokens or 0) if details else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
        )
        steps.append(step)
        messages.append(message.model_dump(exclude_none=True))
        if not calls:
            break
        for call, raw in zip(calls, message.tool_calls or [], strict=True):
            try:
                arguments = json.loads(call["arguments"])
            except json.JSONDecodeError as exc:  # never happens with fncall; kept so peers can be measured
                result = f"Error: arguments are not JSON ({exc})"
            else:
                result = execute(call["name"], arguments)
            step.results.append(result)
            messages.append({"role": "tool", "tool_call_id": raw.id, "content": result})
    return steps


@contextmanager
def server_client(base_url: str | None, *server_args: str) -> Iterator[OpenAI]:
    """A client for `base_url`, or for a fncall server started for the block with `server_args`."""
    if base_url:
        yield OpenAI(base_url=base_url, api_key="unused", max_retries=0, timeout=1800)
        return
    with running_server(*server_args) as server:
        yield OpenAI(base_url=server.base_url, api_key="unused", max_retries=0, timeout=1800)
