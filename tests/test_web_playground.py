"""The playground (`/`) and `/docs` in a real browser, against a real server on the tiny model.

One server (with an API key, so every page goes through the key) and one headless Chromium for the
module. `tool_choice: required` and temperature 0 make the tiny model's calls deterministic. Each test
saves screenshots of its steps in its temporary folder, and fails on a console error, an uncaught error
or a request that was not for 127.0.0.1.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser import Shots, Watch, chromium, watched
from tests.conftest import Server, start_server, stop_server

pytestmark = pytest.mark.browser

KEY = "sk-playground-test-key"
# The key as the page keeps it, in this tab's session storage (blank documents may not touch storage).
SEED_KEY = f"if (location.protocol === 'http:') sessionStorage.setItem('fncall.apiKey', {json.dumps(KEY)})"
JS_DIR = Path(__file__).parent / "js"

# Records the arguments of the first call card each time they change while it streams.
RECORD_ARGUMENTS = """() => {
  window.argumentSnapshots = [];
  new MutationObserver(() => {
    const card = document.querySelector(".call");
    if (!card || !card.classList.contains("streaming")) return;
    const text = card.querySelector(".args").textContent;
    if (text && window.argumentSnapshots.at(-1) !== text) window.argumentSnapshots.push(text);
  }).observe(document.getElementById("log"), { subtree: true, childList: true, characterData: true });
}"""


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    server = start_server(
        "--model", "tiny", "--ctx", "2048", "--parallel", "2", "--threads", "1", "--api-key", KEY
    )
    yield server
    stop_server(server)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


@pytest.fixture
def context(browser: Browser, server: Server) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.root)
    yield context
    context.close()


@pytest.fixture
def watch(context: BrowserContext) -> Watch:
    return watched(context)


@pytest.fixture
def shots(tmp_path: Path) -> Shots:
    return Shots(tmp_path)


@pytest.fixture
def page(context: BrowserContext, server: Server, watch: Watch) -> Iterator[Page]:
    """The playground with the key already in this tab's session storage, connected to the server."""
    context.add_init_script(SEED_KEY)
    page = context.new_page()
    page.goto(server.root + "/")
    expect(page.locator("#model")).to_contain_text(server.model_id)
    yield page
    watch.assert_clean()


def metrics(server: Server) -> dict[str, float]:
    text = httpx.get(server.root + "/metrics", headers={"Authorization": f"Bearer {KEY}"}).text
    return {name: float(value) for name, value in re.findall(r"^([^#\s]\S*) (\S+)$", text, re.M)}


def weather_setup(page: Page, *, max_tokens: int = 80) -> None:
    page.select_option("#preset", "weather")
    expect(page.locator("#tools-note")).to_contain_text("1 tool accepted")
    page.select_option("#tool-choice", "required")
    page.uncheck("#parallel")
    page.fill("#temperature", "0")
    page.fill("#max_tokens", str(max_tokens))
    expect(page.locator("#prompt")).to_have_value("What's the weather like in San Francisco?")


def test_the_page_asks_for_the_key_and_keeps_it_in_the_tab(
    context: BrowserContext, server: Server, watch: Watch, shots: Shots
) -> None:
    page = context.new_page()
    page.goto(server.root + "/")
    dialog = page.locator("#key-dialog")
    expect(dialog).to_be_visible()
    shots(page, "asks-for-key")
    page.fill("#key", "sk-wrong")
    page.press("#key", "Enter")
    expect(page.locator("#key-error")).to_have_text("That key was refused.")
    shots(page, "wrong-key")
    page.fill("#key", KEY)
    page.press("#key", "Enter")
    expect(dialog).to_be_hidden()
    expect(page.locator("#model")).to_contain_text(server.model_id)
    assert page.evaluate("sessionStorage.getItem('fncall.apiKey')") == KEY
    assert page.evaluate("localStorage.length") == 0
    page.fill("#prompt", "Say hi.")
    page.fill("#max_tokens", "4")
    page.press("#prompt", "Enter")
    expect(page.locator(".msg.assistant .stats")).to_contain_text("completion")
    shots(page, "answered-with-key")
    # The refused attempts (no key, then a wrong one) are the only errors the console may show.
    watch.assert_clean(allowed=("status of 401",))


