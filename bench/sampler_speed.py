"""Sampler speed on Qwen's 151,936-token vocabulary: ms per token, before and after, per configuration.

"before" is src/fncall/engine/sampling.py at a git revision (default d3b5f07, the sampler before issue
15), read with `git show`; "after" is the working tree's. Both sample the same logits, taking turns every
few calls, so a busy machine slows both alike. Each call is the whole `sample`: penalties, logit_bias, the
grammar mask, truncation and the draw (and `token_logprob` after it where logprobs are asked for, as
in the engine). Not part of the pytest suite; pin it to one core:

    taskset -c 1 .venv/bin/python bench/sampler_speed.py        # about a minute
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import types
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from serve_speed import commit, machine, others_cpu_s

from fncall.engine import sampling
from fncall.engine.sampling import SamplingParams

ROOT = Path(__file__).resolve().parent.parent
VOCAB = 151_936  # Qwen2.5's
HISTORY = 256  # tokens already written, for the penalties
Logits = npt.NDArray[np.float32]
Sampler = Callable[..., int]

CONFIGS: dict[str, SamplingParams] = {
    "greedy": SamplingParams(temperature=0.0),
    "temperature 0.7": SamplingParams(temperature=0.7),
    "T 0.7 + top_p 0.95": SamplingParams(temperature=0.7, top_p=0.95),
    "T 0.7 + top_p 0.95 + top_k 20": SamplingParams(temperature=0.7, top_p=0.95, top_k=20),
    "Qwen defaults (T 0.7, top_p 0.8, top_k 20, rep 1.05)": SamplingParams(
        temperature=0.7, top_p=0.8, top_k=20, repetition_penalty=1.05
    ),
    "T 0.7 + min_p 0.05": SamplingParams(temperature=0.7, min_p=0.05),
    "T 0.7 + presence, frequency, rep 1.1 over 256": SamplingParams(
        temperature=0.7,
        presence_penalty=0.5,
        frequency_penalty=0.5,
        repetition_penalty=1.1,
        repetition_window=256,
    ),
    "T 0.7 + logit_bias (4 entries)": SamplingParams(
        temperature=0.7, logit_bias={11: 5.0, 198: -100.0, 2000: 2.5, 151_643: -100.0}
    ),
}
CONFIGS["Qwen defaults + logprobs, top 5"] = SamplingParams(
    temperature=0.7, top_p=0.8, top_k=20, repetition_penalty=1.05, logprobs=5
)
MASKS = {"none": None, "10 %": 0.10, "100 %": 1.0}  # share of the vocabulary a grammar allows


def qwen_like_logits(rng: np.random.Generator) -> Logits:
    """Logits shaped like Qwen2.5-Coder-1.5B's on a story prompt (measured: bulk mean -4.5, sd 2.6, the
    best token at 14-20): here the best at ~15 and two dozen plausible tokens a few nats below it, an
    uncertain step whose top_p 0.95 nucleus holds about a dozen tokens."""
    x = rng.normal(-4.5, 2.6, VOCAB).astype(np.float32)
    plausible = rng.choice(VOCAB, 24, replace=False)
    x[plausible] = (15.0 - np.sort(rng.exponential(2.5, 24))).astype(np.float32)
    return x


def load_before(rev: str) -> types.ModuleType:
    """fncall.engine.sampling as it was at `rev`, as a module of its own."""
    path = "src/fncall/engine/sampling.py"
    source = subprocess.run(
        ["git", "show", f"{rev}:{path}"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    module = types.ModuleType("sampling_before")
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(source, f"{rev}:{path}", "exec"), module.__dict__)
    return module


def engine_step(module: types.ModuleType) -> Sampler:
    """`sample`, then `token_logprob` on what it left when the request asks for logprobs (as the engine)."""

    def step(logits: Logits, params: SamplingParams, rng: np.random.Generator, **kwargs: Any) -> int:
        token: int = module.sample(logits, params, rng, **kwargs)
        if params.logprobs is not None:
            module.token_logprob(logits, token, params.logprobs)
        return token

    return step


def measure(
    samplers: dict[str, Sampler], params: SamplingParams, share: float | None, args: argparse.Namespace
) -> dict[str, list[float]]:
    """Seconds per call of each sampler on the same inputs, the samplers taking turns every `--block`
    calls (often enough that a change in load hits both; seldom enough that neither runs on caches the
    other just filled with its own arrays)."""
    rng = np.random.default_rng(0)
    inputs = [qwen_like_logits(rng) for _ in range(8)]
    history = rng.integers(0, VOCAB, HISTORY).tolist()
    window = history[-params.repetition_window :] if params.repetition_penalty != 1.0 else []
    counts = Counter(history)
    allowed = None if share is None else rng.random(VOCAB) < share
    times: dict[str, list[float]] = {name: [] for name in samplers}
    for first in range(-args.warmup, args.calls, args.block):
        for name, sample in samplers.items():
            for i in range(first, min(first + args.block, args.calls)):
                logits = inputs[i % len(inputs)].copy()
                draws = np.random.default_rng(i + args.warmup)
                start = time.perf_counter()
                sample(logits, params, draws, counts=counts, recent=window, allowed=allowed)
                if i >= 0:
                    times[name].append(time.perf_counter() - start)
    return times


def summary(seconds: list[float]) -> dict[str, float]:
    ms = np.array(seconds) * 1e3
    return {
        "mean_ms": float(ms.mean()),
        "median_ms": float(np.median(ms)),
        "p95_ms": float(np.percentile(ms, 95)),
        "min_ms": float(ms.min()),  # the cost without preemption, on a busy machine
    }


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    samplers = {"before": engine_step(load_before(args.before)), "after": engine_step(sampling)}
    rows = []
    for config, params in CONFIGS.items():
        for mask, share in MASKS.items():
            cpu_before, began = others_cpu_s(), time.perf_counter()
            times = measure(samplers, params, share, args)
            busy = max(0.0, others_cpu_s() - cpu_before) / (time.perf_counter() - began)
            row = {"config": config, "mask": mask, "other_processes_cores": busy}
            row |= {name: summary(t) for name, t in times.items()}
            rows.append(row)
            print_row(row)
    return rows


COLUMNS = f"{'configuration':<52} {'mask':>5} | {'before: median':>14} {'p95':>6} {'min':>6} |"
COLUMNS += f" {'after: median':>13} {'p95':>6} {'min':>6} | {'speed-up':>8} | other CPU"


def print_row(row: dict[str, Any]) -> None:
    before, after = row["before"], row["after"]
    cells = [f"{row['config']:<52} {row['mask']:>5}"]
    for side in (before, after):
        cells.append(f"{side['median_ms']:>11.3f} ms {side['p95_ms']:>6.3f} {side['min_ms']:>6.3f}")
    cells.append(f"{before['median_ms'] / after['median_ms']:>7.1f}x")
    cells.append(f"{row['other_processes_cores']:.2f} cores")
    print(" | ".join(cells))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=200, help="timed calls per sampler and configuration")
    parser.add_argument("--warmup", type=int, default=10, help="untimed calls first")
    parser.add_argument(
        "--block", type=int, default=10, help="calls in a row before the other sampler's turn"
    )
    parser.add_argument("--before", default="d3b5f07", help="git revision of the sampler to compare with")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/sampler_speed.json")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) > 1:
        print(f"note: not pinned (cores {cores}); run under `taskset -c 1` for steadier figures")
    print(
        f"vocabulary {VOCAB}, {args.calls} calls each, ms per token (speed-up of medians; mean in the JSON);"
    )
    print("other CPU: cores other processes used meanwhile. Where it is not near 0, calls that lost the core")
    print("to another process (+ several ms) inflate median and p95: min is then the better guide")
    print(COLUMNS)
    rows = run(args)
    report = {
        "benchmark": "sampler_speed",
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "fncall": commit(),
        "cores": cores,
        "vocab": VOCAB,
        "before": args.before,
        "calls": args.calls,
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
