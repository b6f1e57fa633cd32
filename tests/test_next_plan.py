"""Which plan a completion hands over to when its attempt is dropped unseen (api/generation.py)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from fncall.api.generation import _next_plan
from fncall.api.translate import Plan
from fncall.engine.sampling import SamplingParams
from fncall.engine.sequence import Finished, GenerationRequest, TextDelta


def plan(**kw: Any) -> Plan:
    return Plan(GenerationRequest((1, 2, 3), SamplingParams()), None, **kw)


RETRY, ANSWER = plan(), plan()
AFTER_RESULTS = plan(retry=RETRY, answer=ANSWER)


def builder(*, repeated: bool = False, ungrounded: bool = False, n_calls: int = 0) -> Any:
    return SimpleNamespace(repeated=repeated, ungrounded=ungrounded, n_calls=n_calls)


def test_a_repeated_answered_call_after_a_decision_hands_over_to_the_answer() -> None:
    assert _next_plan(AFTER_RESULTS, builder(repeated=True), TextDelta("x")) is ANSWER


def test_a_repeat_without_an_answer_plan_is_retried_without_tools() -> None:
    assert _next_plan(plan(retry=RETRY), builder(repeated=True), TextDelta("x")) is RETRY
    # the answer's own plan carries the retry only: a repeat there ends in the tool-less conversation
    answer = plan(retry=RETRY)
    assert _next_plan(answer, builder(repeated=True), Finished("stop", 40, 9)) is RETRY


def test_text_chosen_after_results_ends_empty_and_hands_over_to_the_answer() -> None:
    assert _next_plan(AFTER_RESULTS, builder(), Finished("stop", 40, 0)) is ANSWER


def test_anything_written_is_kept() -> None:
    assert _next_plan(AFTER_RESULTS, builder(), Finished("stop", 40, 3)) is None
    assert _next_plan(AFTER_RESULTS, builder(n_calls=1), Finished("stop", 40, 0)) is None
    assert _next_plan(AFTER_RESULTS, builder(), TextDelta("")) is None
    assert _next_plan(plan(), builder(), Finished("stop", 40, 0)) is None  # no answer plan: an empty reply


def test_a_made_up_first_call_hands_over_to_the_text_plan() -> None:
    text = plan()
    assert _next_plan(plan(text=text), builder(ungrounded=True), TextDelta("x")) is text
    # after results the text plan is the answer's (translate.generation_plan); a repeat goes first
    after = plan(retry=RETRY, answer=ANSWER, text=ANSWER)
    assert _next_plan(after, builder(repeated=True, ungrounded=True), TextDelta("x")) is ANSWER
