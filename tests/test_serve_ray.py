"""fncall on a real local Ray cluster: `fncall serve --ray local`, 2 engine replicas of the tiny model
(1 thread each) behind the Serve ingress, driven with the openai SDK and raw SSE.

One cluster for the module (starting one takes ~15 s). The tests run in file order: the last one
kills a replica and the module's teardown checks that stopping the server leaves no Ray process.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from fncall.launch import start_server
from fncall.serve_ray.launch import RayServer, start_ray_server, stop
from tests.conftest import Server
from tests.test_tools_e2e import ASK, ORDER, WEATHER

SLOTS = 2
# The tiny model, one llama.cpp thread per replica: two replicas fill a 2-core CI machine.
TINY = ("--model", "tiny", "--threads", "1", "--ctx", "1024")


@pytest.fixture(scope="module")
def ray_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RayServer]:
    log = tmp_path_factory.mktemp("ray") / "serve.log"
    # max_ongoing 4 on 2 slots: a replica takes requests that wait in its engine queue (see the fault test)
    # max_waiting 1: one request may wait in a replica's engine queue and one in Serve's router queue
    options = ("--ray-option", "stats_period=0.5", "--ray-option", "max_ongoing=4", "--max-waiting", "1")
    server = start_ray_server(
        *TINY, "--parallel", str(SLOTS), "--replicas", "2", *options, log=log, replicas=2
    )
    yield server
    code, left = stop(server)
    assert code == 0, server.tail()
    assert not left, f"Ray processes left after shutdown: {left}"


def _client(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0, timeout=120)


def _answer(client: openai.OpenAI, stream: bool, **kwargs: Any) -> dict[str, Any]:
    """The message (calls without their random ids), finish reason and token counts, either way."""
    request: dict[str, Any] = {"model": "tiny", "temperature": 0, "max_tokens": 24, **kwargs}
    if not stream:
        reply = client.chat.completions.create(**request)
        choice = reply.choices[0]
        calls = [(c.function.name, c.function.arguments) for c in choice.message.tool_calls or []]
        usage = reply.usage
        assert usage is not None
        return {
            "content": choice.message.content,
            "calls": calls,
            "finish": choice.finish_reason,
            "tokens": (usage.prompt_tokens, usage.completion_tokens),
        }
    content, finish, tokens = None, None, None
    calls: dict[int, list[str]] = {}
    chunks = client.chat.completions.create(**request, stream=True, stream_options={"include_usage": True})
    for chunk in chunks:
        if chunk.usage is not None:
            tokens = (chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
        for choice in chunk.choices:
            if choice.delta.content:
                content = (content or "") + choice.delta.content
            for call in choice.delta.tool_calls or []:
                entry = calls.setdefault(call.index, ["", ""])
                entry[0] += (call.function.name or "") if call.function else ""
                entry[1] += (call.function.arguments or "") if call.function else ""
            finish = choice.finish_reason or finish
    return {
        "content": content,
        "calls": [tuple(c) for c in calls.values()],
        "finish": finish,
        "tokens": tokens,
    }


# Every case opens with the same long system message: the affinity router then sends them all to one
# replica, which sees exactly the requests a fresh single-process server sees, in the same order. (Equal
# histories matter: llama.cpp's numerics depend on where cells sit in the KV cache, and the tiny model's
# greedy choice flips on near-ties.)
SYSTEM = {"role": "system", "content": "You help with the weather and with orders in a small shop. " * 6}
CASES: dict[str, dict[str, Any]] = {
    "plain": {"messages": [SYSTEM, {"role": "user", "content": "Name three colours."}]},
    # Auto mode answers in prose here, and after its first 6 tokens the tiny model's greedy choice flips
    # with the KV cells' placement: one server gives two different continuations of this very request
    # (cold, then cached), and the Ray ingress's warm-up request shifts the replica's cells. The opening
    # (where auto mode decides between call and text) is what this case checks.
    "auto": {"messages": [SYSTEM, *ASK], "tools": [WEATHER, ORDER], "max_tokens": 6},
    "required": {
        "messages": [SYSTEM, *ASK],
        "tools": [WEATHER, ORDER],
        "tool_choice": "required",
        "max_tokens": 80,
    },
    "named": {
        "messages": [SYSTEM, *ASK],
        "tools": [WEATHER, ORDER],
        "tool_choice": {"type": "function", "function": {"name": "place_order"}},
        "max_tokens": 80,
    },
    "none": {"messages": [SYSTEM, *ASK], "tools": [WEATHER], "tool_choice": "none"},
}


@pytest.fixture(scope="module")
def fresh_server() -> Iterator[Server]:
    """A single-process server with the replicas' settings and no history."""
    server = start_server(*TINY, "--parallel", str(SLOTS))
    yield server
    server.stop()


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize("case", list(CASES))
def test_same_answers_as_the_single_process_server(
    ray_server: RayServer, fresh_server: Server, case: str, stream: bool
) -> None:
    on_ray = _answer(_client(ray_server.base_url), stream, **CASES[case])
    alone = _answer(_client(fresh_server.base_url), stream, **CASES[case])
    assert on_ray == alone
    if case in ("required", "named"):  # the tiny model may run on past max_tokens inside a call
        assert on_ray["calls"] and on_ray["finish"] in ("tool_calls", "length")


