"""Registry of tool formats, and detection of a model's format from its chat template."""

from __future__ import annotations

from fncall.tools.formats.base import Markers, ToolFormat
from fncall.tools.formats.hermes import HERMES

FORMATS: dict[str, ToolFormat] = {fmt.name: fmt for fmt in (HERMES,)}
# Used for templates that render no tools: we describe the tools ourselves, in this format.
FALLBACK = HERMES


def detect(template_source: str) -> tuple[ToolFormat, bool]:
    """The format for a chat template, and whether the template renders tools natively."""
    for fmt in FORMATS.values():
        if fmt.detects(template_source):
            return fmt, True
    return FALLBACK, False


__all__ = ["FORMATS", "FALLBACK", "Markers", "ToolFormat", "detect"]
