"""The function-calling playground at `/`: a chat with the served model, tools, calls and their results.

An optional part of the server: `fncall serve` mounts it when the page is on (`--ui`, by default when
binding loopback); nothing under `fncall.api` imports this package. The page itself is plain HTML, CSS and
ES modules in `static/`, served as they are (no build step, nothing from a CDN); it talks to the same
`/v1` routes as any client, plus two small helpers of its own under `/ui/api/`.
"""

from fncall.web.mount import mount

__all__ = ["mount"]
