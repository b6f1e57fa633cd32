"""Shared fixtures: the real tiny model, an engine on it, and real `fncall serve` processes on loopback."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from fncall.engine.engine import Engine, EngineConfig
from fncall.engine.llama import LlamaModel
from fncall.launch import ServerProcess, start_server
from fncall.models import resolve_model

__all__ = ["Server", "start_server", "stop_server"]


@pytest.fixture(scope="session", autouse=True)
def responses_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Servers started by the tests store responses in a temporary file, not the user's cache."""
    path = tmp_path_factory.mktemp("responses") / "responses.sqlite3"
    before = os.environ.get("FNCALL_RESPONSES_DB")
    os.environ["FNCALL_RESPONSES_DB"] = str(path)
    yield path
    if before is None:
        del os.environ["FNCALL_RESPONSES_DB"]
    else:
        os.environ["FNCALL_RESPONSES_DB"] = before


@pytest.fixture(scope="session")
def tiny_path() -> Path:
    return resolve_model("tiny", progress=False).path


@pytest.fixture(scope="session")
def tiny_model(tiny_path: Path) -> Iterator[LlamaModel]:
    model = LlamaModel(tiny_path)
    yield model
    model.close()


# One llama.cpp thread for the tiny model: its threads synchronise by spinning, and on a 2-core CI machine a
# second spinning thread competing with the test process or another server slows decoding tens of times over.
@pytest.fixture(scope="session")
def tiny_engine(tiny_model: LlamaModel) -> Iterator[Engine]:
    engine = Engine(tiny_model, EngineConfig(n_ctx=1024, n_slots=3, n_threads=1, n_batch=256))
    engine.start()
    yield engine
    engine.stop()


Server = ServerProcess


def stop_server(server: ServerProcess) -> None:
    server.stop()


@pytest.fixture(scope="session")
def tiny_server() -> Iterator[Server]:
    server = start_server("--model", "tiny", "--ctx", "1024", "--parallel", "2", "--threads", "1")
    yield server
    stop_server(server)
