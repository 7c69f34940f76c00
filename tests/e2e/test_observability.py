"""Watching the service: request ids, `/metrics` (who may scrape it, what it counts, the
outbox's backlog read at each scrape), `/readyz`, and JSON log lines in production."""

from __future__ import annotations

import dataclasses
import json
import logging
import logging.config
from collections.abc import Iterator
from datetime import timedelta

import pytest
from conftest import headers, metric
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from creditline.api.app import create_app
from creditline.api.observability import REQUEST_ID, log_config
from creditline.bootstrap import Container, build
from creditline.kernel.actors import Actor, Role
from creditline.kernel.clock import FixedClock
from creditline.kernel.ids import is_id
from creditline.notices.tables import outbox

AGENT = Actor("agent-1", Role.AGENT)


def test_every_answer_carries_a_request_id(client: TestClient) -> None:
    made = client.get("/healthz").headers["x-request-id"]
    assert is_id(made)
    assert (
        client.get("/healthz", headers={"X-Request-Id": "lb-7f3a.19"}).headers["x-request-id"]
        == "lb-7f3a.19"
    )
    # Not a sane id (a space, and too long): a new one is made rather than echoed.
    for given in ("a b", "x" * 65):
        answered = client.get("/healthz", headers={"X-Request-Id": given})
        assert is_id(answered.headers["x-request-id"])


def test_metrics_count_holds_by_result_and_time_each_route(
    client: TestClient, container: Container
) -> None:
    line_id = container.ledger.open_line(AGENT, "o", "borrower-1", "CNY", "1000.00").document["id"]
    path = f"/v1/lines/{line_id}/drawdowns"
    as_borrower = headers(container, Role.BORROWER, "borrower-1")
    placed = client.post(path, json={"amount": "300.00", "term_months": 3}, headers=as_borrower)
    assert placed.status_code == 201, placed.text
    refused = client.post(
        path,
        json={"amount": "900.00", "term_months": 3},  # 700.00 is left
        headers=headers(container, Role.BORROWER, "borrower-1"),
    )
    assert refused.status_code == 409, refused.text
    scraped = client.get("/metrics").text
    assert metric(scraped, "creditline_holds_total", result="placed") == 1
    assert metric(scraped, "creditline_http_requests_in_progress") == 1  # the scrape
    assert metric(scraped, "creditline_holds_total", result="refused") == 1
    route = "/v1/lines/{line_id}/drawdowns"
    timed = {"method": "POST", "route": route, "status": "2xx"}
    assert metric(scraped, "creditline_http_request_duration_seconds_count", **timed) == 1
    refused_timed = timed | {"status": "4xx"}
    assert metric(scraped, "creditline_http_request_duration_seconds_count", **refused_timed) == 1


def test_the_outbox_backlog_is_read_at_each_scrape(
    client: TestClient, container: Container, clock: FixedClock
) -> None:
    for n in range(3):
        container.ledger.open_line(AGENT, f"o{n}", f"borrower-{n}", "CNY", "1000.00")
    with container.db.engine.connect() as connection:
        waiting = connection.execute(
            select(func.count()).select_from(outbox).where(outbox.c.delivered_at.is_(None))
        ).scalar_one()
    assert waiting > 0
    clock.advance(timedelta(seconds=90))
    scraped = client.get("/metrics").text
    assert metric(scraped, "creditline_outbox_undelivered") == waiting
    # Every message was written at the same fixed time, 90 s before the scrape.
    assert metric(scraped, "creditline_outbox_oldest_age_seconds") == 90
    container.dispatcher.run_until_idle()
    scraped = client.get("/metrics").text
    assert metric(scraped, "creditline_outbox_undelivered") == 0
    assert metric(scraped, "creditline_outbox_oldest_age_seconds") == 0


def test_a_review_after_a_drawdown_is_timed(container: Container, clock: FixedClock) -> None:
    settings = dataclasses.replace(container.settings, review_triggers=True)
    triggered = build(settings, clock, migrate=False)
    try:
        borrower = Actor("borrower-1", Role.BORROWER)
        line_id = triggered.ledger.open_line(AGENT, "o", borrower.subject, "CNY", "1000.00")
        hold = triggered.ledger.place_hold(borrower, "h", line_id.document["id"], "100.00", 3)
        triggered.loans.post_drawdown(borrower, "p", hold.document["id"])
        with TestClient(create_app(triggered)) as client:
            scraped = client.get("/metrics").text
        assert metric(scraped, "creditline_review_duration_seconds_count") == 1
    finally:
        triggered.close()


@pytest.fixture
def guarded(container: Container, clock: FixedClock) -> Iterator[TestClient]:
    """The API with a metrics token set."""
    settings = dataclasses.replace(container.settings, metrics_token="s3cret-token")
    with_token = build(settings, clock, migrate=False)
    with TestClient(create_app(with_token)) as client:
        yield client
    with_token.close()


def test_metrics_need_the_token_when_one_is_set(guarded: TestClient) -> None:
    for given in ({}, {"Authorization": "Bearer wrong"}):
        refused = guarded.get("/metrics", headers=given)
        assert refused.status_code == 403
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["code"] == "forbidden"
    allowed = guarded.get("/metrics", headers={"Authorization": "Bearer s3cret-token"})
    assert allowed.status_code == 200
    assert "creditline_outbox_undelivered" in allowed.text


def test_without_a_token_only_this_machine_may_scrape(container: Container) -> None:
    app = create_app(container)
    with TestClient(app, client=("203.0.113.9", 40000)) as elsewhere:
        assert elsewhere.get("/metrics").status_code == 403
    with TestClient(app, client=("127.0.0.1", 40000)) as here:
        assert here.get("/metrics").status_code == 200


def test_ready_only_when_the_schema_is_this_versions(
    client: TestClient, container: Container
) -> None:
    assert client.get("/readyz").json() == {"status": "ready"}
    with container.db.engine.begin() as connection:
        current = connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        connection.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    try:
        behind = client.get("/readyz")
        assert behind.status_code == 503
        assert behind.headers["content-type"] == "application/problem+json"
        assert behind.headers["retry-after"]
        assert behind.json()["code"] == "not_ready"
        assert client.get("/healthz").status_code == 200  # alive, only not ready
    finally:
        with container.db.engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": current})


def test_production_logs_are_json_lines_with_the_request_id(
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    logging.config.dictConfig(log_config(json_lines=True))
    try:
        token = REQUEST_ID.set("lb-42")
        logging.getLogger("creditline.test").warning("hold refused: %s", "line_frozen")
        REQUEST_ID.reset(token)
        line = capsys.readouterr().err.strip().splitlines()[-1]
    finally:
        root.handlers[:], _ = saved[0], root.setLevel(saved[1])
    logged = json.loads(line)
    assert logged["message"] == "hold refused: line_frozen"
    assert (logged["level"], logged["logger"], logged["request_id"]) == (
        "WARNING",
        "creditline.test",
        "lb-42",
    )
    assert "time" in logged
