"""`fncall serve --ray local` as a child process on a free loopback port, for tests and benchmarks: its
replicas' series from /metrics, and a stop that reports any Ray process outliving it. Ray-free."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import httpx

from fncall.launch import free_port

# Loopback only, no usage-stats prompt, and nothing inherited that points at another cluster.
RAY_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0", "PYTHONUNBUFFERED": "1"}


@dataclass
class RayServer:
    root: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def base_url(self) -> str:
        return f"{self.root}/v1"

    def health(self) -> httpx.Response:
        return httpx.get(f"{self.root}/health", timeout=30)

    def replicas(self) -> dict[str, dict[str, float]]:
        """Per-replica series from /metrics: replica id → {metric name: value} (pid included)."""
        text = httpx.get(f"{self.root}/metrics", timeout=30).text
        out: dict[str, dict[str, float]] = defaultdict(dict)
        for name, labels, value in re.findall(r"^(fncall_replica_\w+)\{([^}]*)\} (\S+)$", text, re.M):
            fields = dict(re.findall(r'(\w+)="([^"]*)"', labels))
            out[fields["replica"]][name] = float(value)
            if "pid" in fields:
                out[fields["replica"]]["pid"] = float(fields["pid"])
        return dict(out)

    def wait_ready(self, replicas: int, timeout: float = 180) -> dict[str, object]:
        """Waits until /health reports `replicas` ready and as many reporting to the router."""
        deadline = time.monotonic() + timeout
        body: dict[str, object] = {}
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"fncall serve --ray exited with {self.process.returncode}: {self.tail()}")
            try:
                response = self.health()
                body = response.json()
                counts = body.get("replicas", {})
                if isinstance(counts, dict) and counts.get("ready") == replicas == counts.get("reporting"):
                    return body
            except (httpx.HTTPError, ValueError):  # the proxy answers plain text before the app is up
                pass
            time.sleep(0.25)
        raise RuntimeError(f"not {replicas} replicas ready in {timeout} s: {body}; {self.tail()}")

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


def start_ray_server(*args: str, log: Path, replicas: int) -> RayServer:
    port = free_port()
    cmd = [sys.executable, "-m", "fncall.cli", "serve", "--ray", "local", "--port", str(port), *args]
    with open(log, "wb") as out:
        process = subprocess.Popen(cmd, env=os.environ | RAY_ENV, stdout=out, stderr=subprocess.STDOUT)
    server = RayServer(f"http://127.0.0.1:{port}", process, log)
    try:
        server.wait_ready(replicas)
    except BaseException:
        stop(server)
        raise
    return server


def descendants(pid: int) -> set[int]:
    """Every live process below `pid` (Ray's GCS, raylet and workers start as children of the driver)."""
    children: dict[int, list[int]] = defaultdict(list)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children[int(fields[1])].append(int(stat.parent.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pids: set[int]) -> set[int]:
    """Those of `pids` still running (zombies count as gone)."""
    running = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            running.add(pid)
    return running


def stop(server: RayServer, timeout: float = 60) -> tuple[int | None, set[int]]:
    """SIGTERM, then its exit status and the processes it started that outlived it (killed here so a
    failed test leaves nothing running either)."""
    tree = descendants(server.process.pid)
    server.process.send_signal(signal.SIGTERM)
    try:
        code: int | None = server.process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        server.process.kill()
        code = None
    deadline = time.monotonic() + 15
    while alive(tree) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = alive(tree)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    return code, left
