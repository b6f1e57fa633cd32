"""Shared fixtures: the real tiny model, an engine on it, and real `fncall serve` processes on loopback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from fncall.engine.engine import Engine, EngineConfig
from fncall.engine.llama import LlamaModel
from fncall.models import resolve_model


@pytest.fixture(scope="session")
def tiny_path() -> Path:
    return resolve_model("tiny", progress=False).path


@pytest.fixture(scope="session")
def tiny_model(tiny_path: Path) -> Iterator[LlamaModel]:
    model = LlamaModel(tiny_path)
    yield model
    model.close()


@pytest.fixture(scope="session")
def tiny_engine(tiny_model: LlamaModel) -> Iterator[Engine]:
    engine = Engine(tiny_model, EngineConfig(n_ctx=1024, n_slots=3, n_threads=2, n_batch=256))
    engine.start()
    yield engine
    engine.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Server:
    base_url: str  # ends in /v1
    model_id: str
    process: subprocess.Popen[bytes]

    @property
    def root(self) -> str:
        return self.base_url.removesuffix("/v1")


def start_server(*args: str, timeout: float = 600.0) -> Server:
    """Starts the real CLI (`python -m fncall.cli serve`) and waits until /health answers."""
    port = free_port()
    cmd = [sys.executable, "-m", "fncall.cli", "serve", "--port", str(port), "--log-level", "warning", *args]
    proc = subprocess.Popen(cmd, env=os.environ | {"PYTHONUNBUFFERED": "1"})
    root = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"fncall serve exited with {proc.returncode}")
        try:
            health = httpx.get(f"{root}/health", timeout=2).json()
            return Server(f"{root}/v1", health["model"], proc)
        except httpx.HTTPError:
            time.sleep(0.25)
    proc.kill()
    raise RuntimeError("fncall serve did not become healthy in time")


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.process.kill()


@pytest.fixture(scope="session")
def tiny_server() -> Iterator[Server]:
    server = start_server("--model", "tiny", "--ctx", "1024", "--parallel", "2", "--threads", "2")
    yield server
    stop_server(server)
