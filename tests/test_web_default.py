"""The playground on the real default model (Qwen2.5-Coder-1.5B): the weather example by hand, in a browser.

`tool_choice: auto` (the model decides to call), the seed's dummy weather function as the mock, then the
answer. One server, one browser, three model turns of a few dozen tokens each.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.browser import Shots, chromium, watched
from tests.conftest import Server, start_server, stop_server

pytestmark = [pytest.mark.default_model, pytest.mark.browser]


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    server = start_server("--model", "default", "--ctx", "2048", "--parallel", "1")
    yield server
    stop_server(server)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


def test_weather_example_by_hand_on_the_default_model(
    browser: Browser, server: Server, tmp_path: Path
) -> None:
    shots = Shots(tmp_path)
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    watch = watched(context)
    page = context.new_page()
    page.goto(server.root + "/")
    expect(page.locator("#model")).to_contain_text("qwen2.5-coder-1.5b-instruct-q4_k_m")
    page.select_option("#preset", "weather")
    expect(page.locator("#tools-note")).to_contain_text("1 tool accepted")
    page.fill("#temperature", "0")
    page.fill("#max_tokens", "120")
    page.press("#prompt", "Enter")
    card = page.locator(".call").first
    card.wait_for(timeout=120_000)
    shots(page, "call-streaming")
    expect(card.locator(".badge")).to_have_text("valid JSON", timeout=120_000)
    assert card.locator(".fn").text_content() == "get_current_weather"
    arguments = json.loads(card.locator(".args").text_content() or "")
    assert "San Francisco" in arguments["location"]
    shots(page, "call")
    card.get_by_role("button", name="Run mock").click()
    page.get_by_role("button", name="Continue").click()
    answer = page.locator(".msg.assistant").nth(1)
    expect(answer.locator(".stats")).to_contain_text("finish: stop", timeout=120_000)
    assert "72" in (answer.locator(".content").text_content() or "")
    shots(page, "answer")
    watch.assert_clean()
    context.close()
