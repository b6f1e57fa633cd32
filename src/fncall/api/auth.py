"""API keys: when any are configured, `Authorization: Bearer <key>` (or Anthropic's `x-api-key: <key>`,
with the same keys) is required on every `/v1` route and on `/metrics` (usage figures are not public);
`/health`, `/docs` and `/openapi.json` stay open.

Keys are compared in constant time (`hmac.compare_digest`, against every key) and never logged or
echoed back.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping

from starlette.types import ASGIApp, Receive, Scope, Send

from fncall.api.errors import error_response, invalid_api_key


class ApiKeys:
    def __init__(self, keys: Iterable[str]) -> None:
        self._keys = tuple(key.encode() for key in keys)

    def __bool__(self) -> bool:
        return bool(self._keys)

    def __repr__(self) -> str:
        return f"ApiKeys(<{len(self._keys)} keys>)"

    def accepts(self, authorization: bytes) -> bool:
        scheme, _, token = authorization.partition(b" ")
        if scheme.lower() != b"bearer":
            return False
        given = token.strip()
        matched = False
        for key in self._keys:  # no early exit: the time taken does not say which key matched
            matched |= hmac.compare_digest(given, key)
        return matched


def tenant(keys: ApiKeys, headers: Mapping[str, str]) -> str:
    """Whose stored responses a request may see: the sha256 of the key it presented (the middleware has
    accepted it), or "" when the server has no keys (one tenant)."""
    if not keys:
        return ""
    authorization = headers.get("authorization", "")
    if keys.accepts(authorization.encode("latin-1")):
        key = authorization.partition(" ")[2].strip()
    else:
        key = headers.get("x-api-key", "")
    return hashlib.sha256(key.encode("latin-1")).hexdigest()


def protected(path: str) -> bool:
    return path == "/v1" or path.startswith("/v1/") or path == "/metrics"


class RequireApiKey:
    def __init__(self, app: ASGIApp, *, keys: ApiKeys) -> None:
        self.app = app
        self.keys = keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.keys or not protected(scope["path"]):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        authorization = headers.get(b"authorization", b"")
        api_key = headers.get(b"x-api-key", b"")
        if self.keys.accepts(authorization) or (api_key and self.keys.accepts(b"Bearer " + api_key)):
            await self.app(scope, receive, send)
            return
        refused = invalid_api_key(provided=bool(authorization or api_key))
        await error_response(refused, scope["path"])(scope, receive, send)
