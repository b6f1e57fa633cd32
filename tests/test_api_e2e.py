"""End to end: the real `fncall serve` (tiny model) on loopback, driven by the official openai SDK and httpx.

Every response body and stream chunk is validated against OpenAI's published schema.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import Server
from tests.openapi_contract import validate

QUESTION = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]


@pytest.fixture(scope="module")
def client(tiny_server: Server) -> openai.OpenAI:
    return openai.OpenAI(base_url=tiny_server.base_url, api_key="unused", max_retries=0)


def raw_post(server: Server, body: Any, path: str = "/v1/chat/completions") -> httpx.Response:
    content = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return httpx.post(
        server.root + path, content=content, headers={"Content-Type": "application/json"}, timeout=120
    )


def test_plain_chat_non_streaming(client: openai.OpenAI, tiny_server: Server) -> None:
    completion = client.chat.completions.create(
        model=tiny_server.model_id,
        messages=QUESTION,
        max_tokens=20,
        temperature=0,  # type: ignore[arg-type]
    )
    validate("CreateChatCompletionResponse", completion.model_dump(exclude_unset=True))
    choice = completion.choices[0]
    assert completion.object == "chat.completion" and completion.id.startswith("chatcmpl-")
    assert choice.message.role == "assistant" and choice.message.content
    assert choice.finish_reason in ("stop", "length")
    assert completion.usage is not None
    assert (
        completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens
    )
    assert completion.usage.prompt_tokens > 10
    assert completion.system_fingerprint and completion.system_fingerprint.startswith("fp_")


def test_agent_loop_reuses_the_conversation_prefix(client: openai.OpenAI, tiny_server: Server) -> None:
    """Each turn resends the conversation; the server prefills only what is new since the last turn."""
    messages: list[Any] = [
        {"role": "system", "content": "You are a terse assistant. " * 10},
        {"role": "user", "content": "Name a fruit."},
    ]
    cached = []
    for question in ("Name a color.", "Name a planet."):
        completion = client.chat.completions.create(
            model=tiny_server.model_id,
            messages=messages,
            max_tokens=8,
            temperature=0,  # type: ignore[arg-type]
        )
        usage = completion.usage
        assert usage is not None and usage.prompt_tokens_details is not None
        cached.append((usage.prompt_tokens_details.cached_tokens or 0, usage.prompt_tokens))
        messages += [{"role": "assistant", "content": completion.choices[0].message.content}]
        messages += [{"role": "user", "content": question}]
    previous_prompt = cached[0][1]
    # the second turn finds at least the whole first prompt in the cache (its system + first question)
    assert cached[1][0] >= previous_prompt - 1 and cached[1][0] < cached[1][1]


def test_streaming_equals_non_streaming(client: openai.OpenAI, tiny_server: Server) -> None:
    kwargs: dict[str, Any] = {
        "model": tiny_server.model_id,
        "messages": QUESTION,
        "max_tokens": 24,
        "temperature": 0,
    }
    whole = client.chat.completions.create(**kwargs)
    chunks = list(
        client.chat.completions.create(stream=True, stream_options={"include_usage": True}, **kwargs)
    )
    for chunk in chunks:
        validate("CreateChatCompletionStreamResponse", chunk.model_dump(exclude_unset=True))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert len({c.id for c in chunks}) == 1 and len({c.created for c in chunks}) == 1
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == [whole.choices[0].finish_reason]
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    assert last.usage.completion_tokens == whole.usage.completion_tokens  # type: ignore[union-attr]
    assert all(c.usage is None for c in chunks[:-1])


def test_raw_sse_framing(tiny_server: Server) -> None:
    body = {"model": tiny_server.model_id, "messages": QUESTION, "max_tokens": 5, "stream": True}
    with httpx.stream("POST", tiny_server.root + "/v1/chat/completions", json=body, timeout=120) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line]
    assert all(line.startswith("data: ") for line in lines)
    assert lines[-1] == "data: [DONE]"
    assert "usage" not in json.loads(lines[0][6:])  # only with stream_options.include_usage


def test_openai_prefix_and_sdk_stream_helper(tiny_server: Server) -> None:
    client = openai.OpenAI(base_url=tiny_server.base_url + "/openai", api_key="x", max_retries=0)
    with client.chat.completions.stream(
        model=tiny_server.model_id,
        messages=QUESTION,
        max_tokens=8,
        temperature=0,  # type: ignore[arg-type]
    ) as stream:
        final = stream.get_final_completion()
    whole = client.chat.completions.create(
        model=tiny_server.model_id,
        messages=QUESTION,
        max_tokens=8,
        temperature=0,  # type: ignore[arg-type]
    )
    assert final.choices[0].message.content == whole.choices[0].message.content


def test_models_list_and_card(client: openai.OpenAI, tiny_server: Server) -> None:
    for prefix in ("/v1", "/v1/openai"):
        body = httpx.get(tiny_server.root + prefix + "/models").json()
        validate("ListModelsResponse", body)
        assert [m["id"] for m in body["data"]] == [tiny_server.model_id]
    assert client.models.retrieve(tiny_server.model_id).id == tiny_server.model_id
    assert httpx.get(tiny_server.root + "/health").json()["status"] == "ok"


def test_alias_tiny_is_accepted(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(model="tiny", messages=QUESTION, max_tokens=2)  # type: ignore[arg-type]
    assert completion.choices[0].finish_reason in ("stop", "length")


def test_stop_and_max_completion_tokens(client: openai.OpenAI, tiny_server: Server) -> None:
    story = [{"role": "user", "content": "Write a long story about a dragon who loves tea."}]
    kwargs: dict[str, Any] = {"model": tiny_server.model_id, "messages": story, "temperature": 0}
    full = client.chat.completions.create(max_completion_tokens=30, **kwargs).choices[0]
    assert full.finish_reason == "length"
    text = full.message.content or ""
    stop = text.split()[1]
    cut = client.chat.completions.create(max_completion_tokens=30, stop=[stop], **kwargs).choices[0]
    assert cut.finish_reason == "stop" and cut.message.content == text[: text.index(stop)]


BAD_REQUESTS: list[tuple[str, Any, int, str | None, str | None]] = [
    # (name, body, status, param, code); MODEL is replaced with the served id
    ("malformed json", b'{"model": "MODEL", "messages": [', 400, None, "invalid_json"),
    ("not an object", b"[1, 2]", 400, None, "invalid_value"),
    ("unknown model", {"model": "gpt-9", "messages": QUESTION}, 404, "model", "model_not_found"),
    ("missing messages", {"model": "MODEL"}, 400, "messages", "missing_required_parameter"),
    ("empty messages", {"model": "MODEL", "messages": []}, 400, "messages", "invalid_value"),
    (
        "unknown role",
        {"model": "MODEL", "messages": [{"role": "robot", "content": "x"}]},
        400,
        "messages[0].role",
        None,
    ),
    (
        "temperature type",
        {"model": "MODEL", "messages": QUESTION, "temperature": "hot"},
        400,
        "temperature",
        None,
    ),
    (
        "temperature range",
        {"model": "MODEL", "messages": QUESTION, "temperature": 3},
        400,
        "temperature",
        None,
    ),
    ("max_tokens zero", {"model": "MODEL", "messages": QUESTION, "max_tokens": 0}, 400, "max_tokens", None),
    ("n above --max-n", {"model": "MODEL", "messages": QUESTION, "n": 9}, 400, "n", "invalid_value"),
    ("too many stops", {"model": "MODEL", "messages": QUESTION, "stop": list("abcde")}, 400, "stop", None),
    (
        "top_logprobs above 20",
        {"model": "MODEL", "messages": QUESTION, "logprobs": True, "top_logprobs": 21},
        400,
        "top_logprobs",
        None,
    ),
    (
        "bad logit_bias",
        {"model": "MODEL", "messages": QUESTION, "logit_bias": {"x": 1}},
        400,
        "logit_bias",
        None,
    ),
    (
        "image part",
        {
            "model": "MODEL",
            "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}],
        },
        400,
        "messages[0].content[0].type",
        None,
    ),
    (
        "tool result without call",
        {
            "model": "MODEL",
            "messages": [*QUESTION, {"role": "tool", "tool_call_id": "call_x", "content": "1"}],
        },
        400,
        "messages[1].tool_call_id",
        None,
    ),
    (
        "context length",
        {"model": "MODEL", "messages": [{"role": "user", "content": "word " * 3000}]},
        400,
        "messages",
        "context_length_exceeded",
    ),
]


@pytest.mark.parametrize(
    ("name", "body", "status", "param", "code"), BAD_REQUESTS, ids=[b[0] for b in BAD_REQUESTS]
)
def test_client_mistakes_get_openai_errors(
    tiny_server: Server, name: str, body: Any, status: int, param: str | None, code: str | None
) -> None:
    if isinstance(body, bytes):
        body = body.replace(b"MODEL", tiny_server.model_id.encode())
    elif body.get("model") == "MODEL":
        body = body | {"model": tiny_server.model_id}
    response = raw_post(tiny_server, body)
    assert response.status_code == status, response.text
    error = response.json()
    validate("ErrorResponse", error)
    assert error["error"]["message"]
    assert error["error"]["param"] == param
    if code is not None:
        assert error["error"]["code"] == code
    # the server keeps serving
    ok = raw_post(tiny_server, {"model": tiny_server.model_id, "messages": QUESTION, "max_tokens": 1})
    assert ok.status_code == 200


def test_sdk_raises_typed_errors(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as not_found:
        client.chat.completions.create(model="nope", messages=QUESTION)  # type: ignore[arg-type]
    assert not_found.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="tiny", messages=QUESTION, n=9)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("method", "path", "status"), [("GET", "/v1/nothing", 404), ("GET", "/v1/chat/completions", 405)]
)
def test_unknown_routes_are_openai_shaped(tiny_server: Server, method: str, path: str, status: int) -> None:
    response = httpx.request(method, tiny_server.root + path)
    assert response.status_code == status
    validate("ErrorResponse", response.json())


def test_client_disconnect_mid_stream_frees_the_slot(tiny_server: Server) -> None:
    body = {"model": tiny_server.model_id, "messages": QUESTION, "max_tokens": 400, "stream": True}
    with httpx.stream("POST", tiny_server.root + "/v1/chat/completions", json=body, timeout=120) as response:
        for line in response.iter_lines():
            if '"content"' in line:
                break  # leave after the first token
    for _ in range(100):
        health = httpx.get(tiny_server.root + "/health").json()
        if health["running"] == 0:
            break
        import time

        time.sleep(0.1)
    assert health["running"] == 0 and health["waiting"] == 0
