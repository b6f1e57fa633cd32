"""Function-calling accuracy of `fncall serve` on BFCL (Berkeley Function Calling Leaderboard) AST categories.

Data and checker come from the PyPI package `bfcl-eval` (`.venv/bin/pip install --no-deps bfcl-eval`; it
is not a dependency of fncall). Each test case's functions become OpenAI tools, its first turn is sent
through the official `openai` SDK (tool_choice="auto", temperature 0), and the returned tool calls are
scored by BFCL's own `ast_checker`; for `irrelevance` a reply is correct iff it calls no tool. Prints a
table and writes per-case JSON. Not part of the pytest suite; 50 cases take several minutes on 2 cores
with the default model.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path
from typing import Any

import openai
from bfcl_convert import Checker, decode_calls, load_category, load_checker, to_tools
from openai import OpenAI

from fncall.launch import running_server

ROOT = Path(__file__).resolve().parent.parent
CATEGORIES = ("simple_python", "multiple", "parallel", "parallel_multiple", "irrelevance")
SERVER_FLAGS = ("--threads", "2", "--parallel", "2", "--ctx", "4096", "--log-level", "warning")
CONCURRENCY = 2  # = --parallel: the server decodes both in one batch
MAX_TOKENS = 256


@dataclass(slots=True)
class CaseResult:
    id: str
    category: str
    correct: bool
    error: str | None = None  # HTTP/SDK error: no reply to score
    checker_error: Any = None  # BFCL's error list, or our reason (e.g. an unparsable call)
    error_type: str | None = None
    invalid: list[str] = field(default_factory=list)  # calls with non-JSON or schema-violating arguments
    tool_calls: list[dict[str, str]] = field(default_factory=list)  # as returned: {"name", "arguments"}
    content: str | None = None
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_s: float | None = None
    question: str = ""
    expected: Any = None


def score(
    result: CaseResult,
    entry: dict[str, Any],
    tools: list[dict[str, Any]],
    names: dict[str, str],
    checker: Checker,
    language: Any,
) -> None:
    """Fills `correct`, `invalid` and the checker's verdict from `result.tool_calls`."""
    decoded = decode_calls(result.tool_calls, tools, names)
    result.invalid = decoded.invalid
    if result.category == "irrelevance":
        result.correct = not result.tool_calls
        if not result.correct:
            result.checker_error, result.error_type = (
                ["Called a tool for an irrelevant request."],
                "irrelevance",
            )
    elif decoded.unparsable:
        result.checker_error, result.error_type = decoded.invalid, "unparsable_arguments"
    elif not decoded.calls:
        result.checker_error, result.error_type = ["No tool call."], "no_tool_call"
    else:
        try:
            verdict = checker(
                entry["function"], decoded.calls, entry["ground_truth"], language, result.category, "fncall"
            )
        except Exception as exc:  # BFCL's checker crashes on some odd outputs; that is a miss
            verdict = {
                "valid": False,
                "error": [f"checker raised {exc!r}"],
                "error_type": "checker_exception",
            }
        result.correct = bool(verdict["valid"])
        if not result.correct:
            result.checker_error, result.error_type = verdict["error"], verdict.get("error_type")


def run_case(
    client: OpenAI, model: str, category: str, entry: dict[str, Any], checker: Checker, language: Any
) -> CaseResult:
    messages = entry["question"][0]
    result = CaseResult(
        entry["id"], category, False, question=messages[-1]["content"], expected=entry.get("ground_truth")
    )
    tools, names = to_tools(entry["function"])
    sent = time.perf_counter()
    try:
        reply = client.chat.completions.create(
            model=model,
            messages=messages,
            tools=tools,
            tool_choice="auto",
            temperature=0,
            max_tokens=MAX_TOKENS,
        )
    except openai.APIError as exc:
        result.error = f"{type(exc).__name__}: {getattr(exc, 'status_code', '')} {exc.message}".strip()
        return result
    result.latency_s = time.perf_counter() - sent
    choice = reply.choices[0]
    result.content, result.finish_reason = choice.message.content, choice.finish_reason
    if reply.usage:
        result.prompt_tokens, result.completion_tokens = (
            reply.usage.prompt_tokens,
            reply.usage.completion_tokens,
        )
    result.tool_calls = [
        {"name": c.function.name, "arguments": c.function.arguments}
        for c in choice.message.tool_calls or []
        if c.type == "function"
    ]
    score(result, entry, tools, names, checker, language)
    return result


