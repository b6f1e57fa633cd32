"""The engine deployment: fncall's runtime (model, template, engine thread, grammars) in a Serve replica.

`generate` streams one request's engine events back to the ingress; `record_routing_stats` reports the
replica's gauges, counters and cached prefix blocks (for the router and the ingress's /metrics);
`check_health` fails once the engine thread has died, so Serve replaces the replica.
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import AsyncIterator
from typing import Any

import ray
from ray import serve

from fncall.engine.engine import Engine
from fncall.engine.sequence import Event, Finished, GenerationRequest
from fncall.runtime import Runtime
from fncall.serve_ray.affinity import block_hashes
from fncall.serve_ray.board import ReplicaReport
from fncall.serve_ray.client import Batch, EngineCall
from fncall.serve_ray.settings import RaySettings


class EngineReplica:
    def __init__(self, settings: RaySettings) -> None:
        """Loads the model and starts the engine (a failure here is tried `load_attempts` times in all by
        Serve, then the deployment is reported as failed with this exception's message)."""
        self._rt = Runtime.open(settings.server, progress=False)
        if not isinstance(self._rt.engine, Engine):
            raise TypeError("the engine replica runs a local Engine")
        self._engine: Engine = self._rt.engine
        self._block = settings.block
        self._id = serve.get_replica_context().replica_id.unique_id
        self._node = ray.get_runtime_context().get_node_id()
        self._requests = self._prompt_tokens = self._cached_tokens = 0

    async def generate(self, call: EngineCall) -> AsyncIterator[Batch]:
        """Streams the request's events, batched as they come; cancelling the stream cancels the sequence."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Event] = asyncio.Queue()
        # The grammar compile blocks (milliseconds, up to a second for huge schemas): off the event loop.
        factory = None
        if call.tools is not None:
            compile_ = functools.partial(
                self._rt.tool_constraint, call.tools, after_results=call.after_results, decide=call.decide
            )
            factory = await asyncio.to_thread(compile_)
        request = GenerationRequest(call.prompt, call.params, factory)

        def emit(event: Event) -> None:  # on the engine thread
            loop.call_soon_threadsafe(queue.put_nowait, event)

        seq = self._engine.submit(request, emit)
        try:
            while True:
                events = [await queue.get()]
                while not queue.empty():
                    events.append(queue.get_nowait())
                yield Batch(tuple(events), seq.n_output)
                if isinstance(events[-1], Finished):
                    self._count(events[-1])
                    return
        finally:
            seq.cancel()  # no-op once finished; frees the slot when the ingress went away

    def ping(self) -> str:
        return self._id

    def _count(self, done: Finished) -> None:
        self._requests += 1
        self._prompt_tokens += done.prompt_tokens
        self._cached_tokens += done.cached_tokens

    def record_routing_stats(self) -> dict[str, Any]:
        stats = self._engine.stats()
        blocks: set[int] = set()
        for tokens in self._engine.cached_prefixes():
            blocks.update(block_hashes(tokens, self._block))
        report = ReplicaReport(
            replica=self._id,
            node=self._node,
            pid=os.getpid(),
            slots=stats.n_slots,
            running=stats.running,
            waiting=stats.waiting,
            free_slots=stats.free_slots,
            retained_tokens=stats.retained_tokens,
            kv_tokens=stats.kv_tokens,
            requests=self._requests,
            prompt_tokens=self._prompt_tokens,
            cached_tokens=self._cached_tokens,
            prefix_blocks=tuple(sorted(blocks)),
        )
        return report.as_dict()

    def check_health(self) -> None:
        if not self._engine.alive:
            raise RuntimeError("the engine thread has stopped")

    def __del__(self) -> None:
        # Serve calls this on graceful shutdown; a replica that failed in __init__ has no runtime.
        rt = getattr(self, "_rt", None)
        if rt is not None:
            rt.close()
