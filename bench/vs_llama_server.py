"""fncall against llama.cpp's own server, side by side: same GGUF, same threads, same slot count.

Starts `llama-server --jinja` (built by bench/llama_server.py from the llama.cpp inside the installed
llama-cpp-python's sdist) and `fncall serve`, runs each workload through the official `openai` SDK
against one server and then the other (see run_interleaved), and prints each figure for both with the
ratio. Only one server works at a time, so they never share the cores. Then the figures fncall has and
llama-server has not: jump-forward on against off, and the 12-tool preamble after a restart with the
prefix disk cache (fncall_only). Not part of the pytest suite.

    .venv/bin/python bench/vs_llama_server.py            # default model, 2 threads, 4 slots: ~18 min
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from llama_server import llama_server_path
from openai import OpenAI
from serve_speed import PARAGRAPH, STORY, commit, foreign_cpu_s, machine, peak_rss_mib

from fncall.launch import free_port, start_server
from fncall.models.provision import resolve_model

ROOT = Path(__file__).resolve().parent.parent
MAX_TOKENS = 128
TURN_TOKENS = 48  # max_tokens of each agent-loop turn


@dataclass(frozen=True, slots=True)
class Timing:
    """One streamed request (time.perf_counter() values); `first` is the first content or call delta."""

    sent: float
    first: float
    last: float
    completion_tokens: int
    cached_tokens: int
    prompt_tokens: int = 0

    @property
    def ttft(self) -> float:
        return self.first - self.sent

    @property
    def decode_tok_s(self) -> float | None:
        span = self.last - self.first
        return (self.completion_tokens - 1) / span if span > 0 and self.completion_tokens > 1 else None


def stream(client: OpenAI, model: str, messages: list[dict[str, Any]], max_tokens: int, **kw: Any) -> Timing:
    sent = time.perf_counter()
    first = last = None
    usage = None
    for chunk in client.chat.completions.create(
        model=model,
        messages=messages,  # type: ignore[arg-type]
        max_tokens=max_tokens,
        stream=True,
        stream_options={"include_usage": True},
        **kw,
    ):
        now = time.perf_counter()
        usage = chunk.usage or usage
        for choice in chunk.choices:
            if choice.delta.content or choice.delta.tool_calls:
                first = now if first is None else first
                last = now
    if usage is None:
        raise RuntimeError("stream ended without a usage chunk")
    end = time.perf_counter()
    details = usage.prompt_tokens_details
    cached = (details.cached_tokens or 0) if details else 0
    return Timing(sent, first or end, last or end, usage.completion_tokens, cached, usage.prompt_tokens)


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


# -- tools: twelve realistic definitions, about a thousand prompt tokens once rendered ----------------


def _fn(name: str, description: str, props: dict[str, Any], required: list[str]) -> dict[str, Any]:
    schema = {"type": "object", "properties": props, "required": required}
    return {"type": "function", "function": {"name": name, "description": description, "parameters": schema}}


S = {"type": "string"}
TOOLS = [
    _fn("get_weather", "Current weather for a city.", {"city": S, "unit": {"enum": ["c", "f"]}}, ["city"]),
    _fn("get_forecast", "Daily forecast for a city.", {"city": S, "days": {"type": "integer"}}, ["city"]),
    _fn(
        "search_web",
        "Search the web and return the top results.",
        {"query": S, "n": {"type": "integer"}},
        ["query"],
    ),
    _fn("send_email", "Send an email.", {"to": S, "subject": S, "body": S}, ["to", "subject", "body"]),
    _fn(
        "create_event",
        "Create a calendar event.",
        {"title": S, "start": S, "end": S, "attendees": {"type": "array", "items": S}},
        ["title", "start"],
    ),
    _fn(
        "book_flight",
        "Book a flight.",
        {"origin": S, "destination": S, "date": S, "seat": {"enum": ["aisle", "window"]}},
        ["origin", "destination", "date"],
    ),
    _fn(
        "convert_currency",
        "Convert an amount between currencies.",
        {"amount": {"type": "number"}, "from": S, "to": S},
        ["amount", "from", "to"],
    ),
    _fn("get_stock_price", "Latest stock price for a ticker.", {"ticker": S}, ["ticker"]),
    _fn("translate", "Translate text.", {"text": S, "target_language": S}, ["text", "target_language"]),
    _fn("set_reminder", "Set a reminder.", {"text": S, "at": S}, ["text", "at"]),
    _fn("lookup_contact", "Find a contact by name.", {"name": S}, ["name"]),
    _fn("write_note", "Save a note.", {"title": S, "text": S}, ["title", "text"]),
]
NOTE_TOOL = [TOOLS[-1]]


def agent_script(session: str) -> list[list[dict[str, Any]]]:
    """Five turns of one agent conversation; each turn appends these messages and asks for a reply.

    The conversation is scripted (not the model's own replies) so both servers see identical prompts.
    """

    def call(i: int, name: str, args: dict[str, Any]) -> dict[str, Any]:
        fn = {"name": name, "arguments": json.dumps(args)}
        return {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": f"call_{i}", "type": "function", "function": fn}],
        }

    def result(i: int, value: Any) -> dict[str, Any]:
        return {"role": "tool", "tool_call_id": f"call_{i}", "content": json.dumps(value)}

    return [
        [{"role": "system", "content": f"Travel assistant ({session})."}, *user("Weather in Paris?")],
        [call(1, "get_weather", {"city": "Paris"}), result(1, {"temp_c": 18, "sky": "cloudy"})],
        [
            {"role": "assistant", "content": "It is 18 °C and cloudy in Paris."},
            *user("Book me a flight there from Rome on 2026-12-03."),
        ],
        [
            call(2, "book_flight", {"origin": "Rome", "destination": "Paris", "date": "2026-12-03"}),
            result(2, {"booking": "AF1234", "status": "confirmed"}),
        ],
        [{"role": "assistant", "content": "Booked: flight AF1234."}, *user("Remind me the day before.")],
    ]


# -- workloads ----------------------------------------------------------------------------------------

Row = tuple[str, float | None, str]


def single(client: OpenAI, model: str, runs: int) -> list[Row]:
    timings = [stream(client, model, user(STORY), MAX_TOKENS, temperature=0.0) for _ in range(runs)]
    return [
        ("one stream: decode", statistics.median(t.decode_tok_s or 0 for t in timings), "tok/s"),
        ("one stream: time to first token", statistics.median(t.ttft for t in timings), "s"),
    ]


# llama-server's own defaults for what the sampled stream leaves out, sent to both servers: the same work
SAMPLED = {"temperature": 0.7, "top_p": 0.95, "extra_body": {"top_k": 40, "min_p": 0.05}}


def single_sampled(client: OpenAI, model: str, runs: int) -> list[Row]:
    """One stream at temperature 0.7 (top_p 0.95): the sampler's cost per token shows here."""
    timings = [stream(client, model, user(STORY), MAX_TOKENS, seed=run, **SAMPLED) for run in range(runs)]
    return [
        (
            "one stream, temperature 0.7: decode",
            statistics.median(t.decode_tok_s or 0 for t in timings),
            "tok/s",
        )
    ]


def concurrent(client: OpenAI, model: str, n: int) -> list[Row]:
    def one(i: int) -> Timing:
        # Greedy, as the one-stream workload: both servers then write the same tokens, so no stream ends
        # early on one server only (seeded sampling differs between the two, and so would the lengths).
        return stream(client, model, user(f"{STORY} (story {i})"), MAX_TOKENS, temperature=0.0)

    start = time.perf_counter()
    with ThreadPoolExecutor(n) as pool:
        timings = list(pool.map(one, range(n)))
    wall = max(t.last for t in timings) - start
    return [
        (f"{n} streams: aggregate decode", sum(t.completion_tokens for t in timings) / wall, "tok/s"),
        (f"{n} streams: mean time to first token", statistics.mean(t.ttft for t in timings), "s"),
        (f"{n} streams: completion tokens", float(sum(t.completion_tokens for t in timings)), "tok"),
    ]


def first_token(client: OpenAI, model: str, messages: list[dict[str, Any]], **kw: Any) -> tuple[float, int]:
    """Seconds until the server has produced one token (a max_tokens=1 stream ends), and cached tokens.

    Not the first streamed delta: with tools, a server that recognises calls holds text back until it
    knows whether a call starts, and one that does not streams a call's opening as plain text.
    """
    timing = stream(client, model, messages, 1, temperature=0.0, **kw)
    return timing.last - timing.sent, timing.cached_tokens


def tools_ttft(client: OpenAI, model: str) -> list[Row]:
    cold, _ = first_token(client, model, user("What's the weather in Oslo?"), tools=TOOLS)
    warm, cached = first_token(client, model, user("What's the price of AAPL?"), tools=TOOLS)
    return [
        ("12 tools: time to first token, cold", cold, "s"),
        ("12 tools: time to first token, prefix cached", warm, "s"),
        ("12 tools: cached prompt tokens reported", float(cached), "tok"),
    ]


def prefill(client: OpenAI, model: str, runs: int) -> list[Row]:
    """Cold prompt processing, one token out: ~4k tokens of plain text, and the 12 tools after a ~1.4k-token
    conversation (the tools' grammar is compiled by then: this is prompt processing alone). Each opens
    with text no earlier request had, so nothing is cached. Median of `runs`, so that one slow prompt
    does not decide a ratio whose target is parity (run to run both servers stay within ±2 % when idle)."""
    rows: list[Row] = []

    def plain() -> list[dict[str, Any]]:
        return user(f"(prefill {time.time_ns()}) " + PARAGRAPH * 46 + "Summarise this text in one sentence.")

    def history() -> list[dict[str, Any]]:
        return [
            {"role": "system", "content": f"Travel assistant (prefill {time.time_ns()})."},
            *user(PARAGRAPH * 15 + "Is any of this relevant to travel?"),
            {"role": "assistant", "content": "Not directly; it is a history of computing."},
            *user("Then what's the weather in Oslo?"),
        ]

    for label, messages, kw in (
        ("~4k tokens of text", plain, {}),
        ("12 tools + history", history, {"tools": TOOLS}),
    ):
        rates, tokens = [], 0
        for _ in range(runs):
            timing = stream(client, model, messages(), 1, temperature=0.0, **kw)  # as first_token
            tokens = timing.prompt_tokens
            rates.append(tokens / (timing.last - timing.sent))
        print(f"  cold prompt, {label}: " + ", ".join(f"{r:.1f}" for r in rates) + " tok/s", flush=True)
        rows.append((f"cold prompt, {label}: prompt processing", statistics.median(rates), "tok/s"))
        rows.append((f"cold prompt, {label}: prompt tokens", float(tokens), "tok"))
    return rows


def agent_loop(client: OpenAI, model: str) -> list[Row]:
    """The conversation is resent each turn: once with TURN_TOKENS to answer (total time, which also
    depends on how much each server's model writes), once with one token (prompt processing alone)."""
    rows: list[Row] = []
    for label, max_tokens in (("total time", TURN_TOKENS), ("time to first tokens, summed", 1)):
        messages: list[dict[str, Any]] = []
        start, tokens = time.perf_counter(), 0
        for turn in agent_script(session=label):  # its own system prompt: no prefix from the other run
            messages += turn
            timing = stream(client, model, messages, max_tokens, tools=TOOLS, temperature=0.0)
            tokens += timing.completion_tokens
        rows.append((f"5-turn agent loop: {label}", time.perf_counter() - start, "s"))
        if max_tokens > 1:
            rows.append(("5-turn agent loop: completion tokens", float(tokens), "tok"))
    return rows


def grammar(client: OpenAI, model: str, plain: float | None) -> list[Row]:
    ask = user("Write a very long note titled 'Trip' describing every day of a two-week trip to Japan.")
    choice = {"type": "function", "function": {"name": "write_note"}}
    timing = stream(client, model, ask, MAX_TOKENS, tools=NOTE_TOOL, tool_choice=choice, temperature=0.0)
    rate = timing.decode_tok_s
    overhead = (plain / rate - 1) * 100 if plain and rate else None
    return [
        ("decode inside a tool-argument grammar", rate, "tok/s"),
        ("grammar overhead vs plain decode", overhead, "%"),
    ]


Workload = Callable[[OpenAI, str, list[Row]], list[Row]]  # (client, model, rows so far) -> new rows


def compile_tools(client: OpenAI, model: str, rows: list[Row]) -> list[Row]:
    """Measures nothing: the tools' grammar is compiled after it, so prefill figures are prompts alone."""
    first_token(client, model, user("What's the weather in Oslo?"), tools=TOOLS)
    return []


def workload_steps(runs: int, workloads: str) -> list[Workload]:
    """The workloads in order; each server runs every one of them, and the state one leaves in a server
    (prefixes, slots) is part of what the next one measures."""
    if workloads == "prefill":
        return [compile_tools, lambda c, m, rows: prefill(c, m, runs)]
    return [
        lambda c, m, rows: single(c, m, runs),
        lambda c, m, rows: single_sampled(c, m, runs),
        lambda c, m, rows: concurrent(c, m, 4),
        lambda c, m, rows: concurrent(c, m, 8),
        lambda c, m, rows: tools_ttft(c, m),  # the tools are new to the server here: the cold figure is cold
        lambda c, m, rows: prefill(c, m, runs),
        lambda c, m, rows: agent_loop(c, m),
        lambda c, m, rows: grammar(c, m, rows[0][1]),
    ]


@dataclass(slots=True)
class Session:
    """One running server under measurement: its client, the rows measured so far, and the CPU other
    processes used while it worked (the other server waits idle meanwhile, so its spin shows here)."""

    client: OpenAI
    model: str
    pid: int
    rows: list[Row]
    busy_s: float = 0.0  # wall time of this server's own workloads
    foreign_s: float | None = 0.0  # CPU seconds of other processes meanwhile (None: not measurable)

    @classmethod
    def open(cls, base_url: str, pid: int) -> Session:
        client = OpenAI(base_url=base_url, api_key="unused", timeout=1800, max_retries=0)
        model = client.models.list().data[0].id
        stream(client, model, user("Say hi."), 4, temperature=0.0)  # warm-up: page in the weights
        return cls(client, model, pid, [])

    def run(self, step: Workload) -> None:
        cpu_before, began = foreign_cpu_s(self.pid), time.perf_counter()
        self.rows += step(self.client, self.model, self.rows)
        cpu_after = foreign_cpu_s(self.pid)
        self.busy_s += time.perf_counter() - began
        if cpu_before is None or cpu_after is None or self.foreign_s is None:
            self.foreign_s = None
        else:
            self.foreign_s += cpu_after - cpu_before

    def close(self) -> list[Row]:
        busy = self.foreign_s / self.busy_s if self.foreign_s is not None and self.busy_s else None
        return [
            *self.rows,
            ("peak RSS", peak_rss_mib(self.pid), "MiB"),
            ("other processes' CPU meanwhile", busy, "cores"),
        ]


def run_interleaved(sessions: dict[str, Session], steps: list[Workload]) -> dict[str, list[Row]]:
    """Each workload on every server before the next workload, the order of the servers reversed at
    every step: the machine's speed drifts by several per cent over the minutes a full run takes, and
    this way both servers meet the same drift instead of one running in the first half and the other in
    the second. Only one server works at a time (the other waits idle)."""
    names = list(sessions)
    for i, step in enumerate(steps):
        for name in names if i % 2 == 0 else names[::-1]:
            print(f"  {name}: workload {i + 1} of {len(steps)}", flush=True)
            sessions[name].run(step)
    return {name: sessions[name].close() for name in names}


# -- servers ------------------------------------------------------------------------------------------


@contextmanager
def llama_server(gguf: Path, threads: int, slots: int, ctx: int) -> Iterator[tuple[str, int]]:
    port = free_port()
    cmd = [str(llama_server_path()), "-m", str(gguf), "--jinja", "-t", str(threads), "-tb", str(threads)]
    cmd += ["-np", str(slots), "-c", str(ctx * slots), "--kv-unified", "--no-webui"]
    cmd += ["--host", "127.0.0.1", "--port", str(port)]
    (ROOT / "bench/results").mkdir(exist_ok=True)  # a fresh clone has no results folder yet
    log = open(ROOT / "bench/results/llama-server.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 600
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"llama-server did not start; see {log.name}")
            time.sleep(0.5)
        yield f"http://127.0.0.1:{port}/v1", proc.pid
    finally:
        proc.terminate()
        proc.wait(60)
        log.close()


@contextmanager
def fncall_server(gguf: Path, threads: int, slots: int, ctx: int) -> Iterator[tuple[str, int]]:
    flags = ["--model", str(gguf), "--threads", str(threads), "--parallel", str(slots), "--ctx", str(ctx)]
    # Only what a request sends: the model's recommended repetition penalty would otherwise apply to the
    # greedy workloads too, and the two servers would write different tokens (llama-server applies none).
    flags += ["--sampling-defaults", "openai"]
    server = start_server(*flags)
    try:
        yield server.base_url, server.process.pid
    finally:
        server.stop()


SERVERS: dict[str, Callable[..., Any]] = {"llama.cpp": llama_server, "fncall": fncall_server}


def fncall_only(gguf: Path, args: argparse.Namespace) -> list[Row]:
    """The issue's figures with no llama-server counterpart, in the same command: jump-forward on
    against off (bench/jump_forward.py: same greedy calls, time to finish them) and the 12-tool preamble
    after a restart with the prefix disk cache (bench/prefix_restart.py)."""
    import jump_forward  # noqa: PLC0415 (here, not at the top: prefix_restart imports this module)
    import prefix_restart  # noqa: PLC0415

    results = jump_forward.measure(str(gguf), args.threads, args.runs)
    off = {r.case: r for r in results if not r.jump_forward}
    rows: list[Row] = []
    for r in results:
        if r.jump_forward:
            base = off[r.case]
            same = (r.calls, r.completion_tokens) == (base.calls, base.completion_tokens)
            rows += [
                (f"jump-forward, {r.case}: time to finish, on/off", r.median / base.median, "x"),
                (f"  {r.case}: forced share of the call's tokens", r.forced_tokens / r.completion_tokens, ""),
                (f"  {r.case}: same output with it off (1 = yes)", float(same), ""),
            ]
    with tempfile.TemporaryDirectory(prefix="fncall-prefix-bench-") as tmp:
        disk = argparse.Namespace(threads=args.threads, slots=args.slots, ctx=args.ctx, mb=1024)
        rows += prefix_restart.run(gguf, Path(tmp), disk)
    return rows


def print_table(results: dict[str, list[Row]]) -> None:
    names = list(results)
    print(f"{'figure':<48} {names[0]:>10} {names[1]:>10} {'ratio':>7}  unit")
    for (label, a, unit), (_, b, _) in zip(*results.values(), strict=True):
        ratio = f"{b / a:.2f}" if a and b is not None else "n/a"
        shown = ["n/a" if v is None else f"{v:.2f}" for v in (a, b)]
        print(f"{label:<48} {shown[0]:>10} {shown[1]:>10} {ratio:>7}  {unit}")


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--model", default="default", help="default, tiny or a .gguf path")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--slots", type=int, default=4, help="parallel slots of both servers")
    parser.add_argument("--ctx", type=int, default=4096, help="context per slot")
    parser.add_argument("--runs", type=int, default=3, help="repeats of the one-stream and prefill workloads")
    parser.add_argument("--workloads", choices=("all", "prefill"), default="all", help="prefill: only that")
    parser.add_argument("--only", choices=list(SERVERS), help="run one server only (no ratio)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/vs_llama_server.json")
    args = parser.parse_args()
    gguf = resolve_model(args.model).path
    llama_server_path()  # build before timing anything
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        sessions = {}
        for name, server in SERVERS.items():
            if not args.only or name == args.only:
                print(f"starting {name} ...", flush=True)
                base_url, pid = stack.enter_context(server(gguf, args.threads, args.slots, args.ctx))
                sessions[name] = Session.open(base_url, pid)
        results = run_interleaved(sessions, workload_steps(args.runs, args.workloads))
    if args.workloads == "all" and args.only != "llama.cpp":
        print("fncall only: jump-forward, and the prefix disk cache across a restart ...", flush=True)
        extra = fncall_only(gguf, args)
        results["fncall"] += extra
        if "llama.cpp" in results:
            results["llama.cpp"] += [(label, None, unit) for label, _, unit in extra]
    if len(results) == 2:
        print_table(results)
    report = {
        "benchmark": "vs_llama_server",
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "fncall": commit(),
        "model": str(gguf.name),
        "threads": args.threads,
        "slots": args.slots,
        "ctx_per_slot": args.ctx,
        "workloads": args.workloads,
        "figures": {
            name: {label: {"value": v, "unit": u} for label, v, u in rows} for name, rows in results.items()
        },
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
