"""The call/text decisions of auto mode (tools/decision.py), as pure logic on a toy vocabulary."""

from __future__ import annotations

import numpy as np
import pytest

from fncall.tools.constraint import LazyGrammar
from fncall.tools.decision import DEFAULT, CallDecision, Thresholds, parse

# 0 = the call token, 1 = "```", 2 = "{", 3 = "To", 4 = "Please", 5 = "\n", 6 = "<", 7 = end of turn,
# 8 = '"}' (a call object's last token)
PIECES = [b"", b"```", b"{", b"To", b"Please", b"\n", b"<", b"", b'"}']
CALL = np.array([1, 1, 0, 0, 0, 0, 0, 0, 0], dtype=bool)
TEXT_CLASS = np.array([0, 0, 0, 1, 1, 1, 0, 1, 1], dtype=bool)  # "{" and "<" count for neither side
FORCE = np.array([1, 0, 0, 0, 0, 0, 0, 0, 0], dtype=bool)
TEXT = np.array([0, 0, 0, 1, 1, 1, 0, 1, 1], dtype=bool)  # what a text answer may open with
END = np.array([0, 0, 0, 0, 0, 0, 0, 1, 0], dtype=bool)


def logits_for(*probabilities: float) -> np.ndarray:
    return np.log(np.array(probabilities, dtype=np.float32))


def decision(threshold: float | None = 0.3, more: float | None = 0.02) -> CallDecision:
    return CallDecision(threshold, more, CALL, TEXT_CLASS, FORCE, TEXT, END)


@pytest.mark.parametrize(
    ("probabilities", "threshold", "calls"),
    [
        # greedy takes "To" (0.3), but the fence holds 0.25 / (0.25 + 0.45) = 0.36 of call + text
        ((0.001, 0.25, 0.1, 0.3, 0.1, 0.049, 0.2, 0.0001, 0.0009), 0.3, True),
        ((0.001, 0.25, 0.1, 0.3, 0.1, 0.049, 0.2, 0.0001, 0.0009), 0.4, False),
        # much "{" and "<" (prompt echoes) do not make a call
        ((0.001, 0.05, 0.4, 0.2, 0.05, 0.0489, 0.25, 0.0001, 0.0001), 0.3, False),
        # the call token alone
        ((0.6, 0.0001, 0.0001, 0.2, 0.1, 0.0997, 0.0001, 0.0001, 0.0001), 0.5, True),
    ],
)
def test_opening_forces_the_call_token_or_bars_call_openers(
    probabilities: tuple[float, ...], threshold: float, calls: bool
) -> None:
    mask = decision(threshold).opening(logits_for(*probabilities))
    assert mask is not None and mask.tolist() == (FORCE if calls else TEXT).tolist()


def test_after_a_call_the_turn_stays_open_only_when_the_model_leans_on() -> None:
    allowed = np.array([0, 0, 0, 0, 0, 1, 0, 1, 0], dtype=bool)  # "\n" or the end, as after a call
    leaning_on = logits_for(0.001, 0.001, 0.001, 0.001, 0.001, 0.04, 0.001, 0.953, 0.001)  # P(not end) 0.047
    ending = logits_for(0.0001, 0.0001, 0.0001, 0.0001, 0.0001, 0.005, 0.0001, 0.9943, 0.0001)
    kept = decision(more=0.02).after_call(leaning_on, allowed)
    assert kept is not None and kept.tolist() == [0, 0, 0, 0, 0, 1, 0, 0, 0]
    assert decision(more=0.02).after_call(ending, allowed) is None
    assert decision(more=None).after_call(leaning_on, allowed) is None
    no_end = np.array([0, 0, 0, 0, 0, 1, 0, 0, 0], dtype=bool)  # the grammar does not allow ending here
    assert decision(more=0.02).after_call(leaning_on, no_end) is None


