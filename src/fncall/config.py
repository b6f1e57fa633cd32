"""Server configuration: one slotted dataclass, filled by the CLI from flags and FNCALL_* variables."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path


def default_threads() -> int:
    # llama.cpp is memory-bound on CPU; more threads than cores only adds contention.
    return max(1, min(len(os.sched_getaffinity(0)), 8))


@dataclass(slots=True, frozen=True, kw_only=True)
class ServerConfig:
    model: str = "default"
    host: str = "127.0.0.1"
    port: int = 8000
    ctx: int = 4096
    threads: int = 0  # 0 = one per available core, up to 8
    parallel: int = 4  # slots; like llama-server, and each idle slot keeps a prefix for reuse
    model_id: str | None = None
    # More names the model answers to (vLLM's --served-model-name); /v1/models lists each of them.
    served_model_names: tuple[str, ...] = ()
    chat_template: Path | None = None
    max_waiting: int = 64
    # Prompt prefixes kept on disk across restarts (engine/prefix_disk.py): MiB bound, 0 = off.
    prefix_cache_disk_mb: int = 0
    prefix_cache_disk_min_tokens: int = 256  # shortest prefix worth saving
    # Idle slots' prefixes parked in host memory, so that the KV cache holds only running sequences
    # (engine/prefix_host.py): MiB bound, 0 = idle slots keep their cells instead. About 28 KiB a token
    # for the default model: 2 GiB holds ~75k tokens.
    prefix_cache_ram_mb: int = 2048
    max_n: int = 8  # choices one chat request may ask for (`n`); more is a 400
    log_level: str = "info"
    # Bearer keys for every /v1 route and /metrics; empty = open. repr=False keeps them out of logs.
    api_keys: tuple[str, ...] = field(default=(), repr=False)
    max_body_bytes: int = 4 * 1024 * 1024
    request_timeout: float = 600.0  # seconds from submission to the last token; 0 = no limit
    shutdown_timeout: float = 30.0  # seconds running requests may take to finish after SIGTERM
    tool_format: str | None = None  # a name from `fncall formats`; None = detected from the chat template
    # For parameters a request omits: None = the model's own (GGUF keys or packaged entry), "openai" =
    # OpenAI's, else JSON or key=value pairs on top of the model's (models/sampling.py).
    sampling_defaults: str | None = None
    # auto mode's call/text decisions (tools/decision.py): 'default', 'off', or 'FIRST,AFTER_RESULTS,MORE'.
    call_threshold: str = "default"
    # Tokens a tool grammar forces (the rest of a unique name, `", "arguments": {"`, closing braces) are
    # appended without sampling and decoded as one chunk (engine.Engine._jump_forward). Off by default:
    # greedy output is the same for the same cache history, but it changes what later requests find in
    # the prefix cache, and llama.cpp's CPU logits depend on how a prompt is chunked (README).
    jump_forward: bool = False
    # auto mode: a call none of whose values occurs in the conversation (a placeholder id, a made-up
    # city) is not returned: a first call gives way to a text answer, a later one ends the turn before
    # it (tools/grounding.py; measured in README, "Call decisions"). Needs the call decision on.
    ground_calls: bool = True
    ui: bool | None = None  # the playground at `/`; None = on when binding loopback only
    # Stored responses (/v1/responses with `store`): the SQLite file (None = responses.sqlite3 in the
    # model cache directory), kept at most this many days and this many responses.
    responses_db: Path | None = None
    responses_max_age: float = 30.0
    responses_max_count: int = 10_000

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be between 0 and 65535, got {self.port}")
        if self.ctx < 64:
            raise ValueError(f"ctx must be at least 64 tokens, got {self.ctx}")
        if self.threads < 0:
            raise ValueError(f"threads must be at least 0, got {self.threads}")
        if self.parallel < 1:
            raise ValueError(f"parallel must be at least 1, got {self.parallel}")
        if self.tool_format is not None:
            from fncall.tools.formats import FORMATS  # pure data; imported here to keep config light

            if self.tool_format not in FORMATS:
                raise ValueError(f"unknown tool format {self.tool_format!r}; known: {', '.join(FORMATS)}")
        if self.sampling_defaults is not None and self.sampling_defaults.strip().lower() != "openai":
            from fncall.models.sampling import parse  # pure; imported here to keep config light

            parse(self.sampling_defaults)
        if self.call_threshold != "default":
            from fncall.tools.decision import parse as parse_thresholds

            parse_thresholds(self.call_threshold)
        if self.prefix_cache_disk_mb < 0:
            raise ValueError(f"prefix_cache_disk_mb must be at least 0, got {self.prefix_cache_disk_mb}")
        if self.prefix_cache_ram_mb < 0:
            raise ValueError(f"prefix_cache_ram_mb must be at least 0, got {self.prefix_cache_ram_mb}")
        if self.prefix_cache_disk_min_tokens < 1:
            raise ValueError("prefix_cache_disk_min_tokens must be at least 1")
        if self.max_n < 1:
            raise ValueError(f"max_n must be at least 1, got {self.max_n}")
        if self.max_waiting < 1:
            raise ValueError(f"max_waiting must be at least 1, got {self.max_waiting}")
        if self.max_body_bytes < 1024:
            raise ValueError(f"max_body_bytes must be at least 1024, got {self.max_body_bytes}")
        if self.request_timeout < 0 or self.shutdown_timeout < 0:
            raise ValueError("request_timeout and shutdown_timeout must be at least 0")
        if self.responses_max_age <= 0 or self.responses_max_count < 1:
            raise ValueError("responses_max_age must be above 0 days and responses_max_count at least 1")
        for name in self.served_model_names:
            if not name or len(name) > 256 or any(c.isspace() or not c.isprintable() for c in name):
                raise ValueError(
                    f"served model names must be 1-256 printable characters without spaces: {name!r}"
                )
        for key in self.api_keys:
            if not key or any(c.isspace() for c in key):
                raise ValueError("API keys must be non-empty and contain no whitespace")

    @property
    def n_threads(self) -> int:
        return self.threads or default_threads()

    @property
    def responses_path(self) -> Path:
        if self.responses_db is not None:
            return self.responses_db
        from fncall.models import default_cache_dir  # imported here to keep config light

        return default_cache_dir() / "responses.sqlite3"

    @property
    def ui_enabled(self) -> bool:
        return self.loopback_only if self.ui is None else self.ui

    @property
    def loopback_only(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:  # a host name: we cannot tell, so assume it is reachable
            return False
