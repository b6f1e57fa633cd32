"""fncall on Ray, one short-lived local cluster per test: routing without affinity, autoscaling, a model
that cannot load. Each test stops its server and checks that no Ray process outlives it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from fncall.launch import free_port
from fncall.serve_ray.launch import RAY_ENV, RayServer, alive, descendants, start_ray_server, stop
from tests.test_serve_ray import TINY, _client, _preamble_requests


def _stopped_cleanly(server: RayServer) -> None:
    code, left = stop(server)
    assert code == 0, server.tail()
    assert not left, f"Ray processes left after shutdown: {left}"


def test_without_affinity_requests_miss_the_replica_holding_their_preamble(tmp_path: Path) -> None:
    """Serve's default policy (power of two choices) picks one of two idle replicas at random, so a
    request sharing a tool preamble finds it half the time until both replicas hold it. Fails only if
    all 11 follow-ups happen to land on the first holder: probability 2^-11."""
    server = start_ray_server(
        *TINY,
        "--parallel",
        "2",
        "--replicas",
        "2",
        "--ray-option",
        "router=power-of-two",
        "--ray-option",
        "stats_period=0.5",
        log=tmp_path / "serve.log",
        replicas=2,
    )
    try:
        cached = _preamble_requests(_client(server.base_url), 12)
        assert [(p, c) for p, c in cached[1:] if c < p - 20], cached
        time.sleep(1.5)
        counters = server.replicas()
        name = "fncall_replica_cached_prompt_tokens_total"
        assert sum(s[name] for s in counters.values()) == sum(c for _, c in cached)
    finally:
        _stopped_cleanly(server)


def _ready(server: RayServer) -> int:
    body: dict[str, Any] = server.health().json()
    return int(body["replicas"]["ready"])


def _wait_replicas(server: RayServer, n: int, timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if _ready(server) == n:
            return time.monotonic() - started
        time.sleep(0.25)
    raise AssertionError(f"not {n} replicas within {timeout} s: {server.health().json()}")


def test_autoscaling_up_under_load_and_back_down(tmp_path: Path) -> None:
    server = start_ray_server(
        *TINY,
        "--parallel",
        "1",
        "--replicas",
        "1:2",
        "--ray-option",
        "upscale_delay=1",
        "--ray-option",
        "downscale_delay=2",
        "--ray-option",
        "max_ongoing=2",
        log=tmp_path / "serve.log",
        replicas=1,
    )
    try:
        finishes: list[str | None] = []

        def ask(i: int) -> None:
            reply = _client(server.base_url).chat.completions.create(
                model="tiny",
                messages=[{"role": "user", "content": f"Tell a long story number {i}."}],
                max_tokens=600,
                logit_bias={"0": -100, "1": -100, "2": -100},  # no end of generation: the load lasts
            )
            finishes.append(reply.choices[0].finish_reason)

        load = [threading.Thread(target=ask, args=(i,)) for i in range(3)]
        for t in load:
            t.start()
        _wait_replicas(server, 2, timeout=90)
        for t in load:
            t.join(timeout=180)
        assert finishes == ["length"] * 3
        _wait_replicas(server, 1, timeout=90)
    finally:
        _stopped_cleanly(server)


def test_a_replica_that_cannot_load_its_model_is_reported_not_retried_forever(tmp_path: Path) -> None:
    """A KV cache of 50M tokens cannot be allocated: every engine replica fails in its constructor; after
    its retries Serve marks the deployment failed and `fncall serve --ray` exits 1 saying why, leaving no
    process of the cluster it started."""
    log = tmp_path / "serve.log"
    cmd = [sys.executable, "-m", "fncall.cli", "serve", "--ray", "local", "--port", str(free_port())]
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [*cmd, "--model", "tiny", "--threads", "1", "--ctx", "50000000"],
            env=os.environ | RAY_ENV,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    tree: set[int] = set()
    deadline = time.monotonic() + 180
    while process.poll() is None and time.monotonic() < deadline:
        tree |= descendants(process.pid)
        time.sleep(0.5)
    if process.poll() is None:
        process.kill()
    time.sleep(3)
    left = alive(tree)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    text = log.read_text(errors="replace")
    assert process.returncode == 1, text[-3000:]
    assert "could not be deployed" in text and "could not create a context" in text, text[-3000:]
    assert not left, f"Ray processes left: {left}"
