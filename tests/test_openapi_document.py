"""Our published OpenAPI document (`/openapi.json`) and docs page, without a server."""

from __future__ import annotations

import json
from typing import Any

from fncall.api.docs import _PAGE as DOCS_PAGE
from fncall.api.openapi import openapi_document
from fncall.api.protocol import ChatCompletionRequest, CompletionRequest


def document(secured: bool = False) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(openapi_document(secured))
    return doc


def keys(node: Any) -> set[str]:
    if isinstance(node, dict):
        return set(node) | {k for v in node.values() for k in keys(v)}
    if isinstance(node, list):
        return {k for v in node for k in keys(v)}
    return set()


def test_routes_and_components() -> None:
    doc = document()
    assert doc["openapi"].startswith("3.1")
    assert set(doc["paths"]) == {
        "/v1/chat/completions",
        "/v1/responses",
        "/v1/responses/{response_id}",
        "/v1/responses/{response_id}/input_items",
        "/v1/completions",
        "/v1/models",
        "/v1/models/{model}",
        "/health",
        "/metrics",
    }
    schemas = doc["components"]["schemas"]
    assert {"ChatCompletionRequest", "ChatCompletion", "ModelList", "Model", "ErrorResponse"} <= set(schemas)
    assert {"CompletionRequest", "TextCompletion"} <= set(schemas)
    post = doc["paths"]["/v1/chat/completions"]["post"]
    assert set(post["responses"]["200"]["content"]) == {"application/json", "text/event-stream"}
    assert {"400", "401", "404", "413", "429", "503", "504"} <= set(post["responses"])


def test_request_schema_is_the_parsers_and_uses_json_schema_keywords() -> None:
    request = document()["components"]["schemas"]["ChatCompletionRequest"]
    assert set(request["properties"]) == set(ChatCompletionRequest.model_fields)
    roles = request["properties"]["messages"]["items"]["oneOf"]
    assert len(roles) == 5  # one schema per role, as in OpenAI's
    n = request["properties"]["n"]["anyOf"][0]
    assert (n["minimum"], n["maximum"]) == (1, 128)
    assert not keys(document()) & {"ge", "le", "gt", "lt"}  # pydantic's names are no JSON Schema
    legacy = document()["components"]["schemas"]["CompletionRequest"]
    assert set(legacy["properties"]) == set(CompletionRequest.model_fields)
    assert legacy["required"] == ["model", "prompt"]


def test_security_is_declared_only_when_keys_are_set() -> None:
    assert "security" not in document(False)["paths"]["/v1/models"]["get"]
    assert document(True)["paths"]["/v1/models"]["get"]["security"] == [{"bearerAuth": []}]
    assert "security" not in document(True)["paths"]["/health"]["get"]


def test_docs_page_loads_swagger_ui_from_the_package() -> None:
    assert "docs/assets/swagger-ui-bundle.js" in DOCS_PAGE and "https://" not in DOCS_PAGE


def test_mounted_paths_are_merged_in() -> None:
    extra = {"/x": {"get": {"operationId": "x", "responses": {"200": {"description": "x"}}}}}
    doc = json.loads(openapi_document(False, json.dumps(extra)))
    assert doc["paths"]["/x"] == extra["/x"] and "/v1/models" in doc["paths"]


def test_the_responses_routes_are_described_by_their_parser() -> None:
    from fncall.api.responses.protocol import ResponsesRequest

    doc = document(True)
    schemas = doc["components"]["schemas"]
    assert set(schemas["ResponsesRequest"]["properties"]) == set(ResponsesRequest.model_fields)
    assert {"ResponseObject", "ResponseItemList", "DeletedResponse"} <= set(schemas)
    stored = doc["paths"]["/v1/responses/{response_id}"]
    assert set(stored) == {"get", "delete"} and stored["get"]["security"] == [{"bearerAuth": []}]
    listed = doc["paths"]["/v1/responses/{response_id}/input_items"]["get"]
    assert [p["name"] for p in listed["parameters"]] == ["response_id", "limit", "order", "after"]
    assert not keys(doc) & {"ge", "le", "gt", "lt"}
