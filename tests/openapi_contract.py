"""Validate JSON bodies against OpenAI's published OpenAPI contract.

The contract is ``shared/openapi/openapi.yaml`` next to the repository (override with ``FNCALL_OPENAPI``).
It is OpenAPI 3.1 but keeps some OpenAPI 3.0 idioms, which :func:`convert_schema` rewrites into plain
JSON Schema 2020-12:

* ``nullable: true`` means "or null" (added to ``type`` and ``enum``, or wrapped as ``anyOf [..., null]``);
* boolean ``exclusiveMinimum``/``exclusiveMaximum`` modify ``minimum``/``maximum``;
* ``$recursiveRef: "#"`` (Draft 2019-09) points at the enclosing component.

``discriminator`` and ``x-stainless-const`` need no rewrite (``oneOf`` and one-item ``enum`` carry the
meaning) and ``format`` is not checked (``unixtime``, ``double``... are annotations here).

Cost: parsing the 3 MB YAML takes ~1.5 s, so the converted schemas are cached as JSON in
``.pytest_cache/d/openapi`` (override with ``FNCALL_OPENAPI_CACHE``), keyed by the sha256 of the spec and
of this file; a warm load takes ~20 ms.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, relevance
from referencing import Registry
from referencing.jsonschema import DRAFT202012

__all__ = ["ContractError", "convert_schema", "errors", "spec_path", "validate"]

_ROOT_URI = "urn:openai:openapi"
_SCHEMAS_POINTER = "#/components/schemas/"
# Keywords whose value maps names to schemas, and keywords whose value is data, not a schema.
_SCHEMA_MAPS = frozenset({"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"})
_DATA = frozenset({"enum", "const", "default", "required", "discriminator", "dependentRequired"})
# Dropped, with every "x-" extension: annotations that never affect validation (smaller cache), and the
# two OpenAPI-only keywords handled here.
_DROP = frozenset({"nullable", "description", "example", "examples", "$recursiveAnchor"})
_COMPOSITION = ("$ref", "allOf", "anyOf", "oneOf", "not", "const")
_RESOURCE = ("$schema", "$id", "$anchor", "$dynamicAnchor", "$defs", "definitions")
_MAX_MESSAGE = 240
_Schema = dict[str, Any]


class ContractError(AssertionError):
    """A JSON body does not match the OpenAPI contract; the message lists every violation by JSON path."""


def spec_path() -> Path:
    """The contract file: ``$FNCALL_OPENAPI`` or ``shared/openapi/openapi.yaml`` beside the repository."""
    override = os.environ.get("FNCALL_OPENAPI")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[1].parent / "shared" / "openapi" / "openapi.yaml"


def errors(component: str, instance: object) -> list[str]:
    """Every violation of ``#/components/schemas/<component>`` by ``instance``, as ``"$.path: message"``."""
    validator = _validator(spec_path(), component)
    found = sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path)))
    return [_describe(error) for error in found]


def validate(component: str, instance: object) -> None:
    """Raise :class:`ContractError` naming each JSON path where ``instance`` breaks the contract."""
    problems = errors(component, instance)
    if problems:
        lines = "\n".join(f"  {problem}" for problem in problems)
        raise ContractError(f"{component} does not match the OpenAI contract:\n{lines}")


def convert_schema(node: Any, *, component: str = "") -> Any:
    """Rewrite one OpenAPI schema (and its subschemas) into JSON Schema 2020-12; see the module docstring."""
    if isinstance(node, list):
        return [convert_schema(item, component=component) for item in node]
    if not isinstance(node, dict):
        return node
    out: _Schema = {}
    for key, value in node.items():
        if key in _DROP or key.startswith("x-"):
            continue
        if key in _DATA:
            out[key] = value
        elif key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: convert_schema(sub, component=component) for name, sub in value.items()}
        elif key == "$recursiveRef" and value == "#":
            out["$ref"] = _SCHEMAS_POINTER + component
        else:
            out[key] = convert_schema(value, component=component)
    _fix_exclusive_bounds(out)
    return _allow_null(out) if node.get("nullable") is True else out


def _fix_exclusive_bounds(schema: _Schema) -> None:
    for exclusive, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        flag = schema.get(exclusive)
        if isinstance(flag, bool):
            del schema[exclusive]
            if flag and bound in schema:
                schema[exclusive] = schema.pop(bound)


