"""schemathesis against the API on each store: generated requests to every operation, with a
bearer token (an admin's or a borrower's, in turn) and a fresh `Idempotency-Key` each; no
answer may be a server error, and every answer must be one the OpenAPI document declares
(status code, content type, schema, headers)."""

from __future__ import annotations

from collections import Counter

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from creditline.api.app import create_app
from creditline.bootstrap import Container
from creditline.kernel.actors import Role
from tests.conftest import headers

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("schemathesis")]

EXAMPLES_PER_OPERATION = 25
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


def test_generated_requests_get_documented_answers(container: Container) -> None:
    app = create_app(container)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    callers = [(Role.ADMIN, "admin-1"), (Role.BORROWER, "borrower-1")]
    sent: Counter[int] = Counter()
    with TestClient(app, raise_server_exceptions=True):  # runs the app's lifespan
        for result in schema.get_all_operations():
            operation = result.ok()

            @settings(
                max_examples=EXAMPLES_PER_OPERATION,
                deadline=None,
                database=None,
                derandomize=True,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy())
            def answers_as_documented(case: schemathesis.Case) -> None:
                role, subject = callers[sum(sent.values()) % len(callers)]
                response = case.call(headers=headers(container, role, subject))
                sent[response.status_code] += 1
                case.validate_response(response, checks=CHECKS)

            answers_as_documented()
    print(f"{sum(sent.values())} requests; by status: {dict(sorted(sent.items()))}")
    assert sum(sent.values()) >= 1000
