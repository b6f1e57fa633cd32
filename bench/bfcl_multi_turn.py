"""BFCL v4 multi-turn accuracy of `fncall serve`, with BFCL's own executor and checker.

Follows `bfcl_eval`'s function-calling handler loop (`BaseHandler.inference_multi_turn_FC`): the tools
are every function of the task's API classes (BFCL's `multi_turn_func_doc`), each user turn runs until
the model answers without calls (at most 20 steps, BFCL's limit; past it the task fails), every call is
executed by BFCL's `execute_multi_turn_func_call` against its simulated APIs in this process, and each
result goes back as a `tool` message. The decoded calls per turn and step are then scored by BFCL's
`multi_turn_checker` (state of the API instances and execution results after every turn, against the
ground truth's). Steps answered in text are dropped before scoring, as BFCL's eval runner does.

    .venv/bin/pip install --no-deps bfcl-eval
    .venv/bin/python bench/bfcl_multi_turn.py --limit 20     # every 10th task of multi_turn_base
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import openai
from agent_loop import run_turn, server_client
from bfcl_convert import load_checker, package_dir, to_tools
from multi_turn_misses import MISSES, classify

ROOT = Path(__file__).resolve().parent.parent
# The tool documentation of two API classes runs to ~9k tokens: a 16k context per slot.
SERVER_FLAGS = (
    "--model",
    "default",
    "--threads",
    "2",
    "--parallel",
    "1",
    "--ctx",
    "16384",
    "--log-level",
    "warning",
)
MAX_STEPS = 20  # BFCL's MAXIMUM_STEP_LIMIT
RUN_NAME = "fncall_bench"


@dataclass(slots=True)
class TaskResult:
    id: str
    valid: bool
    error_type: str | None = None
    error: Any = None
    turns: list[list[list[str]]] = field(default_factory=list)  # per turn, per step: calls as BFCL strings
    answers: list[str | None] = field(default_factory=list)  # per turn: the closing text
    steps: int = 0
    prompt_tokens: int = 0
    seconds: float = 0.0
    miss: str | None = None  # multi_turn_misses.classify's class of a failure, and the turn it is read from
    miss_turn: int | None = None


def load(category: str) -> list[dict[str, Any]]:
    data = package_dir() / "data"
    rows = [
        json.loads(line)
        for line in (data / f"BFCL_v4_{category}.json").read_text().splitlines()
        if line.strip()
    ]
    truth = {
        a["id"]: a["ground_truth"]
        for a in (
            json.loads(line)
            for line in (data / "possible_answer" / f"BFCL_v4_{category}.json").read_text().splitlines()
        )
    }
    mapping = __import__(
        "bfcl_eval.constants.executable_backend_config", fromlist=["x"]
    ).MULTI_TURN_FUNC_DOC_FILE_MAPPING
    for row in rows:
        row["ground_truth"] = truth[row["id"]]
        row["function"] = [
            json.loads(line)
            for cls in row["involved_classes"]
            for line in (data / "multi_turn_func_doc" / mapping[cls]).read_text().splitlines()
            if line.strip()
        ]
    return rows


def as_bfcl_call(name: str, arguments: dict[str, Any]) -> str:
    """BFCL's `convert_to_function_call` for one call: `name(key=repr(value),...)`."""
    return f"{name}({','.join(f'{k}={v!r}' for k, v in arguments.items())})"


def run_task(client: openai.OpenAI, model: str, entry: dict[str, Any]) -> TaskResult:
    from bfcl_eval.eval_checker.multi_turn_eval.multi_turn_utils import execute_multi_turn_func_call

    tools, _ = to_tools(entry["function"])
    result = TaskResult(entry["id"], False)
    started = time.perf_counter()

    def execute(name: str, arguments: dict[str, Any]) -> str:
        outputs, _ = execute_multi_turn_func_call(
            [as_bfcl_call(name, arguments)],
            entry["initial_config"],
            entry["involved_classes"],
            RUN_NAME,
            entry["id"],
        )
        return str(outputs[0])

    messages: list[dict[str, Any]] = []
    for turn in entry["question"]:
        messages.extend(turn)
        steps = run_turn(
            client, model, messages, tools, execute, max_steps=MAX_STEPS + 1, temperature=0, max_tokens=512
        )
        result.steps += len(steps)
        result.prompt_tokens = max([result.prompt_tokens, *(s.prompt_tokens for s in steps)])
        result.turns.append(
            [[as_bfcl_call(c["name"], json.loads(c["arguments"])) for c in s.calls] for s in steps if s.calls]
        )
        result.answers.append(steps[-1].content if not steps[-1].calls else None)
        if len(steps) > MAX_STEPS:
            result.error_type, result.error = "multi_turn:force_terminated", f"more than {MAX_STEPS} steps"
            break
    result.seconds = round(time.perf_counter() - started, 1)
    return result


