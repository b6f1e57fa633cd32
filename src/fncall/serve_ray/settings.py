"""How the Ray application is shaped: the server settings plus replicas, autoscaling and routing.

Ray-free: the application builder (`serve run fncall.serve_ray:app key=value …`, a Serve config file, or
`fncall serve --ray`) turns its string arguments into `RaySettings`, and the deployment options below are
plain dictionaries handed to Serve.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from fncall.config import ServerConfig

Router = Literal["affinity", "power-of-two"]

# Builder arguments that set ServerConfig fields, with their types (the rest are RaySettings' own).
_SERVER_ARGS: dict[str, type] = {
    "model": str,
    "ctx": int,
    "threads": int,
    "parallel": int,
    "model_id": str,
    "chat_template": Path,
    "max_waiting": int,
    "log_level": str,
    "max_body_bytes": int,
    "request_timeout": float,
    "shutdown_timeout": float,
    "tool_format": str,
    "sampling_defaults": str,
    "call_threshold": str,
}
_RAY_ARGS: dict[str, type] = {
    "target_ongoing": float,
    "upscale_delay": float,
    "downscale_delay": float,
    "router": str,
    "block": int,
    "imbalance": int,
    "stats_period": float,
    "max_ongoing": int,
    "load_attempts": int,
}
DEFAULT_THREADS = 2  # per replica; `threads=0` (one per core) cannot be reserved on a cluster


@dataclass(slots=True, frozen=True, kw_only=True)
class RaySettings:
    server: ServerConfig = field(default_factory=lambda: ServerConfig(threads=DEFAULT_THREADS))
    min_replicas: int = 1
    max_replicas: int = 1  # more than min_replicas: autoscaling between the two
    target_ongoing: float | None = None  # requests per replica the autoscaler aims at; default: slots
    upscale_delay: float = 30.0  # seconds of load above target before a replica is added (Serve's default)
    downscale_delay: float = 600.0  # seconds below target before one is removed (Serve's default)
    router: Router = "affinity"
    block: int = 32  # tokens per prefix block the router matches on
    imbalance: int | None = None  # ongoing requests a prefix holder may have above the least loaded
    stats_period: float = 1.0  # seconds between replicas' reports of their cached prefixes and gauges
    max_ongoing: int | None = None  # requests one replica takes at once; default: its slots
    load_attempts: int = 2  # tries to start a replica (Serve's max_constructor_retry_count), then: failed

    def __post_init__(self) -> None:
        if self.server.threads < 1:
            raise ValueError("threads must be at least 1 on Ray (each replica reserves that many CPUs)")
        if not 0 <= self.min_replicas <= self.max_replicas or self.max_replicas < 1:
            raise ValueError(
                "replicas must satisfy 0 <= min <= max and max >= 1, "
                f"got {self.min_replicas}:{self.max_replicas}"
            )
        if self.router not in ("affinity", "power-of-two"):
            raise ValueError(f"router must be 'affinity' or 'power-of-two', got {self.router!r}")
        for name in ("block", "max_ongoing", "load_attempts"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")
        for name in ("target_ongoing", "stats_period"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive, got {value}")
        if self.upscale_delay < 0 or self.downscale_delay < 0 or (self.imbalance or 0) < 0:
            raise ValueError("upscale_delay, downscale_delay and imbalance must be at least 0")

    @classmethod
    def from_args(cls, args: Mapping[str, object], base: ServerConfig | None = None) -> RaySettings:
        """Builder arguments (strings from `serve run`, also numbers from a config file's `args`) over
        `base` (default: defaults and FNCALL_API_KEYS). `replicas` is `N` or `MIN:MAX`. Raises ValueError
        naming a bad argument."""
        given = {k: str(v) for k, v in args.items()}
        known = {"replicas", "api_keys", *_SERVER_ARGS, *_RAY_ARGS}
        unknown = sorted(set(given) - known)
        if unknown:
            raise ValueError(f"unknown argument(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        if base is None:
            keys = tuple(k.strip() for k in os.environ.get("FNCALL_API_KEYS", "").split(",") if k.strip())
            base = ServerConfig(threads=DEFAULT_THREADS, api_keys=keys)
        server_args: dict[str, Any] = {
            k: _convert(k, v, _SERVER_ARGS[k]) for k, v in given.items() if k in _SERVER_ARGS
        }
        if "api_keys" in given:
            server_args["api_keys"] = tuple(k.strip() for k in given["api_keys"].split(",") if k.strip())
        ray_args: dict[str, Any] = {
            k: _convert(k, v, _RAY_ARGS[k]) for k, v in given.items() if k in _RAY_ARGS
        }
        low, high = parse_replicas(given.get("replicas", "1"))
        return cls(
            server=dataclasses.replace(base, **server_args), min_replicas=low, max_replicas=high, **ray_args
        )

    @property
    def slots(self) -> int:
        return self.server.parallel

    @property
    def autoscaling(self) -> bool:
        return self.max_replicas > self.min_replicas

    def engine_options(self) -> dict[str, Any]:
        """Serve deployment options of the engine deployment (the request router is added by the caller,
        which imports Ray)."""
        options: dict[str, Any] = {
            "ray_actor_options": {"num_cpus": self.server.threads},
            "max_ongoing_requests": self.max_ongoing or self.slots,
            "max_queued_requests": self.server.max_waiting,
            "graceful_shutdown_timeout_s": self.server.shutdown_timeout,
            "max_constructor_retry_count": self.load_attempts,
            "health_check_period_s": 5.0,
        }
        if self.autoscaling:
            # Windows short enough that the delays are what decides (Serve's defaults: 10 s, 30 s);
            # Serve wants the look-back longer than the metrics interval.
            interval = 0.5 if self.upscale_delay < 5 else 1.0
            options["autoscaling_config"] = {
                "min_replicas": self.min_replicas,
                "max_replicas": self.max_replicas,
                "target_ongoing_requests": self.target_ongoing or self.slots,
                "upscale_delay_s": self.upscale_delay,
                "downscale_delay_s": self.downscale_delay,
                "metrics_interval_s": interval,
                "look_back_period_s": max(2 * interval, min(10.0, self.upscale_delay)),
            }
        else:
            options["num_replicas"] = self.max_replicas
        return options

    def router_kwargs(self) -> dict[str, Any]:
        return {
            "affinity": self.router == "affinity",
            "block": self.block,
            "imbalance": self.slots if self.imbalance is None else self.imbalance,
            "stats_period": self.stats_period,
        }


def parse_replicas(text: str) -> tuple[int, int]:
    """`N` (fixed) or `MIN:MAX` (autoscaling)."""
    low, _, high = text.partition(":")
    try:
        return int(low), int(high or low)
    except ValueError:
        raise ValueError(f"replicas must be N or MIN:MAX, got {text!r}") from None


def _convert(name: str, value: str, kind: type) -> Any:
    try:
        return kind(value)
    except ValueError:
        raise ValueError(f"{name}={value!r} is not a valid {kind.__name__}") from None