def test_a_call_streams_into_its_card_then_the_mock_answers_it(
    page: Page, watch: Watch, shots: Shots
) -> None:
    weather_setup(page)
    page.evaluate(RECORD_ARGUMENTS)
    page.press("#prompt", "Enter")
    page.locator(".call").wait_for()
    shots(page, "call-streaming")
    card = page.locator(".call").first
    expect(card.locator(".badge")).to_have_text("valid JSON")
    expect(card.locator("textarea")).to_be_focused()  # ready for the result
    shots(page, "call-done")
    assert card.locator(".fn").text_content() == "get_current_weather"
    snapshots: list[str] = page.evaluate("window.argumentSnapshots")
    assert len(snapshots) >= 2, snapshots  # the arguments grew as they streamed
    pairs = zip(snapshots, snapshots[1:], strict=False)
    assert all(later.startswith(earlier) for earlier, later in pairs), snapshots
    arguments = json.loads(snapshots[-1])
    assert isinstance(arguments["location"], str) and arguments["location"]
    assert json.loads(card.locator(".args").text_content() or "") == arguments  # pretty-printed at the end
    stats = page.locator(".msg.assistant .stats").first.text_content() or ""
    assert re.search(
        r"time to first token [\d.]+ s · [\d.]+ tok/s · prompt \d+ \(cached \d+\) · completion \d+", stats
    )
    assert "finish: tool_calls" in stats

    # By keyboard: the first result box has the focus, Tab reaches "Run mock", then "Continue".
    page.select_option("#tool-choice", "none")
    card.locator("textarea").focus()
    page.keyboard.press("Tab")
    expect(card.get_by_role("button", name="Run mock")).to_be_focused()
    page.keyboard.press("Enter")
    result = json.loads(card.locator("textarea").input_value())
    unit = arguments.get("unit", "fahrenheit")
    location = arguments["location"]
    forecast = {"location": location, "temperature": "72", "unit": unit, "forecast": ["sunny", "windy"]}
    assert result == forecast  # the seed's dummy weather function
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Continue")).to_be_focused()
    with page.expect_request("**/v1/chat/completions") as second:
        page.keyboard.press("Enter")
    sent = second.value.post_data_json
    call_id = card.locator(".id").text_content()
    assert sent["messages"][-2]["tool_calls"][0]["id"] == call_id
    assert sent["messages"][-1] == {
        "role": "tool",
        "tool_call_id": call_id,
        "content": json.dumps(result, separators=(",", ":")),
    }
    answer = page.locator(".msg.assistant").nth(1)
    expect(answer.locator(".stats")).to_contain_text("finish:")
    assert (answer.locator(".content").text_content() or "").strip()
    page.locator("#raw-panel summary").click()
    expect(page.locator("#raw-request")).to_contain_text('"tool_call_id"')
    expect(page.locator("#raw-response")).to_contain_text("data: [DONE]")
    shots(page, "answered", full_page=True)
    assert watch.posts("/v1/chat/completions") == 2


def test_stop_cancels_the_request_and_frees_its_slot(page: Page, server: Server, shots: Shots) -> None:
    page.fill("#tools", "")
    page.fill("#temperature", "0")
    page.fill("#max_tokens", "1500")
    page.fill("#prompt", "Count from 1 to 1000, one number per line.")
    before = metrics(server)
    page.press("#prompt", "Enter")
    expect(page.locator(".msg.assistant .content")).to_contain_text(re.compile(r"\d"))
    during = metrics(server)
    assert during["fncall_requests_running"] == 1
    shots(page, "streaming")
    page.keyboard.press("Escape")  # the keyboard's stop; the Stop button does the same
    expect(page.locator(".msg.assistant .stats")).to_have_text("stopped")
    deadline = time.monotonic() + 15
    while (after := metrics(server))["fncall_requests_running"] != 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert after["fncall_requests_running"] == 0 and after["fncall_slots_free"] == after["fncall_slots"]
    cancelled = 'fncall_completions_total{finish_reason="cancelled"}'
    assert after[cancelled] == before.get(cancelled, 0) + 1
    shots(page, "stopped")
    expect(page.locator("#send")).to_be_enabled()


