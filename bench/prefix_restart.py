"""The 12-tool preamble after a server restart: time to first token with the prefix disk cache.

Runs `fncall serve --prefix-cache-disk-mb` twice on one fresh cache directory (the model is passed by path,
so only the prefix cache lives there): the first server answers two questions under the 12 tools of
vs_llama_server.py (cold, then with the tools' prefix reused from a slot, which saves it to disk), then
stops; the second answers a third question right after it starts. Reports each time to first token (a
one-token stream, as vs_llama_server.py measures it), the cached tokens each reported, the entry's size on
disk, and the engine-thread time the save and the load took (from /metrics). Not part of the pytest suite.

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
from vs_llama_server import TOOLS, first_token, user

from fncall.launch import ServerProcess, start_server
from fncall.models.provision import resolve_model

ROOT = Path(__file__).resolve().parent.parent
Row = tuple[str, float | None, str]


def metrics(server: ServerProcess) -> dict[str, float]:
    found = {}
    for line in httpx.get(f"{server.root}/metrics", timeout=30).text.splitlines():
        if line.startswith("fncall_prefix_disk_"):
            name, value = line.split()
            found[name] = float(value)
    return found


def ask(server: ServerProcess, question: str) -> tuple[float, int]:
    client = OpenAI(base_url=server.base_url, api_key="unused", timeout=1800, max_retries=0)
    return first_token(client, server.model_id, user(question), tools=TOOLS)


def wait_for_save(server: ServerProcess, timeout: float = 120) -> dict[str, float]:
    deadline = time.monotonic() + timeout
    while (found := metrics(server)).get("fncall_prefix_disk_saves_total", 0) < 1:
        if time.monotonic() > deadline:
            raise RuntimeError("the prefix was not saved")
        time.sleep(0.2)
    return found


def run(gguf: Path, cache: Path, args: argparse.Namespace) -> list[Row]:
    flags = ["--model", str(gguf), "--threads", str(args.threads), "--parallel", str(args.slots)]
    flags += ["--ctx", str(args.ctx), "--prefix-cache-disk-mb", str(args.mb)]
    env = {"FNCALL_CACHE": str(cache)}
    first = start_server(*flags, env=env)
    try:
        cold, _ = ask(first, "What's the weather in Oslo?")
        warm, reused = ask(first, "What's the price of AAPL?")
        saved = wait_for_save(first)
    finally:
        first.stop()
    started = time.perf_counter()
    second = start_server(*flags, env=env)
    start_s = time.perf_counter() - started
    try:
        restarted, loaded = ask(second, "Convert 100 USD to EUR.")
        after = metrics(second)
    finally:
        second.stop()
    size = sum(p.stat().st_size for p in (cache / "prefix-kv").glob("*.kv"))
    return [
        ("12 tools: first token, cold", cold, "s"),
        ("12 tools: first token, prefix in a slot", warm, "s"),
        ("  cached prompt tokens (from a slot)", float(reused), "tok"),
        (
            "save: engine-thread time (state copied out)",
            saved.get("fncall_prefix_disk_save_seconds_total"),
            "s",
        ),
        ("save: entry on disk", size / 2**20, "MiB"),
        ("server start (to /health)", start_s, "s"),
        ("12 tools: first token after a restart", restarted, "s"),
        ("  cached prompt tokens (from disk)", float(loaded), "tok"),
        (
            "load: engine-thread time (read, check, restore)",
            after.get("fncall_prefix_disk_load_seconds_total"),
            "s",
        ),
        ("load: hits", after.get("fncall_prefix_disk_hits_total"), ""),
    ]


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
        print(f"{label:<50} {shown:>10}  {unit}")
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
