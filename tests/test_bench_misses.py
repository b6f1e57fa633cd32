"""The BFCL multi-turn benchmark's miss classes (bench/multi_turn_misses.py); no model needed."""

from __future__ import annotations

import pytest
from bench.multi_turn_misses import MISSES, classify, name

TRUTH = [["cd(folder='doc')", "mkdir(dir_name='tmp')"], ["ls()"], []]


def test_name_is_the_text_before_the_arguments() -> None:
    assert name("mv(source='a(b)', destination='c')") == "mv"
    assert name("sort('x')") == "sort"


@pytest.mark.parametrize(
    ("turns", "expected"),
    [
        ([[["cd(folder='doc')"]]], ("missing calls", 0)),
        ([[["cd(folder='doc')", "mkdir(dir_name='tmp')"], ["ls()"]], [["ls()"]]], ("extra calls", 0)),
        ([[], [["ls()"]], []], ("answered without calls", 0)),
        ([[["mkdir(dir_name='tmp')"], ["cd(folder='doc')"]], [], []], ("answered without calls", 1)),
        ([[["cd(folder='x')", "touch(file_name='y')"]], [["ls()"]], []], ("other functions", 0)),
        (
            [[["cd(folder='doc')", "mkdir(dir_name='tmp')"]], [["ls()"]], [["pwd()"]]],
            ("called when nothing was due", 2),
        ),
        ([[["cd(folder='doc')", "mkdir(dir_name='tmp')"]]], ("ended early", 1)),
        # names right in every turn (split over steps, any order): the failure is in the values or order
        ([[["mkdir(dir_name='x')"], ["cd(folder='doc')"]], [["ls()"]], []], ("arguments or order", 0)),
    ],
)
def test_first_differing_turn_is_classified(turns: list[list[list[str]]], expected: tuple[str, int]) -> None:
    assert classify(turns, TRUTH) == expected
    assert expected[0] in MISSES
