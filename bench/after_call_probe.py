"""Where an answer ends or goes on to another call, read from the model's own generation.

`bench/decision_probe.py` forces the *expected* calls and reads the next-token distribution after them;
end to end the model writes its own calls (another order, other values), and its probability of going
on differs there. This benchmark runs BFCL single-turn cases through a real server at temperature 0 with
the keep-open rule switched off (`--call-threshold FIRST,AFTER,1`: the model ends or goes on by itself),
and collects, from the server's debug log, P(not ending) at every point where the rule would decide
(tools/constraint.py, `LazyGrammar.steer`). Each point is labelled by the case's expected number of
calls (a next call is wanted after call k when k < expected; irrelevance cases expect none), and the
sweep prints, per threshold, how many points the rule would get right: kept open where a call was
wanted, left to end where not (the model's own continuation counts as kept open).

    .venv/bin/python bench/after_call_probe.py --offset 20 --limit 20 --sweep   # the dev split
    .venv/bin/python bench/after_call_probe.py --from-json bench/results/after_call_probe.json --sweep
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bfcl import CATEGORIES, sample
from bfcl_convert import to_tools
from openai import OpenAI

from fncall.launch import start_server
from fncall.tools.decision import DEFAULT

ROOT = Path(__file__).resolve().parent.parent
POINT = re.compile(r"after call (\d+): P\(not ending\) ([0-9.]+)")
THRESHOLDS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 1.0)  # 1: the model decides


def collect(base_url: str, log: Path, args: argparse.Namespace) -> list[dict[str, Any]]:
    """One request at a time, so the debug lines written during a request are that request's points."""
    client = OpenAI(base_url=base_url, api_key="unused", max_retries=0, timeout=900)
    model = client.models.list().data[0].id
    rows: list[dict[str, Any]] = []
    cases = [
        (c, e) for c in args.categories.split(",") for e in sample(c, args.limit, args.seed, args.offset)
    ]
    for n, (category, entry) in enumerate(cases, 1):
        tools, _ = to_tools(entry["function"])
        before = log.stat().st_size
        reply = client.chat.completions.create(
            model=model,
            messages=entry["question"][0],
            tools=tools,
            tool_choice="auto",
            temperature=0,
            max_tokens=256,
        )
        time.sleep(0.05)  # the log line is written before the reply; let it reach the file
        with log.open() as f:
            f.seek(before)
            points = [(int(k), float(p)) for k, p in POINT.findall(f.read())]
        message = reply.choices[0].message
        calls = [
            (c.function.name, c.function.arguments) for c in message.tool_calls or [] if c.type == "function"
        ]
        want = 0 if category == "irrelevance" else len(entry.get("ground_truth") or [])
        rows.append({"id": entry["id"], "category": category, "want": want, "calls": calls, "points": points})
        print(
            f"[{n}/{len(cases)}] {entry['id']}: want {want}, made {len(calls)}, points {points}",
            file=sys.stderr,
        )
    return rows


def sweep(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per threshold: points right, next calls cut off (wanted, not kept open), turns kept open for
    nothing. A point's own outcome (the model went on by itself) counts as kept open at any threshold."""
    table = []
    for threshold in THRESHOLDS:
        right = cut = extra = 0
        for row in rows:
            points = dict(row["points"])
            for k, p in row["points"]:
                went_on = k + 1 in points or len(row["calls"]) > k
                kept = went_on or p >= threshold
                wanted = k < row["want"]
                right += kept == wanted
                cut += wanted and not kept
                extra += kept and not wanted
        table.append({"threshold": threshold, "right": right, "cut_off": cut, "kept_for_nothing": extra})
    return table


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--model", default="default")
    parser.add_argument("--categories", default=",".join(CATEGORIES))
    parser.add_argument("--limit", type=int, default=20, help="cases per category (seeded sample)")
    parser.add_argument("--offset", type=int, default=20, help="20: the dev split the rules are tuned on")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--server-args", default="", help="extra flags for the server started here")
    parser.add_argument("--from-json", type=Path, help="sweep saved points instead of running")
    parser.add_argument("--sweep", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "after_call_probe.json")
    args = parser.parse_args(argv)
    if args.from_json:
        rows = json.loads(args.from_json.read_text())["cases"]
    else:
        first, after = DEFAULT.first, DEFAULT.after_results
        threshold = f"{first if first is not None else 'off'},{after if after is not None else 'off'},1"
        flags = ("--threads", "2", "--parallel", "1", "--ctx", "4096", "--call-threshold", threshold)
        with tempfile.TemporaryDirectory() as tmp:
            log = Path(tmp) / "server.log"
            server_args = ("--model", args.model, *flags, *args.server_args.split(), "--log-level", "debug")
            proc = start_server(*server_args, log_file=log)  # the debug log is where the points are read
            try:
                rows = collect(proc.base_url, log, args)
            finally:
                proc.stop()
        args.out.parent.mkdir(parents=True, exist_ok=True)
        report = {
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "command": [Path(sys.executable).name, *sys.argv],
            "offset": args.offset,
            "limit": args.limit,
            "cases": rows,
        }
        args.out.write_text(json.dumps(report, indent=1) + "\n")
        print(f"wrote {args.out}")
    n = sum(len(r["points"]) for r in rows)
    wanted = sum(k < r["want"] for r in rows for k, _ in r["points"])
    print(f"{len(rows)} answers, {n} points after a call ({wanted} wanted a next call)")
    if args.sweep:
        print(f"{'threshold':>9} {'right':>6} {'cut off':>8} {'kept for nothing':>17}")
        for line in sweep(rows):
            right, cut, extra = line["right"], line["cut_off"], line["kept_for_nothing"]
            print(f"{line['threshold']:>9} {right:>6} {cut:>8} {extra:>17}")


if __name__ == "__main__":
    main()
