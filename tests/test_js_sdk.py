"""The weather example through the official JavaScript `openai` SDK (tests/js/weather.mjs), default model;
stored responses through it on the tiny model (tests/js/responses_store.mjs).

Needs Node and `npm ci` in tests/js; skipped otherwise. About 6 model calls at ~10 tok/s on CPU: minutes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Server, start_server, stop_server

JS_DIR = Path(__file__).parent / "js"
NODE = shutil.which("node")


@pytest.fixture(scope="module")
def default_server() -> Iterator[Server]:
    if NODE is None:
        pytest.skip("node is not installed")
    if not (JS_DIR / "node_modules" / "openai").is_dir():
        pytest.skip("JS SDK not installed: run `npm ci` in tests/js")
    server = start_server("--model", "default", "--ctx", "4096", "--parallel", "1")
    yield server
    stop_server(server)


@pytest.mark.default_model
def test_weather_example_through_the_js_sdk(default_server: Server) -> None:
    assert NODE is not None
    env = os.environ | {"FNCALL_BASE_URL": default_server.base_url, "FNCALL_MODEL": default_server.model_id}
    run = subprocess.run(
        [NODE, str(JS_DIR / "weather.mjs")], env=env, capture_output=True, text=True, timeout=600
    )
    lines = run.stdout.strip().splitlines()
    assert run.returncode == 0, f"weather.mjs exited {run.returncode}\n{run.stdout}\n{run.stderr}"
    assert lines, f"weather.mjs printed nothing\n{run.stderr}"
    result = json.loads(lines[-1])
    assert result["ok"] is True, result
    print(lines[-1])


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_stored_responses_through_the_js_sdk(tiny_server: Server) -> None:
    """Tiny model: create, retrieve, inputItems.list, previous_response_id, delete."""
    assert NODE is not None
    if not (JS_DIR / "node_modules" / "openai").is_dir():
        pytest.skip("JS SDK not installed: run `npm ci` in tests/js")
    env = os.environ | {"FNCALL_BASE_URL": tiny_server.base_url, "FNCALL_MODEL": "tiny"}
    run = subprocess.run(
        [NODE, str(JS_DIR / "responses_store.mjs")], env=env, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, f"responses_store.mjs exited {run.returncode}\n{run.stdout}\n{run.stderr}"
    assert json.loads(run.stdout.strip().splitlines()[-1])["ok"] is True
