"""Server configuration: one slotted dataclass, filled by the CLI from flags and FNCALL_* variables."""

from __future__ import annotations

import os
from dataclasses import dataclass
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
    chat_template: Path | None = None
    max_waiting: int = 64
    log_level: str = "info"
    tool_format: str | None = None  # a name from `fncall formats`; None = detected from the chat template

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
        if self.max_waiting < 1:
            raise ValueError(f"max_waiting must be at least 1, got {self.max_waiting}")

    @property
    def n_threads(self) -> int:
        return self.threads or default_threads()
