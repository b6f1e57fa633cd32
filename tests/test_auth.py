"""API keys: a real server with keys from all three sources (flag, FNCALL_API_KEYS, key file)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from fncall.api.auth import ApiKeys, protected
from fncall.cli import api_keys, warn_if_exposed
from fncall.config import ServerConfig
from tests.conftest import Server, start_server, stop_server
from tests.openapi_contract import validate

FLAG_KEY = "sk-flag-0123456789"
ENV_KEYS = ("sk-env-one", "sk-env-two")
FILE_KEY = "sk-file-abcdef"
KEYS = (FLAG_KEY, *ENV_KEYS, FILE_KEY)
ASK = {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1}


@pytest.fixture(scope="module")
def log_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("auth") / "server.log"


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory: pytest.TempPathFactory, log_file: Path) -> Iterator[Server]:
    key_file = tmp_path_factory.mktemp("keys") / "keys.txt"
    key_file.write_text(f"# ops team\n{FILE_KEY}\n\n")
    server = start_server(
        *("--model", "tiny", "--ctx", "512", "--parallel", "1", "--threads", "1"),
        *("--api-key", FLAG_KEY, "--api-key-file", str(key_file), "--log-level", "debug"),
        env={"FNCALL_API_KEYS": ",".join(ENV_KEYS)},
        log_file=log_file,
    )
    yield server
    stop_server(server)


ROUTES = [
    (method, prefix + path)
    for prefix in ("/v1", "/v1/openai")
    for method, path in [
        ("GET", "/models"),
        ("GET", "/models/tiny"),
        ("POST", "/chat/completions"),
        ("GET", "/no-such-route"),
    ]
] + [("GET", "/metrics")]


def request(server: Server, method: str, path: str, headers: dict[str, str]) -> httpx.Response:
    body = {"model": "tiny", **ASK} if method == "POST" else None
    return httpx.request(method, server.root + path, json=body, headers=headers, timeout=120)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer sk-wrong"},
        {"Authorization": FLAG_KEY},
        {"Authorization": "Basic " + FLAG_KEY},
    ],
    ids=["missing", "wrong key", "no scheme", "basic scheme"],
)
@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_without_the_right_key_every_protected_route_is_401(
    keyed_server: Server, method: str, path: str, headers: dict[str, str]
) -> None:
    response = request(keyed_server, method, path, headers)
    assert response.status_code == 401, response.text
    error = response.json()
    validate("ErrorResponse", error)
    assert error["error"]["code"] == "invalid_api_key"
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert not any(key in response.text for key in KEYS)


@pytest.mark.parametrize("key", KEYS, ids=["flag", "env 1", "env 2", "file"])
@pytest.mark.parametrize(("method", "path"), [r for r in ROUTES if "no-such" not in r[1]])
def test_any_configured_key_opens_every_route(keyed_server: Server, method: str, path: str, key: str) -> None:
    response = request(keyed_server, method, path, {"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("path", ["/health", "/docs", "/openapi.json"])
def test_health_and_docs_stay_open(keyed_server: Server, path: str) -> None:
    assert httpx.get(keyed_server.root + path).status_code == 200


def test_published_document_declares_bearer_auth(keyed_server: Server) -> None:
    doc = httpx.get(keyed_server.root + "/openapi.json").json()
    assert doc["paths"]["/v1/chat/completions"]["post"]["security"] == [{"bearerAuth": []}]


def test_sdk_sees_authentication_error(keyed_server: Server) -> None:
    wrong = openai.OpenAI(base_url=keyed_server.base_url, api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        wrong.models.list()
    assert caught.value.code == "invalid_api_key"
    right = openai.OpenAI(base_url=keyed_server.base_url, api_key=ENV_KEYS[1], max_retries=0)
    assert [m.id for m in right.models.list()] == [keyed_server.model_id]


def test_anthropic_sdk_authenticates_by_x_api_key_and_sees_its_error_shape(keyed_server: Server) -> None:
    ask: Any = [{"role": "user", "content": "Hi"}]
    with (
        anthropic.Anthropic(base_url=keyed_server.root, api_key="sk-wrong", max_retries=0) as wrong,
        pytest.raises(anthropic.AuthenticationError) as caught,
    ):
        wrong.messages.create(model="tiny", messages=ask, max_tokens=1)
    assert caught.value.body == {
        "type": "error",
        "error": {"type": "authentication_error", "message": "Incorrect API key provided."},
    }
    with anthropic.Anthropic(base_url=keyed_server.root, api_key=FILE_KEY, max_retries=0) as right:
        assert right.messages.create(model="tiny", messages=ask, max_tokens=1).usage.output_tokens == 1
    # x-api-key opens the OpenAI routes too: the same keys, either header
    assert request(keyed_server, "GET", "/v1/models", {"x-api-key": FLAG_KEY}).status_code == 200
    assert request(keyed_server, "GET", "/v1/models", {"x-api-key": "sk-wrong"}).status_code == 401


def test_keys_never_reach_the_log(keyed_server: Server, log_file: Path) -> None:
    request(keyed_server, "GET", "/v1/models", {"Authorization": f"Bearer {FLAG_KEY}"})
    request(keyed_server, "GET", "/v1/models", {"Authorization": "Bearer sk-wrong"})
    log = log_file.read_text(errors="replace")
    assert "fncall.access" in log  # the server did log these requests, at debug level
    assert not any(key in log for key in (*KEYS, "sk-wrong"))


# -- pure logic


def test_keys_are_merged_from_flags_environment_and_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_file = tmp_path / "keys"
    key_file.write_text("# comment\n  k3  \n\nk1\n")
    monkeypatch.setenv("FNCALL_API_KEYS", "k2, ,k4")
    assert api_keys(["k1"], key_file) == ("k1", "k2", "k4", "k3")
    monkeypatch.delenv("FNCALL_API_KEYS")
    assert api_keys([], None) == ()


def test_bearer_parsing_and_comparison() -> None:
    keys = ApiKeys(["abc", "def"])
    assert keys.accepts(b"Bearer abc") and keys.accepts(b"bearer def")
    assert not keys.accepts(b"Bearer abcd") and not keys.accepts(b"abc") and not keys.accepts(b"")
    assert "abc" not in repr(keys) and not ApiKeys([])


def test_key_config_is_not_in_repr() -> None:
    assert "sekrit" not in repr(ServerConfig(api_keys=("sekrit",)))
    with pytest.raises(ValueError):
        ServerConfig(api_keys=("has space",))


@pytest.mark.parametrize(
    ("path", "expected"),
    [("/v1/models", True), ("/v1/openai/chat/completions", True), ("/metrics", True), ("/v1", True),
     ("/health", False), ("/docs", False), ("/openapi.json", False), ("/v1x", False)],
)  # fmt: skip
def test_protected_paths(path: str, expected: bool) -> None:
    assert protected(path) is expected


@pytest.mark.parametrize(
    ("host", "keys", "warned"),
    [("127.0.0.1", (), False), ("::1", (), False), ("localhost", (), False), ("0.0.0.0", (), True),
     ("192.0.2.7", (), True), ("example.internal", (), True), ("0.0.0.0", ("k",), False)],
)  # fmt: skip
def test_exposed_binding_without_keys_warns(
    caplog: pytest.LogCaptureFixture, host: str, keys: tuple[str, ...], warned: bool
) -> None:
    with caplog.at_level(logging.WARNING, logger="fncall"):
        warn_if_exposed(ServerConfig(host=host, api_keys=keys))
    assert bool(caplog.records) is warned
