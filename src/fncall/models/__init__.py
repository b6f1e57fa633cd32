"""Model provisioning: resolve "default", "tiny" or a .gguf path to a verified local file."""

from __future__ import annotations

from fncall.models.assembly import IntegrityError, assemble, verify_cached
from fncall.models.provision import (
    DEFAULT_MODEL,
    PACKAGED,
    TINY_MODEL,
    ModelNotAvailable,
    PackagedModel,
    ResolvedModel,
    default_cache_dir,
    resolve_model,
)

__all__ = [
    "DEFAULT_MODEL",
    "PACKAGED",
    "TINY_MODEL",
    "IntegrityError",
    "ModelNotAvailable",
    "PackagedModel",
    "ResolvedModel",
    "assemble",
    "default_cache_dir",
    "resolve_model",
    "verify_cached",
]
