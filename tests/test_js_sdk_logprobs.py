"""logprobs, n and legacy completions through the official JavaScript `openai` SDK (tests/js/logprobs.mjs),
on the tiny model. Needs Node and `npm ci` in tests/js; skipped otherwise."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import Server

JS_DIR = Path(__file__).parent / "js"
NODE = shutil.which("node")


def test_logprobs_n_and_completions_through_the_js_sdk(tiny_server: Server) -> None:
    if NODE is None:
        pytest.skip("node is not installed")
    if not (JS_DIR / "node_modules" / "openai").is_dir():
        pytest.skip("JS SDK not installed: run `npm ci` in tests/js")
    env = os.environ | {"FNCALL_BASE_URL": tiny_server.base_url, "FNCALL_MODEL": "tiny"}
    run = subprocess.run(
        [NODE, str(JS_DIR / "logprobs.mjs")], env=env, capture_output=True, text=True, timeout=300
    )
    lines = run.stdout.strip().splitlines()
    assert lines, f"logprobs.mjs printed nothing\n{run.stderr}"
    result = json.loads(lines[-1])
    assert run.returncode == 0 and result["ok"] is True, f"{result}\n{run.stderr}"
