"""Routes called directly (`api/direct_calls.py`) answer exactly as FastAPI's own handler does,
and a plain request does not go through FastAPI's generic pass at all.

Each request below is sent twice to the same API: once as it is, and once with the direct call
told to hand every request to FastAPI's handler. The two answers must
agree: status, media type, and the document (a command's new ids and times aside, each sent
with its own key)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import fastapi.routing
import pytest
from fastapi.testclient import TestClient

from creditline.api.direct_calls import DirectCall
from creditline.bootstrap import Container
from creditline.kernel.actors import Actor, Role
from creditline.kernel.ids import new_id
from tests.conftest import headers

HOLD = {"amount": "100.00", "term_months": 12}


@pytest.fixture
def line_id(container: Container, agent: Actor, borrower: Actor) -> str:
    opened = container.ledger.open_line(agent, "open", borrower.subject, "CNY", "20000.00")
    return str(opened.document["id"])


@pytest.fixture
def generic_passes(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The paths FastAPI's generic pass was run for, while the test runs."""
    seen: list[str] = []
    solve = fastapi.routing.solve_dependencies

    async def counted(**arguments: Any) -> Any:
        seen.append(arguments["request"].url.path)
        return await solve(**arguments)

    monkeypatch.setattr(fastapi.routing, "solve_dependencies", counted)
    yield seen


def both_ways(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, method: str, path: str, **request: Any
) -> list[Any]:
    """The answer to the request called directly (when it is a plain one), and to the same
    request (with a key of its own) sent to FastAPI's handler."""

    async def to_fastapi(self: DirectCall, request: Any) -> None:
        return None

    answers = []
    for generic in (False, True):
        with monkeypatch.context() as patched:
            if generic:
                patched.setattr(DirectCall, "_values", to_fastapi)
            if "Idempotency-Key" in request.get("headers", {}):
                request["headers"] = {**request["headers"], "Idempotency-Key": new_id()}
            answers.append(client.request(method, path, **request))
    return answers


def comparable(answer: Any) -> tuple[int, str, Any]:
    """Status, media type and document, without what each new command makes anew."""
    document = answer.json()
    if answer.is_success and isinstance(document, dict):
        document = sorted(document)  # a new hold: its keys, not its ids and times
    return answer.status_code, answer.headers["content-type"], document


def test_a_plain_hold_and_read_skip_fastapis_generic_pass(
    client: TestClient,
    container: Container,
    borrower: Actor,
    line_id: str,
    generic_passes: list[str],
) -> None:
    own = headers(container, Role.BORROWER, borrower.subject)
    placed = client.post(f"/v1/lines/{line_id}/drawdowns", json=HOLD, headers=own)
    read = client.get(f"/v1/lines/{line_id}", headers=own)
    journal = client.get(f"/v1/lines/{line_id}/journal?limit=5", headers=own)
    assert (placed.status_code, read.status_code, journal.status_code) == (201, 200, 200)
    assert read.json()["available"] == "19900.00"
    assert generic_passes == []
    # A request the direct call does not take goes to FastAPI's handler, and only there.
    refused = client.get(f"/v1/lines/{line_id}/journal?limit=many", headers=own)
    assert refused.status_code == 422
    assert generic_passes == [f"/v1/lines/{line_id}/journal"]


def test_every_kind_of_request_is_answered_as_fastapi_answers_it(
    client: TestClient,
    container: Container,
    borrower: Actor,
    line_id: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    own = headers(container, Role.BORROWER, borrower.subject)
    other = headers(container, Role.BORROWER, "someone-else")
    unsigned = {**own, "Authorization": "Bearer not-a-token"}
    unkeyed = {k: v for k, v in own.items() if k != "Idempotency-Key"}
    hold = f"/v1/lines/{line_id}/drawdowns"
    cases: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", hold, {"json": HOLD, "headers": own}),
        ("POST", hold, {"json": {**HOLD, "amount": "100.001"}, "headers": own}),
        ("POST", hold, {"json": {**HOLD, "colour": "red"}, "headers": own}),
        ("POST", hold, {"json": {"amount": "1.00"}, "headers": own}),
        ("POST", hold, {"json": [HOLD], "headers": own}),
        ("POST", hold, {"content": b'{"amount": "1.00",', "headers": own}),
        ("POST", hold, {"content": b"", "headers": own}),
        (
            "POST",
            hold,
            {
                "content": b'{"amount": "1.00", "term_months": 12}',
                "headers": {**own, "Content-Type": "text/plain"},
            },
        ),
        (
            "POST",
            hold,
            {"json": HOLD, "headers": {**own, "Content-Type": "application/json; charset=utf-8"}},
        ),
        ("POST", hold, {"json": HOLD, "headers": unkeyed}),
        # A malformed body is refused before the caller is looked at, as FastAPI does.
        ("POST", hold, {"content": b'{"amount": "1.00",', "headers": unsigned}),
        ("POST", hold, {"content": b'{"amount": "1.00",', "headers": unkeyed}),
        ("POST", hold, {"content": b"{", "headers": {"Content-Type": "application/json"}}),
        ("POST", hold, {"content": b'{"amount": ' + b"9" * 5000 + b"}", "headers": unsigned}),
        ("POST", hold, {"json": HOLD, "headers": unsigned}),
        ("POST", hold, {"json": HOLD, "headers": other}),
        ("POST", "/v1/lines/no-such-line/drawdowns", {"json": HOLD, "headers": own}),
        ("GET", f"/v1/lines/{line_id}", {"headers": own}),
        ("GET", f"/v1/lines/{line_id}", {"headers": other}),
        ("GET", f"/v1/lines/{line_id}", {}),
        ("GET", f"/v1/lines/{line_id}/journal?limit=2", {"headers": own}),
        ("GET", f"/v1/lines/{line_id}/journal?limit=0", {"headers": own}),
        ("GET", f"/v1/lines/{line_id}/journal?limit=2&limit=3", {"headers": own}),
        ("GET", f"/v1/lines/{line_id}/explanation?lang=zh-CN", {"headers": own}),
        ("GET", f"/v1/lines/{line_id}/explanation?lang=fr", {"headers": own}),
    ]
    for method, path, request in cases:
        direct, generic = both_ways(client, monkeypatch, method, path, **request)
        assert comparable(direct) == comparable(generic), (method, path, request)