def test_bad_tools_show_an_inline_error_and_nothing_is_sent(page: Page, watch: Watch, shots: Shots) -> None:
    note, editor = page.locator("#tools-note"), page.locator("#tools")
    page.fill("#tools", '[{"type": "function", "function": {"name": "get_weather"}}')
    expect(note).to_contain_text("Not valid JSON (line 1, column")
    expect(editor).to_have_attribute("aria-invalid", "true")
    page.fill("#prompt", "Hi")
    page.press("#prompt", "Enter")
    expect(page.locator("#status")).to_have_text("Fix the tools first: nothing was sent.")
    shots(page, "invalid-json")
    # Well-formed, but the server's rules refuse the name: the message is the server's own.
    page.fill("#tools", '[{"type": "function", "function": {"name": "get weather"}}]')
    expect(note).to_contain_text("tools[0].function.name: Invalid tool name 'get weather'")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#status")).to_have_text("Fix the tools first: nothing was sent.")
    shots(page, "invalid-name")
    assert watch.posts("/v1/chat/completions") == 0
    assert page.locator(".msg").count() == 0 and page.locator("#prompt").input_value() == "Hi"
    page.fill("#tools", '[{"type": "function", "function": {"name": "get_weather"}}]')
    expect(note).to_contain_text("1 tool accepted")
    expect(editor).to_have_attribute("aria-invalid", "false")


def run_copied(kind: str, code: str, server: Server) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "FNCALL_API_KEY": KEY}
    if kind == "python":
        return subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
        )
    if kind == "javascript":  # `node -` resolves `import "openai"` from its working directory
        node = shutil.which("node")
        if node is None or not (JS_DIR / "node_modules" / "openai").is_dir():
            pytest.skip("node and the JS SDK (npm ci in tests/js) are needed to run the JavaScript")
        command = [node, "--input-type=module", "-"]
        return subprocess.run(
            command, input=code, cwd=JS_DIR, env=env, capture_output=True, text=True, timeout=120
        )
    return subprocess.run(["bash", "-c", code], env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("kind", ["python", "javascript", "curl"])
def test_copied_code_runs_against_the_server(page: Page, server: Server, shots: Shots, kind: str) -> None:
    weather_setup(page, max_tokens=60)
    page.locator("#copy-panel summary").click()
    page.locator(f"[data-copy={kind}]").click()
    expect(page.locator("#status")).to_contain_text("Copied as")
    code: str = page.evaluate("navigator.clipboard.readText()")
    assert code == page.locator("#code").text_content()
    assert KEY not in code and "FNCALL_API_KEY" in code  # the key is read from the environment
    assert f"{server.root}/v1" in code
    shots(page, f"copied-{kind}")
    run = run_copied(kind, code, server)
    assert run.returncode == 0, f"{run.stdout}\n{run.stderr}\n{code}"
    assert "get_current_weather" in run.stdout, run.stdout
    arguments = run.stdout[run.stdout.index("{") :] if kind != "curl" else ""
    if kind != "curl":
        assert "San Francisco" in arguments, run.stdout


def test_docs_render_with_the_network_cut(
    context: BrowserContext, server: Server, watch: Watch, shots: Shots
) -> None:
    page = context.new_page()
    page.goto(server.root + "/docs")
    operation = page.locator(".opblock-summary-path", has_text="/v1/chat/completions")
    expect(operation).to_be_visible(timeout=30_000)
    expect(page.locator(".opblock-summary-path", has_text="/ui/api/check")).to_be_visible()
    expect(page.locator(".title")).to_contain_text("fncall")
    shots(page, "docs", full_page=True)
    local = {r.split(" ", 1)[1].removeprefix(server.root) for r in watch.requests}
    assert {
        "/docs",
        "/docs/assets/swagger-ui-bundle.js",
        "/docs/assets/swagger-ui.css",
        "/openapi.json",
    } <= local
    watch.assert_clean()


def responsive_shots(page: Page, shots: Shots, name: str) -> None:
    for width in (375, 1280):
        page.set_viewport_size({"width": width, "height": 900})
        shots(page, f"{name}-{width}px", full_page=True)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_readable_at_375px_and_on_a_large_screen(
    browser: Browser, server: Server, shots: Shots, scheme: Any
) -> None:
    context = browser.new_context(color_scheme=scheme, viewport={"width": 375, "height": 900})
    watch = watched(context)
    context.add_init_script(SEED_KEY)
    page = context.new_page()
    page.goto(server.root + "/")
    expect(page.locator("#model")).to_contain_text(server.model_id)
    # Nothing wider than the screen at 375 px: the page scrolls vertically only.
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert (background == "rgb(21, 23, 26)") == (scheme == "dark"), background
    responsive_shots(page, shots, scheme)
    watch.assert_clean()
    context.close()
