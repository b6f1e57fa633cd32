"""Routes of the playground, added to an app built by `fncall.api.app.create_app`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from fncall.api.auth import ApiKeys
from fncall.api.errors import error_response, invalid_api_key
from fncall.config import ServerConfig
from fncall.web.check import check
from fncall.web.info import info

STATIC = Path(__file__).with_name("static")

Endpoint = Callable[[Request], Awaitable[Response]]

# The page may talk to this origin only: a bug or a pasted tool schema cannot make it reach elsewhere.
_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


async def page(request: Request) -> Response:
    headers = {"Content-Security-Policy": _POLICY, "Cache-Control": "no-cache"}
    return FileResponse(STATIC / "index.html", headers=headers)


def keyed(endpoint: Endpoint, keys: ApiKeys) -> Endpoint:
    """The page's own API takes the same keys as `/v1` (the page and its scripts stay open, like /docs)."""

    async def guarded(request: Request) -> Response:
        authorization = request.headers.get("authorization")
        if keys and not keys.accepts((authorization or "").encode()):
            return error_response(invalid_api_key(provided=authorization is not None))
        return await endpoint(request)

    return guarded


def routes(config: ServerConfig) -> list[BaseRoute]:
    keys = ApiKeys(config.api_keys)
    return [
        Route("/", page, methods=["GET"]),
        Route("/ui/api/info", keyed(info, keys), methods=["GET"]),
        Route("/ui/api/check", keyed(check, keys), methods=["POST"]),
        Mount("/ui", StaticFiles(directory=STATIC), name="ui"),
    ]


def mount(app: Starlette) -> None:
    """Adds the playground's routes and describes them in the app's OpenAPI document."""
    config: ServerConfig = app.state.config
    app.router.routes.extend(routes(config))
    app.state.openapi_paths = openapi_paths(secured=bool(config.api_keys))


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def openapi_paths(*, secured: bool) -> dict[str, Any]:
    security: dict[str, Any] = {"security": [{"bearerAuth": []}]} if secured else {}
    error = {"$ref": "#/components/schemas/ErrorResponse"}
    error_body = {"$ref": "#/components/schemas/Error"}
    info_schema = {"type": "object", "required": ["model", "ctx", "slots", "tool_format", "defaults"]}
    accepted = {
        "type": "object",
        "properties": {"ok": {"const": True}, "prompt_tokens": {"type": "integer"}},
        "required": ["ok", "prompt_tokens"],
    }
    refused = {
        "type": "object",
        "properties": {"ok": {"const": False}, "status": {"type": "integer"}, "error": error_body},
        "required": ["ok", "status", "error"],
    }
    return {
        "/": {
            "get": {
                "operationId": "playground",
                "summary": "The function-calling playground (HTML; only with the page on, see --ui)",
                "responses": {"200": {"description": "The page", "content": {"text/html": {}}}},
            }
        },
        "/ui/api/info": {
            "get": {
                "operationId": "playgroundInfo",
                "summary": "What the playground shows about the served model: id, context, slots, "
                "tool format, sampling defaults",
                "responses": {"200": _json(info_schema, "Model facts"), "401": _json(error, "Bad key")},
                **security,
            }
        },
        "/ui/api/check": {
            "post": {
                "operationId": "playgroundCheck",
                "summary": "Dry run: validate and plan a chat request as /v1/chat/completions would "
                "(tools, tool_choice, the prompt's length) without generating",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/ChatCompletionRequest"}}
                    },
                },
                "responses": {
                    "200": _json(
                        {"oneOf": [accepted, refused]},
                        "Whether /v1/chat/completions would accept the request; if not, the status and "
                        "error it would answer",
                    ),
                    "401": _json(error, "Bad key"),
                    "413": _json(error, "Body larger than --max-body-bytes"),
                },
                **security,
            }
        },
    }
