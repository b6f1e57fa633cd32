"""From token bytes to releasable text: incremental UTF-8 decoding and stop-string hold-back.

Both are pure state machines so streaming and non-streaming output are the same by construction.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field


@dataclass(slots=True)
class Utf8Stream:
    """Decodes token pieces incrementally; a character split across tokens is emitted once complete."""

    _decoder: codecs.IncrementalDecoder = field(
        default_factory=lambda: codecs.getincrementaldecoder("utf-8")(errors="replace")
    )

    def feed(self, piece: bytes) -> str:
        return self._decoder.decode(piece)

    def finish(self) -> str:
        return self._decoder.decode(b"", final=True)


@dataclass(slots=True)
class StopMatcher:
    """Releases text unless it could still become one of the stop strings.

    Generation stops at the first stop string to *complete* (as a token-by-token reader would see
    it), so the result does not depend on how the text was chunked.
    """

    stops: tuple[str, ...]
    _pending: str = ""
    stopped: bool = False
    matched: str | None = None  # the stop string that ended generation

    def feed(self, text: str) -> str:
        if self.stopped:
            return ""
        pending = self._pending + text
        hit = _first_completed(pending, self.stops)
        if hit >= 0:
            self.stopped = True
            self.matched = min((s for s in self.stops if pending.startswith(s, hit)), key=len)
            self._pending = ""
            return pending[:hit]
        keep = self._held_suffix(pending)
        self._pending = pending[len(pending) - keep :]
        return pending[: len(pending) - keep]

    def finish(self) -> str:
        """Releases what was held back when generation ends without a match."""
        out, self._pending = self._pending, ""
        return "" if self.stopped else out

    def _held_suffix(self, text: str) -> int:
        """Length of the longest suffix of `text` that is a proper prefix of a stop string."""
        best = 0
        for stop in self.stops:
            for n in range(min(len(stop) - 1, len(text)), best, -1):
                if text.endswith(stop[:n]):
                    best = n
                    break
        return best


def _first_completed(text: str, stops: tuple[str, ...]) -> int:
    """Start of the stop string that ends first in `text` (the longer one on a tie), or -1."""
    ends = [(start + len(stop), start) for stop in stops if (start := text.find(stop)) >= 0]
    return min(ends)[1] if ends else -1
