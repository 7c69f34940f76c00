"""Rate limits over HTTP: one request over a borrower's limit is a 429 problem document with
code `rate_limited` and a `Retry-After` header in seconds; a replay of an earlier request
(same Idempotency-Key) still answers as before."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from conftest import headers
from fastapi.testclient import TestClient

from creditline.bootstrap import Container
from creditline.config import (
    APPLICATIONS_PER_WINDOW_MAX_DEFAULT,
    REVIEWS_PER_WINDOW_MAX_DEFAULT,
    VERIFICATIONS_PER_WINDOW_MAX_DEFAULT,
)
from creditline.kernel.actors import Actor, Role
from creditline.kernel.clock import FixedClock

MINUTE = timedelta(minutes=1)
APPLICATION = {
    "borrower_id": "borrower-1",
    "currency": "CNY",
    "income_monthly": "12000.00",
    "income_evidence": True,
    "birth_date": "1990-05-01",
    "employment": "employed",
}
IDENTITY = {"kind": "identity", "evidence": {"document_type": "id_card",
            "document_number": "110101199005010011", "full_name": "李伟"}}  # fmt: skip

# (endpoint, body, the limit)
ENDPOINTS = [
    ("/v1/lines/{line_id}/reviews", None, REVIEWS_PER_WINDOW_MAX_DEFAULT),
    ("/v1/applications", APPLICATION, APPLICATIONS_PER_WINDOW_MAX_DEFAULT),
    ("/v1/verifications", IDENTITY, VERIFICATIONS_PER_WINDOW_MAX_DEFAULT),
]


@pytest.fixture
def container(roomy: Container) -> Container:
    """Several applications by one borrower: a profile that lets them open several lines."""
    return roomy


@pytest.mark.parametrize(("path", "body", "count_max"), ENDPOINTS, ids=lambda v: str(v)[:16])
def test_one_request_over_the_limit_is_429_with_retry_after(
    container: Container,
    client: TestClient,
    clock: FixedClock,
    agent: Actor,
    borrower: Actor,
    path: str,
    body: dict[str, Any] | None,
    count_max: int,
) -> None:
    opened = container.ledger.open_line(agent, "open", borrower.subject, "CNY", "20000.00")
    path = path.format(line_id=opened.document["id"])
    first_at = clock.now()
    sent = []
    for _ in range(count_max):
        me = headers(container, Role.BORROWER, borrower.subject)
        answer = client.post(path, json=body, headers=me)
        assert answer.status_code == 201, answer.text
        sent.append((me, answer.json()))
        clock.advance(MINUTE)

    refused = client.post(path, json=body, headers=headers(container, Role.BORROWER, "borrower-1"))
    retry_after = int((first_at + timedelta(hours=1) - clock.now()).total_seconds())
    assert refused.status_code == 429, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.headers["Retry-After"] == str(retry_after)
    assert refused.json()["code"] == "rate_limited"
    assert refused.json()["details"]["retry_after_seconds"] == retry_after

    first_headers, first_answer = sent[0]
    replayed = client.post(path, json=body, headers=first_headers)
    assert (replayed.status_code, replayed.json()) == (201, first_answer)

    clock.advance(timedelta(seconds=retry_after))
    again = client.post(path, json=body, headers=headers(container, Role.BORROWER, "borrower-1"))
    assert again.status_code == 201, again.text
