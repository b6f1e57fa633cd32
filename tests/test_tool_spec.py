"""Validation of tools, tool_choice and parallel_tool_calls (pure logic)."""

from __future__ import annotations

from typing import Any

import pytest

from fncall.tools.grammar import arguments_schema
from fncall.tools.spec import ToolSpecError, parse_tool_request


def tool(name: str = "get_weather", parameters: Any = None, **extra: Any) -> dict[str, Any]:
    function: dict[str, Any] = {"name": name, **extra}
    if parameters is not None:
        function["parameters"] = parameters
    return {"type": "function", "function": function}


WEATHER = tool(
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
)


def test_defaults_are_auto_and_parallel() -> None:
    req = parse_tool_request([WEATHER, tool("other")], None, None)
    assert req is not None
    assert (req.mode, req.parallel, req.allowed) == ("auto", True, ("get_weather", "other"))
    assert req.tools[1].parameters == {"type": "object", "properties": {}}


def test_named_choice_means_exactly_one_call_to_it() -> None:
    req = parse_tool_request(
        [WEATHER, tool("other")], {"type": "function", "function": {"name": "other"}}, True
    )
    assert req is not None
    assert (req.mode, req.allowed, req.parallel) == ("required", ("other",), False)


def test_allowed_tools_subset() -> None:
    choice = {
        "type": "allowed_tools",
        "allowed_tools": {"mode": "required", "tools": [{"type": "function", "function": {"name": "other"}}]},
    }
    req = parse_tool_request([WEATHER, tool("other")], choice, None)
    assert req is not None
    assert (req.mode, req.allowed) == ("required", ("other",))
    assert [t.name for t in req.callable_tools] == ["other"]


def test_no_tools_means_no_request() -> None:
    assert parse_tool_request(None, None, None) is None
    assert parse_tool_request([], "none", None) is None


@pytest.mark.parametrize(
    ("tools", "choice", "param"),
    [
        ([tool("bad name")], None, "tools[0].function.name"),
        ([tool("x" * 65)], None, "tools[0].function.name"),
        ([tool("a"), tool("a")], None, "tools[1].function.name"),
        ([{"type": "retrieval"}], None, "tools[0].type"),
        (
            [tool(parameters={"type": "object", "properties": {"a": {"type": "nonsense"}}})],
            None,
            "tools[0].function.parameters",
        ),
        ([tool(parameters={"type": "string"})], None, "tools[0].function.parameters"),
        ([tool(parameters=[1, 2])], None, "tools[0].function.parameters"),
        ([tool(strict="yes")], None, "tools[0].function.strict"),
        ([WEATHER], {"type": "function", "function": {"name": "nope"}}, "tool_choice.function.name"),
        ([WEATHER], "sometimes", "tool_choice"),
        ([WEATHER], {"type": "custom"}, "tool_choice.type"),
        (None, "required", "tool_choice"),
        ([tool(parameters={"type": "object", "properties": {}})], None, None),
    ],
)
def test_invalid_tools_name_the_param(tools: Any, choice: Any, param: str | None) -> None:
    if param is None:
        assert parse_tool_request(tools, choice, None) is not None
        return
    with pytest.raises(ToolSpecError) as info:
        parse_tool_request(tools, choice, None)
    assert info.value.param == param


def test_too_deep_or_too_many() -> None:
    deep: dict[str, Any] = {"type": "string"}
    for _ in range(40):
        deep = {"type": "object", "properties": {"x": deep}}
    with pytest.raises(ToolSpecError, match="deeper"):
        parse_tool_request([tool(parameters=deep)], None, None)
    with pytest.raises(ToolSpecError, match="At most"):
        parse_tool_request([tool(f"t{i}") for i in range(129)], None, None)


def test_objects_are_closed_unless_extra_keys_are_asked_for() -> None:
    params = {
        "type": "object",
        "properties": {"a": {"type": "object", "properties": {"b": {"type": "integer"}}}},
        "additionalProperties": True,
    }
    req = parse_tool_request(
        [tool(parameters=params, strict=True), tool("loose", parameters=params)], None, None
    )
    assert req is not None
    strict, loose = (arguments_schema(t) for t in req.tools)
    assert strict["additionalProperties"] is False  # strict closes even an explicitly open object
    assert strict["properties"]["a"]["additionalProperties"] is False
    assert loose["additionalProperties"] is True  # non-strict keeps what the schema asks for
    assert loose["properties"]["a"]["additionalProperties"] is False  # and closes the unspecified
