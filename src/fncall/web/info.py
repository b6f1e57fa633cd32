"""`GET /ui/api/info`: what the playground shows about the served model, next to its own settings."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from fncall import __version__
from fncall.engine.sampling import SamplingParams
from fncall.runtime import Runtime

_SHOWN = ("temperature", "top_p", "top_k", "min_p", "max_tokens")


def sampling_defaults(rt: Runtime) -> dict[str, Any]:
    """What a request that omits these gets: the model's defaults (models/sampling.py) over the
    sampler's own (OpenAI's)."""
    defaults = {f.name: f.default for f in fields(SamplingParams)} | rt.sampling.values()
    return {name: defaults[name] for name in _SHOWN} | {"source": rt.sampling.source}


async def info(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    config = rt.engine.config
    return JSONResponse(
        {
            "model": rt.model_id,
            "aliases": sorted(rt.names - {rt.model_id}),
            "ctx": config.n_ctx,
            "slots": config.n_slots,
            "tool_format": rt.tool_format.name,
            "auth": bool(request.app.state.config.api_keys),
            "defaults": sampling_defaults(rt),
            "version": __version__,
        }
    )
