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
    the repetition penalty once per distinct token of `recent` (the window, prompt tail included).

    Touches only the tokens seen (and biased): a few hundred entries, never the whole vocabulary.
    """
    n = logits.shape[0]
    if recent and params.repetition_penalty != 1.0:
        ids = np.unique(np.asarray(recent, dtype=np.intp))
        ids = ids[(ids >= 0) & (ids < n)]
        seen = logits[ids]
        logits[ids] = np.where(seen > 0, seen / params.repetition_penalty, seen * params.repetition_penalty)
    if counts and (params.presence_penalty or params.frequency_penalty):
        ids = np.fromiter(counts.keys(), dtype=np.intp, count=len(counts))
        times = np.fromiter(counts.values(), dtype=np.float32, count=len(counts))
        logits[ids] -= times * np.float32(params.frequency_penalty) + np.float32(params.presence_penalty)
    for token, bias in params.logit_bias.items():
        if 0 <= token < n:
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

    Runs once per token on the engine thread, so it never sorts, partitions or cumulates the vocabulary
    (on Qwen's 152k tokens each costs 1-2 ms, a tenth of a decode step) and holds at most one
    vocabulary-sized float32 temporary at a time: top_k and min_p bound the candidates exactly before
    any exp; without them, one exp pass, then column sums pick a token and a window of the heaviest
    tokens holds the nucleus. Well under 0.5 ms a token (bench/sampler_speed.py).
    """
    apply_penalties(logits, counts or {}, params, recent)
    if allowed is not None:
        _mask_out(logits, allowed)
    if params.greedy:
        return int(np.argmax(logits))
    top = float(logits.max())
    if not math.isfinite(top):  # every token masked (the engine stops before this) or a NaN
        return int(np.argmax(logits))
    ids = _candidates(logits, params, top)
    if ids is None:  # no exact bound on the candidates: weigh the whole vocabulary
        weights = _weights(logits, top, params.temperature)  # the one full-vocabulary copy
        if params.top_p >= 1.0:
            return _draw_grouped(weights, rng)
        total = float(weights.sum())
        ids = _nucleus_candidates(weights, params.top_p * total)
        weights = weights[ids]
    else:
        weights = _weights(logits[ids], top, params.temperature)
        total = float(weights.sum(dtype=np.float64))
    if params.top_p >= 1.0:
        return int(ids[_draw(weights, rng.random())])
    # the nucleus: the smallest highest-weight set holding top_p of the mass
    order = np.argsort(-weights, kind="stable")
    cdf = np.cumsum(weights[order], dtype=np.float64)
    cut = min(int(np.searchsorted(cdf, params.top_p * total)) + 1, cdf.shape[0])
    return int(ids[order[_draw_cdf(cdf[:cut], rng.random())]])


# The vocabulary seen as a (_ROWS, n // _ROWS) matrix (plus a remainder of < _ROWS tokens): a reduction
# down its columns runs over contiguous rows and is vectorised (15 us for 152k tokens), where one along
# short rows is 6x slower. Columns are groups of tokens whose maxima or sums bound or pick among them.
_ROWS = 128


def _columns(values: npt.NDArray[np.float32]) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.intp]]:
    """The (_ROWS, cols) view of `values` and the ids of the remainder past it."""
    cols = values.shape[0] // _ROWS
    body = _ROWS * cols
    return values[:body].reshape(_ROWS, cols), np.arange(body, values.shape[0])


def _candidates(
    logits: npt.NDArray[np.float32], params: SamplingParams, top: float
) -> npt.NDArray[np.intp] | None:
    """Ids of every token top_k and min_p leave a chance (None: no bound, every token)."""
    n = logits.shape[0]
    floor = top + math.log(params.min_p) if params.min_p > 0.0 else -math.inf
    if 0 < params.top_k < n:
        ids = _top_k(logits, params.top_k)
        return ids[logits[ids] >= floor] if params.min_p > 0.0 else ids
    if params.min_p > 0.0:  # min_p compares probabilities at temperature 1: p(x) >= min_p * p(top)
        return np.flatnonzero(logits >= floor)
    return None


def _top_k(logits: npt.NDArray[np.float32], k: int) -> npt.NDArray[np.intp]:
    """Ids of the k highest logits, unordered (ties at the boundary: any of them). Where fewer than k
    tokens are allowed, masked ones may be left out or included: they have no chance either way.

    Exact without partitioning the vocabulary: the k columns with the highest maxima hold k tokens at
    least as high as the k-th of those maxima, and every token outside them is at most that high, so
    the k best of those columns (and the remainder) are the k best of all.
    """
    grid, rest = _columns(logits)
    cols = grid.shape[1]
    if k * 4 > cols:  # small vocabulary or large k: the columns would hold most tokens anyway
        return np.argpartition(logits, logits.shape[0] - k)[-k:]
    maxima = grid.max(axis=0)
    best = np.argpartition(maxima, cols - k)[-k:]
    ids: npt.NDArray[np.intp] = np.concatenate([(np.arange(_ROWS)[:, None] * cols + best).ravel(), rest])
    # Only tokens at least as high as the k-th maximum can be among the k best. Dropping the others
    # first also keeps argpartition off runs of -inf (a grammar mask), where it slows down 100-fold.
    floor = float(maxima[best].min())
    x = logits[ids]
    ids = ids[x >= floor] if floor > -math.inf else ids[x > -math.inf]
    if ids.shape[0] <= k:
        return ids
    return ids[np.argpartition(logits[ids], ids.shape[0] - k)[-k:]]


