"""JSON-schema extraction (`response_format`) on `fncall serve`, measured through the official `openai` SDK.

For each case of bench/extraction_cases.py (a realistic text and a schema with nested objects, arrays of
objects, enums, optional fields and string formats) it asks for the extraction with `response_format:
{"type": "json_schema", "json_schema": {..., "strict": true}}`, temperature 0, streamed, and reports:
- schema-valid answers: parsed as JSON and validated with `jsonschema` (Draft 2020-12, formats checked:
  date and email by jsonschema itself, date-time, time and uri by the small checkers below); must be all;
- on the labelled subset, the share of cases whose key fields are all right (rule: extraction_cases.py);
- decode speed inside the schema grammar against plain decode: the same prompt again without
  `response_format`, `max_tokens` set to the tokens the constrained answer took; decode rate as
  serve_speed.py measures it (tokens after the first over the time from first to last content chunk),
  summed over the cases;
- which string formats the server accepts in a schema (a 400 for the others).
Prints a table and writes per-case JSON. Not part of the pytest suite.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import openai
from extraction_cases import CASES, Case, wrong_fields
from openai import OpenAI
from serve_speed import Timing, commit, foreign_cpu_s, machine, stream

from fncall.launch import running_server

ROOT = Path(__file__).resolve().parent.parent
MAX_TOKENS = 768
SERVER_FLAGS = ("--parallel", "1", "--ctx", "4096")
PROBED_FORMATS = ("date", "date-time", "time", "duration", "email", "hostname", "ipv4", "ipv6", "uuid", "uri")
PROBED_FORMATS += ("uri-reference", "iri", "idn-email", "json-pointer", "regex")
PROMPT = (
    "Extract the information in the text below as JSON that follows this JSON schema. Leave out optional "
    "fields the text does not give.\n\nSchema:\n{schema}\n\nText:\n{text}"
)

FORMATS = jsonschema.FormatChecker()
_TIME = r"\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})"


@FORMATS.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    """RFC 3339: a date, `T`, a time with seconds and an offset."""
    if not isinstance(value, str):
        return True
    if not re.fullmatch(rf"\d{{4}}-\d{{2}}-\d{{2}}[Tt]{_TIME}", value):
        return False
    datetime.fromisoformat(value.upper().replace("Z", "+00:00"))  # ValueError: no such day or hour
    return True


@FORMATS.checks("time", raises=ValueError)
def _time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not re.fullmatch(_TIME, value):
        return False
    datetime.fromisoformat(f"2000-01-01T{value.upper().replace('Z', '+00:00')}")
    return True


@FORMATS.checks("uri")
def _uri(value: object) -> bool:
    """An absolute URI: a scheme, then something (RFC 3986's shape, not every detail)."""
    if not isinstance(value, str):
        return True
    parts = urlsplit(value)
    return bool(re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", parts.scheme)) and bool(parts.netloc or parts.path)


@FORMATS.checks("date", raises=ValueError)
def _date(value: object) -> bool:
    return not isinstance(value, str) or bool(
        re.fullmatch(r"\d{4}-\d{2}-\d{2}", value) and date.fromisoformat(value)
    )


@dataclass(slots=True)
class CaseResult:
    id: str
    labelled: bool
    valid: bool = False
    error: str | None = None  # the server refused the request (HTTP status and message)
    invalid: list[str] = field(default_factory=list)  # why the answer is not valid against the schema
    wrong: list[str] | None = None  # labelled key fields the answer gets wrong (None: not labelled)
    finish_reason: str | None = None
    completion_tokens: int | None = None
    ttft_s: float | None = None
    grammar_tok_s: float | None = None
    grammar_decode: tuple[int, float] | None = None  # (tokens after the first, seconds) for the sum
    plain_tok_s: float | None = None
    plain_decode: tuple[int, float] | None = None
    plain_completion_tokens: int | None = None
    answer: str = ""


def prompt(case: Case) -> str:
    return PROMPT.format(schema=json.dumps(case.schema), text=case.text)


def response_format(case: Case) -> dict[str, Any]:
    name = case.id.replace(".", "_")
    return {"type": "json_schema", "json_schema": {"name": name, "schema": case.schema, "strict": True}}


def decode(timing: Timing) -> tuple[int, float] | None:
    span = timing.last - timing.first
    return (timing.completion_tokens - 1, span) if span > 0 and timing.completion_tokens > 1 else None


def check(case: Case, result: CaseResult, text: str) -> None:
    """Fills `valid`, `invalid` and (labelled cases) `wrong` from the answer's text."""
    try:
        answer = json.loads(text)
    except json.JSONDecodeError as exc:  # cut short at max_tokens: every key field is missed
        result.invalid = [f"not JSON: {exc}"]
        result.wrong = None if case.expected is None else list(case.expected)
        return
    validator = jsonschema.Draft202012Validator(case.schema, format_checker=FORMATS)
    errors = sorted(validator.iter_errors(answer), key=lambda e: list(e.absolute_path))
    result.invalid = [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in errors]
    result.valid = not errors
    if case.expected is not None:
        result.wrong = wrong_fields(case.expected, answer)


def run_case(client: OpenAI, model: str, case: Case, *, speed: bool) -> CaseResult:
    result = CaseResult(case.id, labelled=case.expected is not None)
    try:
        timing = stream(
            client, model, prompt(case), MAX_TOKENS, temperature=0.0, response_format=response_format(case)
        )
    except openai.APIStatusError as exc:
        result.error = f"{exc.status_code}: {exc.message}"
        return result
    result.answer, result.finish_reason = timing.text, timing.finish_reason
    result.completion_tokens, result.ttft_s = timing.completion_tokens, timing.ttft
    result.grammar_tok_s, result.grammar_decode = timing.decode_tok_s, decode(timing)
    check(case, result, timing.text)
    if speed:  # the same prompt (its prefix now cached), the same number of tokens at most, no grammar
        plain = stream(client, model, prompt(case), timing.completion_tokens, temperature=0.0)
        result.plain_tok_s, result.plain_decode = plain.decode_tok_s, decode(plain)
        result.plain_completion_tokens = plain.completion_tokens
    return result


def probe_formats(client: OpenAI, model: str) -> dict[str, str]:
    """Each probed string format: "accepted", or the server's error."""
    verdicts = {}
    for fmt in PROBED_FORMATS:
        schema = {"type": "object", "properties": {"x": {"type": "string", "format": fmt}}, "required": ["x"]}
        try:
            client.chat.completions.create(
                model=model,
                messages=[{"role": "user", "content": "Answer with JSON."}],
                max_tokens=1,
                response_format={"type": "json_schema", "json_schema": {"name": "probe", "schema": schema}},
            )
            verdicts[fmt] = "accepted"
        except openai.APIStatusError as exc:
            verdicts[fmt] = f"{exc.status_code}: {exc.message}"
    return verdicts


def features(schema: Any) -> set[str]:
    """The schema features a case exercises, for the coverage counts."""
    found: set[str] = set()

    def walk(node: Any, depth: int) -> None:
        if not isinstance(node, dict):
            return
        if node.get("type") == "object":
            found.update({"nested objects"} if depth > 0 else set())
            if set(node.get("properties", {})) - set(node.get("required", [])):
                found.add("optional fields")
        if node.get("type") == "array" and isinstance(node.get("items"), dict):
            found.update({"arrays of objects"} if node["items"].get("type") == "object" else set())
        found.update({"enums"} if "enum" in node else set())
        found.update({f"format {node['format']}"} if "format" in node else set())
        for child in [*node.get("properties", {}).values(), node.get("items")]:
            walk(child, depth + 1)

    walk(schema, 0)
    return found


def rate(pairs: list[tuple[int, float] | None]) -> float | None:
    present = [p for p in pairs if p is not None]
    seconds = sum(s for _, s in present)
    return sum(n for n, _ in present) / seconds if seconds > 0 else None


Row = tuple[str, Any, str]


def speed_rows(answered: list[CaseResult]) -> list[Row]:
    pairs = [(r.grammar_decode, r.plain_decode) for r in answered if r.grammar_decode and r.plain_decode]
    grammar, plain = rate([g for g, _ in pairs]), rate([p for _, p in pairs])
    ratios = [(g[1] / g[0]) / (p[1] / p[0]) for g, p in pairs]  # seconds per token, grammar over plain
    return [
        ("decode inside the schema grammar", grammar, "tok/s"),
        ("plain decode, same prompts", plain, "tok/s"),
        ("grammar overhead (summed rates)", (plain / grammar - 1) * 100 if grammar and plain else None, "%"),
        (
            "grammar overhead (median per case)",
            (statistics.median(ratios) - 1) * 100 if ratios else None,
            "%",
        ),
        ("decode tokens timed, grammar", sum(g[0] for g, _ in pairs), "tok"),
        ("decode tokens timed, plain", sum(p[0] for _, p in pairs), "tok"),
    ]


def summarize(results: list[CaseResult], cores: float | None) -> list[Row]:
    answered = [r for r in results if r.error is None]
    labelled = [(r, by_id(r.id).expected or {}) for r in answered if r.wrong is not None]
    right = sum(not r.wrong for r, _ in labelled)
    fields = sum(len(expected) for _, expected in labelled)
    fields_right = fields - sum(len(r.wrong or []) for r, _ in labelled)
    ttfts = [r.ttft_s for r in answered if r.ttft_s is not None]
    return [
        ("cases", len(results), ""),
        ("refused by the server (4xx)", len(results) - len(answered), "cases"),
        ("schema-valid answers", f"{sum(r.valid for r in answered)}/{len(answered)}", "cases"),
        ("cut at max_tokens", sum(r.finish_reason == "length" for r in answered), "cases"),
        (
            "invalid though complete (a bug)",
            sum(not r.valid and r.finish_reason != "length" for r in answered),
            "cases",
        ),
        ("labelled cases right", f"{right}/{len(labelled)}", "cases"),
        ("labelled cases right", 100 * right / len(labelled) if labelled else None, "%"),
        ("labelled key fields right", 100 * fields_right / fields if fields else None, "%"),
        *speed_rows(answered),
        ("mean time to first token (grammar)", statistics.fmean(ttfts) if ttfts else None, "s"),
        ("other processes' CPU on our cores", cores, "cores"),
    ]


def by_id(case_id: str) -> Case:
    return next(c for c in CASES if c.id == case_id)


def run(
    base_url: str, args: argparse.Namespace, pid: int | None
) -> tuple[str, list[CaseResult], dict[str, Any]]:
    """Returns the served model id, the results and the run's extra figures (formats, CPU)."""
    client = OpenAI(base_url=base_url, api_key="unused", timeout=1800, max_retries=0)
    model = client.models.list().data[0].id
    stream(client, model, "Say hi.", 4, temperature=0.0)  # warm-up: page in the weights
    cases = CASES[: args.limit] if args.limit else CASES
    cores = os.sched_getaffinity(0)
    cpu_before, began = foreign_cpu_s(pid, cores), time.perf_counter()
    results: list[CaseResult] = []
    partial = args.out.with_suffix(".partial.json")
    partial.parent.mkdir(parents=True, exist_ok=True)
    for i, case in enumerate(cases, 1):
        result = run_case(client, model, case, speed=not args.no_speed)
        results.append(result)
        partial.write_text(json.dumps([asdict(r) for r in results], indent=1) + "\n")  # survives a stop
        verdict = result.error or ("valid" if result.valid else f"INVALID {result.invalid}")
        verdict += "" if result.wrong is None else f", wrong: {result.wrong}" if result.wrong else ", right"
        rates = f"{result.grammar_tok_s or 0:.1f} vs {result.plain_tok_s or 0:.1f} tok/s"
        print(f"[{i}/{len(cases)}] {case.id}: {verdict} ({rates})", file=sys.stderr, flush=True)
    cpu_after, wall = foreign_cpu_s(pid, cores), time.perf_counter() - began
    busy = None if cpu_before is None or cpu_after is None else max(0.0, cpu_after - cpu_before) / wall
    extra = {"formats": probe_formats(client, model), "other_cpu_cores": busy, "wall_s": round(wall, 1)}
    return model, results, extra


def print_table(model: str, rows: list[Row], formats: dict[str, str], coverage: dict[str, int]) -> None:
    print(f"model: {model}")
    print(f"{'figure':<40} {'value':>10}  unit")
    print(f"{'-' * 40} {'-' * 10}  {'-' * 5}")
    for name, value, unit in rows:
        shown = "n/a" if value is None else f"{value:.2f}" if isinstance(value, float) else str(value)
        print(f"{name:<40} {shown:>10}  {unit}")
    print("schema features (cases using each): " + ", ".join(f"{k} {v}" for k, v in coverage.items()))
    print("string formats accepted: " + ", ".join(f for f, v in formats.items() if v == "accepted"))
    for fmt, verdict in formats.items():
        if verdict != "accepted":
            print(f"  refused: {fmt}: {verdict.splitlines()[0]}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--base-url", help="a running server's /v1 URL; otherwise one is started")
    where.add_argument("--model", default="default", help="default, tiny or a .gguf path")
    parser.add_argument("--threads", type=int, default=2, help="llama.cpp threads of the started server")
    parser.add_argument("--limit", type=int, default=None, help="the first N cases only")
    parser.add_argument("--no-speed", action="store_true", help="skip the plain-decode requests")
    parser.add_argument("--server-args", default="", help="extra flags for the server started here")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/extraction.json")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    revision = commit()  # the code that runs, not what the tree holds when the run ends
    if args.base_url:
        model, results, extra = run(args.base_url, args, pid=None)
    else:
        flags = [
            "--model",
            args.model,
            "--threads",
            str(args.threads),
            *SERVER_FLAGS,
            *args.server_args.split(),
        ]
        with running_server(*flags) as server:
            model, results, extra = run(server.base_url, args, pid=server.process.pid)
    rows = summarize(results, extra["other_cpu_cores"])
    used = [f for r in results for f in sorted(features(by_id(r.id).schema))]
    coverage = {f: used.count(f) for f in sorted(set(used))}
    print_table(model, rows, extra["formats"], coverage)
    report = {
        "benchmark": "extraction",
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": [Path(sys.executable).name, *sys.argv],
        "machine": machine(),
        "fncall": revision,
        "model": {"requested": None if args.base_url else args.model, "id": model},
        "threads": None if args.base_url else args.threads,
        "server_args": args.server_args,
        "max_tokens": MAX_TOKENS,
        **extra,
        "coverage": coverage,
        "figures": [{"name": n, "value": v, "unit": u} for n, v, u in rows],
        "cases": [asdict(r) for r in results],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
