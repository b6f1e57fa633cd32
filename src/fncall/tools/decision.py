"""Call or talk: the decision at the opening of an `auto`-mode answer, made on classes of tokens.

A small model spreads its "I will call a function" intent over several spellings: its own call token,
a Markdown fence, a bare `{`, Qwen's template-taught `{{`, a `[`. Greedy decoding compares single tokens,
so a prose opener with 0.18 beats a call split into 0.17 + 0.11 + … and the request gets an explanation
instead of calls. Here the decision weighs the classes: when the call-shaped openers together hold at
least `threshold` of the probability, the answer opens with the format's own call token (from which the
model writes every call the request needs, and the grammar holds them to the tools); otherwise it opens
with text, and the call-shaped openers are barred from that first position so no half-call is written.

Within the chosen class, sampling goes on as the request asks (temperature, top_p, …); the class choice
itself is made on the model's own probabilities (temperature 1), the same for greedy and sampled requests.
The thresholds are calibrated on a development split and measured end to end on a separate one (see
README, "Call decisions", and bench/decision_probe.py); the reasons for each value are written next to it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

# Tokens that open a call in some spelling this model family actually writes (after whitespace):
# a fence (```json {"name": …}), a bare JSON object ({"name": …} after tool results, Llama-style),
# Qwen's `{{"name": …}}` (the braces of its template's own instructions), a JSON list of calls.
CALL_OPENERS = ("```", "{", "[")


@dataclass(slots=True, frozen=True, kw_only=True)
class Thresholds:
    """Call when P(call-shaped openers) >= the threshold for that point of the conversation."""

    first: float  # the answer to a user message
    after_results: float  # the answer right after tool results: a further call, or the answer

    def __post_init__(self) -> None:
        for name in ("first", "after_results"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"call threshold {name} must be between 0 and 1, got {value}")


# Calibrated on the development split (bench/decision_probe.py; BFCL cases 20-39 of each category and
# the dev half of bench/scenarios.py); see README for the measured effect on the test split.
DEFAULT = Thresholds(first=0.3, after_results=0.3)


def parse(text: str) -> Thresholds | None:
    """`--call-threshold`: 'default', 'off', one value for both points, or 'FIRST,AFTER_RESULTS'."""
    text = text.strip().lower()
    if text == "default":
        return DEFAULT
    if text == "off":
        return None
    parts = [p.strip() for p in text.split(",")]
    if len(parts) not in (1, 2):
        raise ValueError("--call-threshold takes 'off', one value, or two values 'FIRST,AFTER_RESULTS'")
    try:
        values = [float(p) for p in parts]
    except ValueError as exc:
        raise ValueError(f"--call-threshold: not a number in {text!r}") from exc
    return Thresholds(first=values[0], after_results=values[-1])


@dataclass(slots=True, frozen=True)
class CallDecision:
    """One request's decision rule, with its vocabulary masks (built once per model, shared)."""

    threshold: float
    call: npt.NDArray[np.bool_]  # call-shaped openers, the format's call token included
    force: npt.NDArray[np.bool_]  # only the format's call token
    text: npt.NDArray[np.bool_]  # what a text answer may open with (call-shaped and barred tokens out)

    def choose(self, logits: npt.NDArray[np.float32]) -> npt.NDArray[np.bool_]:
        """The mask for this opening token: the call token alone, or the text openers."""
        return self.force if call_mass(logits, self.call) >= self.threshold else self.text


def call_mass(logits: npt.NDArray[np.float32], call: npt.NDArray[np.bool_]) -> float:
    """Softmax probability (temperature 1) of the tokens in `call`."""
    top = float(logits.max())
    weights = np.exp(logits.astype(np.float32) - top)
    return float(weights[call].sum() / weights.sum())
