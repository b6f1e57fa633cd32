"""Where the model decides between calling and talking: next-token probabilities at the decision points.

For a development set of requests with known right decisions (BFCL single-turn cases, and our agent tasks
of bench/scenarios.py), renders each prompt exactly as the server does (template, tools, auto-mode hints)
and decodes it once with llama.cpp in-process, then reads the distribution over the first token of the
answer, grouped into classes of openers (the model's call token, a Markdown fence, `{`, `{{`, `[`, `<`,
anything else). Teacher-forced continuations give the other decision points:
- `more`: after the first expected call written in the model's own syntax (`<tool_call>\\n{…}`), the
  probability of going on to another call (a next object, or `\\n</tool_call>\\n<tool_call>`) vs ending;
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
        self.result_hint: str | None = render.RESULT_HINT
        self.pieces = [model.piece(t, special=True).decode("utf-8", "replace") for t in range(model.n_vocab)]
        self.open_id = model.single_token("<tool_call>")
        self.close_id = model.single_token("</tool_call>")
        self.klass = np.array([self._class(t) for t in range(model.n_vocab)])

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
        hint = self.result_hint is not None
        rendered, template_tools = render.prompt_inputs(convo, req, self.fmt, self.native, result_hint=hint)
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

    def p_more(self, prompt: list[int], call: str) -> tuple[float, list[tuple[str, float]]]:
        """P(another call) after `<tool_call>\\n{call}`: the grammar's two ways to go on, summed."""
        base = prompt + self.tok(f"<tool_call>\n{call}")
        p0 = self.distribution(base)
        nl = self.tok("\n")[0]
        p1 = self.distribution(base + [nl])
        in_block = float(p1[self.klass == "brace"].sum())
        closed = base + [nl, self.close_id] + self.tok("\n")
        p2 = self.distribution(closed)
        new_block = float(p2[self.open_id])
        more = float(p0[nl]) * (in_block + float(p1[self.close_id]) * new_block)
        top = [("after-call:" + self.pieces[t], round(float(p0[t]), 3)) for t in np.argsort(-p0)[:3]]
        top += [("after-nl:" + self.pieces[t], round(float(p1[t]), 3)) for t in np.argsort(-p1)[:3]]
        top += [("after-close:" + self.pieces[t], round(float(p2[t]), 3)) for t in np.argsort(-p2)[:3]]
        return more, top


def bfcl_points(probe: Probe, offset: int, limit: int) -> list[Point]:
    points = []
    for category in ("simple_python", "multiple", "parallel", "parallel_multiple", "irrelevance"):
        for entry in bfcl_sample(category, offset + limit, 0)[offset:]:
            tools, _ = to_tools(entry["function"])
            prompt = probe.prompt(entry["question"][0], tools)
            mass, top = probe.masses(probe.distribution(prompt))
            want = "text" if category == "irrelevance" else "call"
            points.append(Point(entry["id"], "first", want, mass, top))
            if category == "irrelevance":
                continue
            first = entry["ground_truth"][0]
            name, args = next(iter(first.items()))
            call = json.dumps(
                {"name": name.replace(".", "_"), "arguments": {k: v[0] for k, v in args.items()}}
            )
            more, top = probe.p_more(prompt, call)
            wants_more = "call" if len(entry["ground_truth"]) > 1 else "text"
            points.append(Point(entry["id"], "more", wants_more, {"call": more}, top))
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
            more, top = probe.p_more(prompt, call)
            points.append(Point(task.id, "more", "call", {"call": more}, top))
            continue
        more, top = probe.p_more(prompt, call)
        points.append(Point(task.id, "more", "text", {"call": more}, top))
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


def call_mass(point: Point, classes: tuple[str, ...]) -> float:
    return point.mass["call"] if point.point == "more" else sum(point.mass[c] for c in classes)


def sweep(points: list[Point], classes: tuple[str, ...]) -> None:
    for which in ("first", "more", "after"):
        mine = [p for p in points if p.point == which]
        if not mine:
            continue
        print(
            f"\n{which}: {len(mine)} points ({sum(p.want == 'call' for p in mine)} want a call);",
            f"classes {classes}",
        )
        print("| threshold | right | call wanted, text chosen | text wanted, call chosen |")
        print("|---|---|---|---|")
        for threshold in (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6, 0.7):
            choose = [call_mass(p, classes) >= threshold for p in mine]
            right = sum(
                (c and p.want == "call") or (not c and p.want == "text")
                for c, p in zip(choose, mine, strict=True)
            )
            missed = sum(not c and p.want == "call" for c, p in zip(choose, mine, strict=True))
            extra = sum(c and p.want == "text" for c, p in zip(choose, mine, strict=True))
            print(f"| {threshold:.2f} | {right} | {missed} | {extra} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bfcl-offset", type=int, default=20)
    parser.add_argument("--bfcl-limit", type=int, default=20)
    parser.add_argument("--tasks", choices=("dev", "test", "all", "none"), default="dev")
    parser.add_argument("--sweep", action="store_true")
    parser.add_argument("--classes", default="open,fence,brace,dbrace,bracket")
    parser.add_argument("--result-hint", help="system text after tool results ('none': no such message)")
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
        ctx = LlamaContext(model, n_ctx_seq=8192, n_seq=1, n_threads=2, n_batch=512)
        probe = Probe(model, ctx, template)
        if args.result_hint is not None:
            probe.result_hint = None if args.result_hint == "none" else args.result_hint
            render.RESULT_HINT = probe.result_hint or render.RESULT_HINT
        points = []
        if args.tasks != "none":
            points += task_points(probe, args.tasks)
        if args.bfcl_limit:
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