def test_steer_decides_only_while_the_answer_is_blank() -> None:
    lazy = LazyGrammar(0, None, [], lambda t: PIECES[t], None, len(PIECES), decision(0.3))
    call_heavy = logits_for(0.3, 0.2, 0.1, 0.2, 0.1, 0.05, 0.03, 0.01, 0.01)
    assert lazy.steer(call_heavy, None) is FORCE
    lazy.accept(5)  # a newline: still blank
    assert lazy.steer(call_heavy, None) is FORCE
    lazy.accept(3)  # "To": the answer is text now, plain sampling goes on
    assert lazy.steer(call_heavy, None) is None


def test_below_the_threshold_an_answer_to_a_user_opens_as_sampled() -> None:
    as_sampled = CallDecision(0.5, None, CALL, TEXT_CLASS, FORCE, None, END)
    below = logits_for(0.001, 0.25, 0.1, 0.3, 0.1, 0.049, 0.2, 0.0001, 0.0009)  # share 0.36
    assert as_sampled.opening(below) is None
    above = logits_for(0.001, 0.45, 0.1, 0.2, 0.1, 0.049, 0.1, 0.0001, 0.0009)  # share 0.61
    assert as_sampled.opening(above) is FORCE


def test_no_decision_without_a_rule() -> None:
    lazy = LazyGrammar(0, None, [], lambda t: PIECES[t], None, len(PIECES))
    assert lazy.steer(logits_for(0.9, 0.02, 0.02, 0.02, 0.02, 0.01, 0.005, 0.004, 0.001), None) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("default", DEFAULT),
        ("off", None),
        ("0.3, 0.5, 0.01", Thresholds(first=0.3, after_results=0.5, more=0.01)),
        ("off,0.1,off", Thresholds(first=None, after_results=0.1, more=None)),
    ],
)
def test_flag_values(text: str, expected: Thresholds | None) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize("text", ["1.5", "a,b,c", "0.1,0.2", "", "0.1,-0.1,0.2", "0.1,0.2,2"])
def test_bad_flag_values(text: str) -> None:
    with pytest.raises(ValueError):
        parse(text)


class FakeCallGrammar:
    """Stands in for an activated call grammar: only accept() is used by LazyGrammar.steer's logic."""

    def accept(self, token: int) -> None:
        pass


def test_the_turn_is_kept_open_after_each_call_until_one_repeats() -> None:
    lazy = LazyGrammar(0, None, [], lambda t: PIECES[t], None, len(PIECES), decision(None, more=0.02))
    lazy.active = FakeCallGrammar()  # type: ignore[assignment]
    may_end = np.array([0, 0, 0, 0, 0, 1, 0, 1, 0], dtype=bool)
    leaning_on = logits_for(0.001, 0.001, 0.001, 0.001, 0.001, 0.04, 0.001, 0.953, 0.001)
    lazy.accept(2)
    lazy.accept(3)  # inside the call: no decision
    assert lazy.steer(leaning_on, may_end) is None
    lazy.accept(8)  # '"}' closes the first call ('{To"}'): the end is barred
    kept = lazy.steer(leaning_on, may_end)
    assert kept is not None and not kept[7]
    lazy.accept(5)
    assert lazy.steer(leaning_on, may_end) is None  # not after a call's closing token
    for token in (2, 4, 8):  # a second, different call ('{Please"}'): kept open again
        lazy.accept(token)
    kept = lazy.steer(leaning_on, may_end)
    assert kept is not None and not kept[7]
    for token in (5, 2, 5, 3, 8):  # the first call again (whitespace aside): the model decides alone
        lazy.accept(token)
    assert lazy.steer(leaning_on, may_end) is None
    for token in (5, 2, 3, 3, 8):  # and from then on, even for a new call
        lazy.accept(token)
    assert lazy.steer(leaning_on, may_end) is None


