"""Why a BFCL multi-turn task failed, in words a reader can count: the first turn whose calls differ from
the ground truth's by function name, classified (no imports, so tests need neither bfcl-eval nor a model).

BFCL's checker says *that* a turn failed (state or execution results differ); this says what the model
did there: answered without calling, stopped short, called more, called other functions, or called the
right functions with wrong arguments (names match in every turn).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

MISSES = (
    "ended early",  # fewer turns than the task (steps limit, server error)
    "answered without calls",  # a turn that needed calls got text only
    "called when nothing was due",  # a turn whose ground truth has no calls
    "missing calls",  # a strict subset of the needed calls
    "extra calls",  # every needed call and more
    "other functions",  # different functions
    "arguments or order",  # the right functions in every turn
)


def name(call: str) -> str:
    """`cd(folder='x')` -> `cd`."""
    return call.split("(", 1)[0].strip()


def classify(turns: Sequence[Sequence[Sequence[str]]], truth: Sequence[Sequence[str]]) -> tuple[str, int]:
    """The class of a failed task and the (0-based) turn it is read from.

    `turns`: per turn, per step, the model's calls as BFCL strings; `truth`: per turn, the needed calls.
    """
    for index, needed in enumerate(truth):
        if index >= len(turns):
            return "ended early", index
        made = Counter(name(c) for step in turns[index] for c in step)
        want = Counter(name(c) for c in needed)
        if made == want:
            continue
        if not made:
            return "answered without calls", index
        if not want:
            return "called when nothing was due", index
        if made < want:
            return "missing calls", index
        if want < made:
            return "extra calls", index
        return "other functions", index
    return "arguments or order", 0
