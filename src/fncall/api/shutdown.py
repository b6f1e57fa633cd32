"""Graceful shutdown: on SIGTERM (or Ctrl+C) stop admitting, let running requests finish, then exit 0.

While draining, the listening socket stays open so that new `/v1` requests get an OpenAI-shaped 503
(and `/health` a 503) instead of a refused connection, which load balancers and SDK retries understand.
Requests still running after `--shutdown-timeout` seconds are aborted: a stream ends with an error
event, a waiting client gets the 503. A second signal skips the wait.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from types import FrameType

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from fncall.api.errors import error_response, shutting_down
from fncall.api.generation import Generation

log = logging.getLogger(__name__)

ABORT_GRACE = 5.0  # seconds aborted requests get to send their last bytes


class Admission:
    """Requests in flight under `/v1`, and whether new ones are still admitted."""

    def __init__(self) -> None:
        self.draining = False
        self.in_flight = 0
        self._generations: weakref.WeakSet[Generation] = weakref.WeakSet()

    def track(self, generation: Generation) -> None:
        """Registers a running completion so that a shutdown past its timeout can abort it."""
        self._generations.add(generation)

    async def drain(self, timeout: float) -> None:
        self.draining = True
        log.info("draining: %d requests in flight, waiting up to %g s", self.in_flight, timeout)
        if await self._idle_within(timeout):
            return
        log.warning("aborting %d requests still running after %g s", self.in_flight, timeout)
        for generation in list(self._generations):
            generation.abort(shutting_down())
        await self._idle_within(ABORT_GRACE)

    async def _idle_within(self, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while self.in_flight and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return not self.in_flight


class AdmissionGate:
    """Counts `/v1` requests in flight; refuses them with 503 once draining has begun."""

    def __init__(self, app: ASGIApp, *, admission: Admission) -> None:
        self.app = app
        self.admission = admission

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1"):
            await self.app(scope, receive, send)
            return
        if self.admission.draining:
            await error_response(shutting_down(), scope["path"])(scope, receive, send)
            return
        self.admission.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.admission.in_flight -= 1


class GracefulServer(uvicorn.Server):
    """uvicorn, but the first SIGTERM/SIGINT drains the app before uvicorn's own shutdown begins."""

    def __init__(self, config: uvicorn.Config, admission: Admission, *, drain_timeout: float) -> None:
        super().__init__(config)
        self.admission = admission
        self.drain_timeout = drain_timeout
        self._stop_requested = False
        self._drain: asyncio.Task[None] | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # Unlike uvicorn's own handler this does not record the signal: uvicorn re-raises recorded
        # signals after shutting down, and the process would then die by SIGTERM instead of exiting 0.
        if self._stop_requested:
            self.should_exit = True  # second signal: stop waiting for requests
            return
        self._stop_requested = True

    async def on_tick(self, counter: int) -> bool:
        # Signal handlers must not touch the event loop; the drain starts at the next tick (0.1 s).
        if self._stop_requested and self._drain is None:
            self._drain = asyncio.create_task(self._drain_then_exit())
        return await super().on_tick(counter)

    async def _drain_then_exit(self) -> None:
        await self.admission.drain(self.drain_timeout)
        self.should_exit = True
