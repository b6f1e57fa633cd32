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

# Tokens whose class is neither call nor text at an answer's opening (after whitespace): `{`, `{{`, `[` and
# `<` open a call in some spellings, and also start echoes of the prompt's markup and of tool results
# (`<tools>`, `{"name": …, "response": …}`) and are common in answers to requests no tool serves; they
# are barred there and left out of both sides of the comparison.
NEITHER = ("{", "[", "<")
# Call-shaped openers counted for a call (besides the format's own call token): the Markdown fence.
CALL_OPENERS = ("```",)


@dataclass(slots=True, frozen=True, kw_only=True)
class Thresholds:
    """Where the call/text decisions are made, and the probabilities they need; None = no decision there
    (see DEFAULT for the values and why)."""

    first: float | None  # opening of an answer to a user message: the call class's share of call + text
    after_results: float | None  # the same, right after tool results
    more: float | None  # after each call's newline: P(not ending the turn) from which it stays open

    def __post_init__(self) -> None:
        for name in ("first", "after_results", "more"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise ValueError(f"call threshold {name} must be between 0 and 1, got {value}")


# Calibrated on the development split with bench/decision_probe.py (BFCL v4 cases 20-39 of each
# single-turn category, the dev half of bench/scenarios.py); measured end to end on the test split
# (README, "Call decisions"). `more` was 0.015 until a fresh dev probe (2026-12-06) put 158 of 170
# after-a-call points right at 0.005 against 148 (19 -> 3 needed next calls cut off, 3 -> 9 turns kept
# open for nothing); on the test split BFCL mean 76 -> 79 % (parallel 60 -> 70, parallel_multiple
# 65 -> 70, the rest unchanged), agent tasks unchanged at 21 of 36. `first` was 0.5 until the dev
# probe's openings between 0.4 and 0.5 turned out to want a call 6 times and text twice: a sampled
# several-item request ("Tokyo and Paris") puts 0.41-0.43 on the call class and at 0.5 drew prose in
# 2-4 of 10 runs; at 0.4 it calls in 10 of 10. BFCL dev 78 -> 78 %, test 78 -> 79 % (one near-tie
# flip each way), agent tasks unchanged at 23 of 36 (README, "Call decisions"). `more` has applied after
# every call of an answer (not only the first) since 2026-12-07: dev answers replayed whole, 63 -> 80 of 84
# right at 0.005 (0.004: 81, within one answer, so unchanged); BFCL test 78 -> 80 %.
# `more` is read after the newline that follows a call's object since 2026-12-07 (tools/constraint.py): at the
# closing brace Qwen2.5-Coder put 0.995-0.999 on ending whether or not a next call was wanted, after the
# newline it spreads its mass, and there no threshold beat its own choice on the dev split's 143 points
# after a call in its own answers (bench/after_call_probe.py: 138 right at 1, 136 at 0.9, 112 at 0.5; 0.95's
# 139 counts one point the model ends right after anyway). So 1: the turn never ends at the brace, and after
# the newline the model decides. BFCL dev 76 -> 79 %, test 80 -> 80 % (with the repeat cut, api/choices.py).
DEFAULT = Thresholds(first=0.4, after_results=0.1, more=1.0)


def parse(text: str) -> Thresholds | None:
    """`--call-threshold`: 'default', 'off', or 'FIRST,AFTER_RESULTS,MORE', each 0..1 or 'off'."""
    text = text.strip().lower()
    if text == "default":
        return DEFAULT
    if text == "off":
        return None
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 3:
        raise ValueError(
            "--call-threshold takes 'default', 'off', or three values 'FIRST,AFTER_RESULTS,MORE'"
        )
    try:
        first, after, more = (None if p == "off" else float(p) for p in parts)
    except ValueError as exc:
        raise ValueError(f"--call-threshold: not a number in {text!r}") from exc
    return Thresholds(first=first, after_results=after, more=more)


@dataclass(slots=True, frozen=True)
class CallDecision:
    """One request's decision rules, with vocabulary masks built once per model and shared."""

    threshold: float | None  # opening: call when the call class's share >= this; None = no decision
    more: float | None  # after a call: keep the turn open when P(not ending) >= this; None = never
    call: npt.NDArray[np.bool_]  # the call class: the format's call token and fences
    text_class: npt.NDArray[np.bool_]  # the text class: neither call-shaped nor in NEITHER
    force: npt.NDArray[np.bool_]  # only the format's call token
    text: npt.NDArray[np.bool_] | None  # below the threshold: what the opening may be; None = as it is
    end: npt.NDArray[np.bool_]  # end-of-turn tokens
    blank: npt.NDArray[np.bool_] | None = None  # whitespace-only tokens: the gap after a call's object

    def opening(self, logits: npt.NDArray[np.float32]) -> npt.NDArray[np.bool_] | None:
        """The mask for an answer's opening token: the call token alone when the call class's share of
        call + text reaches the threshold, else `text` (None: the opening is sampled as it is)."""
        if self.threshold is None:
            return None
        p = softmax(logits)
        call, text = float(p[self.call].sum()), float(p[self.text_class].sum())
        share = call / (call + text) if call + text > 0 else 0.0
        return self.force if share >= self.threshold else self.text

    def after_call(
        self, logits: npt.NDArray[np.float32], allowed: npt.NDArray[np.bool_]
    ) -> npt.NDArray[np.bool_] | None:
        """Right after a complete call: `allowed` without the end-of-turn tokens when the model's own
        P(not ending) reaches `more` (the model then writes its next call), else None."""
        if self.more is None or not allowed[self.end].any():
            return None
        if 1.0 - float(softmax(logits)[self.end].sum()) < self.more:
            return None
        return allowed & ~self.end


def softmax(logits: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    weights: npt.NDArray[np.float32] = np.exp(logits.astype(np.float32) - float(logits.max()))
    weights /= weights.sum()
    return weights
