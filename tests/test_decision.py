"""The call/text decision at an auto-mode answer's opening (tools/decision.py), as pure logic."""

from __future__ import annotations

import numpy as np
import pytest

from fncall.tools.constraint import LazyGrammar
from fncall.tools.decision import DEFAULT, CallDecision, Thresholds, call_mass, parse

# A toy vocabulary: 0 = the call token, 1 = "```", 2 = "{", 3 = "To", 4 = "Please", 5 = "\n", 6 = "<".
PIECES = [b"", b"```", b"{", b"To", b"Please", b"\n", b"<"]
CALL = np.array([True, True, True, False, False, False, False])
FORCE = np.array([True, False, False, False, False, False, False])
TEXT = np.array([False, False, False, True, True, True, False])  # "<" barred as markup, call openers out


def logits_for(*probabilities: float) -> np.ndarray:
    return np.log(np.array(probabilities, dtype=np.float32))


def decision(threshold: float) -> CallDecision:
    return CallDecision(threshold, CALL, FORCE, TEXT)


def test_call_mass_is_the_softmax_share_of_the_class() -> None:
    x = logits_for(0.05, 0.17, 0.11, 0.18, 0.29, 0.05, 0.15)
    assert call_mass(x, CALL) == pytest.approx(0.33, abs=1e-6)


@pytest.mark.parametrize(
    ("probabilities", "threshold", "calls"),
    [
        # greedy would take "Please" (0.29), yet call-shaped openers hold 0.33 together
        ((0.05, 0.17, 0.11, 0.18, 0.29, 0.05, 0.15), 0.3, True),
        ((0.05, 0.17, 0.11, 0.18, 0.29, 0.05, 0.15), 0.4, False),
        # the call token alone above the threshold
        ((0.6, 0.0001, 0.0001, 0.2, 0.1, 0.0997, 0.0001), 0.5, True),
        # a fence that would win greedily, but the class is below the threshold: text, fence barred
        ((0.0001, 0.25, 0.0001, 0.2, 0.2, 0.2, 0.1498), 0.3, False),
    ],
)
def test_choose_forces_the_call_token_or_bars_call_openers(
    probabilities: tuple[float, ...], threshold: float, calls: bool
) -> None:
    mask = decision(threshold).choose(logits_for(*probabilities))
    assert mask.tolist() == (FORCE if calls else TEXT).tolist()


def test_steer_decides_only_while_the_answer_is_blank() -> None:
    lazy = LazyGrammar(0, None, [], lambda t: PIECES[t], None, len(PIECES), decision(0.3))
    call_heavy = logits_for(0.3, 0.1, 0.1, 0.2, 0.2, 0.05, 0.05)
    assert lazy.steer(call_heavy) is FORCE
    lazy.accept(5)  # a newline: still blank
    assert lazy.steer(call_heavy) is FORCE
    lazy.accept(3)  # "To": the answer is text now, plain sampling goes on
    assert lazy.steer(call_heavy) is None


def test_no_decision_without_a_rule() -> None:
    lazy = LazyGrammar(0, None, [], lambda t: PIECES[t], None, len(PIECES))
    assert lazy.steer(logits_for(0.9, 0.02, 0.02, 0.02, 0.02, 0.01, 0.01)) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("default", DEFAULT),
        ("off", None),
        ("0.25", Thresholds(first=0.25, after_results=0.25)),
        ("0.3, 0.5", Thresholds(first=0.3, after_results=0.5)),
    ],
)
def test_flag_values(text: str, expected: Thresholds | None) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize("text", ["1.5", "a,b", "0.1,0.2,0.3", "", "-0.1"])
def test_bad_flag_values(text: str) -> None:
    with pytest.raises(ValueError):
        parse(text)