def test_errors_keep_their_shape(ray_server: RayServer) -> None:
    client = _client(ray_server.base_url)
    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
    assert missing.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError) as long:
        client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "word " * 2000}])
    assert long.value.code == "context_length_exceeded"


def _preamble(topic: str) -> list[dict[str, Any]]:
    """Tools whose rendered definitions run to a few hundred tokens, distinct per topic."""
    params = {"type": "object", "properties": {f"{topic}_{i}": {"type": "string"} for i in range(4)}}
    return [
        {
            "type": "function",
            "function": {"name": f"{topic}_{n}", "description": f"{topic} {n} " * 6, "parameters": params},
        }
        for n in range(2)
    ]


def _preamble_requests(client: openai.OpenAI, n: int) -> list[tuple[int, int]]:
    """`n` conversations that share one tool set; (prompt, cached) tokens of each first request."""
    out = []
    for i in range(n):
        question = [{"role": "user", "content": f"Question {i} about billing?"}]
        reply = client.chat.completions.create(
            model="tiny", messages=question, tools=_preamble("billing"), tool_choice="none", max_tokens=1
        )
        assert reply.usage is not None and reply.usage.prompt_tokens_details is not None
        out.append((reply.usage.prompt_tokens, reply.usage.prompt_tokens_details.cached_tokens or 0))
    return out


CACHED = "fncall_replica_cached_prompt_tokens_total"


def _settled_cached(server: RayServer) -> dict[str, float]:
    """Each replica's cached-prompt counter once reports stop changing it.

    Replicas report every `stats_period` (0.5 s here) and the controller relays the reports later
    still on a loaded machine, so earlier tests' requests can land in a snapshot taken right after
    them. Waits for four unchanged reads in a row (2 s) before trusting one.
    """
    last: dict[str, float] = {}
    same = 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        now = {r: series.get(CACHED, 0.0) for r, series in server.replicas().items()}
        same = same + 1 if now == last else 0
        if same >= 4:
            return now
        last = now
        time.sleep(0.5)
    raise AssertionError(f"replica reports kept changing: {last}")


def test_requests_sharing_a_tool_preamble_land_on_its_replica(ray_server: RayServer) -> None:
    before = _settled_cached(ray_server)
    cached = _preamble_requests(_client(ray_server.base_url), 6)
    # Every request after the first reuses the whole tool preamble (all but the question).
    for prompt, reused in cached[1:]:
        assert reused >= prompt - 20, cached
    after = _settled_cached(ray_server)
    reused = sum(after[r] - before.get(r, 0) for r in after)
    assert reused == sum(c for _, c in cached)


STORY = {"role": "system", "content": "You write long stories. " * 12}