def _allow_null(schema: _Schema) -> _Schema:
    kind = schema.get("type")
    if isinstance(kind, str) and not any(key in schema for key in _COMPOSITION):
        # Widening in place keeps error messages flat ("'x' is not one of [...]") instead of anyOf noise.
        widened = {**schema, "type": [kind, "null"]}
        if "enum" in schema and None not in schema["enum"]:
            widened["enum"] = [*schema["enum"], None]
        return widened
    if not schema:
        return schema
    # Resource keywords stay outside the wrapper so "#/$defs/..." pointers still resolve.
    outer = {key: schema.pop(key) for key in _RESOURCE if key in schema}
    return {**outer, "anyOf": [schema, {"type": "null"}]}


def _describe(error: ValidationError) -> str:
    leaf = _most_specific(error)
    message = leaf.message if len(leaf.message) <= _MAX_MESSAGE else leaf.message[:_MAX_MESSAGE] + "..."
    return f"{leaf.json_path}: {message}"


def _most_specific(error: ValidationError) -> ValidationError:
    """Descend anyOf/oneOf failures into the branch the instance most nearly matches.

    jsonschema's ``best_match`` prefers the deepest error, which for a tagged union blames the wrong variant
    ("'function' is not one of ['custom']"). Branches that reject the instance's type or its tag field
    (``type``/``role``: a one-value enum) rank last, then branches with more errors.
    """
    while error.context:
        branches: dict[object, list[ValidationError]] = {}
        for sub in error.context:
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)
        closest = min(branches.values(), key=_mismatch)
        error = max(closest, key=relevance)
    return error


def _mismatch(branch: list[ValidationError]) -> tuple[bool, bool, int]:
    wrong_type = any(e.validator == "type" and not e.relative_path for e in branch)
    wrong_tag = any(_is_tag(e) and len(e.relative_path) == 1 for e in branch)
    return wrong_type, wrong_tag, len(branch)


def _is_tag(error: ValidationError) -> bool:
    return error.validator == "const" or (error.validator == "enum" and len(error.validator_value) == 1)


@functools.cache
def _validator(path: Path, component: str) -> Draft202012Validator:
    schemas = _schemas(path)
    if component not in schemas:
        close = difflib.get_close_matches(component, list(schemas), n=3)
        raise KeyError(f"{component!r} is not in {path} components.schemas; did you mean {close}?")
    root = DRAFT202012.create_resource({"components": {"schemas": schemas}})
    registry: Registry[Any] = Registry().with_resource(_ROOT_URI, root)
    return Draft202012Validator({"$ref": _ROOT_URI + _SCHEMAS_POINTER + component}, registry=registry)


@functools.cache
def _schemas(path: Path) -> dict[str, _Schema]:
    """Converted ``components.schemas`` of ``path``: ~1.5 s cold, ~20 ms from the JSON cache."""
    if not path.is_file():
        raise FileNotFoundError(
            f"OpenAPI contract not found at {path}; clone shared/ next to the repository "
            "or point FNCALL_OPENAPI at openapi.yaml"
        )
    raw = path.read_bytes()
    key = hashlib.sha256(raw + Path(__file__).read_bytes()).hexdigest()[:16]
    cache = _cache_dir() / f"schemas-{key}.json"
    try:
        cached: dict[str, _Schema] = json.loads(cache.read_text(encoding="utf-8"))
        return cached
    except (OSError, ValueError):
        pass
    schemas = _parse(raw)
    _write_cache(cache, schemas)
    return schemas


def _parse(raw: bytes) -> dict[str, _Schema]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: ~1.5 s here against ~7 s in pure Python
    spec = yaml.load(raw, Loader=loader)
    schemas = spec["components"]["schemas"]
    return {name: convert_schema(schema, component=name) for name, schema in schemas.items()}


def _cache_dir() -> Path:
    override = os.environ.get("FNCALL_OPENAPI_CACHE")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[1] / ".pytest_cache" / "d" / "openapi"


def _write_cache(cache: Path, schemas: dict[str, _Schema]) -> None:
    # Best effort: a read-only checkout just pays the parse every session. Stale keys are pruned, the
    # file is written atomically so a concurrent run never reads half of it; `default=str` covers YAML dates.
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        for stale in cache.parent.glob("schemas-*.json"):
            stale.unlink(missing_ok=True)
        partial = cache.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(json.dumps(schemas, default=str), encoding="utf-8")
        os.replace(partial, cache)
    except OSError:
        pass
