"""The ingress side of the engine deployment: an `EngineClient` whose submits stream from a replica.

`api/generation.py` submits exactly as to a local engine; the request travels as an `EngineCall`
(prompt tokens, sampling parameters, and the tool request whose grammar the replica compiles itself),
and the replica's events come back in batches over a streaming `DeploymentHandle` call.

Faults: a replica that dies before sending anything is replaced by another attempt (Serve's router
drops dead replicas); one that dies after sending ends the request with Finished('error'), which the
API turns into an error event or a 500. No room (Serve's router queue full, or the replica's engine
queue full) ends it with Finished(refused=True), which the API answers with a 429 like a local QueueFull.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, cast

from ray import exceptions as ray_errors
from ray.serve.exceptions import BackPressureError
from ray.serve.handle import DeploymentHandle, DeploymentResponseGenerator

from fncall.engine.engine import EngineConfig, EngineStats, check_prompt
from fncall.engine.sampling import SamplingParams
from fncall.engine.scheduler import QueueFull
from fncall.engine.sequence import Emit, Event, Finished, GenerationRequest
from fncall.runtime import ToolConstraint
from fncall.tools.spec import ToolRequest

log = logging.getLogger(__name__)

ATTEMPTS = 3  # per request, while no event has arrived (each failure is a replica gone)
_REPLICA_GONE = (ray_errors.RayActorError, ray_errors.ActorUnavailableError)


@dataclass(slots=True, frozen=True)
class EngineCall:
    """What travels to a replica; the request router reads `prompt`."""

    prompt: tuple[int, ...]
    params: SamplingParams
    tools: ToolRequest | None  # the constraint to compile on the replica (mode 'none' bans the call marker)
    after_results: bool = False  # with `tools`: Runtime.tool_constraint's options
    decide: bool = True


@dataclass(slots=True, frozen=True)
class Batch:
    """Events the replica had ready at once, and how many tokens it has generated so far."""

    events: tuple[Event, ...]
    n_output: int


class RemoteSubmission:
    """A submitted request (engine.client.Submitted), consumed by an asyncio task on the ingress loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.n_output = 0
        self._loop = loop
        self._task: asyncio.Task[None] | None = None

    def start(self, consume: Coroutine[Any, Any, None]) -> None:
        self._task = self._loop.create_task(consume)

    def cancel(self) -> None:
        if self._task is not None:
            self._loop.call_soon_threadsafe(self._task.cancel)


class RemoteEngine:
    """EngineClient over the engine deployment's handle; `stats` sums the replicas' latest reports."""

    def __init__(
        self, handle: DeploymentHandle[Any], config: EngineConfig, stats: Callable[[], EngineStats]
    ) -> None:
        self._handle = handle.options(stream=True)
        self._config = config
        self._stats = stats

    @property
    def config(self) -> EngineConfig:
        return self._config

    def check_prompt(self, n_prompt: int) -> None:
        check_prompt(n_prompt, self._config)

    def submit(self, request: GenerationRequest, emit: Emit) -> RemoteSubmission:
        """Must run on the event loop that serves the request (it starts the streaming task there)."""
        self.check_prompt(len(request.prompt))  # as Engine.submit: refused before routing
        factory = request.constraint_factory
        if factory is not None and not isinstance(factory, ToolConstraint):
            raise TypeError("a remote engine needs constraints made by Runtime.tool_constraint")
        call = EngineCall(request.prompt, request.params, None)
        if factory is not None:
            call = EngineCall(
                request.prompt, request.params, factory.tools, factory.after_results, factory.decide
            )
        submission = RemoteSubmission(asyncio.get_running_loop())
        submission.start(self._run(call, emit, submission))
        return submission

    def stats(self) -> EngineStats:
        return self._stats()

    def stop(self) -> None:
        """Nothing to stop here: the replicas belong to Serve."""

    async def _run(self, call: EngineCall, emit: Emit, submission: RemoteSubmission) -> None:
        n_prompt = len(call.prompt)
        for attempt in range(1, ATTEMPTS + 1):
            stream = cast(DeploymentResponseGenerator[Batch], self._handle.generate.remote(call))
            received = False
            try:
                async for batch in stream:
                    received = True
                    submission.n_output = batch.n_output
                    for event in batch.events:
                        emit(event)
                return
            except asyncio.CancelledError:
                stream.cancel()  # type: ignore[no-untyped-call]  # the replica's generator is cancelled, which cancels its sequence
                emit(Finished("cancelled", n_prompt, submission.n_output))
                raise
            except _REPLICA_GONE as exc:
                if received or attempt == ATTEMPTS:
                    emit(
                        Finished("error", n_prompt, submission.n_output, error=f"engine replica lost: {exc}")
                    )
                    return
                log.warning(
                    "engine replica lost before answering (%s); retrying (%d/%d)", exc, attempt, ATTEMPTS
                )
                await asyncio.sleep(0.1 * attempt)
            except (BackPressureError, QueueFull) as exc:  # a replica's QueueFull arrives as a subclass
                if received:  # never after the first event; if it were, the request failed mid-way
                    raise
                emit(Finished("error", n_prompt, 0, error=str(exc).splitlines()[0], refused=True))
                return
            except Exception as exc:  # the replica raised: a bug or a refused request, ends this request only
                log.exception("engine replica failed")
                emit(Finished("error", n_prompt, submission.n_output, error=f"{type(exc).__name__}: {exc}"))
                return
