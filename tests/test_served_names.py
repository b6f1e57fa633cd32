"""Model aliases (`--served-model-name`): listed by /v1/models, accepted and echoed by completions."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest

from fncall.cli import served_model_names
from fncall.config import ServerConfig
from tests.conftest import Server, start_server, stop_server
from tests.openapi_contract import validate

SEED_NAME = "meta-llama/Meta-Llama-3.1-70B-Instruct"
QUESTION = [{"role": "user", "content": "Say hi."}]


@pytest.fixture(scope="module")
def aliased() -> Iterator[Server]:
    server = start_server(
        *("--model", "tiny", "--ctx", "512", "--parallel", "1", "--threads", "1"),
        *("--served-model-name", SEED_NAME, "--served-model-name", "llama"),
    )
    yield server
    stop_server(server)


@pytest.fixture(scope="module")
def client(aliased: Server) -> openai.OpenAI:
    return openai.OpenAI(base_url=aliased.base_url, api_key="unused", max_retries=0)


def test_models_lists_every_served_name(client: openai.OpenAI, aliased: Server) -> None:
    body = httpx.get(aliased.base_url + "/models").json()
    validate("ListModelsResponse", body)
    assert [(m["id"], m["owned_by"]) for m in body["data"]] == [(SEED_NAME, "fncall"), ("llama", "fncall")]
    assert [m.id for m in client.models.list()] == [SEED_NAME, "llama"]
    assert client.models.retrieve(SEED_NAME).id == SEED_NAME  # a slash in the path
    assert aliased.model_id == SEED_NAME  # /health reports the first


@pytest.mark.parametrize("name", [SEED_NAME, "llama", "tiny", "smollm2-135m-instruct-q4_1"])
def test_completions_echo_the_name_used(client: openai.OpenAI, name: str) -> None:
    whole = client.chat.completions.create(model=name, messages=QUESTION, max_tokens=3, temperature=0)  # type: ignore[arg-type]
    validate("CreateChatCompletionResponse", whole.model_dump(mode="json", exclude_unset=True))
    assert whole.model == name
    chunks = list(
        client.chat.completions.create(
            model=name, messages=QUESTION, max_tokens=3, temperature=0, stream=True
        )  # type: ignore[arg-type]
    )
    assert chunks and {c.model for c in chunks} == {name}
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content


def test_other_names_stay_unknown(client: openai.OpenAI) -> None:
    for name in ("meta-llama/Meta-Llama-3.1-8B-Instruct", "LLAMA", "llama "):
        with pytest.raises(openai.NotFoundError) as err:
            client.chat.completions.create(model=name, messages=QUESTION, max_tokens=1)  # type: ignore[arg-type]
        assert err.value.code == "model_not_found"


@pytest.mark.parametrize(
    ("flags", "env", "expected"),
    [
        ([], None, ()),
        ([], "a, b/c,,a", ("a", "b/c")),
        (["x", "y", "x"], "ignored", ("x", "y")),
    ],
)
def test_names_from_flags_or_environment(
    monkeypatch: pytest.MonkeyPatch, flags: list[str], env: str | None, expected: tuple[str, ...]
) -> None:
    if env is not None:
        monkeypatch.setenv("FNCALL_SERVED_MODEL_NAME", env)
    else:
        monkeypatch.delenv("FNCALL_SERVED_MODEL_NAME", raising=False)
    assert served_model_names(flags) == expected


@pytest.mark.parametrize("bad", ["", "two words", "tab\there", "x" * 257, "nul\x00"])
def test_bad_names_are_refused_at_start(bad: str) -> None:
    with pytest.raises(ValueError, match="served model names"):
        ServerConfig(served_model_names=(bad,))


def test_openapi_document_describes_served_names(aliased: Server) -> None:
    paths = httpx.get(aliased.root + "/openapi.json").json()["paths"]
    assert "--served-model-name" in paths["/v1/models"]["get"]["description"]
    assert "served name" in paths["/v1/models/{model}"]["get"]["description"]


def test_a_huge_unknown_name_is_not_echoed_whole(aliased: Server) -> None:
    reply = httpx.post(
        aliased.base_url + "/chat/completions",
        json={"model": "m" * 100_000, "messages": QUESTION},
        timeout=30,
    )
    assert reply.status_code == 404
    assert len(reply.json()["error"]["message"]) < 300
