"""Server-sent events framing, as OpenAI streams it: `data: <json>\n\n` … `data: [DONE]\n\n`."""

from __future__ import annotations

import json
from typing import Any

DONE = "data: [DONE]\n\n"


def sse_event(payload: dict[str, Any]) -> str:
    return f"data: {json.dumps(payload, ensure_ascii=False, separators=(',', ':'))}\n\n"


def sse_named(payload: dict[str, Any]) -> str:
    """An event with its `type` as the SSE event name, as Anthropic and the Responses API stream them."""
    data = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return f"event: {payload['type']}\ndata: {data}\n\n"
