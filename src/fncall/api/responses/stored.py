"""`GET` and `DELETE /v1/responses/{id}`, `GET /v1/responses/{id}/input_items`: the stored responses
of the caller's tenant (its API key); any other id, another key's included, is a 404."""

from __future__ import annotations

from typing import Any, Literal

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from fncall.api.auth import tenant
from fncall.api.errors import APIError, unsupported
from fncall.api.responses.store import ResponseStore


def _not_found(response_id: str) -> APIError:
    shown = response_id if len(response_id) <= 100 else response_id[:100] + "…"
    message = f"No response found with id '{shown}'."
    return APIError(message, status=404, param="response_id", code="not_found")


def _where(request: Request) -> tuple[ResponseStore, str, str]:
    who = tenant(request.app.state.keys, request.headers)
    return request.app.state.responses, request.path_params["response_id"], who


async def get_response(request: Request) -> Response:
    if request.query_params.get("stream", "false").lower() not in ("false", "0"):
        raise unsupported("stream", "streaming a stored response is not supported.")
    store, response_id, who = _where(request)
    found = await anyio.to_thread.run_sync(lambda: store.get(response_id, tenant=who))
    if found is None:
        raise _not_found(response_id)
    return JSONResponse(found.response)


async def delete_response(request: Request) -> Response:
    store, response_id, who = _where(request)
    if not await anyio.to_thread.run_sync(lambda: store.delete(response_id, tenant=who)):
        raise _not_found(response_id)
    return JSONResponse({"id": response_id, "object": "response", "deleted": True})


async def input_items(request: Request) -> Response:
    """OpenAI's list shape: `data` (newest first unless `order=asc`), `first_id`, `last_id`, `has_more`."""
    store, response_id, who = _where(request)
    limit, order, after = _page_params(request)
    page = await anyio.to_thread.run_sync(
        lambda: store.input_items(response_id, tenant=who, limit=limit, order=order, after=after)
    )
    if page is None:
        raise _not_found(response_id)
    body: dict[str, Any] = {
        "object": "list",
        "data": page.items,
        "first_id": page.items[0]["id"] if page.items else None,
        "last_id": page.items[-1]["id"] if page.items else None,
        "has_more": page.has_more,
    }
    return JSONResponse(body)


def _page_params(request: Request) -> tuple[int, Literal["asc", "desc"], str | None]:
    query = request.query_params
    raw = query.get("limit", "20")
    if not raw.isdigit() or not 1 <= int(raw) <= 100:
        raise APIError("'limit' must be an integer from 1 to 100.", param="limit", code="invalid_value")
    order = query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise APIError("'order' must be 'asc' or 'desc'.", param="order", code="invalid_value")
    return int(raw), "asc" if order == "asc" else "desc", query.get("after")
