"""fncall on a Ray cluster (optional extra `fncall[ray]`): engine replicas across machines behind one
OpenAI-compatible ingress, with prefix-affinity routing and autoscaling.

    serve run fncall.serve_ray:app model=default replicas=2

`app` is Serve's application builder (ingress.app). It is imported on first use, so the Ray-free
modules here (settings, affinity, board) import without Ray.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name in ("app", "build"):
        from fncall.serve_ray import ingress

        return getattr(ingress, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