def test_a_closing_brace_inside_the_arguments_is_not_the_end_of_a_call() -> None:
    lazy = LazyGrammar(0, None, [], lambda t: PIECES[t], None, len(PIECES), decision(None, more=0.02))
    lazy.active = FakeCallGrammar()  # type: ignore[assignment]
    leaning_on = logits_for(0.001, 0.001, 0.001, 0.001, 0.001, 0.04, 0.001, 0.953, 0.001)
    lazy.accept(8)  # a nested object closes; the grammar does not allow the end here
    assert lazy.steer(leaning_on, np.array([0, 0, 1, 0, 0, 1, 0, 0, 0], dtype=bool)) is None
    lazy.accept(8)  # the call itself closes: the first one, so the turn stays open
    kept = lazy.steer(leaning_on, np.array([0, 0, 0, 0, 0, 1, 0, 1, 0], dtype=bool))
    assert kept is not None and not kept[7]


BLANK = np.array([0, 0, 0, 0, 0, 1, 0, 0, 0], dtype=bool)  # "\n"


def test_the_keep_open_decision_is_made_after_the_newline_that_follows_a_call() -> None:
    gap_decision = CallDecision(None, 0.3, CALL, TEXT_CLASS, FORCE, TEXT, END, BLANK)
    lazy = LazyGrammar(0, None, [], lambda t: PIECES[t], None, len(PIECES), gap_decision)
    lazy.active = FakeCallGrammar()  # type: ignore[assignment]
    may_end = np.array([1, 1, 1, 0, 0, 1, 0, 1, 0], dtype=bool)  # a next call, a newline, or the end
    certain_end = logits_for(0.0001, 0.0001, 0.0001, 0.0001, 0.0001, 0.0005, 0.0001, 0.999, 0.0001)
    wants_more = logits_for(0.05, 0.4, 0.1, 0.001, 0.001, 0.1, 0.001, 0.346, 0.001)  # P(not end) 0.654
    done = logits_for(0.01, 0.1, 0.01, 0.001, 0.001, 0.05, 0.001, 0.826, 0.001)  # P(not end) 0.174
    lazy.accept(2)
    lazy.accept(8)  # '{"}' closes a call: whatever the model says here, only the newline may follow
    gap = lazy.steer(certain_end, may_end)
    assert gap is not None and gap.tolist() == BLANK.tolist()
    lazy.accept(5)  # after the newline the model's own split decides
    kept = lazy.steer(wants_more, may_end)
    assert kept is not None and not kept[7] and kept[0]
    assert lazy.steer(wants_more, may_end) is None  # one decision per call
    for token in (2, 3, 8):  # a second, different call
        lazy.accept(token)
    assert lazy.steer(certain_end, may_end) is not None  # the newline again
    lazy.accept(5)
    assert lazy.steer(done, may_end) is None  # the model leans to ending: it decides alone


def test_a_token_that_closes_the_call_and_the_line_decides_at_once() -> None:
    pieces = [*PIECES, b'"}\n']  # 9: the object's last token with its newline
    blank = np.append(BLANK, False)
    end = np.append(END, False)
    grow = lambda m: np.append(m, False)  # noqa: E731
    gap_decision = CallDecision(None, 0.3, grow(CALL), grow(TEXT_CLASS), grow(FORCE), grow(TEXT), end, blank)
    lazy = LazyGrammar(0, None, [], lambda t: pieces[t], None, len(pieces), gap_decision)
    lazy.active = FakeCallGrammar()  # type: ignore[assignment]
    may_end = np.array([1, 1, 1, 0, 0, 1, 0, 1, 0, 0], dtype=bool)
    wants_more = np.log(np.array([0.05, 0.4, 0.1, 0.001, 0.001, 0.1, 0.001, 0.345, 0.001, 0.001], np.float32))
    lazy.accept(2)
    lazy.accept(9)
    kept = lazy.steer(wants_more, may_end)
    assert kept is not None and not kept[7] and kept[0]
