"""Sampling parameters and the sampler: logits of one step in, one token id out (numpy, no llama.cpp)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

MAX_TOP_LOGPROBS = 20


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
    # llama.cpp's / Hugging Face's multiplicative penalty over the last `repetition_window` tokens (prompt
    # tail and output): a seen token's logit is divided by it when positive, multiplied when negative.
    repetition_penalty: float = 1.0  # 1 = off
    repetition_window: int = 64  # llama.cpp's penalty_last_n default
    logit_bias: Mapping[int, float] = field(default_factory=dict)
    # Not sampling, but travels with it (to a remote engine too): None = no log probabilities; k = each
    # sampled token's log probability and the k most likely alternatives (OpenAI's top_logprobs, 0-20).
    logprobs: int | None = None
    # With `logprobs`: the prompt's tokens are scored too (each from the logits before it, as the model
    # gives them: no penalties), which recomputes the whole prompt (no prefix reuse).
    prompt_logprobs: bool = False

    def __post_init__(self) -> None:
        checks = [
            ("temperature", 0.0 <= self.temperature <= 2.0, "between 0 and 2"),
            ("top_p", 0.0 < self.top_p <= 1.0, "greater than 0 and at most 1"),
            ("top_k", self.top_k >= 0, "at least 0"),
            ("min_p", 0.0 <= self.min_p <= 1.0, "between 0 and 1"),
            ("presence_penalty", -2.0 <= self.presence_penalty <= 2.0, "between -2 and 2"),
            ("frequency_penalty", -2.0 <= self.frequency_penalty <= 2.0, "between -2 and 2"),
            ("repetition_penalty", 0.0 < self.repetition_penalty <= 2.0, "greater than 0 and at most 2"),
            ("repetition_window", self.repetition_window >= 0, "at least 0"),
            ("max_tokens", self.max_tokens is None or self.max_tokens >= 1, "at least 1"),
            ("stop", len(self.stop) <= 4 and all(self.stop), "at most 4 non-empty strings"),
            ("logprobs", self.logprobs is None or 0 <= self.logprobs <= MAX_TOP_LOGPROBS, "between 0 and 20"),
            ("prompt_logprobs", not self.prompt_logprobs or self.logprobs is not None, "set with logprobs"),
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
    logits: npt.NDArray[np.float32],
    counts: Mapping[int, int],
    params: SamplingParams,
    recent: Sequence[int] = (),
) -> None:
    """OpenAI's definition: logit -= count * frequency_penalty + (count > 0) * presence_penalty; then
    the repetition penalty once per distinct token of `recent` (the window, prompt tail included)."""
    if recent and params.repetition_penalty != 1.0:
        ids = np.unique(np.asarray(recent, dtype=np.intp))
        ids = ids[(ids >= 0) & (ids < logits.shape[0])]
        seen = logits[ids]
        logits[ids] = np.where(seen > 0, seen / params.repetition_penalty, seen * params.repetition_penalty)
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
    recent: Sequence[int] = (),
    allowed: npt.NDArray[np.bool_] | None = None,
) -> int:
    """Pick the next token. `logits` is modified in place; `allowed` masks out tokens (e.g. a grammar).

    Runs once per token on the engine thread, so it never sorts the whole vocabulary: a full argsort of
    a 150k vocabulary costs more than a decode step of a small model on CPU.
    """
    apply_penalties(logits, counts or {}, params, recent)
    if allowed is not None:
        logits[~allowed] = -np.inf
    if params.greedy:
        return int(np.argmax(logits))
    ids: npt.NDArray[np.intp] | None = None  # None = every token is a candidate
    if 0 < params.top_k < logits.shape[0]:
        ids = np.argpartition(-logits, params.top_k - 1)[: params.top_k]
    x = logits if ids is None else logits[ids]
    top = float(x.max())
    weights = np.exp((x - top) / params.temperature)  # -inf (masked) → 0
    if params.min_p > 0.0:  # min_p compares probabilities at temperature 1: p(x) >= min_p * p(top)
        weights[x < top + math.log(params.min_p)] = 0.0
    if params.top_p < 1.0:
        nucleus = _nucleus(weights, params.top_p)
        ids = nucleus if ids is None else ids[nucleus]
        weights = weights[nucleus]
    cdf = np.cumsum(weights, dtype=np.float64)
    pick = min(int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right")), cdf.shape[0] - 1)
    return int(pick if ids is None else ids[pick])


def _nucleus(weights: npt.NDArray[np.float32], top_p: float) -> npt.NDArray[np.intp]:
    """Indices of the smallest highest-weight set holding `top_p` of the mass, heaviest first.

    Sorts only a growing head of the distribution (64, 512, ... tokens): the nucleus is usually small.
    """
    target = top_p * float(weights.sum(dtype=np.float64))
    n = weights.shape[0]
    head = 64
    while True:
        if head >= n:
            order = np.argsort(-weights, kind="stable")
        else:
            part = np.argpartition(-weights, head - 1)[:head]
            order = part[np.argsort(-weights[part], kind="stable")]
        mass = np.cumsum(weights[order], dtype=np.float64)
        if mass[-1] >= target or head >= n:
            return order[: min(int(np.searchsorted(mass, target)) + 1, order.shape[0])]
        head *= 8


@dataclass(slots=True, frozen=True)
class TokenLogprob:
    """A sampled token's log probability and the `top` most likely tokens of its step, best first."""

    token: int
    logprob: float
    top: tuple[tuple[int, float], ...] = ()


_TOP_WINDOW = 12.0  # nats below the best logit where top_logprobs candidates are looked for first


def token_logprob(logits: npt.NDArray[np.float32], token: int, k: int) -> TokenLogprob:
    """Log-softmax of `logits` at `token`, with the k best alternatives (argpartition: no full sort).

    Pass the logits `sample` left behind: penalties, logit_bias and the grammar mask applied (masked
    tokens are -inf and never listed), temperature and truncation (top_k/top_p/min_p) not.
    """
    top = float(logits.max())
    log_total = top + math.log(float(np.exp(logits - top, dtype=np.float64).sum()))
    alternatives: tuple[tuple[int, float], ...] = ()
    if k > 0:
        k = min(k, logits.shape[0])
        # The best k are almost always within a few nats of the top: partition those few hundred only
        # (30x faster on a 150k vocabulary); exact, since too few candidates falls back to all.
        ids = np.flatnonzero(logits > top - _TOP_WINDOW)
        if ids.shape[0] < k:
            ids = np.arange(logits.shape[0])
        ids = ids[np.argpartition(-logits[ids], k - 1)[:k]]
        ids = ids[np.argsort(-logits[ids], kind="stable")]
        alternatives = tuple((int(i), float(logits[i]) - log_total) for i in ids if np.isfinite(logits[i]))
    return TokenLogprob(token, float(logits[token]) - log_total, alternatives)
