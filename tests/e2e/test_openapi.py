"""The OpenAPI document is complete: every answer a route sends has a concrete schema, every
error is a problem document, every route names the bearer scheme; and 405 says what is
allowed."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}


def operations(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        f"{method.upper()} {path}": operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }


def is_concrete(schema: dict[str, Any], components: dict[str, Any]) -> bool:
    """A named model with its fields, or a list of them: not "any object"."""
    if schema.get("type") == "array":
        return is_concrete(schema.get("items", {}), components)
    name = schema.get("$ref", "").removeprefix("#/components/schemas/")
    return bool(components.get(name, {}).get("properties"))


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_operation_is_documented_completely(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    components = document["components"]["schemas"]
    assert document["components"]["securitySchemes"] == {
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "a token signed by the lender (HS256), naming its key (`kid`)",
        }
    }
    assert "HTTPValidationError" not in components
    incomplete = set()
    for name, operation in operations(document).items():
        assert operation["security"] == [{"bearer": []}], name
        responses = operation["responses"]
        successes = {status: r for status, r in responses.items() if status.startswith("2")}
        assert len(successes) == 1, name
        errors = {status: r for status, r in responses.items() if status[0] in "45"}
        assert {"401", "403", "404", "422", "500", "503"} <= set(errors), name
        for status, response in errors.items():
            assert response["content"] == PROBLEM, (name, status)
        (success,) = successes.values()
        if not is_concrete(success["content"]["application/json"]["schema"], components):
            incomplete.add(name)
    assert not incomplete


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_method_not_allowed_names_those_that_are(client: TestClient) -> None:
    for method, path, allowed in (
        ("DELETE", "/v1/lines", "GET, POST"),
        ("DELETE", "/v1/lines/l-1", "GET"),
        ("GET", "/v1/requests/r-1/withdraw", "POST"),
        ("POST", "/v1/me/preferences", "GET, PUT"),
    ):
        answer = client.request(method, path)
        assert answer.status_code == 405
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.headers["allow"] == allowed
        assert answer.json()["code"] == "method_not_allowed"
