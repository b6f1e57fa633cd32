"""The playground's routes and flags, and the offline `/docs`, in-process on the tiny model (no browser)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from fncall import cli
from fncall.api.app import create_app
from fncall.api.docs import ASSETS
from fncall.config import ServerConfig
from fncall.runtime import Runtime
from fncall.web import mount
from fncall.web.mount import STATIC

KEY = "sk-routes"
WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
ASK = [{"role": "user", "content": "Weather in Paris?"}]


@pytest.mark.parametrize(
    ("host", "ui", "enabled"),
    [("127.0.0.1", None, True), ("localhost", None, True), ("::1", None, True), ("0.0.0.0", None, False),
     ("example.org", None, False), ("0.0.0.0", True, True), ("127.0.0.1", False, False)],
)  # fmt: skip
def test_the_page_is_on_by_default_only_on_loopback(host: str, ui: bool | None, enabled: bool) -> None:
    assert ServerConfig(host=host, ui=ui).ui_enabled is enabled


@pytest.mark.parametrize(
    ("argv", "env", "expected"),
    [([], None, None), (["--ui"], None, True), (["--no-ui"], None, False), ([], "0", False),
     ([], "yes", True), (["--ui"], "off", True), ([], " ", None)],
)  # fmt: skip
def test_ui_flag_and_environment(
    monkeypatch: pytest.MonkeyPatch, argv: list[str], env: str | None, expected: bool | None
) -> None:
    if env is not None:
        monkeypatch.setenv("FNCALL_UI", env)
    assert cli._parser().parse_args(["serve", *argv]).ui is expected


def test_a_bad_ui_environment_value_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FNCALL_UI", "maybe")
    with pytest.raises(SystemExit, match="FNCALL_UI='maybe' is not a boolean"):
        cli._parser()


@pytest.fixture(scope="module")
def runtime() -> Iterator[Runtime]:
    rt = Runtime.open(ServerConfig(model="tiny", ctx=512, parallel=1, threads=1), progress=False)
    yield rt
    rt.close()


def app(rt: Runtime, *, ui: bool, keys: tuple[str, ...] = ()) -> Starlette:
    built = create_app(rt, ServerConfig(model="tiny", api_keys=keys))
    if ui:
        mount(built)
    return built


def test_without_the_page_the_root_is_a_404_in_openai_shape(runtime: Runtime) -> None:
    client = TestClient(app(runtime, ui=False))
    for path in ("/", "/ui/app.js", "/ui/api/info"):
        response = client.get(path)
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert not {"/", "/ui/api/info", "/ui/api/check"} & set(client.get("/openapi.json").json()["paths"])


def test_page_and_modules_are_served_from_the_package(runtime: Runtime) -> None:
    client = TestClient(app(runtime, ui=True))
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy
    local = re.findall(r'(?:src|href)="(ui/[^"]+)"', page.text)
    modules = {f"ui/{p.name}" for p in STATIC.glob("*.js")}
    assert "ui/app.js" in local and "ui/style.css" in local
    for path in {*local, *modules}:
        asset = client.get("/" + path)
        assert asset.status_code == 200, path
        kind = "text/javascript" if path.endswith(".js") else "text/css"
        assert asset.headers["content-type"].startswith(kind), (path, asset.headers["content-type"])
    for source in [page.text, *(p.read_text() for p in STATIC.iterdir())]:
        assert not re.search(r"https?://(?!127\.0\.0\.1)", source.replace("http://www.w3.org/2000/svg", ""))
    missing = client.get("/ui/nope.js")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_info_reports_the_model_and_its_defaults(runtime: Runtime) -> None:
    info = TestClient(app(runtime, ui=True)).get("/ui/api/info").json()
    assert info["model"] == runtime.model_id and "tiny" in info["aliases"]
    assert (info["ctx"], info["slots"], info["auth"]) == (512, 1, False)
    assert info["tool_format"] == runtime.tool_format.name
    assert info["defaults"] == {
        "temperature": 1.0,
        "top_p": 1.0,
        "top_k": 0,
        "min_p": 0.0,
        "max_tokens": None,
        "source": "OpenAI's defaults",  # the tiny model's GGUF and package carry none of their own
    }


def check(client: TestClient, **fields: Any) -> Any:
    return client.post("/ui/api/check", json={"model": "tiny", "messages": ASK} | fields)


def test_check_accepts_what_the_route_accepts_and_counts_the_prompt(runtime: Runtime) -> None:
    client = TestClient(app(runtime, ui=True))
    bare = check(client)
    with_tools = check(client, tools=[WEATHER], tool_choice="required", parallel_tool_calls=False)
    assert bare.status_code == with_tools.status_code == 200, with_tools.text
    assert bare.json()["ok"] is with_tools.json()["ok"] is True, with_tools.text
    assert with_tools.json()["prompt_tokens"] > bare.json()["prompt_tokens"] > 0
    assert runtime.engine.stats().running == 0  # a dry run: nothing was generated


def test_check_refuses_a_prompt_longer_than_the_context(runtime: Runtime) -> None:
    response = check(TestClient(app(runtime, ui=True)), messages=[{"role": "user", "content": "word " * 600}])
    assert response.status_code == 200  # the check worked; its answer is the refusal
    answer = response.json()
    assert (answer["ok"], answer["status"]) == (False, 400)
    assert answer["error"]["code"] == "context_length_exceeded" and answer["error"]["param"] == "messages"


def test_with_keys_the_page_is_open_and_its_api_is_not(runtime: Runtime) -> None:
    client = TestClient(app(runtime, ui=True, keys=(KEY,)))
    assert client.get("/").status_code == 200 and client.get("/ui/app.js").status_code == 200
    for method, path in (("GET", "/ui/api/info"), ("POST", "/ui/api/check")):
        refused = client.request(method, path, headers={"Authorization": "Bearer sk-wrong"})
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_api_key"
        assert client.request(method, path).json()["error"]["message"].startswith("You didn't provide")
    assert client.get("/ui/api/info", headers={"Authorization": f"Bearer {KEY}"}).json()["auth"] is True
    doc = client.get("/openapi.json").json()
    assert doc["paths"]["/ui/api/check"]["post"]["security"] == [{"bearerAuth": []}]
    assert "security" not in doc["paths"]["/"]["get"]


def test_docs_page_and_assets_come_from_the_package(runtime: Runtime) -> None:
    client = TestClient(app(runtime, ui=False))
    page = client.get("/docs")
    assert page.status_code == 200 and "https://" not in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    for name in ("swagger-ui-bundle.js", "swagger-ui.css", "start.js"):
        assert f"docs/assets/{name}" in page.text
        asset = client.get(f"/docs/assets/{name}")
        assert asset.status_code == 200 and asset.content == (ASSETS / name).read_bytes()
    assert 'url: "./openapi.json"' in (ASSETS / "start.js").read_text()
    for licence in ("LICENSE", "NOTICE", "swagger-ui-bundle.js.LICENSE.txt"):
        assert (ASSETS / licence).is_file()
    assert json.loads(client.get("/openapi.json").text)["openapi"].startswith("3.1")
