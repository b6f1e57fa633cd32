"""End-to-end serving speed of `fncall serve`, measured through the official `openai` SDK.

Runs one stream, four concurrent streams and a ~1000-token prompt against a server (started here unless
--base-url is given), prints a table and writes JSON. Not part of the pytest suite. Takes minutes on a
small CPU with the default model, and much longer when other processes share the cores (see README).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from openai import OpenAI

from fncall.launch import running_server

ROOT = Path(__file__).resolve().parent.parent
CONCURRENCY = 4
STORY = (
    "Write a very long, detailed story (at least 2000 words) about a lighthouse keeper who finds a "
    "message in a bottle. Describe every scene, character and conversation at length."
)
PARAGRAPH = (
    "The history of computing is a story of layers. Engineers first wired logic out of relays and "
    "vacuum tubes, then out of transistors, and finally etched billions of them onto a single chip. "
    "Each layer hid the one below it: assembly hid machine code, compilers hid assembly, and operating "
    "systems hid the hardware itself, so that programmers could think about problems instead of wires. "
)
PROMPT_REPEATS = 11  # about 1000 prompt tokens with either packaged model

Row = tuple[str, float | None, str]


@dataclass(frozen=True, slots=True)
class Timing:
    """One streamed request; times are time.perf_counter() values."""

    sent: float
    first: float  # first chunk with content, or the finish chunk when no content came
    last: float  # last chunk with content
    prompt_tokens: int
    completion_tokens: int
    text: str = ""  # the content, joined
    finish_reason: str | None = None

    @property
    def ttft(self) -> float:
        return self.first - self.sent

    @property
    def decode_tok_s(self) -> float | None:
        span = self.last - self.first
        return (self.completion_tokens - 1) / span if span > 0 and self.completion_tokens > 1 else None


def stream(client: OpenAI, model: str, prompt: str, max_tokens: int, **sampling: Any) -> Timing:
    """Streams one chat completion to its end; raises if the usage chunk is missing."""
    sent = time.perf_counter()
    first: float | None = None
    last: float | None = None
    usage = None
    parts: list[str] = []
    finish_reason = None
    response = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": prompt}],
        max_tokens=max_tokens,
        stream=True,
        stream_options={"include_usage": True},
        **sampling,
    )
    for chunk in response:
        now = time.perf_counter()
        usage = chunk.usage or usage
        for choice in chunk.choices:
            if choice.delta.content or choice.finish_reason:
                first = now if first is None else first
            if choice.delta.content:
                last = now
                parts.append(choice.delta.content)
            finish_reason = choice.finish_reason or finish_reason
    if usage is None or first is None:
        raise RuntimeError("stream ended without content, finish chunk or usage chunk")
    tokens = usage.prompt_tokens, usage.completion_tokens
    return Timing(sent, first, last or first, *tokens, text="".join(parts), finish_reason=finish_reason)


def median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def bench_single(client: OpenAI, model: str, runs: int, max_tokens: int) -> list[Row]:
    timings = [stream(client, model, STORY, max_tokens, temperature=0.0) for _ in range(runs)]
    return [
        ("single: time to first token", median([t.ttft for t in timings]), "s"),
        ("single: decode speed", median([t.decode_tok_s for t in timings]), "tok/s"),
        ("single: total time", median([t.last - t.sent for t in timings]), "s"),
        ("single: completion tokens", median([t.completion_tokens for t in timings]), "tok"),
    ]


def concurrent_round(client: OpenAI, model: str, max_tokens: int, run: int) -> list[Timing]:
    def one(i: int) -> Timing:
        return stream(client, model, STORY, max_tokens, temperature=0.7, seed=run * CONCURRENCY + i)

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        return list(pool.map(one, range(CONCURRENCY)))


def bench_concurrent(client: OpenAI, model: str, runs: int, max_tokens: int) -> list[Row]:
    rounds = [concurrent_round(client, model, max_tokens, run) for run in range(runs)]
    walls = [max(t.last for t in r) - min(t.sent for t in r) for r in rounds]  # first sent → last token
    tokens = [sum(t.completion_tokens for t in r) for r in rounds]
    ttfts = [statistics.mean(t.ttft for t in r) for r in rounds]
    name = f"{CONCURRENCY} streams"
    return [
        (f"{name}: mean time to first token", median(ttfts), "s"),
        (f"{name}: aggregate decode", median([n / w for n, w in zip(tokens, walls, strict=True)]), "tok/s"),
        (f"{name}: wall time", median(walls), "s"),
        (f"{name}: completion tokens", median(tokens), "tok"),
    ]


def bench_prompt(client: OpenAI, model: str, runs: int) -> list[Row]:
    # A fresh nonce per run keeps any prompt cache from answering instead of prompt processing.
    prompts = [f"[{uuid.uuid4().hex}]\n{PARAGRAPH * PROMPT_REPEATS}\nSummarise this." for _ in range(runs)]
    timings = [stream(client, model, p, 1, temperature=0.0) for p in prompts]
    return [
        ("prompt: tokens", median([t.prompt_tokens for t in timings]), "tok"),
        ("prompt: time to first token", median([t.ttft for t in timings]), "s"),
        ("prompt: processing speed", median([t.prompt_tokens / t.ttft for t in timings]), "tok/s"),
    ]


def proc_field(path: str, key: str) -> str | None:
    """The value of `key` in a /proc file of `key: value` lines."""
    for line in Path(path).read_text().splitlines():
        name, _, value = line.partition(":")
        if name.strip() == key:
            return value.strip()
    return None


def peak_rss_mib(pid: int) -> float | None:
    hwm = proc_field(f"/proc/{pid}/status", "VmHWM")  # "123456 kB"
    return int(hwm.split()[0]) / 1024 if hwm else None


def machine() -> dict[str, Any]:
    mem_kib = int((proc_field("/proc/meminfo", "MemTotal") or "0 kB").split()[0])
    cpu = proc_field("/proc/cpuinfo", "model name")
    return {"cpu": cpu, "nproc": len(os.sched_getaffinity(0)), "ram_gib": round(mem_kib / 2**20, 1)}


def commit() -> dict[str, Any]:
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    dirty = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": git("rev-parse", "--short", "HEAD"), "dirty": None if dirty is None else bool(dirty)}


def others_cpu_s(cores: set[int] | None = None) -> float:
    """CPU seconds used so far by every process but this benchmark, on every core or only on `cores`
    (those a pinned benchmark and its server run on)."""
    wanted = {"cpu"} if cores is None else {f"cpu{c}" for c in cores}
    busy = 0
    for line in Path("/proc/stat").read_text().splitlines():
        name, *fields = line.split() or [""]
        if name in wanted:
            cpu = [int(v) for v in fields[:8]]
            busy += sum(cpu) - cpu[3] - cpu[4]  # all but idle and iowait
    mine = os.times()
    return busy / os.sysconf("SC_CLK_TCK") - mine.user - mine.system


def foreign_cpu_s(pid: int | None, cores: set[int] | None = None) -> float | None:
    """CPU seconds used so far by every process but the server and this benchmark (None: server unknown),
    on every core or only on `cores`."""
    if pid is None:
        return None
    server = sum(int(v) for v in Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[11:13])
    return others_cpu_s(cores) - server / os.sysconf("SC_CLK_TCK")


def with_contention(name: str, pid: int | None, workload: Callable[[], list[Row]]) -> list[Row]:
    """Runs a workload and adds how many cores other processes took meanwhile: its figures are only
    comparable when that is near 0 (llama.cpp's threads slow down many times over when they share cores)."""
    cpu_before, start = foreign_cpu_s(pid), time.perf_counter()
    rows = workload()
    cpu_after, wall = foreign_cpu_s(pid), time.perf_counter() - start
    cores = None if cpu_before is None or cpu_after is None else max(0.0, cpu_after - cpu_before) / wall
    return [*rows, (f"{name}: other processes' CPU", cores, "cores")]


def run_all(base_url: str, args: argparse.Namespace, pid: int | None) -> tuple[str, list[Row]]:
    """Returns the served model id and every figure, in workload order."""
    client = OpenAI(base_url=base_url, api_key="unused", timeout=1800, max_retries=0)
    model = client.models.list().data[0].id
    stream(client, model, "Say hi.", 4, temperature=0.0)  # warm-up: page in weights, first-call costs
    workloads: dict[str, Callable[[], list[Row]]] = {
        "single": lambda: bench_single(client, model, args.runs, args.max_tokens),
        f"{CONCURRENCY} streams": lambda: bench_concurrent(client, model, args.runs, args.max_tokens),
        "prompt": lambda: bench_prompt(client, model, args.runs),
    }
    rows = [row for name, work in workloads.items() for row in with_contention(name, pid, work)]
    return model, rows + [("server peak RSS", peak_rss_mib(pid) if pid else None, "MiB")]


def print_table(model: str, rows: list[Row]) -> None:
    print(f"model: {model}")
    print(f"{'figure':<40} {'value':>10}  unit")
    print(f"{'-' * 40} {'-' * 10}  {'-' * 5}")
    for name, value, unit in rows:
        shown = "n/a" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)
        print(f"{name:<40} {shown:>10}  {unit}")


