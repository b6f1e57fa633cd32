"""The numpy sampler on hand-made logits."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from fncall.engine.sampling import SamplingParams, new_rng, sample, token_logprob


def logits(*values: float) -> np.ndarray:
    return np.array(values, dtype=np.float32)


def test_greedy_takes_argmax() -> None:
    assert sample(logits(0.1, 3.0, 2.0), SamplingParams(temperature=0), new_rng(0)) == 1


def test_top_k_one_is_greedy_at_any_temperature() -> None:
    rng = new_rng(1)
    picks = {
        sample(logits(0.0, 1.0, 0.9, 0.8), SamplingParams(temperature=2, top_k=1), rng) for _ in range(50)
    }
    assert picks == {1}


def test_seed_reproduces_and_different_seeds_differ() -> None:
    params = SamplingParams(temperature=1.0)
    base = np.zeros(1000, dtype=np.float32)
    first = [sample(base.copy(), params, new_rng(7)) for _ in range(1)]
    rng_a, rng_b, rng_c = new_rng(7), new_rng(7), new_rng(8)
    a = [sample(base.copy(), params, rng_a) for _ in range(20)]
    b = [sample(base.copy(), params, rng_b) for _ in range(20)]
    c = [sample(base.copy(), params, rng_c) for _ in range(20)]
    assert a == b and a[0] == first[0]
    assert a != c


def test_top_p_keeps_only_the_nucleus() -> None:
    # probabilities ~ [0.64, 0.24, 0.09, 0.03]: top_p=0.7 keeps the first two only
    values = np.log(np.array([0.64, 0.24, 0.09, 0.03], dtype=np.float32))
    rng = new_rng(3)
    picks = Counter(sample(values.copy(), SamplingParams(top_p=0.7), rng) for _ in range(400))
    assert set(picks) == {0, 1}


def test_min_p_drops_unlikely_tokens() -> None:
    values = np.log(np.array([0.5, 0.3, 0.15, 0.05], dtype=np.float32))
    rng = new_rng(4)
    picks = {sample(values.copy(), SamplingParams(min_p=0.4), rng) for _ in range(300)}
    assert picks == {0, 1}  # 0.15 < 0.4 * 0.5


def test_penalties_follow_openai_definition() -> None:
    params = SamplingParams(temperature=0, presence_penalty=1.0, frequency_penalty=0.5)
    values = logits(5.0, 4.0, 0.0)
    # token 0 seen 3 times: 5 - (3*0.5 + 1) = 2.5 < 4
    assert sample(values, params, new_rng(0), counts={0: 3}) == 1
    assert values[0] == pytest.approx(2.5)


def test_logit_bias_and_mask() -> None:
    assert sample(logits(1.0, 0.0), SamplingParams(temperature=0, logit_bias={1: 100.0}), new_rng(0)) == 1
    allowed = np.array([False, False, True])
    assert sample(logits(9.0, 8.0, -3.0), SamplingParams(temperature=1), new_rng(0), allowed=allowed) == 2


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"temperature": 2.5}, "temperature"),
        ({"top_p": 0.0}, "top_p"),
        ({"top_k": -1}, "top_k"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"presence_penalty": 3.0}, "presence_penalty"),
        ({"stop": ("a", "b", "c", "d", "e")}, "stop"),
        ({"stop": ("",)}, "stop"),
        ({"logit_bias": {3: 101.0}}, "logit_bias"),
    ],
)
def test_invalid_params_name_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        SamplingParams(**kwargs)  # type: ignore[arg-type]


def test_repetition_penalty_divides_positive_and_multiplies_negative_logits_once_per_token() -> None:
    params = SamplingParams(temperature=0, repetition_penalty=2.0)
    values = logits(4.0, 3.0, -1.0, -1.5)
    # token 0 seen twice counts once: 4 / 2 = 2 < 3
    assert sample(values.copy(), params, new_rng(0), recent=[0, 0]) == 1
    # a negative logit gets more negative: token 2 at -2 falls below token 3 at -1.5
    masked = np.array([False, False, True, True])
    assert sample(values.copy(), params, new_rng(0), recent=[2], allowed=masked) == 3
    assert sample(values.copy(), params, new_rng(0), recent=[], allowed=masked) == 2


def test_repetition_penalty_of_one_changes_nothing() -> None:
    values = logits(4.0, 3.9)
    assert sample(values, SamplingParams(temperature=0, repetition_penalty=1.0), new_rng(0), recent=[0]) == 0


# -- log probabilities ---------------------------------------------------------------------------------


def test_token_logprob_is_the_log_softmax_with_the_best_alternatives_first() -> None:
    values = logits(1.0, 3.0, 2.0, 0.5)
    entry = token_logprob(values, 2, 3)
    expected = values - np.log(np.exp(values).sum())
    assert entry.token == 2 and entry.logprob == pytest.approx(expected[2])
    assert [t for t, _ in entry.top] == [1, 2, 0]
    assert [lp for _, lp in entry.top] == pytest.approx(expected[[1, 2, 0]])
    assert token_logprob(values, 2, 0).top == ()


def test_token_logprob_after_a_mask_renormalises_over_allowed_tokens_only() -> None:
    values = logits(5.0, 1.0, 1.0, 4.0)
    allowed = np.array([False, True, True, False])
    token = sample(values, SamplingParams(temperature=0), new_rng(0), allowed=allowed)
    entry = token_logprob(values, token, 20)  # more asked than allowed: masked tokens are never listed
    assert {t for t, _ in entry.top} == {1, 2}
    assert entry.logprob == pytest.approx(np.log(0.5))
    assert all(np.isfinite(lp) for _, lp in entry.top)


def test_token_logprob_sees_penalties_and_bias_that_sample_applied() -> None:
    values = logits(2.0, 2.0)
    sample(values, SamplingParams(temperature=0, logit_bias={0: -100.0}), new_rng(0))
    assert token_logprob(values, 1, 1).logprob == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("k", [-1, 21])
def test_logprobs_out_of_range_is_refused(k: int) -> None:
    with pytest.raises(ValueError, match="logprobs"):
        SamplingParams(logprobs=k)


def test_token_logprob_finds_alternatives_far_below_the_best() -> None:
    values = logits(50.0, 0.0, -1.0, 10.0)  # only one token within the first search window
    assert [t for t, _ in token_logprob(values, 0, 3).top] == [0, 3, 1]
