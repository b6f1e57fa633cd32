"""The fast sampler draws from exactly the distribution a plain, sort-everything reference defines.

A chi-square test per configuration on a 50-token vocabulary: thousands of draws, each with its own
seed, against the reference's exact probabilities. The sampler's column tricks are exercised on the
small vocabulary by viewing it as 4 rows (`_ROWS`), as well as with the 128 rows used in production.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from fncall.engine import sampling
from fncall.engine.sampling import SamplingParams, new_rng, sample

VOCAB = 50
DRAWS = 4000
ALPHA = 1e-4  # chance that a correct sampler fails one configuration (fixed seeds: it never flakes)


def reference(
    logits: npt.NDArray[np.float32],
    params: SamplingParams,
    *,
    counts: Mapping[int, int] | None = None,
    recent: Sequence[int] = (),
    allowed: npt.NDArray[np.bool_] | None = None,
) -> npt.NDArray[np.float64]:
    """Exact probabilities, by the definitions, in float64: penalties, bias, mask, top_k, temperature,
    min_p, top_p, in that order (the order `sample` documents)."""
    x = logits.astype(np.float64)
    if params.repetition_penalty != 1.0:
        for t in set(recent):
            x[t] = x[t] / params.repetition_penalty if x[t] > 0 else x[t] * params.repetition_penalty
    for t, n in (counts or {}).items():
        x[t] -= n * params.frequency_penalty + (n > 0) * params.presence_penalty
    for t, bias in params.logit_bias.items():
        x[t] += bias
    if allowed is not None:
        x[~allowed] = -np.inf
    order = np.argsort(-x, kind="stable")
    keep = np.isfinite(x)
    if params.top_k:
        keep[order[params.top_k :]] = False
    weights = np.where(keep, np.exp((x - x.max()) / params.temperature), 0.0)
    if params.min_p:
        weights[x < x.max() + math.log(params.min_p)] = 0.0
    if params.top_p < 1.0:
        mass = np.cumsum(weights[order])
        cut = int(np.searchsorted(mass, params.top_p * mass[-1])) + 1
        weights[order[cut:]] = 0.0
    return weights / weights.sum()


def chi_square_p(observed: npt.NDArray[np.int64], expected: npt.NDArray[np.float64]) -> float:
    """P-value of Pearson's chi-square test, cells with fewer than 5 expected draws pooled (the
    Wilson-Hilferty approximation of the chi-square tail: no scipy needed)."""
    small = expected < 5.0
    obs = np.append(observed[~small], observed[small].sum())
    exp = np.append(expected[~small], expected[small].sum())
    if exp[-1] < 5.0:  # too little to be a cell of its own: fold into the smallest other cell
        smallest = int(np.argmin(exp[:-1]))
        obs[smallest] += obs[-1]
        exp[smallest] += exp[-1]
        obs, exp = obs[:-1], exp[:-1]
    df = exp.shape[0] - 1
    if df == 0:
        return 1.0
    stat = float(((obs - exp) ** 2 / exp).sum())
    z = ((stat / df) ** (1 / 3) - (1 - 2 / (9 * df))) / math.sqrt(2 / (9 * df))
    return 0.5 * math.erfc(z / math.sqrt(2))


def make_logits() -> npt.NDArray[np.float32]:
    """A bulk of ordinary tokens and a few favourites, distinct values (no ties at any cut)."""
    rng = np.random.default_rng(2024)
    values = rng.normal(0.0, 1.5, VOCAB).astype(np.float32)
    values[[3, 17, 41]] += np.array([4.0, 3.0, 2.5], dtype=np.float32)
    assert np.unique(values).shape[0] == VOCAB
    return values


MASK = np.zeros(VOCAB, dtype=bool)
MASK[::3] = True  # 17 of 50 tokens allowed
MASK[17] = False  # a favourite refused

CASES: dict[str, tuple[SamplingParams, dict[str, Any]]] = {
    "temperature 1": (SamplingParams(temperature=1.0), {}),
    "temperature 0.7": (SamplingParams(temperature=0.7), {}),
    "temperature 2": (SamplingParams(temperature=2.0), {}),
    "top_p 0.9": (SamplingParams(temperature=0.7, top_p=0.9), {}),
    "top_p 0.99, hot": (SamplingParams(temperature=2.0, top_p=0.99), {}),
    "top_k 2": (SamplingParams(temperature=1.5, top_k=2), {}),
    "top_k 5": (SamplingParams(temperature=1.3, top_k=5), {}),
    "min_p 0.05": (SamplingParams(temperature=0.9, min_p=0.05), {}),
    "qwen defaults": (
        SamplingParams(temperature=0.7, top_p=0.8, top_k=20, repetition_penalty=1.05),
        {"recent": [3, 3, 17, 5, 8, 41]},
    ),
    "everything": (
        SamplingParams(
            temperature=1.2,
            top_p=0.95,
            top_k=10,
            min_p=0.02,
            presence_penalty=0.5,
            frequency_penalty=0.3,
            repetition_penalty=1.3,
            logit_bias={0: 3.0, 41: -2.0},
        ),
        {"counts": {3: 2, 9: 1}, "recent": [3, 9, 12, 12]},
    ),
    "mask + penalties + bias": (
        SamplingParams(temperature=1.0, presence_penalty=1.0, logit_bias={6: 2.0, 9: -1.0}),
        {"counts": {3: 1, 6: 4}, "allowed": MASK},
    ),
    "mask + top_p": (SamplingParams(temperature=0.8, top_p=0.9), {"allowed": MASK}),
    "mask + top_k 2": (SamplingParams(temperature=1.0, top_k=2), {"allowed": MASK}),
    "mask + top_k larger than allowed": (SamplingParams(temperature=1.0, top_k=30), {"allowed": MASK}),
}


@pytest.mark.parametrize("rows", [4, 128])
@pytest.mark.parametrize("case", list(CASES))
def test_draws_follow_the_exact_distribution(case: str, rows: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sampling, "_ROWS", rows)
    params, kwargs = CASES[case]
    base = make_logits()
    expected = reference(base, params, **kwargs)
    drawn = Counter(sample(base.copy(), params, new_rng(seed), **kwargs) for seed in range(DRAWS))
    observed = np.array([drawn[t] for t in range(VOCAB)], dtype=np.int64)
    assert all(expected[t] > 0 for t in drawn), "drew a token of probability 0"
    assert chi_square_p(observed, expected * DRAWS) > ALPHA


@pytest.mark.parametrize("windows", [(), (0.5,), (0.5, 1.0, 2.0)])
def test_nucleus_is_exact_whichever_window_holds_it(
    windows: tuple[float, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    """top_p alone sorts only a window of the heaviest tokens when it holds top_p of the mass, the
    whole vocabulary when none does (here forced with narrow windows, or none)."""
    monkeypatch.setattr(sampling, "_NUCLEUS_WINDOWS", windows)
    params = SamplingParams(temperature=1.1, top_p=0.97)
    base = make_logits()
    drawn = Counter(sample(base.copy(), params, new_rng(seed)) for seed in range(DRAWS))
    observed = np.array([drawn[t] for t in range(VOCAB)], dtype=np.int64)
    expected = reference(base, params)
    assert all(expected[t] > 0 for t in drawn)
    assert chi_square_p(observed, expected * DRAWS) > ALPHA


def test_chi_square_catches_a_wrong_temperature() -> None:
    """The test has power: draws at temperature 1 are refused as draws at temperature 0.8."""
    base = make_logits()
    drawn = Counter(sample(base.copy(), SamplingParams(temperature=1.0), new_rng(s)) for s in range(DRAWS))
    observed = np.array([drawn[t] for t in range(VOCAB)], dtype=np.int64)
    assert chi_square_p(observed, reference(base, SamplingParams(temperature=0.8)) * DRAWS) < ALPHA


@pytest.mark.parametrize("rows", [4, 128])
def test_greedy_is_argmax_after_penalties_bias_and_mask(rows: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sampling, "_ROWS", rows)
    base = make_logits()
    assert sample(base.copy(), SamplingParams(temperature=0), new_rng(0)) == int(np.argmax(base))
    params = SamplingParams(temperature=0, presence_penalty=2.0, logit_bias={9: 1.0})
    got = sample(base.copy(), params, new_rng(0), counts={3: 1}, allowed=MASK)
    cold = SamplingParams(temperature=0.01, presence_penalty=2.0, logit_bias={9: 1.0})
    assert got == int(np.argmax(reference(base, cold, counts={3: 1}, allowed=MASK)))


def test_sample_leaves_penalised_masked_logits_for_token_logprob() -> None:
    """token_logprob reads what sample left: penalties, bias and mask applied; temperature and
    truncation not (the logits are not rescaled, truncated tokens keep their values)."""
    base = make_logits()
    params = SamplingParams(
        temperature=0.5, top_k=3, top_p=0.5, presence_penalty=1.0, repetition_penalty=1.2, logit_bias={2: 5.0}
    )
    left = base.copy()
    sample(left, params, new_rng(1), counts={3: 2}, recent=[3, 7], allowed=MASK)
    want = base.astype(np.float64)
    for t in (3, 7):
        want[t] = want[t] / 1.2 if want[t] > 0 else want[t] * 1.2
    want[3] -= 1.0
    want[2] += 5.0
    want[~MASK] = -np.inf
    assert left.dtype == np.float32
    np.testing.assert_allclose(left, want.astype(np.float32), rtol=1e-6)


@pytest.mark.parametrize("everything", [False, True])
def test_mask_keeps_allowed_values_bit_for_bit(everything: bool) -> None:
    values = np.array([1.5, -0.0, np.inf, -3.25, 7.0, -np.inf, 2.0], dtype=np.float32)
    allowed = np.array([True, True, True, everything, True, True, everything])
    want = values.copy()
    want[~allowed] = -np.inf
    sampling._mask_out(values, allowed)
    assert values.tobytes() == want.tobytes()


@pytest.mark.parametrize("k", [1, 7, 20, 200])
def test_top_k_columns_find_the_k_best(k: int) -> None:
    rng = np.random.default_rng(k)
    values = rng.normal(0, 3, 151_936).astype(np.float32)
    values[rng.integers(0, values.shape[0], 8)] += 20
    got = np.sort(sampling._top_k(values, k))
    assert got.tolist() == np.sort(np.argsort(-values, kind="stable")[:k]).tolist()


@pytest.mark.parametrize("share", [1.0, 0.1, 0.002, 0.0001])
def test_token_logprob_matches_a_float64_log_softmax(share: float) -> None:
    """Over a large vocabulary, masked or not (the column top-k path): the sampled token's log
    probability and the k best alternatives, best first, as a float64 log-softmax gives them."""
    rng = np.random.default_rng(7)
    values = rng.normal(-4.5, 2.6, 151_936).astype(np.float32)
    values[rng.integers(0, values.shape[0], 24)] = rng.uniform(8, 15, 24).astype(np.float32)
    values[rng.random(values.shape[0]) >= share] = -np.inf
    finite = np.flatnonzero(np.isfinite(values))
    x = values.astype(np.float64)
    log_softmax = x - (x.max() + np.log(np.exp(x - x.max()).sum()))
    token = int(finite[len(finite) // 2])
    entry = sampling.token_logprob(values, token, 20)
    best = finite[np.argsort(-x[finite], kind="stable")][:20]
    assert entry.logprob == pytest.approx(log_softmax[token], abs=1e-5)
    assert [t for t, _ in entry.top] == best.tolist()
    assert [lp for _, lp in entry.top] == pytest.approx(log_softmax[best].tolist(), abs=1e-5)
