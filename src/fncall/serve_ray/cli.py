"""`fncall serve --ray ADDRESS --replicas N`: deploy the Serve application from the command line and
serve until SIGTERM or Ctrl+C, then take it down (and, with `--ray local`, the cluster it started)."""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import threading
from collections.abc import Mapping, Sequence

from fncall.config import ServerConfig
from fncall.serve_ray.settings import DEFAULT_THREADS, RaySettings

log = logging.getLogger("fncall.serve_ray")

APP_NAME = "fncall"


def parse_options(options: Sequence[str]) -> dict[str, str]:
    """`KEY=VALUE` strings, as `serve run` takes builder arguments."""
    parsed: dict[str, str] = {}
    for option in options:
        key, sep, value = option.partition("=")
        if not sep or not key:
            raise ValueError(f"--ray-option takes KEY=VALUE, got {option!r}")
        parsed[key.strip()] = value.strip()
    return parsed


def settings_for(config: ServerConfig, replicas: str, options: Mapping[str, str]) -> RaySettings:
    if config.threads == 0:  # "one per core" cannot be reserved per replica on a cluster
        config = dataclasses.replace(config, threads=DEFAULT_THREADS)
    return RaySettings.from_args({"replicas": replicas, **options}, base=config)


def serve_on_ray(settings: RaySettings, address: str) -> int:
    """Blocks while serving; returns the exit status."""
    import ray
    from ray import serve

    from fncall.serve_ray.ingress import build

    config = settings.server
    # Keep a loopback address as given (Ray otherwise rewrites it to the host's external address).
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    local = address == "local"
    if local:
        ray.init(include_dashboard=False, _node_ip_address="127.0.0.1", configure_logging=False)
    else:
        ray.init(address=address, configure_logging=False)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        serve.start(http_options={"host": config.host, "port": config.port})
        try:
            serve.run(build(settings), name=APP_NAME, route_prefix="/", blocking=False)
        except RuntimeError as exc:  # e.g. a replica that could not load the model, after its retries
            log.error("the application could not be deployed: %s", exc)
            return 1
        base = f"http://{config.host}:{config.port}/v1"
        print(
            f"fncall: serving on Ray ({settings.min_replicas}-{settings.max_replicas} replicas) at {base}",
            flush=True,
        )
        stop.wait()
        return 0
    finally:
        if local:
            serve.shutdown()  # type: ignore[no-untyped-call]
            ray.shutdown()
        else:
            serve.delete(APP_NAME)
