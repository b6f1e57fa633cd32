"""fncall on a local Ray cluster under a multi-tenant agent workload: 1 vs 2 engine replicas, and the
prefix-affinity router vs Serve's default policy (power of two choices).

K tenants each have their own tool set (a few hundred tokens of rendered definitions); each tenant runs
N conversations of T turns, every turn resending the tools and the conversation so far (as agents do).
All conversations run at once, at most `--concurrency` requests in flight. Per configuration: aggregate
completion tok/s, p50/p95 time to first token (streamed), prefix-cache hit rate (cached / prompt tokens,
from `usage`), the replicas' memory, and the CPU other processes took meanwhile (trust figures only
when that is near 0). Each configuration starts its own cluster (`fncall serve --ray local`), one after
the other. Prints a table and writes bench/results/ray_cluster.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from openai import OpenAI

from fncall.launch import free_port
from fncall.serve_ray.launch import RayServer, descendants, start_ray_server, stop

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_speed import commit, machine, proc_field  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
TOPICS = ("billing", "travel", "weather", "calendar", "inventory", "support", "payroll", "shipping")


@dataclass(frozen=True, slots=True)
class Config:
    replicas: int
    router: str

    @property
    def name(self) -> str:
        if self.replicas == 0:
            return "single process (no Ray)"
        return f"{self.replicas} replica{'s' * (self.replicas > 1)}, {self.router}"


def tools(topic: str) -> list[dict[str, Any]]:
    params = {
        "type": "object",
        "properties": {
            f"{topic}_field_{i}": {"type": "string", "description": f"the {topic} value {i}"}
            for i in range(6)
        },
    }
    return [
        {
            "type": "function",
            "function": {
                "name": f"{topic}_{n}",
                "description": f"Handles {topic} task {n}.",
                "parameters": params,
            },
        }
        for n in range(4)
    ]


def turn(client: OpenAI, topic: str, messages: list[dict[str, Any]], max_tokens: int) -> dict[str, float]:
    """One streamed request; returns its timings and token counts and appends the answer."""
    sent = time.perf_counter()
    first = None
    text = ""
    usage = None
    chunks = client.chat.completions.create(
        model="tiny",
        messages=messages,
        tools=tools(topic),  # type: ignore[arg-type]
        tool_choice="none",
        max_tokens=max_tokens,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    for chunk in chunks:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            if choice.delta.content:
                first = first or time.perf_counter()
                text += choice.delta.content
    if usage is None or usage.prompt_tokens_details is None:
        raise RuntimeError("no usage chunk")
    messages.append({"role": "assistant", "content": text or "…"})
    return {
        "ttft": (first or time.perf_counter()) - sent,
        "prompt": usage.prompt_tokens,
        "cached": usage.prompt_tokens_details.cached_tokens or 0,
        "completion": usage.completion_tokens,
    }


def workload(server: RayServer, args: argparse.Namespace) -> tuple[list[dict[str, float]], float]:
    client = OpenAI(base_url=server.base_url, api_key="unused", timeout=600, max_retries=0)
    gate = threading.Semaphore(args.concurrency)
    results: list[dict[str, float]] = []

    def conversation(tenant: int, n: int) -> None:
        topic = TOPICS[tenant % len(TOPICS)]
        messages: list[dict[str, Any]] = []
        for t in range(args.turns):
            messages.append({"role": "user", "content": f"Conversation {n} of {topic}, turn {t}: what next?"})
            with gate:
                results.append(turn(client, topic, messages, args.max_tokens))

    started = time.perf_counter()
    with ThreadPoolExecutor(args.tenants * args.conversations) as pool:
        futures = [
            pool.submit(conversation, k, n) for k in range(args.tenants) for n in range(args.conversations)
        ]
        for f in futures:
            f.result()
    return results, time.perf_counter() - started


def memory_mib(server: RayServer) -> dict[str, float]:
    """Resident memory: each engine replica's process, and every process of the cluster together."""

    def rss(pid: int) -> float:
        value = proc_field(f"/proc/{pid}/status", "VmRSS")
        return int(value.split()[0]) / 1024 if value else 0.0

    replicas = [rss(int(s["pid"])) for s in server.replicas().values() if "pid" in s]
    cluster = sum(rss(p) for p in descendants(server.process.pid)) + rss(server.process.pid)
    return {"replica_rss_mib": max(replicas, default=0.0), "cluster_rss_mib": cluster}


