"""The 12-tool preamble after a server restart: time to first token with the prefix disk cache.

Runs `fncall serve --prefix-cache-disk-mb` twice on one fresh cache directory (the model is passed by path,
so only the prefix cache lives there): the first server answers two questions under the 12 tools of
vs_llama_server.py (cold, then with the tools' prefix reused from a slot, which saves it to disk), then
stops; a second answers a third question as its first request, and a third one after a one-tool request
(so the grammar library's startup warm-up is over). Reports each time to first token (a one-token stream,
as vs_llama_server.py measures it), the cached tokens each reported, the entry's size on disk, and the
engine-thread time the save and the loads took (from /metrics). Not part of the pytest suite.

    .venv/bin/python bench/prefix_restart.py        # default model: two cold prefills, a few minutes
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
from openai import OpenAI
from serve_speed import commit, machine
from vs_llama_server import NOTE_TOOL, TOOLS, first_token, user

from fncall.launch import ServerProcess, start_server
from fncall.models.provision import resolve_model

ROOT = Path(__file__).resolve().parent.parent
DISK = "fncall_prefix_disk_"
Row = tuple[str, float | None, str]


def metrics(server: ServerProcess) -> dict[str, float]:
    found = {}
    for line in httpx.get(f"{server.root}/metrics", timeout=30).text.splitlines():
        if line.startswith(DISK):
            name, value = line.split()
            found[name] = float(value)
    return found


def client(server: ServerProcess) -> OpenAI:
    return OpenAI(base_url=server.base_url, api_key="unused", timeout=1800, max_retries=0)


def ask(server: ServerProcess, question: str) -> tuple[float, int]:
    return first_token(client(server), server.model_id, user(question), tools=TOOLS)


def warm_up(server: ServerProcess, *, grammar: bool) -> None:
    """A first request before the measured one, as vs_llama_server.py does before its figures; with
    `grammar`, one with one tool, which compiles a grammar (the server waits for the grammar library's
    per-model tokenizer and a warm-up decode before it answers /health). That prompt parts from the
    12 tools' early."""
    tools = {"tools": NOTE_TOOL} if grammar else {}
    first_token(client(server), server.model_id, user("Say hi."), **tools)


def wait_for_save(server: ServerProcess, timeout: float = 120) -> dict[str, float]:
    deadline = time.monotonic() + timeout
    while (found := metrics(server)).get("fncall_prefix_disk_saves_total", 0) < 1:
        if time.monotonic() > deadline:
            raise RuntimeError("the prefix was not saved")
        time.sleep(0.2)
    return found


def restart(flags: list[str], env: dict[str, str], *, grammar: bool) -> dict[str, float]:
    """A new server answers a third question; the disk holds the 12 tools' prefix."""
    started = time.perf_counter()
    server = start_server(*flags, env=env)
    start_s = time.perf_counter() - started
    try:
        if grammar:
            warm_up(server, grammar=True)
        ttft, loaded = ask(server, "Convert 100 USD to EUR.")
        return {"start": start_s, "ttft": ttft, "cached": float(loaded), **metrics(server)}
    finally:
        server.stop()


def run(gguf: Path, cache: Path, args: argparse.Namespace) -> list[Row]:
    flags = ["--model", str(gguf), "--threads", str(args.threads), "--parallel", str(args.slots)]
    flags += ["--ctx", str(args.ctx), "--prefix-cache-disk-mb", str(args.mb)]
    env = {"FNCALL_CACHE": str(cache)}
    first = start_server(*flags, env=env)
    try:
        warm_up(first, grammar=True)
        cold, _ = ask(first, "What's the weather in Oslo?")
        warm, reused = ask(first, "What's the price of AAPL?")
        saved = wait_for_save(first)
    finally:
        first.stop()
    size = sum(p.stat().st_size for p in (cache / "prefix-kv").glob("*.kv"))
    rows: list[Row] = [
        ("12 tools: first token, cold", cold, "s"),
        ("12 tools: first token, prefix in a slot", warm, "s"),
        ("  cached prompt tokens (from a slot)", float(reused), "tok"),
        ("save: engine-thread time (state copied out)", saved.get(f"{DISK}save_seconds_total"), "s"),
        ("save: entry on disk", size / 2**20, "MiB"),
    ]
    for grammar, when in ((False, "the first request"), (True, "after the grammar warm-up")):
        after = restart(flags, env, grammar=grammar)
        rows += [
            (f"restart: server start (to /health), {when}", after["start"], "s"),
            (f"restart: 12 tools: first token, {when}", after["ttft"], "s"),
            (f"  cached prompt tokens (from disk), {when}", after["cached"], "tok"),
            (
                f"  load: engine-thread time (read, check, restore), {when}",
                after.get(f"{DISK}load_seconds_total"),
                "s",
            ),
            (f"  load: hits, {when}", after.get(f"{DISK}hits_total"), ""),
        ]
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--model", default="default", help="default, tiny or a .gguf path")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--slots", type=int, default=4)
    parser.add_argument("--ctx", type=int, default=4096, help="context per slot")
    parser.add_argument("--mb", type=int, default=1024, help="--prefix-cache-disk-mb")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/prefix_restart.json")
    args = parser.parse_args()
    gguf = resolve_model(args.model).path
    with tempfile.TemporaryDirectory(prefix="fncall-prefix-bench-") as tmp:
        rows = run(gguf, Path(tmp), args)
    for label, value, unit in rows:
        shown = "n/a" if value is None else f"{value:.3f}"
        print(f"{label:<72} {shown:>10}  {unit}")
    report: dict[str, Any] = {
        "benchmark": "prefix_restart",
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "fncall": commit(),
        "model": gguf.name,
        "threads": args.threads,
        "slots": args.slots,
        "figures": {label.strip(): {"value": v, "unit": u} for label, v, u in rows},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
