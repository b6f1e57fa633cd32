"""The engine's log probabilities and several sequences of one prompt (`n`), on the real tiny model."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from fncall.engine.engine import Engine
from fncall.engine.llama import LlamaModel
from fncall.engine.sampling import SamplingParams, TokenLogprob
from fncall.engine.sequence import Finished, PromptScored, TextDelta
from tests.test_engine import (
    PROMPT,
    Result,
    assert_kv_matches_books,
    collect,
    forget_everything,
    generate,
    submit,
)


@pytest.fixture(scope="module")
def prompt(tiny_model: LlamaModel) -> list[int]:
    return tiny_model.tokenize(PROMPT, add_special=False)


def logprobs_of(engine: Engine, prompt: list[int], params: SamplingParams) -> tuple[str, list[TokenLogprob]]:
    seq, events = submit(engine, prompt, params)
    entries: list[TokenLogprob] = []
    text = []
    while isinstance(event := events.get(timeout=120), TextDelta):
        entries += event.logprobs
        text.append(event.text)
    return "".join(text), entries


def test_each_token_comes_with_its_logprob_and_alternatives(
    tiny_engine: Engine, tiny_model: LlamaModel, prompt: list[int]
) -> None:
    text, entries = logprobs_of(tiny_engine, prompt, SamplingParams(temperature=0, max_tokens=12, logprobs=5))
    assert len(entries) == 12
    assert b"".join(tiny_model.piece(e.token) for e in entries).decode() == text
    for entry in entries:
        assert entry.top[0][0] == entry.token  # greedy: the sampled token is the most likely one
        assert entry.logprob == pytest.approx(entry.top[0][1]) and entry.logprob <= 0
        assert len(entry.top) == 5
        assert [lp for _, lp in entry.top] == sorted((lp for _, lp in entry.top), reverse=True)
        assert sum(math.exp(lp) for _, lp in entry.top) <= 1 + 1e-5


def test_without_logprobs_deltas_carry_none(tiny_engine: Engine, prompt: list[int]) -> None:
    _, entries = logprobs_of(tiny_engine, prompt, SamplingParams(temperature=0, max_tokens=6))
    assert entries == []


class OnlyTwo:
    """Allows two tokens at every step: log probabilities are then over those two."""

    def __init__(self, a: int, b: int) -> None:
        self.mask = np.zeros(49152, dtype=bool)
        self.mask[[a, b]] = True

    def allowed(self) -> np.ndarray:
        return self.mask

    def accept(self, token: int) -> None:
        pass

    def done(self) -> bool:
        return False

    def steer(self, logits: object, allowed: object) -> None:
        return None

    def rewrite(self) -> list[int] | None:
        return None


def test_logprobs_are_taken_after_the_grammar_mask(
    tiny_engine: Engine, tiny_model: LlamaModel, prompt: list[int]
) -> None:
    a, b = tiny_model.tokenize(" yes", add_special=False)[0], tiny_model.tokenize(" no", add_special=False)[0]
    seq, events = submit(
        tiny_engine,
        prompt,
        SamplingParams(max_tokens=4, logprobs=20, seed=3),
        constraint_factory=lambda: OnlyTwo(a, b),
    )
    entries: list[TokenLogprob] = []
    while isinstance(event := events.get(timeout=120), TextDelta):
        entries += event.logprobs
    assert len(entries) == 4
    for entry in entries:
        assert {t for t, _ in entry.top} == {a, b}
        assert sum(math.exp(lp) for _, lp in entry.top) == pytest.approx(1.0, abs=1e-4)


def test_choices_of_one_prompt_share_its_prefill(tiny_engine: Engine, prompt: list[int]) -> None:
    """Submitted together, the later sequences of one prompt wait for the first's prefill and then share
    its KV cells (llama_memory_seq_cp): each decodes only the prompt's last token itself."""
    forget_everything(tiny_engine)
    params = SamplingParams(temperature=0, max_tokens=8)
    pending = [submit(tiny_engine, prompt, params) for _ in range(3)]
    results = [collect(*item) for item in pending]
    assert results[0].done.cached_tokens == 0
    assert [r.done.cached_tokens for r in results[1:]] == [len(prompt) - 1] * 2
    assert len({r.seq.slot for r in results}) == 3  # decoded side by side, each in its own slot
    assert len({tuple(r.seq.output) for r in results}) == 1  # greedy: shared cells, same logits
    assert_kv_matches_books(tiny_engine)
    assert generate(tiny_engine, prompt, params).seq.output == results[0].seq.output


def scored(engine: Engine, prompt: list[int], params: SamplingParams) -> tuple[list[TokenLogprob], Result]:
    seq, events = submit(engine, prompt, params)
    entries: list[TokenLogprob] = []
    while isinstance(event := events.get(timeout=120), PromptScored):
        assert event.start == len(entries) + 1  # in order, chunk after chunk
        entries += event.logprobs
    rest = [event]
    while not isinstance(rest[-1], Finished):
        rest.append(events.get(timeout=120))
    assert not any(isinstance(e, PromptScored) for e in rest)  # all before the first text
    return entries, Result([e.text for e in rest if isinstance(e, TextDelta)], rest[-1], seq)


def test_prompt_tokens_are_scored_each_given_the_tokens_before_it(
    tiny_engine: Engine, tiny_model: LlamaModel
) -> None:
    question = tiny_model.tokenize(
        "<|im_start|>user\nName a fruit.<|im_end|>\n<|im_start|>assistant\n", add_special=False
    )
    greedy = SamplingParams(temperature=0, max_tokens=1, logprobs=2)
    _, first = logprobs_of(tiny_engine, question, greedy)
    prompt = [*question, first[0].token] * 3  # 100+ tokens: several chunks of SCORED_CHUNK
    entries, result = scored(tiny_engine, prompt, replace(greedy, prompt_logprobs=True))
    assert [e.token for e in entries] == prompt[1:]
    assert result.done.cached_tokens == 0 and result.done.reason == "length"  # recomputed, not reused
    answer = entries[len(question) - 1]  # the first answer token, scored as part of the prompt
    assert answer.token == first[0].token
    assert answer.logprob == pytest.approx(first[0].logprob, abs=0.1)  # batching noise only
    assert all(len(e.top) == 2 and e.logprob <= 0 for e in entries)
    assert_kv_matches_books(tiny_engine)
