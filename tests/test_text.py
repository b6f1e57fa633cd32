"""Stop-string hold-back and UTF-8 streaming: any chunking gives the one-shot result."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fncall.engine.text import StopMatcher, Utf8Stream


def run_chunks(stops: tuple[str, ...], chunks: list[str]) -> tuple[str, bool]:
    matcher = StopMatcher(stops)
    out = "".join(matcher.feed(c) for c in chunks)
    return out + matcher.finish(), matcher.stopped


@pytest.mark.parametrize(
    ("stops", "chunks", "expected", "stopped"),
    [
        (("END",), ["hello EN", "D world"], "hello ", True),
        (("END",), ["hello E", "N", "X"], "hello ENX", False),
        (("\n\n", "###"), ["a\n", "b##", "#c"], "a\nb", True),
        (("ab", "b"), ["xab"], "x", True),
        ((), ["plain ", "text"], "plain text", False),
        (("stop",), ["sto"], "sto", False),  # held back, then released at the end
    ],
)
def test_stop_matcher_table(stops: tuple[str, ...], chunks: list[str], expected: str, stopped: bool) -> None:
    assert run_chunks(stops, chunks) == (expected, stopped)


def test_held_text_is_not_released_while_it_could_be_a_stop() -> None:
    matcher = StopMatcher(("<|end|>",))
    assert matcher.feed("answer <|e") == "answer "
    assert matcher.feed("nd|> tail") == ""
    assert matcher.stopped


def _splits(text: str, cuts: list[int]) -> list[str]:
    points = sorted({c % (len(text) + 1) for c in cuts})
    bounds = [0, *points, len(text)]
    return [text[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


@settings(max_examples=300, derandomize=True)
@given(
    text=st.text(alphabet="abEND\n#x", max_size=40),
    stops=st.lists(st.text(alphabet="abEND\n#", min_size=1, max_size=4), max_size=4).map(tuple),
    cuts=st.lists(st.integers(min_value=0, max_value=60), max_size=12),
)
def test_stop_matcher_any_chunking_equals_one_shot(
    text: str, stops: tuple[str, ...], cuts: list[int]
) -> None:
    one_shot = run_chunks(stops, [text])
    assert run_chunks(stops, _splits(text, cuts)) == one_shot
    assert run_chunks(stops, list(text)) == one_shot
    # and the one-shot answer is the text before the stop string that completes first
    ends = [(text.find(s) + len(s), text.find(s)) for s in stops if s in text]
    assert one_shot == ((text[: min(ends)[1]], True) if ends else (text, False))


@settings(max_examples=200, derandomize=True)
@given(text=st.text(max_size=30), cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=10))
def test_utf8_stream_never_emits_broken_characters(text: str, cuts: list[int]) -> None:
    data = text.encode("utf-8")
    points = sorted({c % (len(data) + 1) for c in cuts})
    bounds = [0, *points, len(data)]
    stream = Utf8Stream()
    pieces = [stream.feed(data[a:b]) for a, b in zip(bounds, bounds[1:], strict=False)]
    assert all("\ufffd" not in p for p in pieces)
    assert "".join(pieces) + stream.finish() == text


def test_the_stop_string_that_ended_the_text_is_named() -> None:
    matcher = StopMatcher(("abc", "ab", "zz"))
    assert matcher.feed("xxa") == "xx" and matcher.matched is None
    assert matcher.feed("bc") == "" and matcher.stopped and matcher.matched == "ab"