def _weights(x: npt.NDArray[np.float32], top: float, temperature: float) -> npt.NDArray[np.float32]:
    """exp((x - top) / temperature) in float32, in a new array (x is left alone): masked tokens → 0."""
    weights = np.subtract(x, np.float32(top))
    weights /= np.float32(temperature)  # not * 1/t: that overflows for tiny t, and 0 * inf is NaN
    return np.exp(weights, out=weights)


_NUCLEUS_WINDOWS = (4.0, 8.0, 16.0)  # nats below the best token (at the request's temperature)


def _nucleus_candidates(weights: npt.NDArray[np.float32], mass: float) -> npt.NDArray[np.intp]:
    """Ids of a highest-weight set holding at least `mass` (top_p of the total), so it contains the
    nucleus. Tokens within a few nats of the best (weight 1) usually hold it: a few hundred ids to sort
    instead of the vocabulary. Exact: every token outside weighs less than every token inside.
    """
    for nats in _NUCLEUS_WINDOWS:
        ids = np.flatnonzero(weights >= math.exp(-nats))
        if float(weights[ids].sum(dtype=np.float64)) >= mass:
            return ids
    return np.flatnonzero(weights)


def _draw(weights: npt.NDArray[np.float32] | npt.NDArray[np.float64], r: float) -> int:
    """Index i with probability weights[i] / sum, by inverse CDF at r in [0, 1)."""
    return _draw_cdf(np.cumsum(weights, dtype=np.float64), r)


def _draw_cdf(cdf: npt.NDArray[np.float64], r: float) -> int:
    i = int(np.searchsorted(cdf, r * cdf[-1], side="right"))  # never a zero-weight index below the end
    return i if i < cdf.shape[0] else int(np.searchsorted(cdf, cdf[-1]))  # r * total rounded up to it


def _draw_grouped(weights: npt.NDArray[np.float32], rng: np.random.Generator) -> int:
    """`_draw` over the whole vocabulary without its cumulative sum (1.7 ms on 152k tokens in float64):
    a column by its sum, then a token of that column. Same distribution, two uniform draws."""
    grid, rest = _columns(weights)
    cols = grid.shape[1]
    mass = np.empty(cols + 1, dtype=np.float64)
    mass[:cols] = grid.sum(axis=0)
    mass[cols] = weights[rest].sum()
    col = _draw(mass, rng.random())
    if col == cols:
        return int(rest[_draw(weights[rest], rng.random())])
    return int(_draw(grid[:, col], rng.random()) * cols + col)


_NEG_INF_BITS = np.float32(-np.inf).view(np.int32)


def _mask_out(logits: npt.NDArray[np.float32], allowed: npt.NDArray[np.bool_]) -> None:
    """logits[~allowed] = -inf without branches: a boolean scatter costs 4-10x more on masks that mix
    allowed and refused tokens, as a grammar's do. min(logit, +inf) keeps an allowed logit bit for bit;
    min(logit, -inf) is -inf; +inf and -inf differ only in the sign bit, set from `allowed`."""
    if np.count_nonzero(allowed) == allowed.shape[0]:  # allows everything: nothing to do
        return
    if logits.dtype != np.float32 or allowed.dtype != np.bool_:
        logits[~allowed] = -np.inf
        return
    caps = allowed.astype(np.int32)
    caps <<= 31  # sign bit set where allowed
    caps ^= _NEG_INF_BITS  # allowed: +inf, refused: -inf
    np.minimum(logits, caps.view(np.float32), out=logits)


@dataclass(slots=True, frozen=True)
class TokenLogprob:
    """A sampled token's log probability and the `top` most likely tokens of its step, best first."""

    token: int
    logprob: float
    top: tuple[tuple[int, float], ...] = ()


def token_logprob(logits: npt.NDArray[np.float32], token: int, k: int) -> TokenLogprob:
    """Log-softmax of `logits` at `token`, with the k best alternatives (no sort of the vocabulary).

    Pass the logits `sample` left behind: penalties, logit_bias and the grammar mask applied (masked
    tokens are -inf and never listed), temperature and truncation (top_k/top_p/min_p) not.
    """
    top = float(logits.max())
    shifted = np.subtract(logits, np.float32(top))  # float32 exp, float64 sum: no float64 copy
    log_total = top + math.log(float(np.exp(shifted, out=shifted).sum(dtype=np.float64)))
    alternatives: tuple[tuple[int, float], ...] = ()
    if k > 0:
        ids = _top_k(logits, min(k, logits.shape[0]))  # the sampler's: no partition of the vocabulary
        ids = ids[np.argsort(-logits[ids], kind="stable")]
        alternatives = tuple((int(i), float(logits[i]) - log_total) for i in ids if np.isfinite(logits[i]))
    return TokenLogprob(token, float(logits[token]) - log_total, alternatives)
