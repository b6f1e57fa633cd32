"""Registry of tool formats, and detection of a model's format from its chat template (and, for templates
that render no tools, from the special tokens of its vocabulary)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace

from fncall.tools.formats.base import ToolFormat
from fncall.tools.formats.functionary import FUNCTIONARY_V31, FUNCTIONARY_V32
from fncall.tools.formats.hermes import HERMES, QWEN3, THINK
from fncall.tools.formats.llama3 import LLAMA3, LLAMA3_PYTHONIC
from fncall.tools.formats.mistral import MISTRAL, MISTRAL_V11

# Detection order matters: Functionary v3.1 templates also carry Llama's <|python_tag|>.
FORMATS: dict[str, ToolFormat] = {
    fmt.name: fmt
    for fmt in (
        FUNCTIONARY_V32,
        FUNCTIONARY_V31,
        MISTRAL_V11,
        MISTRAL,
        LLAMA3,
        QWEN3,
        HERMES,
        LLAMA3_PYTHONIC,
    )
}
# Used for templates that render no tools: we describe the tools ourselves, in this format.
FALLBACK = HERMES


def detect(template_source: str, special_tokens: Collection[str] = ()) -> tuple[ToolFormat, bool]:
    """The format for a chat template, and whether the template renders tools natively.

    A template that renders no tools still gets its family's format when the vocabulary has that
    family's special tokens (`special_tokens`: those of `marker_tokens()` that are special tokens).
    """
    for fmt in FORMATS.values():
        if fmt.detects(template_source):
            return fmt, True
    for fmt in FORMATS.values():
        if fmt.tokens and all(token in special_tokens for token in fmt.tokens):
            return fmt, False
    return FALLBACK, False


def with_reasoning(fmt: ToolFormat, template_source: str, generation_prompt: str) -> ToolFormat:
    """`fmt`, keeping a `<think>` block out of content and calls when the template knows one, and starting
    inside it when the generation prompt opens it (DeepSeek-R1 distills, Qwen3.5, GLM-4.7, …)."""
    syntax = fmt.syntax
    if syntax.think is None and THINK[0] in template_source:
        syntax = replace(syntax, think=THINK)
    if syntax.think is not None and generation_prompt.rstrip().endswith(syntax.think[0]):
        syntax = replace(syntax, think_open=True)
    return fmt if syntax == fmt.syntax else replace(fmt, syntax=syntax)


def marker_tokens() -> set[str]:
    """Every special token some format's detection looks for in a vocabulary."""
    return {token for fmt in FORMATS.values() for token in fmt.tokens}


def choose(
    template_source: str, forced: str | None, special_tokens: Collection[str] = ()
) -> tuple[ToolFormat, bool]:
    """`forced` (a FORMATS name) if given, else the detected format. The template renders tools itself
    only in its own format; a forced other format is described in our system prompt instead."""
    detected, native = detect(template_source, special_tokens)
    if forced is None:
        return detected, native
    if forced not in FORMATS:
        raise ValueError(f"unknown tool format {forced!r}; known: {', '.join(FORMATS)}")
    return FORMATS[forced], native and detected.name == forced


__all__ = ["FORMATS", "FALLBACK", "ToolFormat", "choose", "detect", "marker_tokens", "with_reasoning"]
