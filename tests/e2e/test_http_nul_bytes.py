"""NUL bytes over HTTP, on both stores: every route refuses them alike, and changes nothing.

PostgreSQL cannot store NUL in text and SQLite can, so without one check at the edge the same
request was a 422 on one store and a 500 on the other. The walk takes every operation in
`/openapi.json` and sends it a NUL in each place a request carries text: each path parameter,
each query parameter (and one it does not declare), and each string of a body built from the
operation's schema. Every answer must be a 422 problem document with the code `invalid_input`
naming where the NUL was, and no table may gain or lose a row.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from conftest import headers
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from creditline.bootstrap import Container
from creditline.db.metadata import metadata
from creditline.kernel.actors import Role

PROBLEM_JSON = "application/problem+json"
# Path segments as they are sent (percent-encoded): a NUL alone, inside a word, inside a policy
# label, and after an id of the right shape, so that each gets past any check of the form.
NUL_SEGMENTS = ("%00", "x%00y", "a%00@b", "0190f5e2-7c4a-7d3e-8a41-3f2b9c6d1e07%00")
NUL_TEXT = "x\u0000y"
# A borrower reaches /v1/me/*, an admin every staff route: between them, every handler.
ACTORS = ((Role.BORROWER, "borrower-a"), (Role.ADMIN, "admin-1"))
# What each JSON type looks like in a body that is otherwise plausible.
STRING_FORMATS = {"date": "1990-01-01", "date-time": "2026-12-01T00:00:00+00:00"}
SCALARS = {"string": "x", "integer": 1, "number": 1, "boolean": True}


@dataclass(frozen=True)
class Probe:
    """One request with a NUL in one place; `field` is where the problem must say it is."""

    method: str
    path: str
    field: str
    query: dict[str, str] | None = None
    body: Any = None


def _resolved(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[1]]
    options = [option for option in schema.get("anyOf", ()) if option.get("type") != "null"]
    return _resolved(options[0], components) if options else schema


def _example(schema: dict[str, Any], components: dict[str, Any]) -> Any:
    """A value of `schema`: its example when it has one, else the simplest of its type."""
    schema = _resolved(schema, components)
    if "examples" in schema:
        return schema["examples"][0]
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        properties = schema.get("properties", {})
        return {name: _example(field, components) for name, field in properties.items()}
    if kind == "array":
        return [_example(schema.get("items", {}), components)]
    if kind == "string":
        return STRING_FORMATS.get(schema.get("format", ""), "x")
    return SCALARS[kind]


def _with_nul_in_each_string(value: Any, location: str) -> list[tuple[str, Any]]:
    """Copies of `value`, each with one of its strings replaced by NUL_TEXT, and where."""
    if isinstance(value, str):
        return [(location, NUL_TEXT)]
    if isinstance(value, dict):
        return [
            (where, {**value, key: changed})
            for key, item in value.items()
            for where, changed in _with_nul_in_each_string(item, f"{location}.{key}")
        ]
    if isinstance(value, list):
        return [
            (where, [*value[:index], changed, *value[index + 1 :]])
            for index, item in enumerate(value)
            for where, changed in _with_nul_in_each_string(item, f"{location}.{index}")
        ]
    return []


def _probes(
    operation: dict[str, Any], method: str, template: str, components: dict[str, Any]
) -> Iterator[Probe]:
    """Every probe of one operation: a NUL in each path parameter, each query parameter (and
    one the operation does not declare) and each string of its body."""
    parameters = operation.get("parameters", [])
    path_names = [p["name"] for p in parameters if p["in"] == "path"]
    query_names = [p["name"] for p in parameters if p["in"] == "query"] + ["undeclared"]
    plain_path = template.format(**dict.fromkeys(path_names, "missing"))
    content = operation.get("requestBody", {}).get("content", {}).get("application/json")
    body = _example(content["schema"], components) if content else None

    for name in path_names:
        for segment in NUL_SEGMENTS:
            path = template.format(**{**dict.fromkeys(path_names, "missing"), name: segment})
            yield Probe(method, path, "path", body=body)
    for name in query_names:
        yield Probe(method, plain_path, f"query.{name}", query={name: NUL_TEXT}, body=body)
    for where, changed in _with_nul_in_each_string(body, "body"):
        yield Probe(method, plain_path, where, body=changed)


def _row_counts(container: Container) -> dict[str, int]:
    with container.db.reading() as connection:
        return {
            table.name: connection.execute(select(func.count()).select_from(table)).scalar_one()
            for table in metadata.sorted_tables
        }


def _send(
    client: TestClient, container: Container, probe: Probe, actor: tuple[Role, str]
) -> httpx.Response:
    return client.request(
        probe.method,
        probe.path,
        params=probe.query,
        json=probe.body,
        headers=headers(container, *actor),
    )


def _refusal(response: httpx.Response) -> tuple[int, str, str] | None:
    """A problem document's status, code and field; None for any other answer."""
    if response.headers.get("content-type", "").split(";")[0] != PROBLEM_JSON:
        return None
    problem = response.json()
    if problem["status"] != response.status_code:
        return None
    return problem["status"], problem["code"], problem.get("details", {}).get("field")


