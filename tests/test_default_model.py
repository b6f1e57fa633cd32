"""Smoke test of the real default path: `fncall serve` with the embedded Qwen2.5-Coder-1.5B model."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from tests.conftest import Server, start_server, stop_server
from tests.openapi_contract import validate

pytestmark = pytest.mark.default_model


@pytest.fixture(scope="module")
def default_server() -> Iterator[Server]:
    server = start_server("--model", "default", "--ctx", "2048", "--parallel", "1")
    yield server
    stop_server(server)


def test_default_model_answers_a_plain_question(default_server: Server) -> None:
    assert default_server.model_id == "qwen2.5-coder-1.5b-instruct-q4_k_m"
    client = openai.OpenAI(base_url=default_server.base_url, api_key="unused", max_retries=0)
    messages = [{"role": "user", "content": "What is 2 + 3? Reply with just the number."}]
    completion = client.chat.completions.create(
        model=default_server.model_id,
        messages=messages,
        max_tokens=10,
        temperature=0,  # type: ignore[arg-type]
    )
    validate("CreateChatCompletionResponse", completion.model_dump(exclude_unset=True))
    assert "5" in (completion.choices[0].message.content or "")
    assert completion.choices[0].finish_reason == "stop"
    streamed = client.chat.completions.create(
        model=default_server.model_id,
        messages=messages,
        max_tokens=10,
        temperature=0,
        stream=True,  # type: ignore[arg-type]
    )
    assert (
        "".join(c.choices[0].delta.content or "" for c in streamed if c.choices)
        == completion.choices[0].message.content
    )
