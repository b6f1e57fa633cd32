"""`logprobs` / `top_logprobs` and `n` on chat completions, through the official SDK against the real server.

Bodies are checked against OpenAI's contract; streamed answers (chunks assembled per `index`) equal the
non-streamed ones, log probabilities included.
"""

from __future__ import annotations

import math
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from tests.conftest import Server
from tests.openapi_contract import validate

ASK = [{"role": "user", "content": "Tell me about the sea."}]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@pytest.fixture(scope="module")
def client(tiny_server: Server) -> openai.OpenAI:
    return openai.OpenAI(base_url=tiny_server.base_url, api_key="unused", max_retries=0)


def create(client: openai.OpenAI, **kwargs: Any) -> ChatCompletion:
    reply = client.chat.completions.create(model="tiny", messages=ASK, **kwargs)  # type: ignore[call-overload]
    validate("CreateChatCompletionResponse", reply.model_dump(mode="json", exclude_unset=True))
    assert isinstance(reply, ChatCompletion)
    return reply


def stream(client: openai.OpenAI, **kwargs: Any) -> list[ChatCompletionChunk]:
    chunks = list(
        client.chat.completions.create(model="tiny", messages=ASK, stream=True, **kwargs)  # type: ignore[call-overload]
    )
    for chunk in chunks:
        validate("CreateChatCompletionStreamResponse", chunk.model_dump(mode="json", exclude_unset=True))
    return chunks


def assembled(chunks: list[ChatCompletionChunk]) -> dict[int, dict[str, Any]]:
    """Per choice index: content, content logprobs (as dicts), tool call names and finish reason."""
    out: dict[int, dict[str, Any]] = {}
    for chunk in chunks:
        for choice in chunk.choices:
            item = out.setdefault(choice.index, {"content": "", "logprobs": [], "calls": [], "finish": None})
            item["content"] += choice.delta.content or ""
            if choice.logprobs is not None and choice.logprobs.content:
                item["logprobs"] += [e.model_dump() for e in choice.logprobs.content]
            item["calls"] += [
                c.function.name for c in choice.delta.tool_calls or () if c.function and c.function.name
            ]
            item["finish"] = choice.finish_reason or item["finish"]
    return out


def whole(reply: ChatCompletion) -> dict[int, dict[str, Any]]:
    return {
        c.index: {
            "content": c.message.content or "",
            "logprobs": [e.model_dump() for e in (c.logprobs.content or [])] if c.logprobs else [],
            "calls": [t.function.name for t in c.message.tool_calls or ()],  # type: ignore[union-attr]
            "finish": c.finish_reason,
        }
        for c in reply.choices
    }


def assert_same(streamed: dict[int, dict[str, Any]], reply: dict[int, dict[str, Any]]) -> None:
    """Equal answers; log probabilities equal up to batching noise: llama.cpp's CPU kernels give logits
    that differ by a few hundredths with what else is in the batch (other choices, other requests)."""
    assert sorted(streamed) == sorted(reply)
    for index, got in streamed.items():
        want = reply[index]
        assert {k: got[k] for k in ("content", "calls", "finish")} == {
            k: want[k] for k in ("content", "calls", "finish")
        }
        assert [e["token"] for e in got["logprobs"]] == [e["token"] for e in want["logprobs"]]
        assert [e["logprob"] for e in got["logprobs"]] == pytest.approx(
            [e["logprob"] for e in want["logprobs"]], abs=0.2
        )
        assert [len(e["top_logprobs"]) for e in got["logprobs"]] == [
            len(e["top_logprobs"]) for e in want["logprobs"]
        ]


