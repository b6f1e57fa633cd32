"""Several completions answered as one response (`n` choices, or a legacy completion's list of prompts):
their deltas interleaved as they come, tagged with the choice's index, and their usage added up."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

from fncall.api.choices import Delta
from fncall.api.errors import APIError
from fncall.api.generation import Done, Generation

Item = Delta | Done | APIError


async def interleave(generations: Sequence[Generation]) -> AsyncIterator[tuple[int, Item]]:
    """(index, item) as each completion yields it; a mid-stream APIError (timeout, shutdown) is the
    last item of its completion. Ending the iteration early cancels every completion."""
    if len(generations) == 1:  # the common case needs no task and no queue
        async for only in _guarded(generations[0]):
            yield 0, only
        return
    queue: asyncio.Queue[tuple[int, Item | None]] = asyncio.Queue()

    async def pump(index: int, generation: Generation) -> None:
        try:
            async for item in _guarded(generation):
                queue.put_nowait((index, item))
        finally:
            queue.put_nowait((index, None))

    tasks = [asyncio.create_task(pump(i, g)) for i, g in enumerate(generations)]
    try:
        remaining = len(tasks)
        while remaining:
            index, item = await queue.get()
            if item is None:
                remaining -= 1
                if tasks[index].done() and (exc := tasks[index].exception()) is not None:
                    raise exc  # a bug in one completion is the request's 500, as with one choice
                continue
            yield index, item
    finally:
        for task in tasks:
            task.cancel()
        for generation in generations:
            generation.cancel()


async def _guarded(generation: Generation) -> AsyncIterator[Item]:
    try:
        async for item in generation.deltas():
            yield item
    except APIError as exc:
        yield exc


def start_all(generations: Sequence[Generation]) -> None:
    """Starts each completion; if one is refused (queue full, prompt too long), those started are
    cancelled and the refusal is raised."""
    for i, generation in enumerate(generations):
        try:
            generation.start()
        except BaseException:
            for started in generations[:i]:
                started.cancel()
            raise


def total_usage(usages: Sequence[dict[str, Any]], n: int = 1) -> dict[str, Any]:
    """One response's usage over its completions, in index order, each run of `n` sharing a prompt:
    completion tokens add up, a prompt counts once (its first choice's figures, cached tokens too)."""
    firsts = usages[::n]
    prompt = sum(u["prompt_tokens"] for u in firsts)
    completion = sum(u["completion_tokens"] for u in usages)
    cached = sum(u["prompt_tokens_details"]["cached_tokens"] for u in firsts)
    return usages[0] | {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
    }
