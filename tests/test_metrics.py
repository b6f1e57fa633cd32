"""`/metrics` and the access log: pure logic, then a real server whose counters must add up to what its
responses said, with exactly one access line per request."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from fncall.api.access_log import AccessRecord
from fncall.api.generation import CompletionStats
from fncall.api.metrics import Metrics, route_label
from fncall.engine.engine import EngineStats
from fncall.engine.prefix_disk import DiskCacheStats
from fncall.engine.prefix_host import HostCacheStats
from tests.conftest import Server, start_server, stop_server

ASK = [{"role": "user", "content": "What is the capital of France?"}]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"enum": ["Paris", "Rome"]}
            },  # short, so the call ends well within max_tokens
            "required": ["city"],
        },
    },
}


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


# -- pure logic


@pytest.mark.parametrize(
    ("path", "label"),
    [("/v1/chat/completions", "/v1/chat/completions"),
     ("/v1/openai/chat/completions", "/v1/chat/completions"), ("/v1/models/tiny", "/v1/models/{model}"),
     ("/v1/openai/models/a/b", "/v1/models/{model}"), ("/v1/responses/resp_1", "/v1/responses/{response_id}"),
     ("/v1/openai/responses/resp_2/input_items", "/v1/responses/{response_id}/input_items"),
     ("/health", "/health"), ("/v1/random-scan", "other"), ("/wp-admin.php", "other")],
)  # fmt: skip
def test_route_labels_are_bounded(path: str, label: str) -> None:
    assert route_label(path) == label


def test_each_app_has_its_own_registry() -> None:
    stats = EngineStats(n_slots=4, running=1, waiting=2, free_slots=3, retained_tokens=5, kv_tokens=9)
    first, second = Metrics(lambda: stats), Metrics(lambda: stats)  # no duplicate-registration error
    first.observe_request("/v1/models", "GET", 200, 0.01)
    first.observe_completion(CompletionStats("tool_calls", 10, 5, 2, 1, 0.5, 0.02, forced_tokens=3))
    found = samples(_exposition(first))
    assert value(found, "fncall_forced_tokens_total") == 3
    assert value(found, "fncall_http_requests_total", route="/v1/models", method="GET", status="200") == 1
    assert value(found, "fncall_prompt_tokens_total") == 10
    assert value(found, "fncall_cached_prompt_tokens_total") == 2
    assert value(found, "fncall_completions_total", finish_reason="tool_calls") == 1
    assert value(found, "fncall_requests_waiting") == 2 and value(found, "fncall_slots_free") == 3
    assert value(samples(_exposition(second)), "fncall_prompt_tokens_total") == 0


def test_disk_cache_metrics_appear_only_when_it_is_on() -> None:
    base = dict(n_slots=1, running=0, waiting=0, free_slots=1, retained_tokens=0, kv_tokens=0)
    off = samples(_exposition(Metrics(lambda: EngineStats(**base))))
    assert not any(name.startswith("fncall_prefix_disk_") for name, _ in off)
    disk = DiskCacheStats(3, 1, 2, 1, 4, 5, 600, 700, 800, 0.25, 0.5)
    on = samples(_exposition(Metrics(lambda: EngineStats(**base, disk=disk))))
    assert value(on, "fncall_prefix_disk_hits_total") == 3
    assert value(on, "fncall_prefix_disk_misses_total") == 1
    assert value(on, "fncall_prefix_disk_evictions_total") == 4
    assert value(on, "fncall_prefix_disk_read_bytes_total") == 700
    assert value(on, "fncall_prefix_disk_save_seconds_total") == 0.5
    assert value(on, "fncall_prefix_disk_bytes") == 600 and value(on, "fncall_prefix_disk_entries") == 5


def test_host_cache_metrics_appear_only_when_it_is_on() -> None:
    base = dict(n_slots=1, running=0, waiting=0, free_slots=1, retained_tokens=0, kv_tokens=0)
    off = samples(_exposition(Metrics(lambda: EngineStats(**base))))
    assert not any(name.startswith("fncall_prefix_ram_") for name, _ in off)
    host = HostCacheStats(2, 300, 9000, 4, 3, 1, 0.125, 0.25)
    on = samples(_exposition(Metrics(lambda: EngineStats(**base, host=host))))
    assert value(on, "fncall_prefix_ram_parks_total") == 4 and value(on, "fncall_prefix_ram_hits_total") == 3
    assert value(on, "fncall_prefix_ram_evictions_total") == 1
    assert value(on, "fncall_prefix_ram_load_seconds_total") == 0.25
    assert value(on, "fncall_prefix_ram_tokens") == 300 and value(on, "fncall_prefix_ram_bytes") == 9000


def _exposition(metrics: Metrics) -> str:
    from prometheus_client import generate_latest

    return generate_latest(metrics.registry).decode()


def test_access_line_quotes_client_text() -> None:
    record = AccessRecord("req_1", "POST", "/v1/chat/completions", 200, 'evil model="x"\nstatus=500')
    record.completed(CompletionStats("stop", 3, 4, 0, 0, None, None))
    line = record.line(0.0123)
    assert "\n" not in line
    assert line.startswith("request_id=req_1 method=POST path=/v1/chat/completions ")
    assert 'model="evil model=\\"x\\"\\nstatus=500" status=200 prompt_tokens=3 completion_tokens=4' in line
    assert line.endswith("finish_reason=stop latency_ms=12.3")


# -- a real server


@pytest.fixture(scope="module")
def log_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("metrics") / "server.log"


@pytest.fixture(scope="module")
def server(log_file: Path) -> Iterator[Server]:
    args = ("--model", "tiny", "--ctx", "1024", "--parallel", "2", "--threads", "1", "--log-level", "info")
    args += ("--jump-forward",)  # off by default; fncall_forced_tokens_total is checked
    server = start_server(*args, log_file=log_file)
    yield server
    stop_server(server)


def chat(server: Server, **fields: Any) -> httpx.Response:
    body = {"model": "tiny", "messages": ASK, "max_tokens": 8, "temperature": 0} | fields
    return httpx.post(server.base_url + "/chat/completions", json=body, timeout=120)


def stream_usage(server: Server) -> tuple[dict[str, Any], str]:
    body = {
        "model": "tiny",
        "messages": ASK,
        "max_tokens": 8,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    with httpx.stream("POST", server.base_url + "/chat/completions", json=body, timeout=120) as response:
        events = [line.removeprefix("data: ") for line in response.iter_lines() if line.startswith("data: ")]
        request_id = response.headers["x-request-id"]
    assert events[-1] == "[DONE]"
    return json.loads(events[-2])["usage"], request_id


def test_counters_add_up_to_the_responses_and_one_access_line_per_request(
    server: Server, log_file: Path
) -> None:
    plain = chat(server)
    named = {"type": "function", "function": {"name": "get_weather"}}
    called = chat(server, tools=[WEATHER], tool_choice=named, max_tokens=60)
    streamed_usage, streamed_id = stream_usage(server)
    bad = chat(server, temperature=5)
    assert [plain.status_code, called.status_code, bad.status_code] == [200, 200, 400]
    assert called.json()["choices"][0]["finish_reason"] == "tool_calls"
    usages = [plain.json()["usage"], called.json()["usage"], streamed_usage]

    found = samples(httpx.get(server.root + "/metrics").text)
    route = "/v1/chat/completions"
    assert value(found, "fncall_http_requests_total", route=route, method="POST", status="200") == 3
    assert value(found, "fncall_http_requests_total", route=route, method="POST", status="400") == 1
    assert value(found, "fncall_prompt_tokens_total") == sum(u["prompt_tokens"] for u in usages)
    assert value(found, "fncall_completion_tokens_total") == sum(u["completion_tokens"] for u in usages)
    # the named call's name is unique from its first token: the rest of it and `", "arguments": {"` are forced
    assert 0 < value(found, "fncall_forced_tokens_total") < called.json()["usage"]["completion_tokens"]
    assert value(found, "fncall_tool_calls_total") == len(
        called.json()["choices"][0]["message"]["tool_calls"]
    )
    assert value(found, "fncall_completions_total", finish_reason="tool_calls") == 1
    assert value(found, "fncall_time_to_first_token_seconds_count") == 3
    assert value(found, "fncall_grammar_compile_seconds_count") >= 1
    assert value(found, "fncall_requests_running") == 0 and value(found, "fncall_requests_waiting") == 0
    assert value(found, "fncall_slots_free") == value(found, "fncall_slots") == 2

    lines = [line for line in log_file.read_text().splitlines() if "fncall.access:" in line]
    completions = [line for line in lines if f"path={route}" in line]
    assert len(completions) == 4  # one per request, uvicorn's own access log is off
    assert not any(
        '"POST /v1/chat/completions HTTP/1.1"' in line for line in log_file.read_text().splitlines()
    )
    assert any(f"request_id={plain.headers['x-request-id']} " in line for line in completions)
    streamed = next(line for line in completions if f"request_id={streamed_id} " in line)
    fields = dict(re.findall(r"(\w+)=(\S+)", streamed))
    assert fields["model"] == "tiny" and fields["status"] == "200"
    assert int(fields["prompt_tokens"]) == streamed_usage["prompt_tokens"]
    assert int(fields["completion_tokens"]) == streamed_usage["completion_tokens"]
    assert float(fields["latency_ms"]) > 0
    assert any("status=400" in line and "prompt_tokens" not in line for line in completions)


def test_client_request_id_is_kept(server: Server) -> None:
    response = httpx.get(server.base_url + "/models", headers={"X-Request-ID": "trace-42"})
    assert response.headers["x-request-id"] == "trace-42"
    odd = httpx.get(server.base_url + "/models", headers={"X-Request-ID": "has space"})
    assert odd.headers["x-request-id"].startswith("req_")