def test_logprobs_in_openais_shape(client: openai.OpenAI) -> None:
    reply = create(client, max_tokens=12, temperature=0, logprobs=True, top_logprobs=3)
    choice = reply.choices[0]
    assert choice.logprobs is not None and choice.logprobs.content
    entries = choice.logprobs.content
    assert "".join(e.token for e in entries) == choice.message.content
    assert b"".join(bytes(e.bytes or []) for e in entries).decode() == choice.message.content
    assert len(entries) == reply.usage.completion_tokens  # type: ignore[union-attr]
    for entry in entries:
        assert entry.logprob <= 0 and len(entry.top_logprobs) == 3
        assert entry.top_logprobs[0].token == entry.token  # greedy picks the likeliest
        assert entry.top_logprobs[0].logprob == pytest.approx(entry.logprob)
        assert sum(math.exp(t.logprob) for t in entry.top_logprobs) <= 1 + 1e-6


def test_without_top_logprobs_each_token_has_no_alternatives(client: openai.OpenAI) -> None:
    reply = create(client, max_tokens=4, temperature=0, logprobs=True)
    assert [e.top_logprobs for e in reply.choices[0].logprobs.content] == [[]] * 4  # type: ignore[union-attr]
    assert create(client, max_tokens=2, temperature=0).choices[0].logprobs is None


def test_streamed_logprobs_equal_the_non_streamed(client: openai.OpenAI) -> None:
    kwargs = {"max_tokens": 16, "temperature": 0, "logprobs": True, "top_logprobs": 5, "stop": ["."]}
    streamed = assembled(stream(client, **kwargs))
    assert_same(streamed, whole(create(client, **kwargs)))
    assert streamed[0]["logprobs"]


def test_tool_call_tokens_have_no_content_logprobs(client: openai.OpenAI) -> None:
    kwargs: dict[str, Any] = {
        "tools": [WEATHER],
        "tool_choice": "required",
        "parallel_tool_calls": False,
        "max_tokens": 60,
        "temperature": 0,
        "logprobs": True,
    }
    reply = create(client, **kwargs)
    choice = reply.choices[0]
    assert choice.message.tool_calls and choice.finish_reason == "tool_calls"
    assert choice.logprobs is not None and choice.logprobs.content == []
    assert_same(assembled(stream(client, **kwargs)), whole(reply))


def test_n_choices_each_with_its_index_and_usage_adding_up(client: openai.OpenAI) -> None:
    reply = create(client, n=3, max_tokens=6, seed=11, logprobs=True)
    assert [c.index for c in reply.choices] == [0, 1, 2]
    counted = sum(len(c.logprobs.content or []) for c in reply.choices)  # type: ignore[union-attr]
    assert reply.usage is not None and reply.usage.completion_tokens == counted
    assert reply.usage.prompt_tokens == create(client, max_tokens=1).usage.prompt_tokens  # type: ignore[union-attr]
    assert len({c.message.content for c in reply.choices}) > 1  # each choice its own seed stream


def test_streamed_n_equals_non_streamed(client: openai.OpenAI) -> None:
    kwargs: dict[str, Any] = {"n": 3, "max_tokens": 8, "temperature": 0, "logprobs": True, "top_logprobs": 2}
    chunks = stream(client, **kwargs, stream_options={"include_usage": True})
    streamed = assembled(chunks)
    reply = create(client, **kwargs)
    assert_same(streamed, whole(reply))
    assert sorted(streamed) == [0, 1, 2]
    usage = chunks[-1].usage
    assert usage is not None and usage.completion_tokens == reply.usage.completion_tokens  # type: ignore[union-attr]


def test_n_with_tools_gives_each_choice_its_calls(client: openai.OpenAI) -> None:
    kwargs: dict[str, Any] = {
        "n": 2,
        "tools": [WEATHER],
        "tool_choice": "required",
        "max_tokens": 60,
        "parallel_tool_calls": False,
        "temperature": 0,
    }
    reply = create(client, **kwargs)
    assert [c.finish_reason for c in reply.choices] == ["tool_calls"] * 2
    ids = [t.id for c in reply.choices for t in c.message.tool_calls or ()]
    assert len(ids) == len(set(ids))
