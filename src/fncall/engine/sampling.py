"""Sampling parameters and the sampler: logits of one step in, one token id out (numpy, no llama.cpp)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt


@dataclass(slots=True, frozen=True, kw_only=True)
class SamplingParams:
    """What a request asks of the sampler. Ranges follow OpenAI's API; ValueError names the field."""

    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0  # 0 = off
    min_p: float = 0.0
    seed: int | None = None
    max_tokens: int | None = None  # None = until the context is full
    stop: tuple[str, ...] = ()
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    logit_bias: Mapping[int, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        checks = [
            ("temperature", 0.0 <= self.temperature <= 2.0, "between 0 and 2"),
            ("top_p", 0.0 < self.top_p <= 1.0, "greater than 0 and at most 1"),
            ("top_k", self.top_k >= 0, "at least 0"),
            ("min_p", 0.0 <= self.min_p <= 1.0, "between 0 and 1"),
            ("presence_penalty", -2.0 <= self.presence_penalty <= 2.0, "between -2 and 2"),
            ("frequency_penalty", -2.0 <= self.frequency_penalty <= 2.0, "between -2 and 2"),
            ("max_tokens", self.max_tokens is None or self.max_tokens >= 1, "at least 1"),
            ("stop", len(self.stop) <= 4 and all(self.stop), "at most 4 non-empty strings"),
        ]
        for name, ok, expected in checks:
            if not ok:
                raise ValueError(f"{name} must be {expected}")
        for token, bias in self.logit_bias.items():
            if not -100.0 <= bias <= 100.0:
                raise ValueError(f"logit_bias for token {token} must be between -100 and 100")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0


def new_rng(seed: int | None) -> np.random.Generator:
    return np.random.default_rng(seed)


def apply_penalties(
    logits: npt.NDArray[np.float32], counts: Mapping[int, int], params: SamplingParams
) -> None:
    """OpenAI's definition: logit -= count * frequency_penalty + (count > 0) * presence_penalty."""
    if counts and (params.presence_penalty or params.frequency_penalty):
        ids = np.fromiter(counts.keys(), dtype=np.intp, count=len(counts))
        n = np.fromiter(counts.values(), dtype=np.float32, count=len(counts))
        logits[ids] -= n * params.frequency_penalty + params.presence_penalty
    for token, bias in params.logit_bias.items():
        if 0 <= token < logits.shape[0]:
            logits[token] += bias


def sample(
    logits: npt.NDArray[np.float32],
    params: SamplingParams,
    rng: np.random.Generator,
    *,
    counts: Mapping[int, int] | None = None,
    allowed: npt.NDArray[np.bool_] | None = None,
) -> int:
    """Pick the next token. `logits` is modified in place; `allowed` masks out tokens (e.g. a grammar)."""
    apply_penalties(logits, counts or {}, params)
    if allowed is not None:
        logits[~allowed] = -np.inf
    if params.greedy:
        return int(np.argmax(logits))
    candidates = _candidates(logits, params)
    scaled = logits[candidates] / params.temperature
    probs = np.exp(scaled - scaled.max())
    probs /= probs.sum()
    cut = _nucleus_cut(probs, params)
    probs = probs[:cut] / probs[:cut].sum()
    return int(candidates[rng.choice(cut, p=probs)])


def _candidates(logits: npt.NDArray[np.float32], params: SamplingParams) -> npt.NDArray[np.intp]:
    """Token ids sorted by logit, descending, after top_k and min_p (cheap partition before sorting)."""
    finite = np.isfinite(logits)
    k = int(finite.sum())
    if params.top_k:
        k = min(k, params.top_k)
    k = max(k, 1)
    if k < logits.shape[0]:
        part = np.argpartition(-logits, k - 1)[:k]
    else:
        part = np.arange(logits.shape[0])
    order = part[np.argsort(-logits[part], kind="stable")]
    if params.min_p > 0.0:
        # min_p compares probabilities at temperature 1: p(x) >= min_p * p(top)
        keep = logits[order] >= logits[order[0]] + math.log(params.min_p)
        order = order[keep]
    return order


def _nucleus_cut(sorted_probs: npt.NDArray[np.float64], params: SamplingParams) -> int:
    if params.top_p >= 1.0:
        return int(sorted_probs.shape[0])
    cumulative = np.cumsum(sorted_probs)
    return min(int(np.searchsorted(cumulative, params.top_p)) + 1, int(sorted_probs.shape[0]))
