"""Limits and graceful shutdown on real server processes: SIGTERM drains (new requests 503, running streams
finish, exit 0) or, past --shutdown-timeout, aborts cleanly; --request-timeout ends a completion with 504."""

from __future__ import annotations

import contextlib
import json
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from fncall.engine.llama import LlamaModel
from tests.conftest import Server, start_server, stop_server
from tests.openapi_contract import validate

STORY = [{"role": "user", "content": "Write a very long story about a dragon who loves tea."}]
TINY = ("--model", "tiny", "--ctx", "1024", "--parallel", "2", "--threads", "1")


@pytest.fixture(scope="module")
def no_eos(tiny_model: LlamaModel) -> dict[str, int]:
    """logit_bias that bans end-of-generation tokens, so a completion runs until max_tokens."""
    return {str(int(t)): -100 for t in tiny_model.eog_ids}


def body(no_eos: dict[str, int], max_tokens: int, **fields: Any) -> dict[str, Any]:
    return {"model": "tiny", "messages": STORY, "max_tokens": max_tokens, "logit_bias": no_eos} | fields


def sse_payloads(lines: Iterator[str]) -> Iterator[str]:
    return (line.removeprefix("data: ") for line in lines if line.startswith("data: "))


def wait_until(predicate: Any, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def draining(server: Server) -> bool:
    return httpx.get(server.root + "/health", timeout=5).status_code == 503


def test_sigterm_drains_running_streams_refuses_new_requests_and_exits_0(no_eos: dict[str, int]) -> None:
    server = start_server(*TINY, "--shutdown-timeout", "120")
    try:
        long = body(no_eos, 300, stream=True)
        with httpx.stream("POST", server.base_url + "/chat/completions", json=long, timeout=120) as stream:
            payloads = sse_payloads(stream.iter_lines())
            next(payloads)  # the role chunk: the sequence is running
            server.process.send_signal(signal.SIGTERM)
            wait_until(lambda: draining(server))
            refused = httpx.post(server.base_url + "/chat/completions", json=body(no_eos, 1), timeout=30)
            assert refused.status_code == 503
            validate("ErrorResponse", refused.json())
            assert refused.json()["error"]["code"] == "server_shutting_down"
            assert httpx.get(server.base_url + "/models").status_code == 503
            rest = list(payloads)
        assert rest[-1] == "[DONE]"
        assert json.loads(rest[-2])["choices"][0]["finish_reason"] == "length"
        assert server.process.wait(timeout=60) == 0
    finally:
        stop_server(server)


def test_requests_still_running_after_the_shutdown_timeout_are_aborted_cleanly(
    no_eos: dict[str, int],
) -> None:
    server = start_server(*TINY, "--shutdown-timeout", "1")
    try:
        answers: list[httpx.Response] = []
        blocking = threading.Thread(
            target=lambda: answers.append(
                httpx.post(server.base_url + "/chat/completions", json=body(no_eos, 900), timeout=120)
            )
        )
        blocking.start()
        long = body(no_eos, 900, stream=True)
        with httpx.stream("POST", server.base_url + "/chat/completions", json=long, timeout=120) as stream:
            payloads = sse_payloads(stream.iter_lines())
            next(payloads)
            server.process.send_signal(signal.SIGTERM)
            rest = list(payloads)
        blocking.join(timeout=60)
        assert "[DONE]" not in rest
        assert json.loads(rest[-1])["error"]["code"] == "server_shutting_down"
        assert answers[0].status_code == 503
        assert answers[0].json()["error"]["code"] == "server_shutting_down"
        assert server.process.wait(timeout=60) == 0
    finally:
        stop_server(server)


def test_a_second_signal_stops_waiting(no_eos: dict[str, int]) -> None:
    server = start_server(*TINY, "--shutdown-timeout", "300")
    try:
        long = body(no_eos, 900, stream=True)
        with httpx.stream("POST", server.base_url + "/chat/completions", json=long, timeout=120) as stream:
            payloads = sse_payloads(stream.iter_lines())
            next(payloads)
            server.process.send_signal(signal.SIGTERM)
            wait_until(lambda: draining(server))
            server.process.send_signal(signal.SIGTERM)
            started = time.monotonic()
            with pytest.raises(httpx.HTTPError):  # the stream is cut off, not finished
                list(payloads)
        assert server.process.wait(timeout=60) == 0
        assert time.monotonic() - started < 30
    finally:
        stop_server(server)


@pytest.fixture(scope="module")
def limited() -> Iterator[Server]:
    server = start_server(*TINY, "--request-timeout", "2", "--max-body-bytes", "65536")
    yield server
    stop_server(server)


def test_request_timeout_ends_completions_with_504_and_frees_the_slot(
    limited: Server, no_eos: dict[str, int]
) -> None:
    started = time.monotonic()
    slow = httpx.post(limited.base_url + "/chat/completions", json=body(no_eos, 900), timeout=120)
    assert slow.status_code == 504 and time.monotonic() - started < 30
    validate("ErrorResponse", slow.json())
    assert slow.json()["error"]["code"] == "request_timeout"

    long = body(no_eos, 900, stream=True)
    with httpx.stream("POST", limited.base_url + "/chat/completions", json=long, timeout=120) as stream:
        payloads = list(sse_payloads(stream.iter_lines()))
    assert "[DONE]" not in payloads
    assert json.loads(payloads[-1])["error"]["code"] == "request_timeout"

    wait_until(lambda: httpx.get(limited.root + "/health").json()["running"] == 0)
    metrics = httpx.get(limited.root + "/metrics").text
    assert 'fncall_completions_total{finish_reason="request_timeout"} 2.0' in metrics
    quick = httpx.post(limited.base_url + "/chat/completions", json=body(no_eos, 2), timeout=30)
    assert quick.status_code == 200


def test_configured_body_limit(limited: Server) -> None:
    big = json.dumps({"model": "tiny", "messages": [{"role": "user", "content": "x" * 70_000}]}).encode()
    declared = httpx.post(limited.base_url + "/chat/completions", content=big, timeout=30)
    assert declared.status_code == 413
    chunked = httpx.post(limited.base_url + "/chat/completions", content=iter([big[:40_000], big[40_000:]]))
    assert chunked.status_code == 413
    assert "65536 bytes" in chunked.json()["error"]["message"]


def test_sigterm_to_a_script_using_running_server_stops_the_server_too() -> None:
    """Benchmarks start their server with `running_server`: killing the benchmark must not orphan it."""
    import os
    import subprocess
    import sys

    script = (
        "import time\nfrom fncall.launch import running_server\n"
        f"with running_server{TINY!r} as server:\n"
        "    print('server pid', server.process.pid, flush=True)\n    time.sleep(600)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = next(line for line in proc.stdout if line.startswith("server pid"))  # the server prints too
    child = int(line.split()[-1])
    try:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 128 + signal.SIGTERM
        with pytest.raises(ProcessLookupError):  # stopped and reaped, not left running
            os.kill(child, 0)
    finally:
        proc.stdout.close()
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)