def test_a_full_cluster_answers_429_and_keeps_serving(ray_server: RayServer) -> None:
    """More requests at once than the replicas' slots and queues hold: the extra ones are refused with
    the single-process server's 429 (whether Serve's router or a replica's engine queue refused them),
    never a 500, and the cluster serves again once they are done."""
    body = {"model": "tiny", "max_tokens": 32, "logit_bias": {"0": -100, "1": -100, "2": -100}}
    statuses: list[tuple[int, dict[str, Any]]] = []

    def ask(i: int) -> None:
        messages = [{"role": "user", "content": f"Story number {i}, please."}]
        response = httpx.post(
            f"{ray_server.root}/v1/chat/completions", json=body | {"messages": messages}, timeout=120
        )
        statuses.append((response.status_code, response.json()))

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(14)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    codes = sorted(code for code, _ in statuses)
    assert len(codes) == 14 and set(codes) <= {200, 429}, codes
    assert 429 in codes and codes.count(200) >= SLOTS, codes
    for code, payload in statuses:
        if code == 429:
            assert payload["error"]["type"] == "rate_limit_error", payload
            assert payload["error"]["code"] == "rate_limit_exceeded", payload
    reply = _client(ray_server.base_url).chat.completions.create(
        model="tiny", messages=[{"role": "user", "content": "Still there?"}], max_tokens=2
    )
    assert reply.choices[0].finish_reason in ("length", "stop")


def _long_stream(root: str, events: list[dict[str, Any]]) -> None:
    """A stream that cannot end by itself (end-of-generation tokens banned); appends its SSE events."""
    body = {
        "model": "tiny",
        "messages": [STORY, {"role": "user", "content": "Go."}],
        "max_tokens": 900,
        "logit_bias": {"0": -100, "1": -100, "2": -100},
        "stream": True,
    }
    with httpx.stream("POST", f"{root}/v1/chat/completions", json=body, timeout=120) as response:
        for line in response.iter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                events.append(json.loads(line[6:]))


def _has_content(events: list[dict[str, Any]]) -> bool:
    return any(e.get("choices") and e["choices"][0]["delta"].get("content") for e in events)


def test_a_replica_killed_mid_stream(ray_server: RayServer) -> None:
    """Two streams fill one replica's slots and a third request waits in its queue; that replica is
    killed: the streams end with an error event, the waiting request is answered by the other replica,
    and the app keeps serving."""
    streams: list[list[dict[str, Any]]] = [[] for _ in range(SLOTS)]
    threads = [threading.Thread(target=_long_stream, args=(ray_server.root, events)) for events in streams]
    for t in threads:
        t.start()
        time.sleep(1.0)  # the second follows the first's prefix onto the same replica
    victim = _wait_for(ray_server, lambda r: r.get("fncall_replica_requests_running") == SLOTS)
    waiting: list[Any] = []

    def ask() -> None:
        client = _client(ray_server.base_url)
        messages: Any = [STORY, {"role": "user", "content": "Hi"}]
        waiting.append(client.chat.completions.create(model="tiny", messages=messages, max_tokens=4))

    asker = threading.Thread(target=ask)
    asker.start()
    _wait_for(ray_server, lambda r: r.get("fncall_replica_requests_waiting") == 1)
    deadline = time.monotonic() + 30
    while not all(_has_content(events) for events in streams) and time.monotonic() < deadline:
        time.sleep(0.1)
    os.kill(int(ray_server.replicas()[victim]["pid"]), signal.SIGKILL)
    for t in [*threads, asker]:
        t.join(timeout=120)
    for events in streams:
        assert _has_content(events)
        last = events[-1]
        assert "error" in last and last["error"]["type"] == "server_error", last
    assert waiting and waiting[0].choices[0].finish_reason in ("length", "stop")
    reply = _client(ray_server.base_url).chat.completions.create(
        model="tiny", messages=[{"role": "user", "content": "Still there?"}], max_tokens=2
    )
    assert reply.choices[0].finish_reason in ("length", "stop")


def _wait_for(server: RayServer, test: Any, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for replica, series in server.replicas().items():
            if test(series):
                return replica
        time.sleep(0.2)
    raise AssertionError(f"no replica matched: {server.replicas()}")
