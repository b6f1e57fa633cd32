"""What one decode step costs for 1..N new tokens of one sequence: the figure that decides whether
speculation (verifying drafted tokens in one batch) or jump-forward (decoding forced tokens as a chunk)
can pay on this machine.

Decodes a ~900-token prompt into one slot, then times steps of n tokens after it (logits for every one,
as a draft's verification needs; with --last-only for the last one, as a forced or prompt chunk),
dropping them after each step. Prints milliseconds per step, its ratio
to a one-token step, and the break-even acceptance a draft of n-1 tokens would need: the share of the
drafted tokens that must be accepted for the step to cost no more than the one-token steps it replaces.

    .venv/bin/python bench/batch_cost.py                  # default model, 2 threads, ~1 min idle
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from serve_speed import commit, machine

from fncall.engine.llama import BatchEntry, LlamaContext, LlamaModel
from fncall.models.provision import resolve_model

ROOT = Path(__file__).resolve().parent.parent


def step_ms(ctx: LlamaContext, tokens: list[int], pos: int, n: int, runs: int, rows: bool) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        ctx.decode([BatchEntry(0, tokens[:n], pos, True, all_logits=rows)])
        times.append(time.perf_counter() - started)
        ctx.truncate(0, pos)
    return statistics.median(times) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--model", default="default", help="default, tiny or a .gguf path")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=9, help="timed steps per size (median)")
    parser.add_argument("--sizes", default="1,2,3,4,5,8", help="tokens per step, comma-separated")
    parser.add_argument(
        "--last-only",
        action="store_true",
        help="logits for the last token only (a forced chunk or a prompt chunk), not every one",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/batch_cost.json")
    args = parser.parse_args()
    model = LlamaModel(resolve_model(args.model).path)
    ctx = LlamaContext(model, n_ctx_seq=4096, n_seq=1, n_threads=args.threads, n_batch=512)
    prompt = model.tokenize("The quick brown fox jumps over the lazy dog. " * 90, add_special=False)[:900]
    for start in range(0, len(prompt), 450):
        ctx.decode([BatchEntry(0, prompt[start : start + 450], start, True)])
    sizes = sorted({1, *(int(s) for s in args.sizes.split(","))})  # 1: what every size is compared with
    step_ms(ctx, prompt, len(prompt), 1, 2, True)  # unmeasured: threads and caches settle
    rows = {n: step_ms(ctx, prompt, len(prompt), n, args.runs, not args.last_only) for n in sizes}
    one = rows[1]
    print(f"{'tokens':>6} {'ms/step':>8} {'x one':>6} {'ms/token':>9}  break-even acceptance of n-1 drafted")
    table = []
    for n, ms in rows.items():
        # a draft of d = n-1 tokens, a of them accepted, replaces a+1 one-token steps: ms <= (a+1) * one
        even = (ms / one - 1) / (n - 1) if n > 1 else None
        shown = f"{even:.0%}" if even is not None else ""
        print(f"{n:>6} {ms:>8.1f} {ms / one:>6.2f} {ms / n:>9.1f}  {shown}")
        table.append({"tokens": n, "ms": ms, "ratio": ms / one, "break_even_acceptance": even})
    report = {
        "benchmark": "batch_cost",
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "fncall": commit(),
        "model": args.model,
        "threads": args.threads,
        "prompt_tokens": len(prompt),
        "logits": "last token" if args.last_only else "every token",
        "steps": table,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {args.out}")
    ctx.close()
    model.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
