"""Jump-forward decoding: time to finish a greedy tool call with `--jump-forward` on and off.

Starts two servers (one each way, same model and threads; only one decodes at a time) and alternates
the same greedy, non-streamed requests between them: the seed's weather question (get_current_weather
with a location and a unit enum) and a call with five arguments. Each request is sent once unmeasured so
that both servers hold its prompt in the KV cache; the time is then to the last byte of the reply, for a
prompt whose last token only is decoded. Forced tokens are read from each server's /metrics
(fncall_forced_tokens_total). Checks that both servers return the same calls with the same token counts.

    .venv/bin/python bench/jump_forward.py --runs 5                 # default model, ~3 min on 2 idle cores
    .venv/bin/python bench/jump_forward.py --model tiny --threads 1
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import urllib.request
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from openai import OpenAI
from serve_speed import commit, machine

from fncall.launch import running_server

ROOT = Path(__file__).resolve().parent.parent
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_current_weather",
        "description": "Get the current weather in a given location",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["location"],
        },
    },
}
FLIGHT = {
    "type": "function",
    "function": {
        "name": "book_flight",
        "description": "Book a flight for some passengers",
        "parameters": {
            "type": "object",
            "properties": {
                "origin": {"type": "string", "description": "departure city"},
                "destination": {"type": "string", "description": "arrival city"},
                "date": {"type": "string", "description": "departure date, YYYY-MM-DD"},
                "passengers": {"type": "integer"},
                "cabin": {"type": "string", "enum": ["economy", "business", "first"]},
            },
            "required": ["origin", "destination", "date", "passengers", "cabin"],
        },
    },
}
CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "weather": ("What is the weather in San Francisco?", WEATHER),
    "five args": ("Book 2 business class seats from Boston to Denver on 2025-03-14.", FLIGHT),
}


@dataclass(slots=True)
class Result:
    case: str
    jump_forward: bool
    seconds: list[float]
    completion_tokens: int
    forced_tokens: int
    calls: list[tuple[str, str]]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def forced_total(base_url: str) -> float:
    """fncall_forced_tokens_total from the server's /metrics."""
    root = base_url.removesuffix("/v1")
    with urllib.request.urlopen(f"{root}/metrics", timeout=30) as reply:
        for line in reply.read().decode().splitlines():
            if line.startswith("fncall_forced_tokens_total "):
                return float(line.split()[1])
    return 0.0


def ask(client: OpenAI, question: str, tool: dict[str, Any]) -> tuple[float, int, list[tuple[str, str]]]:
    """(seconds, completion tokens, calls) of one greedy, non-streamed request."""
    model = client.models.list().data[0].id
    started = time.perf_counter()
    reply = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": question}],
        tools=[tool],  # type: ignore[list-item]
        temperature=0,
        max_tokens=200,
    )
    seconds = time.perf_counter() - started
    message = reply.choices[0].message
    calls = [
        (c.function.name, c.function.arguments) for c in message.tool_calls or [] if c.type == "function"
    ]
    return seconds, reply.usage.completion_tokens if reply.usage else 0, calls


def run(clients: dict[bool, tuple[OpenAI, str]], runs: int) -> list[Result]:
    results = []
    for case, (question, tool) in CASES.items():
        timed: dict[bool, list[float]] = {True: [], False: []}
        seen: dict[bool, tuple[int, float, list[tuple[str, str]]]] = {}
        for client, _ in clients.values():  # unmeasured: the prompt goes into the KV cache
            ask(client, question, tool)
        for _ in range(runs):
            for jf, (client, base_url) in clients.items():
                before = forced_total(base_url)
                seconds, tokens, calls = ask(client, question, tool)
                out = (tokens, forced_total(base_url) - before, calls)
                if seen.setdefault(jf, out) != out:
                    raise SystemExit(f"{case}: greedy output changed between runs ({jf=}): {out} {seen[jf]}")
                timed[jf].append(seconds)
        for jf in clients:
            tokens, forced, calls = seen[jf]
            results.append(Result(case, jf, timed[jf], tokens, int(forced), calls))
    return results


def measure(model: str, threads: int, runs: int) -> list[Result]:
    """Starts a server each way (one slot each) and runs every case on both."""
    flags = ["--model", model, "--threads", str(threads), "--parallel", "1", "--log-level", "warning"]
    with ExitStack() as stack:
        clients = {}
        for jf in (False, True):
            server = stack.enter_context(
                running_server(*flags, "--jump-forward" if jf else "--no-jump-forward")
            )
            clients[jf] = (
                OpenAI(base_url=server.base_url, api_key="unused", max_retries=0, timeout=1800),
                server.base_url,
            )
        return run(clients, runs)


def print_table(results: list[Result]) -> None:
    print(
        f"{'case':<10} {'jump-forward':<12} {'median s':>9} {'tokens':>7} {'forced':>7} {'share':>6}  ratio"
    )
    off = {r.case: r for r in results if not r.jump_forward}
    for r in results:
        share = r.forced_tokens / r.completion_tokens if r.completion_tokens else 0.0
        ratio = f"{r.median / off[r.case].median:.2f}" if r.jump_forward else ""
        flag = "on" if r.jump_forward else "off"
        print(
            f"{r.case:<10} {flag:<12} {r.median:>9.3f} {r.completion_tokens:>7} {r.forced_tokens:>7} "
            f"{share:>6.0%}  {ratio}"
        )
    for case, r in off.items():
        on = next(x for x in results if x.case == case and x.jump_forward)
        same = (on.calls, on.completion_tokens) == (r.calls, r.completion_tokens)
        print(f"{case}: {'identical' if same else 'DIFFERENT'} output on and off: {on.calls}")


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--model", default="default", help="default, tiny or a .gguf path")
    parser.add_argument("--threads", type=int, default=2, help="llama.cpp threads of each server")
    parser.add_argument("--runs", type=int, default=5, help="measured requests per case and server")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/jump_forward.json")
    args = parser.parse_args()
    results = measure(args.model, args.threads, args.runs)
    print_table(results)
    report = {
        "benchmark": "jump_forward",
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "fncall": commit(),
        "model": args.model,
        "threads": args.threads,
        "runs": args.runs,
        "results": [asdict(r) | {"median": r.median} for r in results],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
