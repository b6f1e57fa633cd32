"""Client-facing errors in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`.

Everything a client can get wrong is raised as an `APIError` somewhere on the request path and turned
into JSON here, in one place.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from starlette.responses import JSONResponse


class APIError(Exception):
    def __init__(
        self,
        message: str,
        *,
        status: int = 400,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def unsupported(param: str, detail: str) -> APIError:
    return APIError(f"Unsupported value for '{param}': {detail}", param=param, code="unsupported_value")


def model_not_found(model: str) -> APIError:
    shown = model if len(model) <= 200 else model[:200] + "…"  # a hostile 100 kB name is not echoed whole
    return APIError(
        f"The model '{shown}' does not exist or you do not have access to it.",
        status=404,
        param="model",
        code="model_not_found",
    )


def context_length_exceeded(exc: Exception) -> APIError:
    return APIError(str(exc), param="messages", code="context_length_exceeded")


def server_busy(detail: str) -> APIError:
    return APIError(
        f"The server is busy ({detail}); retry shortly.",
        status=429,
        type="rate_limit_error",
        code="rate_limit_exceeded",
        headers={"Retry-After": "1"},
    )


def server_error(message: str) -> APIError:
    return APIError(message, status=500, type="server_error")


def request_timeout(seconds: float) -> APIError:
    return APIError(
        f"The request did not complete within the server's limit of {seconds:g} seconds.",
        status=504,
        type="server_error",
        code="request_timeout",
    )


def shutting_down() -> APIError:
    return APIError(
        "The server is shutting down; retry on another instance or shortly.",
        status=503,
        type="server_error",
        code="server_shutting_down",
        headers={"Retry-After": "1", "Connection": "close"},
    )


def body_too_large(limit: int) -> APIError:
    return APIError(
        f"The request body is larger than the server's limit of {limit} bytes.",
        status=413,
        code="request_too_large",
    )


def invalid_api_key(provided: bool) -> APIError:
    message = (
        "Incorrect API key provided."
        if provided
        else "You didn't provide an API key. Send it in an Authorization header using Bearer auth "
        "(i.e. Authorization: Bearer YOUR_KEY)."
    )
    return APIError(
        message,
        status=401,
        code="invalid_api_key",
        headers={"WWW-Authenticate": 'Bearer realm="fncall"'},
    )


def param_path(loc: tuple[int | str, ...]) -> str:
    """pydantic's ('messages', 0, 'role') → OpenAI's 'messages[0].role'."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


# What pydantic adds to an error's location for the members of a union (`str | list[Part] | None`):
# these, generic types (`list[...]`), validator names (`function-...`) and model names (`TextPart`).
_UNION_MEMBERS = frozenset({"str", "int", "float", "bool", "none"})


def _field_loc(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    """The location without union members, which are no request field (request fields are snake_case)."""
    return tuple(p for p in loc if not (isinstance(p, str) and _union_member(p)))


def _union_member(part: str) -> bool:
    return "[" in part or part.startswith("function-") or part in _UNION_MEMBERS or part[:1].isupper()


def from_validation_error(exc: ValidationError) -> APIError:
    errors = exc.errors(include_url=False)
    if errors[0]["type"] == "json_invalid":
        return APIError(
            "We could not parse the JSON body of your request. (HINT: This likely means you aren't using "
            "your HTTP library correctly. The OpenAI API expects a JSON payload.)",
            code="invalid_json",
        )
    # A union reports one error per member; the deepest is from the member the value nearly matched.
    first = max(errors, key=lambda e: len(_field_loc(e["loc"])))
    loc = _field_loc(first["loc"]) + tuple(f for f in [(first.get("ctx") or {}).get("field")] if f)
    param = param_path(loc) or None
    detail = first["msg"]
    if first["type"] == "missing":
        return APIError(
            f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter"
        )
    return APIError(f"Invalid value for '{param}': {detail}.", param=param, code="invalid_value")


# Anthropic's error types by status (https://docs.anthropic.com/en/api/errors).
_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
    504: "timeout_error",
}


def anthropic_body(exc: APIError) -> dict[str, Any]:
    """Anthropic's shape, `{"type": "error", "error": {"type", "message"}}`, used on its routes."""
    kind = _ANTHROPIC_TYPES.get(exc.status, "invalid_request_error" if exc.status < 500 else "api_error")
    message = exc.message  # Anthropic's errors have no `param`: the message names the field instead
    if exc.param and exc.param not in message:
        message = f"{exc.param}: {message}"
    return {"type": "error", "error": {"type": kind, "message": message}}


def anthropic_route(path: str) -> bool:
    return path in ("/v1/messages", "/v1/messages/count_tokens")


def error_response(exc: APIError, path: str = "") -> JSONResponse:
    """The error in the shape of the API `path` belongs to (Anthropic's on its routes, else OpenAI's)."""
    body = anthropic_body(exc) if anthropic_route(path) else exc.body()
    return JSONResponse(body, status_code=exc.status, headers=exc.headers)