def sample(category: str, limit: int | None, seed: int, offset: int = 0) -> list[dict[str, Any]]:
    """Cases `offset`..`offset + limit` of the category in a seeded order: the report uses the first 20
    (offset 0); offset 20 is the development split the auto-mode decisions were tuned on."""
    entries = load_category(category)
    random.Random(f"{seed}:{category}").shuffle(entries)
    return entries[offset : offset + limit] if limit else entries[offset:]


def summarize(results: Sequence[CaseResult], categories: Sequence[str]) -> list[dict[str, Any]]:
    rows = []
    for category in categories:
        rs = [r for r in results if r.category == category]
        latencies = [r.latency_s for r in rs if r.latency_s is not None]
        rows.append(
            {
                "category": category,
                "n": len(rs),
                "correct": sum(r.correct for r in rs),
                "accuracy": 100 * sum(r.correct for r in rs) / len(rs) if rs else 0.0,
                "invalid_calls": sum(len(r.invalid) for r in rs),
                "errors": sum(r.error is not None for r in rs),
                "mean_latency_s": statistics.fmean(latencies) if latencies else None,
            }
        )
    latencies = [r["mean_latency_s"] for r in rows if r["mean_latency_s"] is not None]
    rows.append(
        {
            "category": "mean",
            **{k: sum(r[k] for r in rows) for k in ("n", "correct", "invalid_calls", "errors")},
            "accuracy": statistics.fmean(r["accuracy"] for r in rows) if rows else 0.0,
            "mean_latency_s": statistics.fmean(latencies) if latencies else None,
        }
    )
    return rows


def print_table(rows: Sequence[dict[str, Any]]) -> None:
    head = f"{'category':<18} {'n':>4} {'correct':>7} {'accuracy %':>10} {'invalid calls':>13} {'errors':>6}"
    print(f"{head} {'mean latency s':>14}")
    for r in rows:
        latency = f"{r['mean_latency_s']:.2f}" if r["mean_latency_s"] is not None else "-"
        print(
            f"{r['category']:<18} {r['n']:>4} {r['correct']:>7} {r['accuracy']:>10.1f} "
            f"{r['invalid_calls']:>13} {r['errors']:>6} {latency:>14}"
        )
    print("mean row: accuracy and latency are unweighted means over categories; counts are totals.")


def run(base_url: str, args: argparse.Namespace, categories: Sequence[str]) -> list[CaseResult]:
    checker, language = load_checker()
    cases = [(c, e) for c in categories for e in sample(c, args.limit, args.seed, args.offset)]
    client = OpenAI(base_url=base_url, api_key="unused", max_retries=0, timeout=900)
    model = client.models.list().data[0].id
    done: list[CaseResult] = []

    def one(case: tuple[str, dict[str, Any]]) -> CaseResult:
        result = run_case(client, model, case[0], case[1], checker, language)
        done.append(result)
        verdict = "ok" if result.correct else (result.error or result.error_type)
        latency = f"{result.latency_s:.1f}s" if result.latency_s is not None else "-"
        print(f"[{len(done)}/{len(cases)}] {result.id}: {verdict} {latency}", file=sys.stderr, flush=True)
        return result

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        return list(pool.map(one, cases))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--base-url", help="a running server's /v1 URL; otherwise one is started")
    where.add_argument("--model", default="default", help="model for the server started here")
    parser.add_argument("--categories", default=",".join(CATEGORIES))
    parser.add_argument("--limit", type=int, default=None, help="cases per category (seeded sample)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--offset", type=int, default=0, help="skip this many cases (20: the dev split)")
    parser.add_argument("--server-args", default="", help="extra flags for the server started here")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "bfcl.json")
    args = parser.parse_args(argv)
    categories = [c.strip() for c in args.categories.split(",") if c.strip()]
    started = time.perf_counter()
    if args.base_url:
        results = run(args.base_url, args, categories)
    else:
        with running_server("--model", args.model, *SERVER_FLAGS, *args.server_args.split()) as proc:
            base_url = proc.base_url
            results = run(base_url, args, categories)
    rows = summarize(results, categories)
    print_table(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": [Path(sys.executable).name, *sys.argv],
        "server": args.base_url or {"model": args.model, "flags": SERVER_FLAGS},
        "bfcl_eval": version("bfcl-eval"),
        "max_tokens": MAX_TOKENS,
        "seed": args.seed,
        "limit": args.limit,
        "offset": args.offset,
        "server_args": args.server_args,
        "wall_s": round(time.perf_counter() - started, 1),
        "summary": rows,
        "cases": [asdict(r) for r in results],
    }
    args.out.write_text(json.dumps(report, indent=1, default=str) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
