"""The persistent prefix cache through real `fncall serve` processes (tiny model) sharing a cache directory:
a prefix saved by one server is loaded by the next, bad files are removed, the bound evicts, and a
changed model file invalidates everything saved with it."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from fncall.models import resolve_model
from tests.conftest import Server, start_server, stop_server

SYSTEM = "You are a careful assistant for a weather service. Answer briefly and check every fact twice. " * 8
MIN_TOKENS = 64


@pytest.fixture
def model_copy(tmp_path: Path) -> Path:
    """A private copy of the tiny model, so a test may change its mtime."""
    path = tmp_path / "tiny.gguf"
    shutil.copyfile(resolve_model("tiny", progress=False).path, path)
    return path


def serve(model: Path, cache: Path, *, mb: int = 64) -> Server:
    flags = ["--prefix-cache-disk-mb", str(mb), "--prefix-cache-disk-min-tokens", str(MIN_TOKENS)]
    args = ["--model", str(model), "--ctx", "1024", "--parallel", "2", "--threads", "1", *flags]
    return start_server(*args, env={"FNCALL_CACHE": str(cache)})


def ask(server: Server, question: str, system: str = SYSTEM) -> dict[str, Any]:
    body = {
        "model": server.model_id,
        "messages": [{"role": "system", "content": system}, {"role": "user", "content": question}],
        "max_tokens": 12,
        "temperature": 0,
    }
    reply = httpx.post(f"{server.base_url}/chat/completions", json=body, timeout=120)
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def cached(reply: dict[str, Any]) -> int:
    return int(reply["usage"]["prompt_tokens_details"]["cached_tokens"])


def entries(cache: Path) -> dict[str, dict[str, Any]]:
    index = cache / "prefix-kv" / "index.json"
    return dict(json.loads(index.read_text())["entries"]) if index.exists() else {}


def metric(server: Server, name: str) -> float:
    for line in httpx.get(f"{server.root}/metrics", timeout=10).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


FIRST, SECOND = "Alpha: is it raining in Paris?", "Bravo: is it sunny in Rome?"


def save_preamble(
    model: Path,
    cache: Path,
    system: str = SYSTEM,
    *,
    server: Server | None = None,
    questions: tuple[str, str] = (FIRST, SECOND),
) -> int:
    """Two questions under one system prompt: the second reuses it, so it is saved. Returns its length."""
    own = server is None
    server = server or serve(model, cache)
    try:
        ask(server, questions[0], system)
        second = ask(server, questions[1], system)
        assert cached(second) >= MIN_TOKENS
        deadline = time.monotonic() + 30
        while len(entries(cache)) < (1 if own else 2) and time.monotonic() < deadline:
            time.sleep(0.1)
        return cached(second)
    finally:
        if own:
            stop_server(server)


@pytest.mark.parametrize(
    "questions",
    [
        (FIRST, SECOND),  # they part right after the system prompt: the third shares all that is saved
        ("Is it raining in Paris?", "Is it sunny in Rome?"),  # "Is it" is saved too: loaded, then cut
    ],
)
def test_a_prefix_saved_before_a_restart_is_loaded_after_it(
    model_copy: Path, tmp_path: Path, questions: tuple[str, str]
) -> None:
    cache = tmp_path / "cache"
    saved = save_preamble(model_copy, cache, questions=questions)
    (entry,) = entries(cache).values()
    assert len(entry["tokens"]) == saved
    cold = serve(model_copy, tmp_path / "elsewhere")
    try:
        expected = ask(cold, "Charlie: is it windy in Oslo?")
        assert cached(expected) == 0
    finally:
        stop_server(cold)
    warm = serve(model_copy, cache)
    try:
        started = time.perf_counter()
        reply = ask(warm, "Charlie: is it windy in Oslo?")
        print(f"after a restart: {time.perf_counter() - started:.3f} s, {cached(reply)} tokens loaded")
        if questions[0].startswith("Alpha"):
            assert cached(reply) == saved
        else:
            assert MIN_TOKENS <= cached(reply) < saved
        assert reply["choices"][0]["message"] == expected["choices"][0]["message"]
        assert metric(warm, "fncall_prefix_disk_hits_total") == 1
        assert metric(warm, "fncall_prefix_disk_read_bytes_total") == entry["bytes"]
    finally:
        stop_server(warm)


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_a_corrupt_file_is_removed_and_the_request_still_answers(
    model_copy: Path, tmp_path: Path, damage: str
) -> None:
    cache = tmp_path / "cache"
    save_preamble(model_copy, cache)
    (path,) = (cache / "prefix-kv").glob("*.kv")
    data = path.read_bytes()
    middle = len(data) // 2
    path.write_bytes(data[:middle] if damage == "truncate" else data[:middle] + b"\xff" + data[middle + 1 :])
    server = serve(model_copy, cache)
    try:
        reply = ask(server, "Charlie: is it windy in Oslo?")
        assert cached(reply) == 0 and reply["choices"][0]["message"]["content"]
        assert not path.exists() and entries(cache) == {}
        assert metric(server, "fncall_prefix_disk_corrupt_total") == 1
        assert metric(server, "fncall_prefix_disk_hits_total") == 0
    finally:
        stop_server(server)


def test_the_bound_evicts_the_least_recently_used_prefix(model_copy: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    server = serve(model_copy, cache, mb=5)  # ~23 KiB a token: room for one preamble of ~150 tokens
    try:
        save_preamble(model_copy, cache, server=server)
        (first,) = entries(cache)
        other = "You are a terse assistant for a train timetable. Never guess a departure time. " * 8
        save_preamble(model_copy, cache, other, server=server)
        (second,) = entries(cache)
        assert second != first
        assert [p.stem for p in (cache / "prefix-kv").glob("*.kv")] == [second]
        assert metric(server, "fncall_prefix_disk_evictions_total") == 1
        assert metric(server, "fncall_prefix_disk_bytes") <= 5 * 1024 * 1024
    finally:
        stop_server(server)


def test_a_changed_model_file_invalidates_the_saved_prefixes(model_copy: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    save_preamble(model_copy, cache)
    os.utime(model_copy)  # same path, new mtime: treated as another model
    server = serve(model_copy, cache)
    try:
        assert entries(cache) == {} and not list((cache / "prefix-kv").glob("*.kv"))
        assert cached(ask(server, "Charlie: is it windy in Oslo?")) == 0
    finally:
        stop_server(server)
