"""BFCL (bfcl-eval) data, schemas and checker, adapted for an OpenAI-compatible server; used by bfcl.py.

Follows BFCL's own OpenAI function-calling handler (`bfcl_eval/model_handler/utils.py: convert_to_tool`):
"." in names becomes "_", Gorilla types become JSON Schema, floats and functions get BFCL's prompt hints.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema

CHECKER_MODEL = "fncall"  # the model name we hand BFCL's checker; see load_checker
INSTALL_HINT = "bfcl-eval is not installed: run `.venv/bin/pip install --no-deps bfcl-eval`."
# BFCL v4 file stems; v3 called simple_python "simple".
V3_NAMES = {"simple_python": "simple"}
TYPES = {
    "integer": "integer",
    "number": "number",
    "float": "number",
    "double": "number",
    "string": "string",
    "boolean": "boolean",
    "bool": "boolean",
    "array": "array",
    "list": "array",
    "tuple": "array",
    "dict": "object",
    "object": "object",
}
PYTHON_HINT = " Note that the provided function is in Python 3 syntax."  # what BFCL appends for Python
FLOAT_HINT = " This is a float type value."  # what BFCL appends to float parameters

Checker = Callable[[list[Any], list[dict[str, Any]], list[Any], Any, str, str], dict[str, Any]]


def package_dir() -> Path:
    spec = importlib.util.find_spec("bfcl_eval")
    if spec is None or spec.origin is None:
        raise SystemExit(INSTALL_HINT)
    return Path(spec.origin).parent


def _data_file(folder: Path, category: str) -> Path:
    for version, stem in (("v4", category), ("v3", V3_NAMES.get(category, category))):
        path = folder / f"BFCL_{version}_{stem}.json"
        if path.exists():
            return path
    raise SystemExit(f"no BFCL data file for category {category!r} in {folder}")


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def load_category(category: str) -> list[dict[str, Any]]:
    """Test entries of one category, each with its `ground_truth` (absent for irrelevance) merged in."""
    data = package_dir() / "data"
    entries = _read_jsonl(_data_file(data, category))
    if category != "irrelevance":
        answers = {
            a["id"]: a["ground_truth"] for a in _read_jsonl(_data_file(data / "possible_answer", category))
        }
        for entry in entries:
            entry["ground_truth"] = answers[entry["id"]]
    return entries


def load_checker() -> tuple[Checker, Any]:
    """BFCL's `ast_checker` and `Language.PYTHON`, without importing BFCL's model handlers.

    ast_checker.py imports `MODEL_CONFIG_MAPPING` from `bfcl_eval.constants.model_config`, which imports
    every provider SDK (anthropic, google-genai, boto3, ...) that a `--no-deps` install lacks. The checker
    only reads `.underscore_to_dot` from it (in `convert_func_name`, for dotted names), so we register a stub
    module with one entry before importing. Since we map tool names back to BFCL's dotted names ourselves,
    the stub says `underscore_to_dot=False` and the checker compares names as they are.
    """
    package_dir()
    stub_name = "bfcl_eval.constants.model_config"
    if stub_name not in sys.modules:
        stub = types.ModuleType(stub_name)
        stub.MODEL_CONFIG_MAPPING = {CHECKER_MODEL: types.SimpleNamespace(underscore_to_dot=False)}  # type: ignore[attr-defined]
        sys.modules[stub_name] = stub
    checker = importlib.import_module("bfcl_eval.eval_checker.ast_eval.ast_checker")
    enums = importlib.import_module("bfcl_eval.constants.enums")
    return checker.ast_checker, enums.Language.PYTHON


def to_schema(param: Mapping[str, Any]) -> dict[str, Any]:
    """One BFCL parameter as JSON Schema: Gorilla types mapped, recursively in properties and items."""
    out = {k: v for k, v in param.items() if k not in ("type", "properties", "items")}
    kind = param.get("type")
    if kind == "float":
        out["description"] = str(out.get("description", "")) + FLOAT_HINT
    if kind != "any":  # "any" accepts any JSON value: no type at all
        out["type"] = TYPES.get(str(kind), "string")
    if "properties" in param:
        out["properties"] = {name: to_schema(p) for name, p in param["properties"].items()}
    if "items" in param:
        out["items"] = to_schema(param["items"])
    return out


def to_tools(functions: Sequence[Mapping[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """OpenAI tools for BFCL functions, and the map from tool name back to BFCL's (possibly dotted) name."""
    tools, names = [], {}
    for fn in functions:
        name = fn["name"].replace(".", "_")
        names[name] = fn["name"]
        parameters = to_schema(fn["parameters"]) | {"type": "object"}
        description = str(fn.get("description", "")) + PYTHON_HINT
        tools.append(
            {
                "type": "function",
                "function": {"name": name, "description": description, "parameters": parameters},
            }
        )
    return tools, names


@dataclass(slots=True)
class Decoded:
    """A reply's tool calls in BFCL's model-output shape, plus why any call was invalid."""

    calls: list[dict[str, Any]]
    invalid: list[str]
    unparsable: bool = False  # some call's arguments were not JSON: BFCL scores the whole reply wrong


def decode_calls(
    raw: Sequence[Mapping[str, str]], tools: Sequence[Mapping[str, Any]], names: Mapping[str, str]
) -> Decoded:
    """`raw` is [{"name", "arguments"}] as the server sent them; `names` maps back to BFCL's dotted names."""
    schemas = {t["function"]["name"]: t["function"]["parameters"] for t in tools}
    decoded = Decoded([], [])
    for call in raw:
        name = call["name"]
        try:
            args = json.loads(call["arguments"])
        except json.JSONDecodeError as exc:
            decoded.invalid.append(f"{name}: arguments are not JSON ({exc})")
            decoded.unparsable = True
            continue
        if name not in schemas:
            decoded.invalid.append(f"{name}: no such tool")
        elif not isinstance(args, dict):
            decoded.invalid.append(f"{name}: arguments are not an object")
        else:
            error = jsonschema.exceptions.best_match(
                jsonschema.Draft202012Validator(schemas[name]).iter_errors(args)
            )
            if error is not None:
                decoded.invalid.append(f"{name}: schema violation: {error.message}")
        decoded.calls.append({names.get(name, name): args})
    return decoded
