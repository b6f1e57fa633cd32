"""Server-sent events framing, as OpenAI streams it: `data: <json>\n\n` … `data: [DONE]\n\n`."""

from __future__ import annotations

import json
from typing import Any

DONE = "data: [DONE]\n\n"


def sse_event(payload: dict[str, Any]) -> str:
    return f"data: {json.dumps(payload, ensure_ascii=False, separators=(',', ':'))}\n\n"
