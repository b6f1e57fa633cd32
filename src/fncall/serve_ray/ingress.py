"""The Serve application: an ingress deployment carrying fncall's Starlette app, and the engine deployment.

The ingress plans every request exactly as the single-process server does (it loads the model's
vocabulary only: template, tokenizer, tool grammars), so every route, error shape, API key check, limit
and metric is the same code; the engine it submits to is `RemoteEngine`, which streams from a replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any, cast

import anyio.to_thread
from ray import serve
from ray.serve.deployment import Deployment
from ray.serve.handle import DeploymentHandle
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from fncall.api.app import create_app
from fncall.runtime import Runtime
from fncall.serve_ray.board import ReplicaCollector, board
from fncall.serve_ray.client import RemoteEngine
from fncall.serve_ray.replica import EngineReplica
from fncall.serve_ray.router import PrefixAffinityRouter
from fncall.serve_ray.settings import RaySettings

log = logging.getLogger(__name__)

ENGINE = "FncallEngine"
INGRESS = "FncallIngress"


@serve.ingress()
class Ingress:
    def __init__(self, settings: RaySettings, engine: DeploymentHandle[Any]) -> None:
        """Loads the vocabulary (about a second; Serve runs this inside the replica's event loop)."""
        self._settings = settings
        self._app_name = serve.get_replica_context().app_name
        self._board = board(self._app_name)
        stats = self._board.totals
        self._rt = Runtime.open(
            settings.server, progress=False, remote=lambda cfg: RemoteEngine(engine, cfg, stats)
        )
        # A first call starts this process's router, so replicas report to /metrics before any request.
        self._warm_up = asyncio.get_running_loop().create_task(self._ping(engine))

    @staticmethod
    async def _ping(engine: DeploymentHandle[Any]) -> None:
        with contextlib.suppress(Exception):  # a deployment that fails to start is reported by /health
            await engine.ping.remote()

    def __serve_build_asgi_app__(self) -> Starlette:
        app = create_app(self._rt, self._settings.server)
        app.state.metrics.registry.register(ReplicaCollector(self._board))
        # Matched before the app's own /health: readiness of the cluster, not of one engine.
        app.router.routes.insert(0, Route("/health", self._health, methods=["GET"]))
        return app

    async def _health(self, request: Request) -> Response:
        status = await anyio.to_thread.run_sync(_engine_status, self._app_name)
        totals = self._board.totals()
        ready = status["replicas"].get("RUNNING", 0)
        body = {
            "status": "ok" if ready else "unavailable",
            "model": self._rt.model_id,
            "running": totals.running,
            "waiting": totals.waiting,
            "replicas": {"ready": ready, "reporting": len(self._board.reports()), **status},
        }
        return JSONResponse(body, status_code=200 if ready else 503)

    def __del__(self) -> None:
        self._rt.close()


def _engine_status(app_name: str) -> dict[str, Any]:
    """The engine deployment as Serve's controller sees it (a blocking call to the controller)."""
    app = serve.status().applications.get(app_name)
    deployment = app.deployments.get(ENGINE) if app else None
    if deployment is None:
        return {"deployment": "MISSING", "message": "", "replicas": {}}
    states = {_name(k): int(v) for k, v in deployment.replica_states.items()}
    return {"deployment": _name(deployment.status), "message": deployment.message, "replicas": states}


def _name(value: object) -> str:
    """An enum member's value ('RUNNING'), whatever enum type Serve uses."""
    return str(getattr(value, "value", value))


def build(settings: RaySettings) -> serve.Application:
    engine = _deployment(EngineReplica).options(
        name=ENGINE,
        **settings.engine_options(),
        request_router_config={
            "request_router_class": PrefixAffinityRouter,
            "request_router_kwargs": settings.router_kwargs(),
            "request_routing_stats_period_s": settings.stats_period,
            "request_routing_stats_timeout_s": max(1.0, 5 * settings.stats_period),
        },
    )
    # The ingress plans requests (tokenizing, grammar compiles) and relays streams: light, no CPU reserved.
    ingress = _deployment(Ingress).options(
        name=INGRESS,
        ray_actor_options={"num_cpus": 0},
        max_ongoing_requests=max(1000, 4 * settings.max_replicas * settings.slots),
    )
    return ingress.bind(settings, engine.bind(settings))


def _deployment(cls: type) -> Deployment:
    # serve.deployment is annotated as returning a decorator, also when given the class itself.
    return cast(Deployment, serve.deployment(cls))


def app(args: Mapping[str, object]) -> serve.Application:
    """Application builder: `serve run fncall.serve_ray:app model=tiny replicas=2` (see README)."""
    return build(RaySettings.from_args(args))


__all__ = ["Ingress", "app", "build"]
