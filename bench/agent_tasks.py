"""Agent-loop accuracy on our own multi-step tasks with mock tools (bench/scenarios.py).

Each task runs the loop agent frameworks run (bench/agent_loop.py): ask with the tools, execute every
call against the mock, send the results, until the model answers in text (at most 8 steps). A task
passes when every expected call was made (arguments checked where the task says), no forbidden tool was
called, no more calls than expected plus the task's allowance were made, and the final answer is text
holding what the task asks for. Misses are classified; per-task JSON is written.

    .venv/bin/python bench/agent_tasks.py --split dev        # tuning
    .venv/bin/python bench/agent_tasks.py --split test       # reporting
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import openai
from agent_loop import Step, run_turn, server_client
from scenarios import TASKS, Task, split

ROOT = Path(__file__).resolve().parent.parent
SERVER_FLAGS = (
    "--model",
    "default",
    "--threads",
    "2",
    "--parallel",
    "1",
    "--ctx",
    "4096",
    "--log-level",
    "warning",
)
MAX_STEPS = 8


@dataclass(slots=True)
class Outcome:
    id: str
    kind: str
    split: str
    passed: bool
    miss: str  # "" when passed, else the class of the miss
    calls: list[dict[str, Any]] = field(default_factory=list)
    answer: str | None = None
    steps: int = 0
    seconds: float = 0.0
    error: str | None = None


def classify(task: Task, steps: list[Step]) -> tuple[str, list[dict[str, Any]], str | None]:
    calls = [{"name": c["name"], "arguments": json.loads(c["arguments"])} for s in steps for c in s.calls]
    answer = steps[-1].content if steps and not steps[-1].calls else None
    missing = list(task.expect)
    for call in calls:
        hit = next((e for e in missing if e.matches(call["name"], call["arguments"])), None)
        if hit is not None:
            missing.remove(hit)
    if any(c["name"] in task.forbid for c in calls):
        return "forbidden call", calls, answer
    if missing:
        if not calls:
            return "no call (answered instead)", calls, answer
        made = {c["name"] for c in calls}
        if all(m.name in made for m in missing):
            return "wrong arguments", calls, answer
        return "stopped before a needed call", calls, answer
    if len(calls) > len(task.expect) + task.extra_calls:
        return "too many calls", calls, answer
    if answer is None:
        return "no final answer", calls, answer
    text = answer.lower()
    if not all(any(option.lower() in text for option in options) for options in task.answer):
        return "answer lacks a result", calls, answer
    if not answer.strip():
        return "empty answer", calls, answer
    return "", calls, answer


def run_task(client: openai.OpenAI, model: str, task: Task, params: dict[str, Any]) -> Outcome:
    started = time.perf_counter()
    messages: list[dict[str, Any]] = [{"role": "user", "content": task.ask}]
    try:
        steps = run_turn(
            client, model, messages, task.openai_tools(), task.execute, max_steps=MAX_STEPS, **params
        )
    except openai.APIError as exc:
        return Outcome(task.id, task.kind, split(task), False, "server error", error=str(exc))
    miss, calls, answer = classify(task, steps)
    return Outcome(
        task.id,
        task.kind,
        split(task),
        not miss,
        miss,
        calls,
        answer,
        len(steps),
        round(time.perf_counter() - started, 1),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--split", choices=("dev", "test", "all"), default="all")
    parser.add_argument("--only", nargs="*", help="task ids")
    parser.add_argument("--temperature", type=float, default=0.0, help="negative: omit (server defaults)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default="default")
    parser.add_argument("--base-url", help="a running server (default: start fncall serve)")
    parser.add_argument("--server-args", default="", help="extra flags for the started server")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/agent_tasks.json")
    args = parser.parse_args(argv)
    tasks = [t for t in TASKS if args.split in ("all", split(t)) and (not args.only or t.id in args.only)]
    params: dict[str, Any] = {"seed": args.seed, "max_tokens": 256}
    if args.temperature >= 0:
        params["temperature"] = args.temperature
    outcomes = []
    with server_client(args.base_url, *SERVER_FLAGS, *args.server_args.split()) as client:
        for task in tasks:
            outcome = run_task(client, args.model, task, params)
            outcomes.append(outcome)
            mark = "PASS" if outcome.passed else f"FAIL ({outcome.miss})"
            print(f"{task.id:26} {mark}", flush=True)
    kinds = sorted({o.kind for o in outcomes}, key=[t.kind for t in TASKS].index)
    print(f"\nsplit: {args.split}, temperature: {params.get('temperature', 'server default')}")
    print("| kind | passed | tasks |")
    print("|---|---|---|")
    for kind in kinds:
        mine = [o for o in outcomes if o.kind == kind]
        print(f"| {kind} | {sum(o.passed for o in mine)} | {len(mine)} |")
    print(f"| all | {sum(o.passed for o in outcomes)} | {len(outcomes)} |")
    for miss, n in Counter(o.miss for o in outcomes if not o.passed).most_common():
        print(f"  {n} × {miss}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps({"split": args.split, "params": params, "tasks": [asdict(o) for o in outcomes]}, indent=1)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