def outside_cpu_s(pid: int) -> float:
    """CPU seconds used so far by every process but the cluster (the server and all below it) and this
    benchmark: other agents' work on a shared machine."""
    tick = os.sysconf("SC_CLK_TCK")
    cpu = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    busy = (sum(cpu) - cpu[3] - cpu[4]) / tick  # all but idle and iowait
    cluster = 0.0
    for p in {pid, *descendants(pid)}:
        try:
            cluster += sum(
                int(v) for v in Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[11:13]
            )
        except OSError:
            continue
    mine = os.times()
    return busy - cluster / tick - mine.user - mine.system


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def start(config: Config, args: argparse.Namespace) -> RayServer:
    """`fncall serve --ray local` for a Ray configuration; plain `fncall serve` for replicas=0 (the
    single-process server with the same slots and threads, as a baseline)."""
    common = ["--model", "tiny", "--threads", "1", "--ctx", str(args.ctx), "--parallel", str(args.slots)]
    log = RESULTS / f"ray_cluster_{config.replicas}_{config.router}.log"
    if config.replicas == 0:
        port = free_port()
        cmd = [sys.executable, "-m", "fncall.cli", "serve", "--port", str(port), *common]
        with open(log, "wb") as out:
            process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        server = RayServer(f"http://127.0.0.1:{port}", process, log)
        while process.poll() is None:
            try:
                httpx.get(f"{server.root}/health", timeout=2).raise_for_status()
                return server
            except httpx.HTTPError:
                time.sleep(0.25)
        raise RuntimeError(server.tail())
    ray = ["--replicas", str(config.replicas), "--ray-option", f"router={config.router}"]
    return start_ray_server(*common, *ray, log=log, replicas=config.replicas)


def run(config: Config, args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    server = start(config, args)
    up = time.perf_counter() - started
    try:
        memory = memory_mib(server) if config.replicas else {}
        cpu_before = outside_cpu_s(server.process.pid)
        results, wall = workload(server, args)
        cpu_after = outside_cpu_s(server.process.pid)
        if config.replicas:
            memory = {k: max(v, memory_mib(server)[k]) for k, v in memory.items()}
        else:  # one process: its peak
            peak = proc_field(f"/proc/{server.process.pid}/status", "VmHWM") or "0 kB"
            memory = {"replica_rss_mib": int(peak.split()[0]) / 1024}
            memory["cluster_rss_mib"] = memory["replica_rss_mib"]
    finally:
        code, left = stop(server)
    ttfts = [r["ttft"] for r in results]
    return {
        "config": config.name,
        "startup_s": up,
        "requests": len(results),
        "wall_s": wall,
        "completion_tok_s": sum(r["completion"] for r in results) / wall,
        "ttft_p50_s": percentile(ttfts, 50),
        "ttft_p95_s": percentile(ttfts, 95),
        "prefix_hit_rate": sum(r["cached"] for r in results) / sum(r["prompt"] for r in results),
        "prompt_tokens": sum(r["prompt"] for r in results),
        "cpu_outside_benchmark_cores": max(0.0, cpu_after - cpu_before) / wall,
        "exit_code": code,
        "processes_left": len(left),
        **memory,
    }


def print_table(rows: list[dict[str, Any]]) -> None:
    head = (
        "configuration",
        "tok/s",
        "TTFT p50",
        "TTFT p95",
        "prefix hits",
        "replica RSS",
        "cluster RSS",
        "CPU elsewhere",
    )
    print(" | ".join(head))
    for r in rows:
        print(
            f"{r['config']} | {r['completion_tok_s']:.1f} | {r['ttft_p50_s']:.2f} s | "
            f"{r['ttft_p95_s']:.2f} s | {100 * r['prefix_hit_rate']:.0f} % | "
            f"{r['replica_rss_mib']:.0f} MiB | "
            f"{r['cluster_rss_mib']:.0f} MiB | {r['cpu_outside_benchmark_cores']:.2f} cores"
        )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenants", type=int, default=4, help="K: tool sets")
    parser.add_argument("--conversations", type=int, default=3, help="N: conversations per tool set")
    parser.add_argument("--turns", type=int, default=3, help="T: turns per conversation")
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--concurrency", type=int, default=4, help="requests in flight at most")
    parser.add_argument("--slots", type=int, default=4, help="slots per replica (--parallel)")
    parser.add_argument("--ctx", type=int, default=2048, help="context per slot")
    parser.add_argument(
        "--configs",
        default="0:single,1:affinity,2:affinity,2:power-of-two",
        help="REPLICAS:ROUTER,... to run in order (0: the single-process server, no Ray)",
    )
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    RESULTS.mkdir(exist_ok=True)
    configs = [Config(int(r), router) for r, router in (c.split(":") for c in args.configs.split(","))]
    rows = [run(c, args) for c in configs]
    print_table(rows)
    out = {"machine": machine(), "git": commit(), "args": vars(args), "results": rows}
    (RESULTS / "ray_cluster.json").write_text(json.dumps(out, indent=2))
    print(f"wrote {RESULTS / 'ray_cluster.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
