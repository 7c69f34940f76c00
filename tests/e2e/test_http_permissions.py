"""Every operation of the API names the permission it needs, and the edge holds every role to
the table in `creditline.kernel.permissions`.

The test reads `/openapi.json` as a client would. Each operation's `x-permission` is a
permission's text, or alternatives joined by ` | ` when the request's content decides which one
applies (a limit change: freezing needs one permission, cutting another). For every operation
and every role it sends one request about nothing (ids that exist nowhere, an empty JSON body):
a role holding none of the permissions gets 403 `forbidden`; any other role gets past the edge,
so anything but 401, 403 or a server error (404, 409 and 422 are the usual answers).

With alternatives, the edge lets through a role that holds any of them and the service refuses
per action what the role may not do; those refusals are pinned by `ROLES` in
test_http_bad_input.py and by the ledger service's tests.

A permission check needs no second store: this runs on SQLite only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from conftest import headers
from fastapi.testclient import TestClient

from creditline.bootstrap import Container
from creditline.kernel.actors import Role
from creditline.kernel.ids import new_id
from creditline.kernel.permissions import PERMISSIONS, Permission

PROBLEM_JSON = "application/problem+json"
ALTERNATIVES_SEPARATOR = " | "

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    x_permission: str | None
    has_body: bool

    def __str__(self) -> str:
        return f"{self.method.upper()} {self.path}"

    def permitted_roles(self) -> frozenset[Role]:
        """The roles that hold any of the operation's permissions."""
        assert self.x_permission is not None
        alternatives = self.x_permission.split(ALTERNATIVES_SEPARATOR)
        return frozenset().union(*(PERMISSIONS[Permission(text)] for text in alternatives))


def operations(document: dict[str, Any]) -> list[Operation]:
    return [
        Operation(method, path, operation.get("x-permission"), "requestBody" in operation)
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    ]


@pytest.fixture
def listed(client: TestClient) -> list[Operation]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    found = operations(response.json())
    assert found, "the OpenAPI document lists no operation"
    return found


def test_every_operation_names_the_permissions_it_needs(listed: list[Operation]) -> None:
    unnamed = [str(operation) for operation in listed if operation.x_permission is None]
    assert unnamed == [], "operations without an x-permission"
    known = {permission.value for permission in Permission}
    unknown = {
        str(operation): text
        for operation in listed
        for text in str(operation.x_permission).split(ALTERNATIVES_SEPARATOR)
        if text not in known
    }
    assert unknown == {}, "x-permission names no permission of the table"


def test_the_edge_refuses_exactly_the_roles_the_table_leaves_out(
    client: TestClient, container: Container, listed: list[Operation]
) -> None:
    wrong = []
    for operation in listed:
        permitted = operation.permitted_roles()
        # Every path parameter names something that does not exist.
        path = operation.path.format_map(_AnyId())
        for role in Role:
            response = client.request(
                operation.method,
                path,
                headers=headers(container, role, f"{role.value}-1"),
                json={} if operation.has_body else None,
            )
            if role in permitted:
                if response.status_code in (401, 403) or response.status_code >= 500:
                    wrong.append(f"{operation} as {role}: {response.status_code} {response.text}")
            elif (
                response.status_code != 403
                or response.headers["content-type"] != PROBLEM_JSON
                or response.json()["code"] != "forbidden"
            ):
                wrong.append(f"{operation} as {role}: {response.status_code}, not 403 forbidden")
    assert wrong == []


class _AnyId(dict[str, str]):
    """Fills every path parameter with a fresh id."""

    def __missing__(self, name: str) -> str:
        return new_id()
