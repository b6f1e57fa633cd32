"""Several completions as one response (api/fanout.py) and each choice's seed (pure logic, no model)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, cast

import numpy as np
import pytest

from fncall.api.errors import APIError
from fncall.api.fanout import interleave, start_all, total_usage
from fncall.api.generation import Done, Generation
from fncall.api.text_completions import _items
from fncall.api.translate import Plan, choice_seed, for_choice
from fncall.engine.sampling import SamplingParams
from fncall.engine.sequence import GenerationRequest


def used(prompt: int, completion: int, cached: int = 0) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


def test_usage_counts_each_prompt_once_and_every_completion() -> None:
    separate = total_usage([used(10, 3, 9), used(7, 5, 2)])  # n=1: every completion its own prompt
    assert (separate["prompt_tokens"], separate["completion_tokens"], separate["total_tokens"]) == (17, 8, 25)
    assert separate["prompt_tokens_details"] == {"cached_tokens": 11}
    n3 = total_usage([used(10, 3, 4), used(10, 5, 9), used(10, 1, 9)], 3)
    assert (n3["prompt_tokens"], n3["completion_tokens"], n3["total_tokens"]) == (10, 9, 19)
    # the first choice's cached tokens: the others share its cells
    assert n3["prompt_tokens_details"] == {"cached_tokens": 4}
    two_prompts = total_usage([used(10, 3), used(10, 5), used(7, 1), used(7, 2)], 2)
    assert (two_prompts["prompt_tokens"], two_prompts["completion_tokens"]) == (17, 11)


class FakeGeneration:
    def __init__(self, items: list[Any], delay: float = 0.0, fail: APIError | None = None) -> None:
        self.items, self.delay, self.fail = items, delay, fail
        self.cancelled = self.started = False

    def start(self) -> None:
        if self.fail is not None:
            raise self.fail
        self.started = True

    def cancel(self) -> None:
        self.cancelled = True

    async def deltas(self) -> AsyncIterator[Any]:
        for item in self.items:
            await asyncio.sleep(self.delay)
            if isinstance(item, APIError):
                raise item
            yield item


def gens(*fakes: FakeGeneration) -> list[Generation]:
    return cast(list[Generation], list(fakes))


async def collect(generations: list[Generation]) -> list[tuple[int, Any]]:
    return [pair async for pair in interleave(generations)]


def test_interleave_tags_every_item_with_its_choice_and_cancels_all_at_the_end() -> None:
    done = Done("stop", used(1, 1))
    a = FakeGeneration([{"content": "a1"}, {"content": "a2"}, done], delay=0.01)
    b = FakeGeneration([{"content": "b1"}, done])
    out = asyncio.run(collect(gens(a, b)))
    assert [item for i, item in out if i == 0] == [{"content": "a1"}, {"content": "a2"}, done]
    assert [item for i, item in out if i == 1] == [{"content": "b1"}, done]
    assert out[0] == (1, {"content": "b1"})  # as they come, not choice by choice
    assert a.cancelled and b.cancelled


def test_a_mid_stream_error_is_its_choices_last_item() -> None:
    timeout = APIError("late", status=504)
    out = asyncio.run(collect(gens(FakeGeneration([{"content": "x"}, timeout]))))
    assert out == [(0, {"content": "x"}), (0, timeout)]


def test_a_refused_start_cancels_the_started_ones() -> None:
    a, b = FakeGeneration([]), FakeGeneration([], fail=APIError("busy", status=429))
    with pytest.raises(APIError):
        start_all(gens(a, b))
    assert a.started and a.cancelled


def test_choice_zero_keeps_the_seed_and_the_others_get_their_own() -> None:
    seeds = [choice_seed(42, i) for i in range(4)]
    assert seeds[0] == 42 and len(set(seeds)) == 4
    assert seeds == [choice_seed(42, i) for i in range(4)]  # reproducible
    assert all(0 <= s < 2**64 for s in seeds) and np.random.default_rng(seeds[3])


def test_for_choice_changes_only_the_seed_in_every_attempt() -> None:
    request = GenerationRequest((1, 2), SamplingParams(seed=7, temperature=0.5))
    plan = Plan(request, None, retry=Plan(request, None))
    second = for_choice(plan, 1)
    assert second.generation.params.seed == choice_seed(7, 1) == second.retry.generation.params.seed  # type: ignore[union-attr]
    assert second.generation.params.temperature == 0.5 and second.generation.prompt == (1, 2)
    assert for_choice(plan, 0) is plan
    unseeded = Plan(GenerationRequest((1,), SamplingParams()), None)
    assert for_choice(unseeded, 3) is unseeded  # fresh entropy per sequence anyway


@pytest.mark.parametrize(
    ("prompt", "items"),
    [
        ("hi", ["hi"]),
        (["a", "b"], ["a", "b"]),
        ([1, 2, 3], [[1, 2, 3]]),
        ([[1], [2, 3]], [[1], [2, 3]]),
        ([], []),
    ],
)
def test_legacy_prompt_forms(prompt: Any, items: list[Any]) -> None:
    assert _items(prompt) == items
