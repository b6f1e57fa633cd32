"""The extraction benchmark's cases and scoring rule (bench/extraction_cases.py); no model needed."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from bench.extraction_cases import CASES, lookup, normalise, same, wrong_fields


@pytest.mark.parametrize(
    ("expected", "got"),
    [
        ("ACME Corp", "  acme   corp. "),
        ("Straße", "STRASSE"),  # case-folded
        ("Ｆull width", "full width"),  # NFKC
        (3, 3.0),
        (17.1, 17.100000001),
        (None, None),
        (["Omar", "Ines"], ["omar", "ines."]),
        (True, True),
    ],
)
def test_same_after_normalisation(expected: Any, got: Any) -> None:
    assert same(expected, got)


@pytest.mark.parametrize(
    ("expected", "got"),
    [
        ("2024-03-03", "2024-3-3"),  # a date must be in the schema's form
        ("LO 281", "LO281"),
        (3, 4),
        (1, True),  # a boolean is not a number
        (False, 0),
        (["Omar", "Ines"], ["Ines", "Omar"]),  # order counts
        (["Omar"], ["Omar", "Kai"]),
        ("x", None),
    ],
)
def test_different(expected: Any, got: Any) -> None:
    assert not same(expected, got)


def test_lookup_and_wrong_fields() -> None:
    answer = {"a": {"b": [{"c": "X"}, {"c": "y"}]}, "n": 2}
    assert lookup(answer, "a.b.1.c") == "y"
    expected = {"a.b.0.c": "x", "a.b.1.c": "z", "a.b.2.c": "w", "n": 2, "missing": None}
    assert wrong_fields(expected, answer) == ["a.b.1.c", "a.b.2.c"]
    assert normalise(" A  b. ") == "a b"


def test_cases_are_enough_and_well_formed() -> None:
    assert len(CASES) >= 50
    assert len({c.id for c in CASES}) == len(CASES)
    assert sum(c.expected is not None for c in CASES) >= 20
    for case in CASES:
        jsonschema.Draft202012Validator.check_schema(case.schema)


@pytest.mark.parametrize("case", [c for c in CASES if c.expected], ids=lambda c: c.id)
def test_labels_name_schema_fields_with_valid_values(case: Any) -> None:
    """Every labelled path exists in the schema and its value is valid there (so a label cannot be
    unreachable for a schema-valid answer)."""
    for path, value in case.expected.items():
        node = case.schema
        for part in path.split("."):
            node = node["items"] if part.isdigit() else node["properties"][part]
        if value is not None:
            jsonschema.validate(value, node, format_checker=jsonschema.FormatChecker())
