"""Headless Chromium (Debian's `chromium` package) driven by Playwright, for the playground tests.

Playwright's own browser download cannot be reached from CI, so Playwright launches the system
executable. The network is cut for the browser: every request that is not for the server on 127.0.0.1
is aborted and recorded, and the browser resolves no host name, so a page that tries to load something
from outside fails the test instead of quietly working.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, Route, sync_playwright

CHROMIUM = os.environ.get("FNCALL_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
LOCAL = {"127.0.0.1"}


@contextmanager
def chromium() -> Iterator[Browser]:
    """One browser for a test module (a launch costs a second or two of CPU)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: `make test` installs Debian's chromium package")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Watch:
    """What a page did that a test must see as failure: console errors, page errors, outside requests."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)  # "METHOD URL", in order
    outside: list[str] = field(default_factory=list)

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console_errors.append(message.text)

    def posts(self, path: str) -> int:
        return sum(1 for r in self.requests if r.startswith("POST ") and urlsplit(r[5:]).path == path)

    def assert_clean(self, *, allowed: tuple[str, ...] = ()) -> None:
        errors = [e for e in self.console_errors if not any(a in e for a in allowed)]
        assert not errors, f"console errors: {errors}"
        assert not self.page_errors, f"uncaught errors: {self.page_errors}"
        assert not self.outside, f"requests that would have left the machine: {self.outside}"
        hosts = {urlsplit(r.split(" ", 1)[1]).hostname for r in self.requests}
        assert hosts <= LOCAL, hosts


def watched(context: BrowserContext) -> Watch:
    watch = Watch()

    def route(route: Route) -> None:
        if urlsplit(route.request.url).hostname in LOCAL or route.request.url.startswith("data:"):
            route.continue_()
        else:
            watch.outside.append(route.request.url)
            route.abort("internetdisconnected")

    context.route("**/*", route)
    context.on("console", watch.on_console)
    context.on("weberror", lambda error: watch.page_errors.append(str(error.error)))
    context.on("request", lambda request: watch.requests.append(f"{request.method} {request.url}"))
    return watch


@dataclass
class Shots:
    """Screenshots of each step, numbered, in the test's temporary folder."""

    folder: Path
    taken: list[Path] = field(default_factory=list)

    def __call__(self, page: Page, name: str, *, full_page: bool = False) -> Path:
        path = self.folder / f"{len(self.taken) + 1:02d}-{name}.png"
        page.screenshot(path=path, full_page=full_page)
        self.taken.append(path)
        return path
