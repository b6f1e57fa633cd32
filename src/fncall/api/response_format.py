"""`response_format` → the JSON the answer must be (structured outputs), or None for free text.

OpenAI's rules: `json_object` needs the word "JSON" somewhere in the messages (the model must be told
to answer in JSON; without it the answer would be an endless stream of whitespace on OpenAI's side);
`json_schema` needs a `name` (`^[a-zA-Z0-9_-]{1,64}$`) and an object `schema`; `strict` closes every
object, as for tool parameters. The grammar itself is compiled (and cached) by the runtime.
"""

from __future__ import annotations

import json
import re
from typing import Any

from fncall.api.errors import APIError
from fncall.api.protocol import ChatCompletionRequest
from fncall.tools.grammar import OutputSchema
from fncall.tools.spec import ToolRequest

_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
MAX_SCHEMA_BYTES = 100_000  # as for tool parameters: a hostile schema costs a 400, not a stalled compile


def output_schema(req: ChatCompletionRequest, tools: ToolRequest | None) -> OutputSchema | None:
    """The request's structured-output demand, validated; APIError (400) naming the parameter."""
    fmt = req.response_format
    if fmt is None or fmt.type == "text":
        return None
    if fmt.type == "json_object":
        if not any("json" in _text(m.model_dump()).lower() for m in req.messages):
            raise APIError(
                "'messages' must contain the word 'json' in some form, to use 'response_format' of type "
                "'json_object'.",
                param="messages",
                code="invalid_value",
            )
        return OutputSchema(schema={"type": "object"}, strict=False)
    return _json_schema(fmt.model_extra or {})


def _json_schema(extra: dict[str, Any]) -> OutputSchema:
    spec = extra.get("json_schema")
    if not isinstance(spec, dict):
        raise _bad("response_format.json_schema", "'json_schema' must be an object with 'name' and 'schema'.")
    name, schema, strict = spec.get("name"), spec.get("schema", {}), spec.get("strict", False)
    if not isinstance(name, str) or not _NAME.match(name):
        raise _bad("response_format.json_schema.name", "'name' must match ^[a-zA-Z0-9_-]{1,64}$.")
    if not isinstance(schema, dict):
        raise _bad("response_format.json_schema.schema", "'schema' must be a JSON Schema object.")
    if len(json.dumps(schema)) > MAX_SCHEMA_BYTES:
        raise _bad("response_format.json_schema.schema", f"'schema' is over {MAX_SCHEMA_BYTES} bytes.")
    if not isinstance(strict, bool) and strict is not None:
        raise _bad("response_format.json_schema.strict", "'strict' must be a boolean.")
    return OutputSchema(schema=schema, strict=bool(strict))


def _text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


def _bad(param: str, message: str) -> APIError:
    return APIError(message, param=param, code="invalid_value")