def score(result: TaskResult, entry: dict[str, Any]) -> None:
    from bfcl_eval.eval_checker.multi_turn_eval.multi_turn_checker import multi_turn_checker

    if not result.error_type and len(result.turns) != len(entry["ground_truth"]):
        result.error_type = "multi_turn:force_terminated"
    if not result.error_type:
        verdict = multi_turn_checker(result.turns, entry["ground_truth"], entry, "multi_turn_base", RUN_NAME)
        result.valid = bool(verdict.get("valid"))
        if not result.valid:
            result.error_type = verdict.get("error_type")
            result.error = verdict.get("error_message")
    if not result.valid:
        result.miss, result.miss_turn = classify(result.turns, entry["ground_truth"])


def write(path: Path, category: str, results: list[TaskResult]) -> None:
    """Rewritten after every task, so a run stopped early still leaves its per-case JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"category": category, "results": [asdict(r) for r in results]}, indent=1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--category", default="multi_turn_base")
    parser.add_argument("--limit", type=int, default=20, help="tasks, spread evenly over the category")
    parser.add_argument("--model", default="default")
    parser.add_argument("--base-url", help="a running server (default: start fncall serve)")
    parser.add_argument("--server-args", default="", help="extra flags for the started server")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/bfcl_multi_turn.json")
    parser.add_argument("--resume", action="store_true", help="keep the tasks already in --out, run the rest")
    args = parser.parse_args(argv)
    load_checker()  # registers the stub BFCL's checkers import (see bfcl_convert)
    entries = load(args.category)
    stride = max(1, len(entries) // args.limit)
    entries = entries[::stride][: args.limit]
    results: list[TaskResult] = []
    if args.resume and args.out.exists():
        results = [TaskResult(**r) for r in json.loads(args.out.read_text())["results"]]
        done = {r.id for r in results}
        entries = [e for e in entries if e["id"] not in done]
    with server_client(args.base_url, *SERVER_FLAGS, *args.server_args.split()) as client:
        for entry in entries:
            try:
                result = run_task(client, args.model, entry)
            except openai.APIError as exc:
                result = TaskResult(entry["id"], False, "server_error", str(exc))
            except Exception as exc:  # BFCL's executor (a missing optional module): one task, not the run
                result = TaskResult(entry["id"], False, "bench_error", f"{type(exc).__name__}: {exc}")
            score(result, entry)
            results.append(result)
            write(args.out, args.category, results)
            verdict = (
                "PASS"
                if result.valid
                else f"FAIL {result.error_type}: {result.miss} (turn {result.miss_turn})"
            )
            print(f"{entry['id']:22} {verdict}  ({result.steps} steps, {result.seconds:.0f} s)", flush=True)
    passed = sum(r.valid for r in results)
    print("\n| category | passed | tasks | accuracy |\n|---|---|---|---|")
    print(f"| {args.category} | {passed} | {len(results)} | {100 * passed / max(1, len(results)):.0f} % |")
    kinds: dict[str, int] = {}
    for r in results:
        if not r.valid:
            kinds[str(r.error_type)] = kinds.get(str(r.error_type), 0) + 1
    print("\nBFCL's error types:")
    for kind, n in sorted(kinds.items(), key=lambda kv: -kv[1]):
        print(f"  {n} × {kind}")
    print("\nMisses, by what the model did in the first turn that differs (bench/multi_turn_misses.py):")
    for miss in MISSES:
        if n := sum(r.miss == miss for r in results):
            print(f"  {n} × {miss}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
