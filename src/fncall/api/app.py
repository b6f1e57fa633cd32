"""The ASGI application: routes under `/v1` and `/v1/openai` (the path hosted providers use).

Middleware, outermost first, in the order a request meets them: access log and request metrics (so
refused requests are logged too), API keys, admission (503 while shutting down), the body size limit.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from fncall.api import text_completions
from fncall.api.access_log import AccessLog
from fncall.api.anthropic import route as anthropic
from fncall.api.auth import ApiKeys, RequireApiKey
from fncall.api.completions import chat_completions
from fncall.api.docs import docs_routes
from fncall.api.errors import APIError, error_response, model_not_found, server_error
from fncall.api.limits import BodyLimit
from fncall.api.metrics import Metrics, metrics_endpoint
from fncall.api.openapi import openapi_endpoint
from fncall.api.responses import stored
from fncall.api.responses.route import responses
from fncall.api.responses.store import ResponseStore
from fncall.api.shutdown import Admission, AdmissionGate
from fncall.config import ServerConfig
from fncall.runtime import Runtime

log = logging.getLogger(__name__)

PREFIXES = ("/v1", "/v1/openai")


def _model_card(rt: Runtime, name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": rt.created, "owned_by": "fncall"}


async def list_models(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    return JSONResponse({"object": "list", "data": [_model_card(rt, name) for name in rt.listed]})


async def get_model(request: Request) -> Response:
    """Any name the model answers to, listed or not (e.g. `tiny`), gets a card under that name."""
    rt: Runtime = request.app.state.runtime
    name = request.path_params["model"]
    if name not in rt.names:
        raise model_not_found(name)
    return JSONResponse(_model_card(rt, name))


async def health(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    draining = request.app.state.admission.draining
    stats = rt.engine.stats()
    body = {
        "status": "draining" if draining else "ok",
        "model": rt.model_id,
        "running": stats.running,
        "waiting": stats.waiting,
    }
    return JSONResponse(body, status_code=503 if draining else 200)


async def _api_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, APIError):
        raise exc
    return error_response(exc, request.url.path)


async def _http_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, HTTPException):
        raise exc
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
    message = f"{request.method} {request.url.path}: {exc.detail}"
    return error_response(APIError(message, status=exc.status_code, code=code), request.url.path)


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s", request.url.path, exc_info=exc)
    return error_response(
        server_error("The server had an error while processing your request."), request.url.path
    )


def create_app(
    runtime: Runtime, config: ServerConfig | None = None, *, close_runtime: bool = False
) -> Starlette:
    """One app per runtime; each has its own metrics registry, so tests can build several."""
    config = config or ServerConfig()
    routes = [
        Route("/health", health, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        Route("/openapi.json", openapi_endpoint, methods=["GET"]),
        *docs_routes(),
    ]
    routes += [
        Route("/v1/messages", anthropic.messages, methods=["POST"]),
        Route("/v1/messages/count_tokens", anthropic.count_tokens, methods=["POST"]),
    ]
    for prefix in PREFIXES:
        routes += [
            Route(f"{prefix}/chat/completions", chat_completions, methods=["POST"]),
            Route(f"{prefix}/completions", text_completions.completions, methods=["POST"]),
            Route(f"{prefix}/responses", responses, methods=["POST"]),
            Route(f"{prefix}/responses/{{response_id}}", stored.get_response, methods=["GET"]),
            Route(f"{prefix}/responses/{{response_id}}", stored.delete_response, methods=["DELETE"]),
            Route(f"{prefix}/responses/{{response_id}}/input_items", stored.input_items, methods=["GET"]),
            Route(f"{prefix}/models", list_models, methods=["GET"]),
            Route(f"{prefix}/models/{{model:path}}", get_model, methods=["GET"]),
        ]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        store.close()
        if close_runtime:
            runtime.close()

    metrics = Metrics(runtime.engine.stats)
    runtime.grammars.on_compile = metrics.grammar_compile.observe
    admission = Admission()
    keys = ApiKeys(config.api_keys)
    # Opened on first use: an app that never stores a response never touches the file.
    store = ResponseStore(
        config.responses_path,
        max_age=config.responses_max_age * 86_400,
        max_count=config.responses_max_count,
    )
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(AccessLog, metrics=metrics),
            Middleware(RequireApiKey, keys=keys),
            Middleware(AdmissionGate, admission=admission),
            Middleware(BodyLimit, max_bytes=config.max_body_bytes),
        ],
        exception_handlers={APIError: _api_error, HTTPException: _http_error, Exception: _unexpected},
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.state.config = config
    app.state.metrics = metrics
    app.state.admission = admission
    app.state.keys = keys
    app.state.responses = store
    return app