def write_json(path: Path, model: str, rows: list[Row], args: argparse.Namespace) -> None:
    figures = {name: {"value": value, "unit": unit} for name, value, unit in rows}
    report = {
        "benchmark": "serve_speed",
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "fncall": commit(),
        "model": {"requested": None if args.base_url else args.model, "id": model},
        "threads": None if args.base_url else args.threads,
        "parallel": None if args.base_url else CONCURRENCY,
        "runs": args.runs,
        "max_tokens": args.max_tokens,
        "base_url": args.base_url,
        "figures": figures,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--model", default="default", help="default, tiny or a .gguf path")
    parser.add_argument("--threads", type=int, default=2, help="llama.cpp threads of the started server")
    parser.add_argument("--runs", type=int, default=3, help="repeats of each workload (median reported)")
    parser.add_argument("--max-tokens", type=int, default=128, help="max_tokens of the story requests")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/serve_speed.json")
    parser.add_argument("--base-url", help="use a running server (…/v1) instead of starting one")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    if args.base_url:
        model, rows = run_all(args.base_url, args, pid=None)
    else:
        flags = ["--model", args.model, "--threads", str(args.threads), "--parallel", str(CONCURRENCY)]
        with running_server(*flags) as server:
            base_url, proc = server.base_url, server.process
            model, rows = run_all(base_url, args, pid=proc.pid)
    print_table(model, rows)
    write_json(args.out, model, rows, args)
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
