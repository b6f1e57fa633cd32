"""Where the model decides between calling and talking: next-token probabilities at the decision points.

For a development set of requests with known right decisions (BFCL single-turn cases, and our agent tasks
of bench/scenarios.py), renders each prompt exactly as the server does (template, tools, auto-mode hints)
and decodes it once with llama.cpp in-process, then reads the distribution over the first token of the
answer, grouped into classes of openers (the model's call token, a Markdown fence, `{`, `{{`, `[`, `<`,
anything else). Teacher-forced continuations give the other decision points:
- `more`: after the first expected call written in the model's own syntax (`<tool_call>\\n{…}`), the
  probability of going on to another call (a next object, or `\\n</tool_call>\\n<tool_call>`) vs ending
  (read at the closing brace, where the rule decided until 2026-12-07; it now decides after the newline
  that follows, on the model's own calls: bench/after_call_probe.py);
- `after`: after the first expected call and its mock result, the first token of the next answer
  (a further call is right in chains and find-then-act tasks, text in the others).

Prints per-case masses and writes JSON; `--sweep` prints the accuracy of a call-mass threshold per point.
Used to calibrate `tools/decision.py` (tuned on this dev set; reported end to end on the test split).

    .venv/bin/python bench/decision_probe.py --bfcl-offset 20 --bfcl-limit 20 --tasks dev --sweep
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from bfcl import sample as bfcl_sample
from bfcl_convert import to_tools
from scenarios import TASKS, split

from fncall.chat.messages import to_template_messages
from fncall.chat.template import ChatTemplate
from fncall.engine.llama import BatchEntry, LlamaContext, LlamaModel
from fncall.models import resolve_model
from fncall.tools import render
from fncall.tools.formats import choose
from fncall.tools.spec import parse_tool_request

ROOT = Path(__file__).resolve().parent.parent
CLASSES = ("open", "fence", "brace", "dbrace", "bracket", "lt", "text")


@dataclass(slots=True)
class Point:
    case: str
    point: str  # first | more | after
    want: str  # call | text
    mass: dict[str, float] = field(default_factory=dict)
    top: list[tuple[str, float]] = field(default_factory=list)


class Probe:
    def __init__(self, model: LlamaModel, ctx: LlamaContext, template: ChatTemplate) -> None:
        self.model, self.ctx, self.template = model, ctx, template
        self.fmt, self.native = choose(template.source, None)
        self.result_hint: str | None = None  # a system message after tool results, to measure one
        self.pieces = [model.piece(t, special=True).decode("utf-8", "replace") for t in range(model.n_vocab)]
        self.open_id = model.single_token("<tool_call>")
        self.close_id = model.single_token("</tool_call>")
        self.klass = np.array([self._class(t) for t in range(model.n_vocab)])
        self.eog = np.zeros(model.n_vocab, dtype=bool)
        self.eog[model.eog_ids] = True

    def _class(self, token: int) -> str:
        if token == self.open_id:
            return "open"
        text = self.pieces[token].lstrip()
        for prefix, name in (
            ("```", "fence"),
            ("{{", "dbrace"),
            ("{", "brace"),
            ("[", "bracket"),
            ("<", "lt"),
        ):
            if text.startswith(prefix):
                return name
        return "text"

    def prompt(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> list[int]:
        req = parse_tool_request(tools, "auto", None)
        convo = to_template_messages(messages)
        if self.result_hint and convo[-1]["role"] == "tool":
            convo = [*convo, {"role": "system", "content": self.result_hint}]
        rendered, template_tools = render.prompt_inputs(convo, req, self.fmt, self.native)
        text = self.template.render(rendered, tools=template_tools, add_generation_prompt=True)
        return self.model.tokenize(text, add_special=False, parse_special=True)

    def logits(self, tokens: list[int]) -> np.ndarray:
        """Logits after `tokens`, reusing the cached prefix of the previous call."""
        cached = getattr(self, "_cached", [])
        n = 0
        while n < min(len(cached), len(tokens) - 1) and cached[n] == tokens[n]:
            n += 1
        self.ctx.truncate(0, n)
        out = None
        for start in range(n, len(tokens), self.ctx.n_batch):
            chunk = tokens[start : start + self.ctx.n_batch]
            last = start + len(chunk) == len(tokens)
            got = self.ctx.decode([BatchEntry(0, chunk, start, last)])
            out = got[0] if last else out
        self._cached = list(tokens)
        assert out is not None
        return out

    def distribution(self, tokens: list[int]) -> np.ndarray:
        x = self.logits(tokens).astype(np.float64)
        p = np.exp(x - x.max())
        return p / p.sum()

    def masses(self, p: np.ndarray) -> tuple[dict[str, float], list[tuple[str, float]]]:
        mass = {c: float(p[self.klass == c].sum()) for c in CLASSES}
        top = [(self.pieces[t], round(float(p[t]), 4)) for t in np.argsort(-p)[:8]]
        return mass, top

    def tok(self, text: str) -> list[int]:
        return self.model.tokenize(text, add_special=False, parse_special=True)

    def p_continue(self, prompt: list[int], calls: list[str]) -> list[float]:
        """P(not ending the turn) right after each call of `<tool_call>\\n{c1}\\n{c2}…` (one per line)."""
        out = []
        for k in range(1, len(calls) + 1):
            p = self.distribution(prompt + self.tok("<tool_call>\n" + "\n".join(calls[:k])))
            out.append(1.0 - float(p[self.eog].sum()))
        return out


def bfcl_points(probe: Probe, offset: int, limit: int) -> list[Point]:
    points = []
    for category in ("simple_python", "multiple", "parallel", "parallel_multiple", "irrelevance"):
        for entry in bfcl_sample(category, limit, 0, offset):
            tools, _ = to_tools(entry["function"])
            prompt = probe.prompt(entry["question"][0], tools)
            mass, top = probe.masses(probe.distribution(prompt))
            want = "text" if category == "irrelevance" else "call"
            points.append(Point(entry["id"], "first", want, mass, top))
            if category == "irrelevance":
                continue
            calls = [
                json.dumps({"name": name.replace(".", "_"), "arguments": {k: v[0] for k, v in args.items()}})
                for gold in entry["ground_truth"]
                for name, args in gold.items()
            ]
            for k, p in enumerate(probe.p_continue(prompt, calls), 1):
                want = "call" if k < len(calls) else "text"
                points.append(Point(f"{entry['id']}#{k}", "more", want, {"call": p}, []))
    return points


def task_points(probe: Probe, which: str) -> list[Point]:
    points = []
    for task in TASKS:
        if which != "all" and split(task) != which:
            continue
        tools = task.openai_tools()
        messages: list[dict[str, Any]] = [{"role": "user", "content": task.ask}]
        prompt = probe.prompt(messages, tools)
        mass, top = probe.masses(probe.distribution(prompt))
        points.append(Point(task.id, "first", "call" if task.expect else "text", mass, top))
        if not task.expect:
            continue
        first = task.expect[0]
        args = dict(first.args)
        call = json.dumps({"name": first.name, "arguments": args})
        if task.kind == "fanout":
            calls = [json.dumps({"name": c.name, "arguments": dict(c.args)}) for c in task.expect]
            for k, p in enumerate(probe.p_continue(prompt, calls), 1):
                want = "call" if k < len(calls) else "text"
                points.append(Point(f"{task.id}#{k}", "more", want, {"call": p}, []))
            continue
        [more] = probe.p_continue(prompt, [call])
        points.append(Point(task.id, "more", "text", {"call": more}, []))
        messages += [
            {
                "role": "assistant",
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": first.name, "arguments": json.dumps(args)},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": task.execute(first.name, args)},
        ]
        want = "call" if len(task.expect) > 1 else "text"
        mass, top = probe.masses(probe.distribution(probe.prompt(messages, tools)))
        points.append(Point(task.id, "after", want, mass, top))
    return points


def call_share(point: Point, classes: tuple[str, ...]) -> float:
    """`more`: P(not ending) after a call. Otherwise the call classes' share of (call classes + plain
    text): `<`, `{`, `{{` and `[` openers count for neither (see tools/decision.py)."""
    if point.point == "more":
        return point.mass["call"]
    call = sum(point.mass.get(c, 0.0) for c in classes)
    total = call + point.mass.get("text", 0.0)
    return call / total if total else 0.0


GRID = {
    "first": (0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6),
    "more": (0.002, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.0125, 0.015, 0.02, 0.03, 0.05),
    "after": (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5),
}


def sweep(points: list[Point], classes: tuple[str, ...]) -> None:
    for which, grid in GRID.items():
        mine = [p for p in points if p.point == which]
        if not mine:
            continue
        wanted = sum(p.want == "call" for p in mine)
        print(f"\n{which}: {len(mine)} points ({wanted} want a call); call classes {classes}")
        print("| threshold | right | call wanted, text chosen | text wanted, call chosen |")
        print("|---|---|---|---|")
        for threshold in grid:
            choose = [call_share(p, classes) >= threshold for p in mine]
            missed = sum(not c and p.want == "call" for c, p in zip(choose, mine, strict=True))
            extra = sum(c and p.want == "text" for c, p in zip(choose, mine, strict=True))
            print(f"| {threshold:g} | {len(mine) - missed - extra} | {missed} | {extra} |")


def sweep_turns(points: list[Point]) -> None:
    """The `more` rule over whole answers: each several-call case's points after calls 1..n (teacher-forced
    on the expected calls) replayed under a rule. The model goes on by itself where P(not ending) ≥ 0.5;
    below, the rule keeps the turn open when P(not ending) ≥ the threshold, after the first call only or
    after every call. An answer is right when it ends exactly after call n."""
    turns: dict[str, dict[int, float]] = {}
    for point in points:
        case, _, k = point.case.rpartition("#")
        if point.point == "more" and k.isdigit():
            turns.setdefault(case, {})[int(k)] = point.mass["call"]

    def replay(threshold: float, every: bool) -> tuple[int, int, int]:
        right = short = long = 0
        for after in turns.values():
            n = max(after)
            end = next(
                (
                    k
                    for k in range(1, n + 1)
                    if after[k] < 0.5 and not ((every or k == 1) and after[k] >= threshold)
                ),
                n + 1,
            )
            right, short, long = right + (end == n), short + (end < n), long + (end > n)
        return right, short, long

    print(f"\nmore, whole answers: {len(turns)} cases (right / ended early / went on past the last call)")
    print("| threshold | after the first call only | after every call |")
    print("|---|---|---|")
    for threshold in GRID["more"]:
        first, every = replay(threshold, False), replay(threshold, True)
        print(f"| {threshold:g} | {' / '.join(map(str, first))} | {' / '.join(map(str, every))} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bfcl-offset", type=int, default=20)
    parser.add_argument("--bfcl-limit", type=int, default=20)
    parser.add_argument("--tasks", choices=("dev", "test", "all", "none"), default="dev")
    parser.add_argument("--sweep", action="store_true")
    parser.add_argument("--threads", type=int, default=2, help="llama.cpp threads")
    parser.add_argument("--classes", default="open,fence")
    parser.add_argument("--points", default="first,more,after", help="decision points to probe")
    parser.add_argument("--result-hint", help="a system message to add after tool results")
    parser.add_argument("--auto-hint-file", type=Path, help="replace render.AUTO_HINT with this file's text")
    parser.add_argument("--from-json", type=Path, help="sweep saved points instead of probing")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/decision_probe.json")
    args = parser.parse_args(argv)
    classes = tuple(c for c in args.classes.split(",") if c)
    if args.from_json:
        points = [Point(**p) for p in json.loads(args.from_json.read_text())["points"]]
    else:
        model = LlamaModel(resolve_model("default", progress=False).path)
        template = ChatTemplate.load(
            model.chat_template, override=None, bos_token="", eos_token=model.token_text(model.eos_id)
        )
        ctx = LlamaContext(model, n_ctx_seq=8192, n_seq=1, n_threads=args.threads, n_batch=512)
        probe = Probe(model, ctx, template)
        probe.result_hint = args.result_hint
        if args.auto_hint_file:
            render.AUTO_HINT = args.auto_hint_file.read_text().strip()
        points = []
        if args.tasks != "none":
            points += task_points(probe, args.tasks)
        if args.bfcl_limit and "first" in args.points:
            points += bfcl_points(probe, args.bfcl_offset, args.bfcl_limit)
        for p in points:
            shown = " ".join(f"{k}={v:.2f}" for k, v in p.mass.items() if v >= 0.01)
            print(f"{p.case:28} {p.point:5} want={p.want:4} {shown}  top={p.top[:4]}", flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(
            json.dumps(
                {"args": vars(args) | {"out": str(args.out)}, "points": [asdict(p) for p in points]},
                indent=1,
                default=str,
            )
        )
    if args.sweep:
        sweep(points, classes)
        sweep_turns(points)
    return 0


if __name__ == "__main__":
    sys.exit(main())
