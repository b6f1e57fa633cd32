"""32 concurrent requests against 4 slots: plain and streamed answers, tool calls, and clients that leave
mid-stream. Every request ends as it should, and afterwards the engine's own counters (read through the
/metrics gauges) show nothing leaked: no running or waiting sequence, every slot free."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from fncall.engine.llama import LlamaModel
from tests.conftest import Server, start_server, stop_server
from tests.openapi_contract import validate

N_REQUESTS = 32
SLOTS = 4
ASK = [{"role": "user", "content": "Tell me about Paris."}]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"enum": ["Paris", "Rome"]}},
            "required": ["city"],
        },
    },
}
NAMED = {"type": "function", "function": {"name": "get_weather"}}


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    server = start_server("--model", "tiny", "--ctx", "1024", "--parallel", str(SLOTS), "--threads", "1")
    yield server
    stop_server(server)


def gauges(server: Server) -> dict[str, float]:
    text = httpx.get(server.root + "/metrics").text
    return {
        s.name + str(sorted(s.labels.items())): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }


async def plain(client: httpx.AsyncClient, i: int) -> str:
    body = {"model": "tiny", "messages": ASK, "max_tokens": 12, "seed": i}
    response = await client.post("/chat/completions", json=body)
    assert response.status_code == 200, response.text
    validate("CreateChatCompletionResponse", response.json())
    finish = response.json()["choices"][0]["finish_reason"]
    assert finish in ("stop", "length")
    return finish


async def streamed(client: httpx.AsyncClient, i: int) -> str:
    body = {"model": "tiny", "messages": ASK, "max_tokens": 12, "seed": i, "stream": True}
    body["stream_options"] = {"include_usage": True}
    async with client.stream("POST", "/chat/completions", json=body) as response:
        assert response.status_code == 200
        payloads = [line[6:] async for line in response.aiter_lines() if line.startswith("data: ")]
    assert payloads[-1] == "[DONE]"
    chunks = [json.loads(p) for p in payloads[:-1]]
    for chunk in chunks:
        validate("CreateChatCompletionStreamResponse", chunk)
    assert chunks[-1]["usage"]["completion_tokens"] >= 1
    finish = chunks[-2]["choices"][0]["finish_reason"]
    assert finish in ("stop", "length")
    return finish


async def tool_call(client: httpx.AsyncClient, i: int) -> str:
    body = {"model": "tiny", "messages": ASK, "max_tokens": 60, "tools": [WEATHER], "tool_choice": NAMED}
    if i % 8 == 2:
        response = await client.post("/chat/completions", json=body)
        assert response.status_code == 200, response.text
        message = response.json()["choices"][0]["message"]
        arguments = message["tool_calls"][0]["function"]["arguments"]
        finish = response.json()["choices"][0]["finish_reason"]
    else:
        async with client.stream("POST", "/chat/completions", json=body | {"stream": True}) as response:
            chunks = [json.loads(line[6:]) async for line in response.aiter_lines() if line[6:7] == "{"]
        deltas = [c["choices"][0]["delta"] for c in chunks]
        arguments = "".join(t["function"]["arguments"] for d in deltas for t in d.get("tool_calls", ()))
        finish = chunks[-1]["choices"][0]["finish_reason"]
    assert json.loads(arguments)["city"] in ("Paris", "Rome")
    assert finish == "tool_calls"
    return finish


async def leaves_mid_stream(client: httpx.AsyncClient, i: int, no_eos: dict[str, int]) -> str:
    body = {"model": "tiny", "messages": ASK, "max_tokens": 500, "stream": True, "logit_bias": no_eos}
    async with client.stream("POST", "/chat/completions", json=body) as response:
        async for line in response.aiter_lines():
            if '"content":"' in line and '"content":""' not in line:
                break  # got a token: hang up
    return "left"


async def run_all(server: Server, no_eos: dict[str, int]) -> list[str]:
    limits = httpx.Limits(max_connections=N_REQUESTS)
    async with httpx.AsyncClient(base_url=server.base_url, timeout=300, limits=limits) as client:
        kinds = [plain, streamed, tool_call]
        jobs = [
            leaves_mid_stream(client, i, no_eos) if i % 4 == 3 else kinds[i % 4](client, i)
            for i in range(N_REQUESTS)
        ]
        return list(await asyncio.gather(*jobs))


def test_32_concurrent_requests_on_4_slots_end_well_and_leak_nothing(
    server: Server, tiny_model: LlamaModel
) -> None:
    no_eos = {str(int(t)): -100 for t in tiny_model.eog_ids}
    outcomes = asyncio.run(run_all(server, no_eos))
    assert outcomes.count("left") == N_REQUESTS // 4
    assert outcomes.count("tool_calls") == N_REQUESTS // 4

    deadline = time.monotonic() + 30
    while True:
        found = gauges(server)
        idle = (
            found["fncall_requests_running[]"],
            found["fncall_requests_waiting[]"],
            found["fncall_slots_free[]"],
        )
        if idle == (0, 0, SLOTS) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert idle == (0, 0, SLOTS)
    assert found["fncall_slots[]"] == SLOTS
    # KV cells: all that is left is what idle slots keep as reusable prefixes, per llama.cpp's own count
    assert found["fncall_kv_cache_tokens[]"] == found["fncall_prefix_cache_tokens[]"] > 0
    assert found["fncall_completions_total[('finish_reason', 'cancelled')]"] == N_REQUESTS // 4
    ended = sum(v for k, v in found.items() if k.startswith("fncall_completions_total"))
    assert ended == N_REQUESTS
    assert httpx.get(server.root + "/health").json()["running"] == 0
