"""Starts `fncall serve` as a child process on a free loopback port: for tests, benchmarks and scripts."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class ServerProcess:
    base_url: str  # ends in /v1, ready for openai.OpenAI(base_url=...)
    model_id: str
    process: subprocess.Popen[bytes]

    @property
    def root(self) -> str:
        return self.base_url.removesuffix("/v1")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_server(
    *args: str, timeout: float = 600.0, env: Mapping[str, str] | None = None, log_file: Path | None = None
) -> ServerProcess:
    """Runs `python -m fncall.cli serve ARGS` and waits until /health answers (blocks up to `timeout`).

    `env` adds environment variables; `log_file` receives the server's stdout and stderr.
    """
    port = free_port()
    cmd = [sys.executable, "-m", "fncall.cli", "serve", "--port", str(port), "--log-level", "warning", *args]
    env = os.environ | {"PYTHONUNBUFFERED": "1"} | dict(env or {})
    if log_file is None:
        proc = subprocess.Popen(cmd, env=env)
    else:
        with open(log_file, "wb") as out:  # the child keeps its own copy of the descriptor
            proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    root = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"fncall serve exited with {proc.returncode}")
        try:
            health = httpx.get(f"{root}/health", timeout=2).json()
            return ServerProcess(f"{root}/v1", health["model"], proc)
        except httpx.HTTPError:
            time.sleep(0.25)
    proc.kill()
    raise RuntimeError("fncall serve did not become healthy in time")


@contextmanager
def running_server(*args: str) -> Iterator[ServerProcess]:
    """A server for the duration of the block; a SIGTERM to this process stops it too (as SystemExit),
    instead of leaving the child running."""
    server = start_server(*args)
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _exit) if main else None
    try:
        yield server
    finally:
        server.stop()
        if main:
            signal.signal(signal.SIGTERM, previous)


def _exit(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)