def test_every_route_refuses_a_nul_anywhere_and_changes_nothing(
    client: TestClient, container: Container
) -> None:
    spec = client.get("/openapi.json").json()
    components = spec["components"]["schemas"]
    operations = [
        (method.upper(), template, operation)
        for template, methods in spec["paths"].items()
        for method, operation in methods.items()
    ]
    assert len(operations) >= 30  # the walk sees the whole API
    assert {"outbox", "idempotency_keys"} <= set(_row_counts(container))
    wrong: list[str] = []
    for method, template, operation in operations:
        before = _row_counts(container)
        probes = list(_probes(operation, method, template, components))
        for probe in probes:
            for actor in ACTORS:
                response = _send(client, container, probe, actor)
                if _refusal(response) != (422, "invalid_input", probe.field):
                    wrong.append(f"{actor[0]} {probe}: {response.status_code} {response.text}")
        after = _row_counts(container)
        changed = {
            name: (before[name], after[name]) for name in before if before[name] != after[name]
        }
        if changed:
            wrong.append(f"{method} {template} changed rows: {changed}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize(
    ("path", "query", "field"),
    [
        ("/v1/me/notices/%00/read", None, "path"),
        ("/v1/me/notices/x%1By/read", None, "path"),
        ("/v1/me/notices/x%C2%85y/read", None, "path"),
        ("/v1/me/notices/x%0Ay/read", None, "path"),
        ("/v1/me/notices/missing/read", {"x\u0000": "1"}, "query"),
        ("/v1/me/notices/missing/read", {"lang": "en\u007f"}, "query.lang"),
    ],
    ids=["nul", "escape", "next-line", "line-feed-in-a-path", "nul-in-a-name", "delete"],
)
def test_control_characters_in_a_path_or_query_are_refused(
    client: TestClient, container: Container, path: str, query: dict[str, str] | None, field: str
) -> None:
    """Paths and query values are single-line text: every control character is refused."""
    before = _row_counts(container)
    response = client.post(path, params=query, headers=headers(container, *ACTORS[0]))
    assert _refusal(response) == (422, "invalid_input", field), response.text
    assert _row_counts(container) == before


def _open_line(client: TestClient, container: Container) -> str:
    response = client.post(
        "/v1/lines",
        json={"borrower_id": "borrower-a", "currency": "CNY", "limit": "1000.00"},
        headers=headers(container, Role.AGENT, "agent-1"),
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def _freeze(note: str) -> dict[str, Any]:
    return {
        "action": "freeze",
        "reason_codes": ["fraud_suspected"],
        "until": "2026-12-05T00:00:00+00:00",
        "note": note,
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_freeze("called\rback"), "body.note"),
        (_freeze("called\u001bback"), "body.note"),
        (_freeze("called \ud800"), "body.note"),
        (_freeze("called\u0000"), "body.note"),
        ({**_freeze("called"), "reason_codes": ["fraud_suspected\u0000"]}, "body.reason_codes.0"),
        ({**_freeze("called"), "no\u0000te": "called"}, "body"),
    ],
    ids=["carriage-return", "escape", "lone-surrogate", "nul", "nul-in-a-list", "nul-in-a-name"],
)
def test_body_text_with_a_refused_character_is_refused(
    client: TestClient, container: Container, body: dict[str, Any], field: str
) -> None:
    line_id = _open_line(client, container)
    before = _row_counts(container)
    response = client.post(
        f"/v1/lines/{line_id}/limit-changes",
        # Escaped by hand: a lone surrogate has no UTF-8 of its own.
        content=json.dumps(body),
        headers={**headers(container, Role.AGENT, "agent-1"), "Content-Type": "application/json"},
    )
    assert _refusal(response) == (422, "invalid_input", field), response.text
    assert _row_counts(container) == before


def test_line_feeds_and_tabs_in_body_text_pass_the_edge(
    client: TestClient, container: Container
) -> None:
    """A note may run over lines: the edge refuses only what the kernel's text check refuses."""
    line_id = _open_line(client, container)
    response = client.post(
        f"/v1/lines/{line_id}/limit-changes",
        json=_freeze("called twice,\n\tno answer"),
        headers=headers(container, Role.AGENT, "agent-1"),
    )
    assert response.status_code == 201, response.text
