"""`POST /ui/api/check`: the completion route's own checks on a request, without generating.

The playground sends the request it would send, as the person edits tools, `tool_choice` or settings, and
shows the answer inline. The checks are the route's (`plan_request`: the request model, the model name,
tool validation, the template, the grammar compile) plus the engine's prompt-length rule, so the page
cannot accept what the server would refuse, or refuse what it would accept. A compiled grammar stays in
the compiler's cache, so the real request after a check does not compile again.

A refusal is this route's answer, not its failure: 200 with `{"ok": false, "status", "error"}` (the status
and error body the completion route would send), so a page checking on every edit does not fill the
browser's console with failed requests. A refused key (401) or an oversized body (413, checked before
any handler) keep their own statuses.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from fncall.api.completions import plan_request
from fncall.api.errors import APIError, context_length_exceeded
from fncall.engine.engine import PromptTooLong
from fncall.runtime import Runtime


async def check(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    try:
        _, plan = await plan_request(request)
        n_prompt = len(plan.generation.prompt)
        try:
            rt.engine.check_prompt(n_prompt)
        except PromptTooLong as exc:
            raise context_length_exceeded(exc) from exc
    except APIError as exc:
        return JSONResponse({"ok": False, "status": exc.status} | exc.body())
    return JSONResponse({"ok": True, "prompt_tokens": n_prompt})
