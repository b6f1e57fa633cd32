"""The sampling a model is meant to run with, for requests that leave a parameter out.

OpenAI's defaults (temperature 1, top_p 1, nothing else) suit a frontier model, not a 1.5B one: at
temperature 1 with no top-k, Qwen2.5-Coder-1.5B wrote its weather call as text, in made-up spellings, or
not at all in 5 of 16 runs of the seed's example; with Qwen's published sampling, 20 of 20 passed. So,
like vLLM with a model's `generation_config.json`, a parameter a request omits takes the model's
recommended value: from the GGUF's own `general.sampling.*` keys when it has them, else from the packaged
model's entry, else OpenAI's default. `--sampling-defaults` overrides; `openai` switches them off.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any, cast

# field → (GGUF key written by llama.cpp's converters, type)
GGUF_KEYS: dict[str, tuple[str, type]] = {
    "temperature": ("general.sampling.temp", float),
    "top_p": ("general.sampling.top_p", float),
    "top_k": ("general.sampling.top_k", int),
    "min_p": ("general.sampling.min_p", float),
    "repetition_penalty": ("general.sampling.penalty_repeat", float),
    "repetition_window": ("general.sampling.penalty_last_n", int),
}
RANGES: dict[str, tuple[float, float]] = {
    "temperature": (0.0, 2.0),
    "top_p": (1e-9, 1.0),
    "top_k": (0, 1_000_000),
    "min_p": (0.0, 1.0),
    "repetition_penalty": (1e-9, 2.0),
    "repetition_window": (0, 1_000_000),
}


@dataclass(slots=True, frozen=True, kw_only=True)
class SamplingDefaults:
    """Values for parameters a request omits; None = OpenAI's default (or off)."""

    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    min_p: float | None = None
    repetition_penalty: float | None = None
    repetition_window: int | None = None
    source: str = "OpenAI's defaults"

    def __post_init__(self) -> None:
        for name, (low, high) in RANGES.items():
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and low <= value <= high):
                raise ValueError(f"sampling default {name}={value} is out of range [{low}, {high}]")

    def values(self) -> dict[str, float]:
        return {
            f.name: v for f in fields(self) if f.name != "source" and (v := getattr(self, f.name)) is not None
        }

    def describe(self) -> str:
        pairs = ", ".join(f"{k}={v:g}" for k, v in self.values().items())
        return f"{pairs or 'temperature=1, top_p=1'} ({self.source})"


OPENAI = SamplingDefaults()


def parse(text: str) -> dict[str, float]:
    """`--sampling-defaults`: a JSON object or `key=value` pairs separated by commas; ValueError if bad."""
    text = text.strip()
    if text.startswith("{"):
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"--sampling-defaults is not valid JSON: {exc}") from exc
        if not isinstance(raw, dict):
            raise ValueError("--sampling-defaults JSON must be an object")
        pairs = list(raw.items())
    else:
        pairs = [(p.partition("=")[0], p.partition("=")[2]) for p in text.split(",") if p.strip()]
    out: dict[str, float] = {}
    for key, value in pairs:
        key = str(key).strip()
        if key not in GGUF_KEYS:
            raise ValueError(f"--sampling-defaults: unknown key {key!r}; known: {', '.join(GGUF_KEYS)}")
        kind = GGUF_KEYS[key][1]
        try:
            number = float(value)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"--sampling-defaults: {key} must be a number, got {value!r}") from exc
        if kind is int and not number.is_integer():
            raise ValueError(f"--sampling-defaults: {key} must be an integer, got {value!r}")
        out[key] = int(number) if kind is int else number
    _make(out, "--sampling-defaults")  # range check
    return out


def _make(values: Mapping[str, float], source: str) -> SamplingDefaults:
    return SamplingDefaults(**cast(dict[str, Any], values), source=source)


def from_gguf(metadata: Callable[[str], str | None]) -> dict[str, float]:
    """The `general.sampling.*` keys a GGUF carries (unreadable values are skipped, never guessed)."""
    out: dict[str, float] = {}
    for name, (key, kind) in GGUF_KEYS.items():
        raw = metadata(key)
        if raw is None:
            continue
        try:
            number = float(raw)
        except ValueError:
            continue
        out[name] = int(number) if kind is int else number
    return out


def resolve(
    *,
    metadata: Callable[[str], str | None],
    packaged: Mapping[str, float],
    override: str | None,
) -> SamplingDefaults:
    """GGUF keys first, else the packaged entry, else OpenAI's; then the operator's override on top."""
    gguf = from_gguf(metadata)
    base, source = (
        (gguf, "the GGUF's general.sampling keys")
        if gguf
        else (packaged, "the model's published generation config")
    )
    if not base:
        base, source = {}, OPENAI.source
    try:
        defaults = _make(base, source)
    except ValueError:  # a file with nonsense sampling keys: keep OpenAI's rather than refuse to serve
        defaults = OPENAI
    if override is None:
        return defaults
    if override.strip().lower() == "openai":
        return OPENAI
    merged = defaults.values() | parse(override)
    return _make(merged, f"{defaults.source}, overridden by --sampling-defaults")
